use super::{MAX_MEMORY_LIMIT, NamedPath, cache_dir, dims_map, parse_dim, read_inputs};
use anyhow::{Context, Result};
use clap::Args;
use edgeinfer::bench::synthetic_inputs;
use edgeinfer::fit::{FitReport, PackageSize, describe, fit};
use edgeinfer::{Runtime, RuntimeConfig};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub(super) struct FitArgs {
    /// The model component (.wasm)
    model: PathBuf,
    /// The request's inputs as .npy (NAME=FILE); default: synthetic data of the declared
    /// shape, free dims 1 (or --dim)
    #[arg(short, long = "input", value_name = "NAME=FILE")]
    inputs: Vec<NamedPath>,
    /// Size of a free dimension in the measured request, e.g. N=1 (repeatable; default 1)
    #[arg(long = "dim", value_name = "SYMBOL=SIZE", value_parser = parse_dim)]
    dims: Vec<(String, u64)>,
    /// Requests measured, each on a fresh instance
    #[arg(long, default_value_t = 7)]
    runs: usize,
    /// Print the report as JSON
    #[arg(long)]
    json: bool,
}

pub(super) fn run(args: FitArgs) -> Result<()> {
    let wasm = edgeinfer::runtime::read_model_file(&args.model)?;
    if wasmparser::Parser::is_core_wasm(&wasm) {
        anyhow::bail!(
            "{} is a core module (a Fastly package's main.wasm?): `fit` measures the component \
             packed from the same model; for a Fastly package run `edgeinfer pack --target \
             fastly --report`",
            args.model.display()
        );
    }
    let request = Request {
        inputs: &args.inputs,
        dims: dims_map(&args.dims),
    };
    let report = measure(&args.model, PackageSize::of(&wasm), &request, args.runs)?;
    print(&report, args.json)
}

/// The request to measure: given inputs, else synthetic ones.
#[derive(Default)]
pub(super) struct Request<'a> {
    pub(super) inputs: &'a [NamedPath],
    pub(super) dims: std::collections::BTreeMap<String, u64>,
}

/// Measures a packed component; `size` is what the platform receives (the component, or the
/// Fastly package made from the same model).
pub(super) fn measure(
    component: &Path,
    size: PackageSize,
    request: &Request,
    runs: usize,
) -> Result<FitReport> {
    // Room for any model: the limit is what is measured, not what is enforced here.
    let runtime = Runtime::new(RuntimeConfig {
        memory_limit: MAX_MEMORY_LIMIT,
        max_instances: 2,
        ..RuntimeConfig::default()
    })?;
    let model = runtime
        .load_cached(component, cache_dir().as_deref())
        .with_context(|| format!("cannot load {}", component.display()))?;
    let metadata = model.metadata()?;
    let inputs = if request.inputs.is_empty() {
        synthetic_inputs(&metadata, &request.dims)
    } else {
        read_inputs(&metadata, request.inputs)?
    };
    fit(&model, &inputs, size, runs)
}

pub(super) fn print(report: &FitReport, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    println!(
        "{}: package {:.1} MB ({:.1} MB gzipped); one request on a fresh instance: {:.1} ms CPU \
         (median of {}, {:.1} ms wall), {:.1} MB of memory",
        report.model,
        report.package_bytes as f64 / 1e6,
        report.compressed_bytes as f64 / 1e6,
        report.cpu.median_ms,
        report.cpu.runs,
        report.wall.median_ms,
        report.memory_bytes as f64 / 1e6,
    );
    for line in describe(report) {
        println!("  {line}");
    }
    println!("  (CPU measured on this machine in wasmtime: an estimate of the platform's meter)");
    Ok(())
}
