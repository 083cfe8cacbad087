//! The generic edgeinfer model component (wasm32-wasip2): a thin front door over
//! `edgeinfer-engine`, which does the work.
//!
//! One build of this crate serves every model: `edgeinfer pack` feeds it a model (NNEF +
//! manifest) on stdin of `wizer-initialize` and snapshots the result with Wizer, so the packed
//! component starts with an optimized tract plan already in its memory. It exports the
//! `edgeinfer:inference/model` WIT interface ([`convert`] maps its types to the engine's) and
//! answers the Open Inference Protocol v2 over `wasi:http/incoming-handler` ([`http`]).

mod convert;
mod http;

mod bindings {
    wit_bindgen::generate!({
        world: "model-component",
        path: "../wit",
    });
}

use bindings::edgeinfer::inference::types::{Error, ModelMetadata, NamedTensor};
use bindings::exports::edgeinfer::inference::model::Guest as ModelGuest;
use edgeinfer_engine::scrub;

#[global_allocator]
static ALLOCATOR: scrub::SnapshotAllocator = scrub::SnapshotAllocator;

struct Component;

impl bindings::Guest for Component {
    fn wizer_initialize() {
        // Through the wasi:cli stream itself, not std's stdin: in this component std's reads
        // (wasi-libc) never free the buffers the data arrives in, so every byte read would
        // stay in memory, and in the snapshot, a second time.
        let stdin = wasip2::cli::stdin::get_stdin();
        if let Err(message) = scrub::preinitializing(|| edgeinfer_engine::state::initialize(stdin))
        {
            // Wizer reports a trap; the host captures stderr to say why.
            eprintln!("edgeinfer guest: {message}");
            std::process::abort();
        }
    }
}

impl ModelGuest for Component {
    fn metadata() -> Result<ModelMetadata, Error> {
        edgeinfer_engine::metadata()
            .map(Into::into)
            .map_err(Into::into)
    }

    fn infer(inputs: Vec<NamedTensor>) -> Result<Vec<NamedTensor>, Error> {
        let inputs = inputs.into_iter().map(Into::into).collect();
        edgeinfer_engine::infer(inputs)
            .map(|outputs| outputs.into_iter().map(Into::into).collect())
            .map_err(Into::into)
    }
}

bindings::export!(Component with_types_in bindings);
