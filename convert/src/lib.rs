//! ONNX -> NNEF, the translate-time half of `edgeinfer pack`. The guest only ever sees NNEF,
//! so tract-onnx and its protobuf parser stay out of the component; this crate has no
//! wasmtime either, which keeps it quick to build and fuzz (`fuzz/`).
//!
//! Modules: [`onnx`] reads, analyses and converts a model, [`shapes`] fixes or names the
//! input dims a user asks for, [`values`] bakes constant inputs into the graph, [`guard`]
//! turns a panic of the libraries pack drives into an error.

pub mod guard;
mod onnx;
mod shapes;
mod values;

pub use onnx::{Converted, nnef, onnx_to_nnef};
pub use shapes::{BATCH_SYMBOL, DimValue, InputShape, InputValue, ShapeRequest};
