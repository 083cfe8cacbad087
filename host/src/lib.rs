//! `edgeinfer`: run packed model components (wasm32-wasip2, WIT `edgeinfer:inference`) with
//! wasmtime, and pack ONNX models into them.
//!
//! ```no_run
//! use edgeinfer::{Runtime, RuntimeConfig, Tensor};
//! # fn main() -> anyhow::Result<()> {
//! let runtime = Runtime::new(RuntimeConfig::default())?;
//! let model = runtime.load("model.wasm".as_ref())?;
//! let input = Tensor::from_f32("x", &[1, 16], &[0.0; 16]);
//! let outputs = model.infer(&[input])?; // a fresh, sandboxed instance per call
//! println!("{:?}", outputs[0].to_f32()?);
//! # Ok(()) }
//! ```
//!
//! Modules: [`runtime`] (engine, loading, instances), [`pack`] (ONNX -> NNEF -> pre-initialized
//! component), [`tensor`] and [`npy`] (tensors and their files), [`native`] (tract outside wasm,
//! the baseline for benchmarks and tests), [`bench`] (timings).
#![warn(unreachable_pub)]

pub mod batch;
pub mod bench;
pub mod fit;
pub mod native;
pub mod npy;
pub mod pack;
pub mod runtime;
pub mod serve;
pub mod tensor;

pub use edgeinfer_protocol::DType;
pub use runtime::{InferError, Instance, Metadata, Model, Runtime, RuntimeConfig};
pub use tensor::Tensor;

/// The generic guest component: tract and no model, waiting for `edgeinfer pack`.
pub static GENERIC_GUEST: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/edgeinfer_guest.wasm"));

/// The generic Fastly Compute module (wasm32-wasip1): the same engine behind Fastly's
/// hostcalls, waiting for `edgeinfer pack --target fastly`.
pub static GENERIC_FASTLY_GUEST: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/edgeinfer_guest_fastly.wasm"));
