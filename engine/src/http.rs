//! The Open Inference Protocol v2, answered by the engine: every front door (wasi:http in the
//! component, Fastly's hostcalls in the Fastly module) hands over the request through
//! [`HttpRequest`] and writes back the [`Reply`], so routes, bodies, statuses and error
//! messages are the same bytes on every platform. The codec is `edgeinfer_protocol::oip`.

use crate::types::{Dimension, Error, ErrorCode, ModelMetadata, NamedTensor, Tensor, TensorInfo};
use edgeinfer_protocol::oip::{self, OipError, Route};

/// Name and version `GET /v2` reports.
const SERVER_NAME: &str = "edgeinfer";
const SERVER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What the engine needs of an incoming request.
pub trait HttpRequest {
    /// `GET`, `POST`...
    fn method(&self) -> String;
    /// The path and query (`/v2/models/m/infer?x=1`).
    fn path_with_query(&self) -> String;
    /// The first value of a header, if any.
    fn header(&self, name: &str) -> Option<Vec<u8>>;
    /// Reads the body, at most `limit` bytes of it (more is an error the engine reports; a
    /// front door may stop reading at `limit + 1`).
    fn read_body(&mut self, limit: usize) -> Result<Vec<u8>, OipError>;
}

/// The response to write.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    /// The JSON part's length of a binary-extension body (`Inference-Header-Content-Length`).
    pub json_len: Option<usize>,
    pub body: Vec<u8>,
}

impl Reply {
    fn json(body: Vec<u8>) -> Reply {
        Reply {
            status: 200,
            content_type: "application/json",
            json_len: None,
            body,
        }
    }

    fn error(e: OipError) -> Reply {
        Reply {
            status: e.status,
            ..Reply::json(oip::error_body(&e.message))
        }
    }

    /// The response headers, in the order to write them.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("content-type", self.content_type.to_string()),
            ("content-length", self.body.len().to_string()),
        ];
        if let Some(n) = self.json_len {
            headers.push((oip::HEADER_CONTENT_LENGTH, n.to_string()));
        }
        headers
    }
}

/// Answers one OIP v2 request with this instance's model.
pub fn answer(request: &mut impl HttpRequest) -> Reply {
    route_and_answer(request).unwrap_or_else(Reply::error)
}

fn route_and_answer(request: &mut impl HttpRequest) -> Result<Reply, OipError> {
    let method = request.method();
    let path = request.path_with_query();
    match oip::route(&method, &path)? {
        Route::ServerMetadata => Ok(Reply::json(oip::server_metadata_body(
            SERVER_NAME,
            SERVER_VERSION,
        ))),
        Route::ServerLive => Ok(Reply::json(oip::server_live_body())),
        Route::ServerReady => {
            let ready = crate::metadata().is_ok();
            Ok(Reply {
                status: if ready { 200 } else { 503 },
                ..Reply::json(oip::server_ready_body(ready))
            })
        }
        Route::ModelMetadata(model) => {
            let meta = own_model(model)?;
            Ok(Reply::json(oip::model_metadata_body(&describe(&meta))))
        }
        Route::ModelReady(model) => {
            let meta = own_model(model)?;
            Ok(Reply::json(oip::model_ready_body(
                &meta.name,
                &meta.version,
                true,
            )))
        }
        Route::Infer(model) => {
            let meta = own_model(model)?;
            let json_len = header_usize(request, oip::HEADER_CONTENT_LENGTH)?;
            let body = read_body(request)?;
            infer(&meta, &body, json_len)
        }
    }
}

fn infer(meta: &ModelMetadata, body: &[u8], json_len: Option<usize>) -> Result<Reply, OipError> {
    let request = oip::decode_request(body, json_len)?;
    if let Some(unknown) = request
        .outputs
        .iter()
        .find(|o| !meta.outputs.iter().any(|m| m.name == o.name))
    {
        let names: Vec<&str> = meta.outputs.iter().map(|m| m.name.as_str()).collect();
        return Err(OipError::bad_request(format!(
            "unknown output `{}`; the model's outputs are: {}",
            unknown.name,
            names.join(", ")
        )));
    }
    let inputs = request
        .inputs
        .iter()
        .map(to_named)
        .collect::<Result<Vec<_>, _>>()?;
    let outputs = crate::infer(inputs).map_err(model_error)?;
    let outputs: Vec<oip::Tensor> = outputs.into_iter().map(from_named).collect();
    let encoded = oip::encode_response(&meta.name, &meta.version, &request, &outputs)?;
    Ok(Reply {
        status: 200,
        content_type: encoded.content_type(),
        json_len: encoded.json_len,
        body: encoded.body,
    })
}

/// The model's metadata if the path names this instance's model (and version, if given).
fn own_model(wanted: oip::ModelRef) -> Result<ModelMetadata, OipError> {
    let meta = crate::metadata().map_err(|e| OipError::new(503, e.message))?;
    if wanted.name != meta.name {
        return Err(OipError::not_found(format!(
            "unknown model `{}`; this component serves `{}`",
            wanted.name, meta.name
        )));
    }
    if let Some(version) = wanted.version
        && version != meta.version
    {
        return Err(OipError::not_found(format!(
            "model `{}` has no version `{version}`; this component serves version `{}`",
            meta.name, meta.version
        )));
    }
    Ok(meta)
}

/// HTTP status of a model's typed error: the caller's fault (400, 413) or ours (500, 504).
pub fn model_error(e: Error) -> OipError {
    let status = match e.code {
        ErrorCode::InvalidArgument | ErrorCode::InvalidEncoding | ErrorCode::NotFound => 400,
        ErrorCode::TooLarge => 413,
        ErrorCode::Timeout => 504,
        ErrorCode::RuntimeError
        | ErrorCode::UnsupportedOperation
        | ErrorCode::Security
        | ErrorCode::Unknown => 500,
    };
    OipError::new(status, e.message)
}

fn describe(meta: &ModelMetadata) -> oip::ModelDescription {
    let tensors = |list: &[TensorInfo]| {
        list.iter()
            .map(|t| oip::TensorDescription {
                name: t.name.clone(),
                dtype: t.ty,
                shape: t
                    .shape
                    .iter()
                    .map(|d| match d {
                        Dimension::Fixed(n) => Some(*n),
                        Dimension::Free(_) => None,
                    })
                    .collect(),
            })
            .collect()
    };
    oip::ModelDescription {
        name: meta.name.clone(),
        version: meta.version.clone(),
        platform: format!("edgeinfer/{}", meta.engine),
        inputs: tensors(&meta.inputs),
        outputs: tensors(&meta.outputs),
        parameters: meta.properties.clone(),
    }
}

fn to_named(t: &oip::Tensor) -> Result<NamedTensor, OipError> {
    let dimensions = t
        .shape
        .iter()
        .map(|&d| u32::try_from(d))
        .collect::<Result<Vec<u32>, _>>()
        .map_err(|_| {
            OipError::bad_request(format!("input `{}` has a dimension over 2^32", t.name))
        })?;
    Ok(NamedTensor {
        name: t.name.clone(),
        tensor: Tensor {
            dimensions,
            ty: t.dtype,
            data: t.data.clone(),
        },
    })
}

fn from_named(t: NamedTensor) -> oip::Tensor {
    oip::Tensor {
        name: t.name,
        dtype: t.tensor.ty,
        shape: t.tensor.dimensions.iter().map(|&d| d as u64).collect(),
        data: t.tensor.data,
    }
}

fn header_usize(request: &impl HttpRequest, name: &str) -> Result<Option<usize>, OipError> {
    let Some(value) = request.header(name) else {
        return Ok(None);
    };
    std::str::from_utf8(&value)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .map(Some)
        .ok_or_else(|| {
            OipError::bad_request(format!(
                "header {name} must be a byte count, got `{}`",
                String::from_utf8_lossy(&value)
            ))
        })
}

/// Reads the whole body, refusing more than [`oip::MAX_BODY_BYTES`] before reading it all.
fn read_body(request: &mut impl HttpRequest) -> Result<Vec<u8>, OipError> {
    let limit = oip::MAX_BODY_BYTES;
    let too_large = || {
        OipError::new(
            413,
            format!("the request body is larger than {limit} bytes"),
        )
    };
    if header_usize(request, "content-length")?.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let bytes = request.read_body(limit)?;
    if bytes.len() > limit {
        return Err(too_large());
    }
    Ok(bytes)
}
