use super::LimitArgs;
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args)]
pub(super) struct PrecompileArgs {
    /// The model component (.wasm)
    model: PathBuf,
    /// Output [default: the model path with .cwasm, where `edgeinfer` finds it by itself]
    #[arg(short, long)]
    output: Option<PathBuf>,
    #[command(flatten)]
    limits: LimitArgs,
}

pub(super) fn run(args: PrecompileArgs) -> Result<()> {
    let runtime = args.limits.runtime(&[&args.model])?;
    let wasm = edgeinfer::runtime::read_model_file(&args.model)?;
    let output = args
        .output
        .unwrap_or_else(|| edgeinfer::runtime::precompiled_path(&args.model));
    let start = Instant::now();
    let cwasm = runtime
        .precompile(&wasm)
        .with_context(|| format!("cannot compile {}", args.model.display()))?;
    edgeinfer::pack::write_atomically(&output, &cwasm)?;
    println!(
        "wrote {} ({}) in {:.1} s; `edgeinfer` uses it instead of {} while it is newer",
        output.display(),
        super::human_bytes(cwasm.len() as u64),
        start.elapsed().as_secs_f64(),
        args.model.display()
    );
    Ok(())
}
