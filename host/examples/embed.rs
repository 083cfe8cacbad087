//! Embedding edgeinfer in a Rust program: load a packed model, describe it, run it.
//!
//!     cargo run --release --example embed -- model.wasm input.npy
//!
//! Each output is printed as `name [shape] [values...]`.

use anyhow::{Context, Result};
use edgeinfer::{Runtime, RuntimeConfig};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: embed MODEL.wasm INPUT.npy";
    let model_path = args.next().context(usage)?;
    let input_path = args.next().context(usage)?;

    // One runtime per process: it owns the engine (SIMD, pooling, deadlines, memory caps).
    let runtime = Runtime::new(RuntimeConfig::default())?;
    let model = runtime.load(model_path.as_ref())?;
    // Instances are cheap (microseconds) and sandboxed; reuse one for many calls.
    let mut instance = model.instantiate()?;
    let metadata = instance.metadata()?;
    let input = &metadata.inputs[0];
    println!(
        "{} v{}: input {} {} {}",
        metadata.name,
        metadata.version,
        input.name,
        input.dtype,
        input.shape_string()
    );

    let tensor = edgeinfer::npy::read_npy_file(input_path.as_ref(), &input.name)?;
    for output in instance.infer(&[tensor])? {
        println!(
            "{} {:?} {:?}",
            output.name,
            output.shape,
            output.to_f64_lossy()
        );
    }
    Ok(())
}
