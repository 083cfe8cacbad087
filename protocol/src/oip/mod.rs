//! The Open Inference Protocol v2 (KServe v2) REST codec: routes, JSON tensors and the
//! binary tensor extension (as Triton defines it). One codec: the guest's wasi:http handler
//! answers with it, and the host uses it wherever it reads or writes OIP bodies (batch JSONL,
//! the routing of `edgeinfer serve`).
//!
//! - [`route()`]: method + path to a [`Route`], or a 404/405 [`OipError`];
//! - [`decode_request`]: an infer body (JSON, or JSON header + raw tensor bytes) to tensors;
//! - [`encode_response`]: output tensors to a response body, JSON or binary per request;
//! - [`encode_binary_request`] and [`decode_response`]: the client's side of the same two
//!   bodies (`edgeinfer serve` is a client of its components when it joins requests);
//! - [`ModelDescription`] and the small JSON bodies of the metadata and health endpoints.

mod data;
mod request;
mod response;
mod route;

pub use request::{InferRequest, RequestedOutput, decode_request, encode_binary_request};
pub use response::{
    EncodedBody, InferResponse, ModelDescription, TensorDescription, decode_response,
    encode_response, error_body, model_metadata_body, model_ready_body, server_live_body,
    server_metadata_body, server_ready_body,
};
pub use route::{ModelRef, Route, route};

use crate::DType;

/// Header that carries the length of the JSON part of a body with binary tensors.
pub const HEADER_CONTENT_LENGTH: &str = "inference-header-content-length";

/// Largest request body the guest reads (a host may set a lower cap).
pub const MAX_BODY_BYTES: usize = 64 << 20;

/// A tensor as it crosses the protocol: raw little-endian row-major bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<u64>,
    pub data: Vec<u8>,
}

impl Tensor {
    /// Elements the shape holds, `None` on overflow.
    pub fn element_count(shape: &[u64]) -> Option<u64> {
        shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d))
    }
}

/// A protocol error: an HTTP status and the message of the `{"error": ...}` body.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct OipError {
    pub status: u16,
    pub message: String,
}

impl OipError {
    pub fn new(status: u16, message: impl Into<String>) -> OipError {
        OipError {
            status,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> OipError {
        OipError::new(400, message)
    }
    pub fn not_found(message: impl Into<String>) -> OipError {
        OipError::new(404, message)
    }
}

fn shape_text(shape: &[u64]) -> String {
    let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
    format!("[{}]", dims.join(","))
}
