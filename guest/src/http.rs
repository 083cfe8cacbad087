//! The Open Inference Protocol v2 over `wasi:http/incoming-handler`: the same component that
//! exports `edgeinfer:inference/model` answers REST requests under `spin up`, `wasmtime serve`,
//! `jco serve` or `edgeinfer serve`. The codec is `edgeinfer_protocol::oip`; this module only
//! moves bytes between it, wasi:http and the model.

use crate::Component;
use crate::bindings::edgeinfer::inference::types::{
    Dimension, Error, ErrorCode, ModelMetadata, NamedTensor, Tensor as WitTensor, TensorInfo,
};
use crate::state;
use edgeinfer_protocol::oip::{self, OipError, Route};
use std::io::{Read, Write};
use wasip2::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

/// Name and version `GET /v2` reports.
const SERVER_NAME: &str = "edgeinfer";
const SERVER_VERSION: &str = env!("CARGO_PKG_VERSION");

struct Reply {
    status: u16,
    content_type: &'static str,
    json_len: Option<usize>,
    body: Vec<u8>,
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
}

impl wasip2::exports::http::incoming_handler::Guest for Component {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let reply = answer(&request).unwrap_or_else(Reply::error);
        send(response_out, reply);
    }
}

wasip2::http::proxy::export!(Component);

fn answer(request: &IncomingRequest) -> Result<Reply, OipError> {
    let method = method_name(request.method());
    let path = request.path_with_query().unwrap_or_else(|| "/".into());
    let route = oip::route(&method, &path)?;
    match route {
        Route::ServerMetadata => Ok(Reply::json(oip::server_metadata_body(
            SERVER_NAME,
            SERVER_VERSION,
        ))),
        Route::ServerLive => Ok(Reply::json(oip::server_live_body())),
        Route::ServerReady => {
            let ready = state::with_model(|m| Ok(m.metadata())).is_ok();
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
        .map(to_wit)
        .collect::<Result<Vec<_>, _>>()?;
    let outputs = state::with_model(|m| m.infer(inputs)).map_err(model_error)?;
    let outputs: Vec<oip::Tensor> = outputs.into_iter().map(from_wit).collect();
    let encoded = oip::encode_response(&meta.name, &meta.version, &request, &outputs)?;
    Ok(Reply {
        status: 200,
        content_type: encoded.content_type(),
        json_len: encoded.json_len,
        body: encoded.body,
    })
}

/// The model's metadata if the path names this component's model (and version, if given).
fn own_model(wanted: oip::ModelRef) -> Result<ModelMetadata, OipError> {
    let meta =
        state::with_model(|m| Ok(m.metadata())).map_err(|e| OipError::new(503, e.message))?;
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
fn model_error(e: Error) -> OipError {
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
                dtype: t.ty.into(),
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

fn to_wit(t: &oip::Tensor) -> Result<NamedTensor, OipError> {
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
        tensor: WitTensor {
            dimensions,
            ty: t.dtype.into(),
            data: t.data.clone(),
        },
    })
}

fn from_wit(t: NamedTensor) -> oip::Tensor {
    oip::Tensor {
        name: t.name,
        dtype: t.tensor.ty.into(),
        shape: t.tensor.dimensions.iter().map(|&d| d as u64).collect(),
        data: t.tensor.data,
    }
}

fn method_name(method: Method) -> String {
    match method {
        Method::Get => "GET".into(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(other) => other,
    }
}

fn header_usize(request: &IncomingRequest, name: &str) -> Result<Option<usize>, OipError> {
    let values = request.headers().get(name);
    let Some(value) = values.first() else {
        return Ok(None);
    };
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .map(Some)
        .ok_or_else(|| {
            OipError::bad_request(format!(
                "header {name} must be a byte count, got `{}`",
                String::from_utf8_lossy(value)
            ))
        })
}

/// Reads the whole body, refusing more than [`oip::MAX_BODY_BYTES`] before reading it all.
fn read_body(request: &IncomingRequest) -> Result<Vec<u8>, OipError> {
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
    let body = request
        .consume()
        .map_err(|()| OipError::bad_request("the request body was already read"))?;
    let mut stream = body
        .stream()
        .map_err(|()| OipError::bad_request("the request body has no stream"))?;
    let mut bytes = Vec::new();
    (&mut stream)
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| OipError::bad_request(format!("reading the request body: {e}")))?;
    if bytes.len() > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

fn send(out: ResponseOutparam, reply: Reply) {
    let mut headers: Vec<(String, Vec<u8>)> = vec![
        ("content-type".into(), reply.content_type.into()),
        (
            "content-length".into(),
            reply.body.len().to_string().into_bytes(),
        ),
    ];
    if let Some(n) = reply.json_len {
        headers.push((
            oip::HEADER_CONTENT_LENGTH.into(),
            n.to_string().into_bytes(),
        ));
    }
    let fields = Fields::from_list(&headers).expect("static header names are valid");
    let response = OutgoingResponse::new(fields);
    response
        .set_status_code(reply.status)
        .expect("status codes from the codec are valid");
    let body = response.body().expect("the body of a new response");
    ResponseOutparam::set(out, Ok(response));
    let mut stream = body.write().expect("the stream of a new body");
    // A client that hung up is not our error: drop the rest quietly.
    let written = stream
        .write_all(&reply.body)
        .and_then(|()| Write::flush(&mut stream));
    drop(stream);
    if written.is_ok() {
        let _ = OutgoingBody::finish(body, None);
    }
}
