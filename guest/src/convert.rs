//! The WIT types and the engine's, field by field (they mirror each other).

use crate::bindings::edgeinfer::inference::types as wit;
use edgeinfer_engine as engine;

edgeinfer_protocol::dtype_conversions!(wit::TensorType);

impl From<wit::NamedTensor> for engine::NamedTensor {
    fn from(t: wit::NamedTensor) -> Self {
        engine::NamedTensor {
            name: t.name,
            tensor: engine::Tensor {
                dimensions: t.tensor.dimensions,
                ty: t.tensor.ty.into(),
                data: t.tensor.data,
            },
        }
    }
}

impl From<engine::NamedTensor> for wit::NamedTensor {
    fn from(t: engine::NamedTensor) -> Self {
        wit::NamedTensor {
            name: t.name,
            tensor: wit::Tensor {
                dimensions: t.tensor.dimensions,
                ty: t.tensor.ty.into(),
                data: t.tensor.data,
            },
        }
    }
}

impl From<engine::Dimension> for wit::Dimension {
    fn from(d: engine::Dimension) -> Self {
        match d {
            engine::Dimension::Fixed(n) => wit::Dimension::Fixed(n),
            engine::Dimension::Free(s) => wit::Dimension::Free(s),
        }
    }
}

impl From<engine::TensorInfo> for wit::TensorInfo {
    fn from(t: engine::TensorInfo) -> Self {
        wit::TensorInfo {
            name: t.name,
            ty: t.ty.into(),
            shape: t.shape.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<engine::ModelMetadata> for wit::ModelMetadata {
    fn from(m: engine::ModelMetadata) -> Self {
        wit::ModelMetadata {
            name: m.name,
            version: m.version,
            inputs: m.inputs.into_iter().map(Into::into).collect(),
            outputs: m.outputs.into_iter().map(Into::into).collect(),
            engine: m.engine,
            preinitialized: m.preinitialized,
            properties: m.properties,
        }
    }
}

impl From<engine::Error> for wit::Error {
    fn from(e: engine::Error) -> Self {
        use engine::ErrorCode as E;
        use wit::ErrorCode as W;
        let code = match e.code {
            E::InvalidArgument => W::InvalidArgument,
            E::InvalidEncoding => W::InvalidEncoding,
            E::Timeout => W::Timeout,
            E::RuntimeError => W::RuntimeError,
            E::UnsupportedOperation => W::UnsupportedOperation,
            E::TooLarge => W::TooLarge,
            E::NotFound => W::NotFound,
            E::Security => W::Security,
            E::Unknown => W::Unknown,
        };
        wit::Error {
            code,
            message: e.message,
        }
    }
}
