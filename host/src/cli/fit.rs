use super::{MAX_MEMORY_LIMIT, cache_dir, dims_map, parse_dim};
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
    let wasm =
        std::fs::read(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let report = measure(
        &args.model,
        PackageSize::of(&wasm),
        &dims_map(&args.dims),
        args.runs,
    )?;
    print(&report, args.json)
}

/// Measures a packed component; `size` is what the platform receives (the component, or the
/// Fastly package made from the same model).
pub(super) fn measure(
    component: &Path,
    size: PackageSize,
    dims: &std::collections::BTreeMap<String, u64>,
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
    let inputs = synthetic_inputs(&model.metadata()?, dims);
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
