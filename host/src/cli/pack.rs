use super::{cache_dir, human_bytes};
use anyhow::Result;
use clap::{Args, ValueEnum};
use edgeinfer::pack::{DimValue, InputShape, InputValue, PackOptions, Progress, ShapeRequest};
use std::path::PathBuf;

#[derive(Args)]
pub(super) struct PackArgs {
    /// The ONNX model
    model: PathBuf,
    /// Output component [default: <model stem>.wasm in the current directory]; with
    /// `--target fastly`, the package directory [default: pkg]
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// What to make: a wasi:http + WIT component (Spin, wasmtime serve, edgeinfer serve,
    /// jco), or a Fastly Compute package (pkg/<name>.tar.gz for `fastly compute deploy`)
    #[arg(long, value_enum, default_value = "component")]
    target: Target,
    /// Pre-initialize this generic guest (.wasm component) instead of the embedded one: for
    /// experiments on the guest (bench/guest_variant.sh, bench/op_profile.sh)
    #[arg(long, value_name = "FILE", hide = true)]
    guest: Option<PathBuf>,
    /// Model name reported by the component [default: the model's file stem]
    #[arg(long)]
    name: Option<String>,
    /// Model version reported by the component
    #[arg(long, default_value = "1")]
    version: String,
    /// Fix or name the dims of an input, e.g. x=1,3,224,224 or x=N,3,H,W (repeatable)
    #[arg(long = "input-shape", value_name = "NAME=DIMS")]
    input_shapes: Vec<InputShape>,
    /// Fix one free dimension wherever it appears, e.g. height=640; the others stay free
    /// (repeatable)
    #[arg(long = "dim", value_name = "SYMBOL=SIZE")]
    dims: Vec<DimValue>,
    /// Bake an input's value into the model, e.g. sr=16000 (a sample rate, a threshold): the
    /// input leaves the interface and what depends on it is folded (repeatable)
    #[arg(long = "input-value", value_name = "NAME=VALUE[,VALUE...]")]
    values: Vec<InputValue>,
    /// Memory the model may use while pack loads and optimizes it, in MiB [default: 4096,
    /// all of wasm32's]
    #[arg(long, value_name = "MIB")]
    memory_limit: Option<usize>,
    /// Do not pre-initialize: the component parses the model on its first call
    #[arg(long)]
    no_preinit: bool,
    /// Fix this free input dim in the second plan pack builds, one optimized for concrete
    /// sizes [default: the batch (a free first dim) at 1, when no other dim is free]; calls
    /// with those sizes run on it,
    /// up to 4x faster than on the symbolic plan, e.g. N=8 or seq=128 (repeatable)
    #[arg(long, value_name = "SYMBOL=SIZE", conflicts_with = "no_specialize")]
    specialize: Vec<DimValue>,
    /// Build only the symbolic plan: a smaller component (the weights are packed once, not
    /// twice), slower calls
    #[arg(long)]
    no_specialize: bool,
    /// Also write a precompiled .cwasm next to the output
    #[arg(long)]
    precompile: bool,
    /// Also measure the packed model against serverless limits (as `edgeinfer fit`)
    #[arg(long)]
    report: bool,
    /// Print the report as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Target {
    /// wasm32-wasip2 component
    Component,
    /// Fastly Compute wasm32-wasip1 module, packaged
    Fastly,
}

pub(super) fn run(args: PackArgs) -> Result<()> {
    let options = options(&args);
    if !args.json {
        eprintln!("packing {} ...", args.model.display());
    }
    match args.target {
        Target::Component => pack_component(args, options),
        Target::Fastly => pack_fastly(args, options),
    }
}

fn options(args: &PackArgs) -> PackOptions {
    PackOptions {
        name: args.name.clone(),
        version: Some(args.version.clone()),
        shapes: ShapeRequest {
            input_shapes: args.input_shapes.clone(),
            dims: args.dims.clone(),
            values: args.values.clone(),
        },
        no_preinit: args.no_preinit,
        specialize: args.specialize.clone(),
        no_specialize: args.no_specialize,
        cache_dir: cache_dir(),
        memory_limit: args.memory_limit.map(|mib| mib << 20),
        guest: args.guest.clone(),
        progress: if args.json {
            Progress::default()
        } else {
            let started = std::time::Instant::now();
            Progress::new(move |stage| {
                eprintln!("  {:>5.1} s  {stage}", started.elapsed().as_secs_f64())
            })
        },
    }
}

fn pack_component(args: PackArgs, options: PackOptions) -> Result<()> {
    let runtime = edgeinfer::Runtime::new(edgeinfer::RuntimeConfig::default())?;
    let output = args.output.clone().unwrap_or_else(|| {
        let stem = args.model.file_stem().unwrap_or_default();
        PathBuf::from(stem).with_extension("wasm")
    });
    let report = edgeinfer::pack::pack(&runtime, &args.model, &output, &options)?;
    if args.precompile {
        let cwasm = edgeinfer::runtime::precompiled_path(&output);
        let bytes = runtime.precompile(&std::fs::read(&output)?)?;
        edgeinfer::pack::write_atomically(&cwasm, &bytes)?;
    }
    let fit = if args.report {
        let size = edgeinfer::fit::PackageSize {
            bytes: report.bytes,
            compressed_bytes: report.gzip_bytes,
        };
        Some(super::fit::measure(
            &output,
            size,
            &Default::default(),
            FIT_RUNS,
        )?)
    } else {
        None
    };
    if args.json {
        return print_json(&report, fit.as_ref());
    }
    println!(
        "wrote {}: {} ({} gzipped), sha256 {}; the model's weights are {}",
        report.output.display(),
        human_bytes(report.bytes),
        human_bytes(report.gzip_bytes),
        &report.sha256[..16],
        human_bytes(report.weight_bytes),
    );
    match (&report.preinitialized, &report.fallback_reason) {
        (true, _) => println!(
            "pre-initialized: yes (optimized plan in the snapshot; convert {:.0} ms, pre-init {:.0} ms)",
            report.convert_time.as_secs_f64() * 1e3,
            report.preinit_time.as_secs_f64() * 1e3
        ),
        (false, Some(reason)) => {
            println!("pre-initialized: no, the model loads on its first call ({reason})")
        }
        (false, None) => println!("pre-initialized: no"),
    }
    if let Some(sizes) = &report.specialized {
        println!(
            "specialized plan: calls with {sizes} run on a plan optimized for those sizes \
             (--no-specialize leaves it out: a smaller component, slower calls)"
        );
    }
    for note in &report.notes {
        println!("note: {note}");
    }
    if let Some(m) = &report.metadata {
        super::info::print_io(m);
        super::info::print_properties(m);
    }
    if let Some(fit) = &fit {
        super::fit::print(fit, false)?;
    }
    Ok(())
}

/// With --report: {"pack": ..., "fit": ...}; without, the pack report as it was.
fn print_json(
    report: &impl serde::Serialize,
    fit: Option<&edgeinfer::fit::FitReport>,
) -> Result<()> {
    let json = match fit {
        Some(fit) => serde_json::json!({ "pack": report, "fit": fit }),
        None => serde_json::to_value(report)?,
    };
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(())
}

/// Fresh-instance requests `--report` measures.
const FIT_RUNS: usize = 7;

fn pack_fastly(args: PackArgs, options: PackOptions) -> Result<()> {
    if args.guest.is_some() {
        anyhow::bail!("--guest replaces the component's guest; the Fastly module has its own");
    }
    if args.precompile {
        anyhow::bail!(
            "--precompile makes a .cwasm for wasmtime; Fastly compiles the module itself"
        );
    }
    let out_dir = args.output.clone().unwrap_or_else(|| PathBuf::from("pkg"));
    let report = edgeinfer::pack::pack_fastly(&args.model, &out_dir, &options)?;
    // The same model as a component, measured in wasmtime: the same engine and snapshot as
    // the module, with the Fastly package's sizes.
    let fit = if args.report {
        let scratch = tempfile_in(&out_dir);
        let runtime = edgeinfer::Runtime::new(edgeinfer::RuntimeConfig::default())?;
        let quiet = PackOptions {
            progress: Progress::default(),
            ..options.clone()
        };
        edgeinfer::pack::pack(&runtime, &args.model, &scratch, &quiet)?;
        let size = edgeinfer::fit::PackageSize {
            bytes: report.wasm_bytes,
            compressed_bytes: report.package_bytes,
        };
        let measured = super::fit::measure(&scratch, size, &Default::default(), FIT_RUNS);
        let _ = std::fs::remove_file(&scratch);
        Some(measured?)
    } else {
        None
    };
    if args.json {
        return print_json(&report, fit.as_ref());
    }
    println!(
        "wrote {}: main.wasm {} (package {}), sha256 {}; the model's weights are {}",
        report.package.display(),
        human_bytes(report.wasm_bytes),
        human_bytes(report.package_bytes),
        &report.sha256[..16],
        human_bytes(report.weight_bytes),
    );
    println!(
        "pre-initialized: {} (convert {:.0} ms, pre-init {:.0} ms; memory at pack time {})",
        if report.preinitialized { "yes" } else { "no" },
        report.convert_time.as_secs_f64() * 1e3,
        report.preinit_time.as_secs_f64() * 1e3,
        human_bytes(report.preinit_memory_bytes),
    );
    for note in &report.notes {
        println!("note: {note}");
    }
    println!(
        "run it locally: viceroy {} -C {} --addr 127.0.0.1:7676",
        report.wasm.display(),
        report.manifest.display()
    );
    println!(
        "deploy it:      fastly compute deploy --package {}",
        report.package.display()
    );
    if let Some(fit) = &fit {
        super::fit::print(fit, false)?;
    }
    Ok(())
}

/// A scratch component path in `dir` (created if needed).
fn tempfile_in(dir: &std::path::Path) -> PathBuf {
    let _ = std::fs::create_dir_all(dir);
    dir.join(format!(".fit-{}.wasm", std::process::id()))
}
