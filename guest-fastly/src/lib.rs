//! The generic edgeinfer Fastly Compute module: a thin front door over `edgeinfer-engine`.
//!
//! Fastly Compute runs a wasm32-wasip1 core module (not a wasi:http component) and serves each
//! request from a fresh instance: `_start` reads the client request through Fastly's hostcalls,
//! the engine answers it (the same Open Inference Protocol v2 code as the component), and the
//! reply goes back to the client. `edgeinfer pack --target fastly` streams the model into
//! [`wizer_initialize`] and snapshots the module with Wizer, as Fastly's own runtimes are
//! made: a fresh instance starts with the optimized plan in memory. The init function calls
//! no Fastly hostcall (there are none at pack time).

use edgeinfer_engine::http::{HttpRequest, Reply};
use edgeinfer_engine::scrub;
use edgeinfer_protocol::oip::OipError;
use fastly::{Request, Response};
use std::io::Read;

#[global_allocator]
static ALLOCATOR: scrub::SnapshotAllocator = scrub::SnapshotAllocator;

/// Pack time: reads the model from stdin and loads it (Wizer snapshots the result).
#[unsafe(export_name = "wizer-initialize")]
pub extern "C" fn wizer_initialize() {
    // wasip1 std reads stdin with plain `fd_read` calls into our buffer: nothing kept.
    let stdin = std::io::stdin().lock();
    if let Err(message) = scrub::preinitializing(|| edgeinfer_engine::state::initialize(stdin)) {
        // Wizer reports a trap; the host captures stderr to say why.
        eprintln!("edgeinfer guest: {message}");
        std::process::abort();
    }
}

/// One request, on a fresh instance: what Fastly (and Viceroy) call.
#[unsafe(export_name = "_start")]
pub extern "C" fn serve_one_request() {
    let reply = edgeinfer_engine::http::answer(&mut FastlyRequest(Request::from_client()));
    respond(reply).send_to_client();
}

struct FastlyRequest(Request);

impl HttpRequest for FastlyRequest {
    fn method(&self) -> String {
        self.0.get_method_str().to_string()
    }

    fn path_with_query(&self) -> String {
        match self.0.get_query_str() {
            Some(query) => format!("{}?{query}", self.0.get_path()),
            None => self.0.get_path().to_string(),
        }
    }

    fn header(&self, name: &str) -> Option<Vec<u8>> {
        self.0.get_header(name).map(|v| v.as_bytes().to_vec())
    }

    fn read_body(&mut self, limit: usize) -> Result<Vec<u8>, OipError> {
        let mut bytes = Vec::new();
        self.0
            .take_body()
            .take(limit as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| OipError::bad_request(format!("reading the request body: {e}")))?;
        Ok(bytes)
    }
}

fn respond(reply: Reply) -> Response {
    let mut response = Response::from_status(reply.status);
    for (name, value) in reply.headers() {
        // The platform frames the body and sets content-length itself.
        if name != "content-length" {
            response.set_header(name, value);
        }
    }
    response.set_body(reply.body);
    response
}
