//! The one model of this instance. Filled at pack time by `wizer-initialize` (and then
//! captured in the Wizer snapshot) or, for a lazily packed component, on the first call.

use crate::model::LoadedModel;
use crate::types::{Error, ErrorCode};
use edgeinfer_protocol::PackManifest;
use std::cell::RefCell;
use std::io::Read;

enum State {
    /// The generic guest, before pack: no model.
    Empty,
    /// Packed without pre-init: NNEF bytes wait for the first call.
    Deferred(PackManifest, Vec<u8>),
    Ready(LoadedModel),
}

thread_local! {
    // wasm32 guests are single-threaded; thread_local is a plain static here, and Wizer
    // snapshots it with the rest of linear memory.
    static STATE: RefCell<State> = const { RefCell::new(State::Empty) };
}

/// Reads the pack payload (stdin of the guest's init function, where `edgeinfer pack`
/// streams it) and loads (or defers) the model. A no-op when a model is already there, so the
/// init export that Wizer must keep is harmless after pack. Run it inside
/// [`crate::scrub::preinitializing`].
pub fn initialize(payload: impl Read) -> Result<(), String> {
    if STATE.with_borrow(|s| !matches!(s, State::Empty)) {
        return Ok(());
    }
    // Streamed, not read whole: the NNEF bytes of a big model never sit in memory beside
    // the tensors parsed from them.
    let chunked = crate::scrub::SmallReads(payload);
    let mut stdin = std::io::BufReader::with_capacity(crate::scrub::SMALL_READ, chunked);
    let manifest = edgeinfer_protocol::pack::read_manifest(&mut stdin)
        .map_err(|e| format!("the pack payload on stdin: {e}"))?;
    let state = if manifest.preinit {
        let model = LoadedModel::load(&manifest, &mut stdin, true).map_err(|e| e.message)?;
        drop(stdin);
        if !manifest.skip_warm_up {
            model.warm_up(&manifest.warmup_symbols);
        }
        State::Ready(model)
    } else {
        let mut nnef = Vec::new();
        stdin
            .read_to_end(&mut nnef)
            .map_err(|e| format!("reading the pack payload from stdin: {e}"))?;
        State::Deferred(manifest, nnef)
    };
    STATE.set(state);
    Ok(())
}

/// Runs `f` on the loaded model, loading a deferred one first.
pub(crate) fn with_model<T>(f: impl FnOnce(&LoadedModel) -> Result<T, Error>) -> Result<T, Error> {
    STATE.with_borrow_mut(|state| {
        if let State::Deferred(manifest, nnef) = state {
            *state = State::Ready(LoadedModel::load(manifest, &mut &nnef[..], false)?);
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
