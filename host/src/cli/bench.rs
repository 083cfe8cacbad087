use super::{LimitArgs, NamedPath, dims_map, load_model, parse_dim, read_inputs};
use anyhow::{Context, Result};
use clap::Args;
use edgeinfer::bench::{BenchReport, OpRow, Stats, bench, op_profile, synthetic_inputs};
use edgeinfer::native::NativeModel;
use edgeinfer::pack::{DimValue, InputShape, InputValue, ShapeRequest};
use std::path::PathBuf;

#[derive(Args)]
pub(super) struct BenchArgs {
    /// The model component (.wasm or .cwasm)
    model: PathBuf,
    /// The ONNX the component was packed from: also time native tract on the same input
    #[arg(long)]
    onnx: Option<PathBuf>,
    /// The --input-shape values given to `pack`, so native tract sees the same graph
    #[arg(long = "input-shape", value_name = "NAME=DIMS")]
    input_shapes: Vec<InputShape>,
    /// The --dim values given to `pack`, so native tract sees the same graph
    #[arg(long = "pack-dim", value_name = "SYMBOL=SIZE")]
    pack_dims: Vec<DimValue>,
    /// The --input-value values given to `pack`
    #[arg(long = "pack-input-value", value_name = "NAME=VALUE")]
    pack_values: Vec<InputValue>,
    /// Inputs as .npy (NAME=FILE); default: deterministic synthetic data
    #[arg(short, long = "input", value_name = "NAME=FILE")]
    inputs: Vec<NamedPath>,
    /// Size of a free dimension for synthetic inputs, e.g. N=1 (repeatable; default 1)
    #[arg(long = "dim", value_name = "SYMBOL=SIZE", value_parser = parse_dim)]
    dims: Vec<(String, u64)>,
    /// Timed runs of each measurement
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Print the report as JSON
    #[arg(long)]
    json: bool,
    /// MiB of each instance's memory reset with memset instead of madvise, as `serve`
    /// does (default 64 there): a fresh instance then finds its pages resident. 0, the
    /// default here, is what a serverless host gives a fresh instance
    #[arg(long, value_name = "MIB", default_value_t = 0)]
    keep_resident_mib: usize,
    /// Time each operator kind of a warm call, in the component and (with --onnx)
    /// natively, instead of the usual report. Needs a component packed with a guest built
    /// with the `op-profile` feature: bench/op_profile.sh builds one and runs this
    #[arg(long)]
    op_profile: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

pub(super) fn run(args: BenchArgs) -> Result<()> {
    let mut config = args.limits.runtime_config(&[&args.model])?;
    config.memory_keep_resident = args.keep_resident_mib << 20;
    let runtime = edgeinfer::Runtime::new(config)?;
    let model = load_model(&runtime, &args.model)?;
    let metadata = model.metadata()?;
    let inputs = if args.inputs.is_empty() {
        synthetic_inputs(&metadata, &dims_map(&args.dims))
    } else {
        read_inputs(&metadata, &args.inputs)?
    };
    let native = args
        .onnx
        .as_deref()
        .map(|onnx| {
            NativeModel::from_onnx(
                onnx,
                &ShapeRequest {
                    input_shapes: args.input_shapes.clone(),
                    dims: args.pack_dims.clone(),
                    values: args.pack_values.clone(),
                },
            )
            .with_context(|| format!("native tract on {}", onnx.display()))
        })
        .transpose()?;
    if args.op_profile {
        let rows = op_profile(&model, &inputs, native.as_ref(), args.runs)?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&rows)?);
        } else {
            print_op_profile(&metadata.name, &rows, args.runs);
        }
        return Ok(());
    }
    let report = bench(&model, &inputs, native.as_ref(), args.runs)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_human(&metadata.name, &report);
    }
    Ok(())
}

fn print_human(name: &str, r: &BenchReport) {
    let row = |what: &str, s: &Stats| {
        println!(
            "  {what:30} {:>10.3} ms   (min {:.3}, max {:.3}, {} runs)",
            s.median_ms, s.min_ms, s.max_ms, s.runs
        )
    };
    println!("{name}: medians");
    row("instantiate", &r.instantiate);
    row("cold: fresh instance + infer", &r.cold);
    println!(
        "    page faults in a cold run      {:>10}",
        r.cold_page_faults
    );
    row("warm: infer on a live instance", &r.warm);
    row("teardown (after the answer)", &r.teardown);
    if let Some(native) = &r.native {
        row("native tract (same graph)", native);
    }
    println!(
        "  cold / warm                    {:>10.2}x  (goal <= 1.10 pre-initialized)",
        r.cold_over_warm
    );
    if let Some(speed) = r.speed_vs_native {
        println!(
            "  speed vs native tract          {:>10.2}x  (goal >= 0.80)",
            speed
        );
    }
    println!(
        "  guest memory peak              {:>10.1} MiB",
        r.memory_peak_bytes as f64 / (1 << 20) as f64
    );
}

fn print_op_profile(name: &str, rows: &[OpRow], runs: usize) {
    let total: f64 = rows.iter().map(|r| r.component_ms).sum();
    let native_total: f64 = rows.iter().filter_map(|r| r.native_ms).sum();
    println!("{name}: time per operator kind in one warm call, median of {runs} calls");
    println!(
        "| operator | nodes (component / native) | component ms | share | native ms | component / native |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for r in rows {
        let (native, ratio) = match r.native_ms {
            Some(n) if r.component_ms > 0.0 => {
                (format!("{n:.3}"), format!("{:.2}x", r.component_ms / n))
            }
            Some(n) => (format!("{n:.3}"), String::new()),
            None => (String::new(), String::new()),
        };
        println!(
            "| {} | {} / {} | {:.3} | {:.1}% | {native} | {ratio} |",
            r.op,
            r.nodes,
            r.native_nodes,
            r.component_ms,
            100.0 * r.component_ms / total.max(f64::MIN_POSITIVE)
        );
    }
    let native = if native_total > 0.0 {
        format!("{native_total:.3}")
    } else {
        String::new()
    };
    println!("| sum | | {total:.3} | | {native} | |");
}
