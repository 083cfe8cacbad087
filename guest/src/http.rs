//! The Open Inference Protocol v2 over `wasi:http/incoming-handler`: the same component that
//! exports `edgeinfer:inference/model` answers REST requests under `spin up`, `wasmtime serve`,
//! `jco serve` or `edgeinfer serve`. The engine answers ([`edgeinfer_engine::http`]); this
//! module only moves bytes between wasi:http and it.

use crate::Component;
use edgeinfer_engine::http::{HttpRequest, Reply};
use edgeinfer_protocol::oip::OipError;
use std::io::{Read, Write};
use wasip2::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

impl wasip2::exports::http::incoming_handler::Guest for Component {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let reply = edgeinfer_engine::http::answer(&mut WasiRequest(request));
        send(response_out, reply);
    }
}

wasip2::http::proxy::export!(Component);

struct WasiRequest(IncomingRequest);

impl HttpRequest for WasiRequest {
    fn method(&self) -> String {
        match self.0.method() {
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

    fn path_with_query(&self) -> String {
        self.0.path_with_query().unwrap_or_else(|| "/".into())
    }

    fn header(&self, name: &str) -> Option<Vec<u8>> {
        self.0.headers().get(name).into_iter().next()
    }

    fn read_body(&mut self, limit: usize) -> Result<Vec<u8>, OipError> {
        let body = self
            .0
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
        Ok(bytes)
    }
}

fn send(out: ResponseOutparam, reply: Reply) {
    let headers: Vec<(String, Vec<u8>)> = reply
        .headers()
        .into_iter()
        .map(|(name, value)| (name.to_string(), value.into_bytes()))
        .collect();
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
