//! The values the engine takes and gives. They mirror the `edgeinfer:inference` WIT types one
//! to one (which mirror wasi-nn's), so a front door converts them field by field.

use edgeinfer_protocol::DType;

/// A dense tensor: little-endian, row-major bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub dimensions: Vec<u32>,
    pub ty: DType,
    pub data: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    pub name: String,
    pub tensor: Tensor,
}

/// One axis of a declared shape: a size, or a free symbol (`N`, `batch`).
#[derive(Clone, Debug, PartialEq)]
pub enum Dimension {
    Fixed(u64),
    Free(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub ty: DType,
    pub shape: Vec<Dimension>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ModelMetadata {
    pub name: String,
    pub version: String,
    pub inputs: Vec<TensorInfo>,
    pub outputs: Vec<TensorInfo>,
    pub engine: String,
    pub preinitialized: bool,
    /// The ONNX model's `metadata_props` (labels, dictionaries) and producer.
    pub properties: Vec<(String, String)>,
}

/// wasi-nn's error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidArgument,
    InvalidEncoding,
    Timeout,
    RuntimeError,
    UnsupportedOperation,
    TooLarge,
    NotFound,
    Security,
    Unknown,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
