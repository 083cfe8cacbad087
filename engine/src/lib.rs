//! The edgeinfer model engine: everything a packed model does, with no bindings.
//!
//! `edgeinfer pack` streams a model (NNEF + manifest) into a generic guest's init function
//! ([`state::initialize`]); the guest loads and optimizes it there and Wizer snapshots the
//! result, so a packed guest starts with a ready tract plan. Each guest is a thin front door
//! over this crate: the wasm32-wasip2 component (`edgeinfer-guest`: WIT + wasi:http) and the
//! wasm32-wasip1 Fastly Compute module (`edgeinfer-guest-fastly`). Both answer the Open
//! Inference Protocol v2 through [`http::answer`], so their routes, bodies and errors are one.
//!
//! Modules: [`types`] are the tensors, metadata and errors the front doors convert from,
//! [`state`] holds the one model of this instance, [`model`] loads and describes it,
//! [`tensors`] validates and converts tensors, [`http`] answers OIP v2 requests, [`scrub`]
//! keeps pack-time garbage (freed buffers, allocator bookkeeping) out of the snapshot, and in
//! wasm `wasm_gemm` adds a matrix-multiply kernel to tract's dispatch. With
//! the `op-profile` feature, `op_profile` times every call's operators (for
//! `edgeinfer bench --op-profile`; never in a shipped guest).

pub mod http;
mod model;
#[cfg(feature = "op-profile")]
mod op_profile;
pub mod scrub;
pub mod state;
mod tensors;
pub mod types;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm_gemm;

pub use types::{Dimension, Error, ErrorCode, ModelMetadata, NamedTensor, Tensor, TensorInfo};

/// Runs inference on this instance's model.
pub fn infer(inputs: Vec<NamedTensor>) -> Result<Vec<NamedTensor>, Error> {
    state::with_model(|m| m.infer(inputs))
}

/// This instance's model's metadata.
pub fn metadata() -> Result<ModelMetadata, Error> {
    state::with_model(|m| Ok(m.metadata()))
}
