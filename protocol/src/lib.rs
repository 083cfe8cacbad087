//! Wire formats shared by the edgeinfer guest (wasm32-wasip2) and host: plain Rust, no
//! wasmtime, no tract, so both sides compile the same definitions.
//!
//! - [`dtype`]: the element types of the `edgeinfer:inference` WIT and their names in the
//!   formats around it (NumPy, Open Inference Protocol v2).
//! - [`pack`]: the payload `edgeinfer pack` hands to the generic guest at pre-init time.
//! - [`oip`]: the Open Inference Protocol v2 REST codec (routes, JSON and binary tensors).
//! - [`npy`] (feature `npy`, host only): `.npy` arrays.
//! - [`op_profile`]: per-operator times a guest built to time its operators writes to stderr.
#![deny(unsafe_code)]
#![warn(unreachable_pub)]

pub mod dtype;
#[cfg(feature = "npy")]
pub mod npy;
pub mod oip;
pub mod op_profile;
pub mod pack;
#[cfg(feature = "tract")]
pub mod tract;

pub use dtype::DType;
pub use pack::{PackManifest, PackPayload, PayloadError};
