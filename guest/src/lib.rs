//! The generic edgeinfer model component.
//!
//! One build of this crate serves every model: `edgeinfer pack` feeds it a model (NNEF +
//! manifest) through `wizer-initialize` and snapshots the result with Wizer, so the packed
//! component starts with an optimized tract plan already in its memory.
//!
//! It also answers the Open Inference Protocol v2 over `wasi:http/incoming-handler` ([`http`]).
//!
//! Modules: [`scrub`] keeps pack-time garbage (freed buffers, allocator bookkeeping) out of the snapshot, [`state`] holds the one model of this instance, [`model`] loads and describes it,
//! [`tensors`] validates and converts tensors crossing the WIT boundary.

mod http;
mod model;
mod scrub;
mod state;
mod tensors;

mod bindings {
    wit_bindgen::generate!({
        world: "model-component",
        path: "../wit",
    });
}

use bindings::edgeinfer::inference::types::{
    Error, ErrorCode, ModelMetadata, NamedTensor, TensorType,
};
use bindings::exports::edgeinfer::inference::model::Guest as ModelGuest;

edgeinfer_protocol::dtype_conversions!(TensorType);

impl Error {
    fn new(code: ErrorCode, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
        }
    }
}

#[global_allocator]
static ALLOCATOR: scrub::SnapshotAllocator = scrub::SnapshotAllocator;

struct Component;

impl bindings::Guest for Component {
    fn wizer_initialize() {
        if let Err(message) = scrub::preinitializing(state::initialize_from_stdin) {
            // Wizer reports a trap; the host captures stderr to say why.
            eprintln!("edgeinfer guest: {message}");
            std::process::abort();
        }
    }
}

impl ModelGuest for Component {
    fn metadata() -> Result<ModelMetadata, Error> {
        state::with_model(|m| Ok(m.metadata()))
    }

    fn infer(inputs: Vec<NamedTensor>) -> Result<Vec<NamedTensor>, Error> {
        state::with_model(|m| m.infer(inputs))
    }
}

bindings::export!(Component with_types_in bindings);
