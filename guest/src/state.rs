//! The one model of this instance. Filled at pack time by `wizer-initialize` (and then
//! captured in the Wizer snapshot) or, for a lazily packed component, on the first call.

use crate::bindings::edgeinfer::inference::types::{Error, ErrorCode};
use crate::model::LoadedModel;
use edgeinfer_protocol::PackPayload;
use std::cell::RefCell;
use std::io::Read;

enum State {
    /// The generic guest, before pack: no model.
    Empty,
    /// Packed without pre-init: NNEF bytes wait for the first call.
    Deferred(PackPayload),
    Ready(LoadedModel),
}

thread_local! {
    // wasm32-wasip2 is single-threaded; thread_local is a plain static here, and Wizer
    // snapshots it with the rest of linear memory.
    static STATE: RefCell<State> = const { RefCell::new(State::Empty) };
}

/// Reads the pack payload from stdin and loads (or defers) the model. A no-op when a model is
/// already there, so the init export that Wizer must keep is harmless after pack.
pub(crate) fn initialize_from_stdin() -> Result<(), String> {
    if STATE.with_borrow(|s| !matches!(s, State::Empty)) {
        return Ok(());
    }
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .map_err(|e| format!("reading the pack payload from stdin: {e}"))?;
    if bytes.is_empty() {
        return Err("no pack payload on stdin".into());
    }
    let payload = PackPayload::decode(&bytes).map_err(|e| e.to_string())?;
    drop(bytes);
    let state = if payload.manifest.preinit {
        let model = LoadedModel::load(&payload, true).map_err(|e| e.message)?;
        model.warm_up(&payload.manifest.warmup_symbols);
        State::Ready(model)
    } else {
        State::Deferred(payload)
    };
    STATE.set(state);
    Ok(())
}

/// Runs `f` on the loaded model, loading a deferred one first.
pub(crate) fn with_model<T>(f: impl FnOnce(&LoadedModel) -> Result<T, Error>) -> Result<T, Error> {
    STATE.with_borrow_mut(|state| {
        if let State::Deferred(payload) = state {
            *state = State::Ready(LoadedModel::load(payload, false)?);
        }
        match state {
            State::Ready(model) => f(model),
            _ => Err(Error::new(
                ErrorCode::NotFound,
                "no model in this component: it is the generic guest; pack a model into it with `edgeinfer pack`",
            )),
        }
    })
}
