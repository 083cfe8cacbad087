//! Pre-initialization with Wizer: the generic guest reads the model from stdin in its
//! `wizer-initialize`, parses, optimizes and warms it up; the snapshot of its memory becomes
//! the packed component, so a fresh instance starts with a ready plan.

use super::PackOptions;
use crate::runtime::{Metadata, Runtime, RuntimeConfig};
use anyhow::{Context, Result};
use edgeinfer_protocol::PackPayload;
use wasmtime_wizer::{WasmtimeWizerComponent, Wizer};

pub(super) struct Snapshot {
    pub(super) component: Vec<u8>,
    pub(super) preinitialized: bool,
    pub(super) fallback_reason: Option<String>,
    pub(super) metadata: Option<Metadata>,
    pub(super) memory_peak: usize,
    /// What pre-init had to give up that the user should know.
    pub(super) notes: Vec<String>,
}

/// Memory the guest may use while it loads the model: all of wasm32's 4 GiB unless the user
/// says otherwise. The parsed model, its optimized plan and, briefly, both at once must fit;
/// pack runs on the user's machine, where the real bound is its RAM.
pub const DEFAULT_PREINIT_MEMORY_LIMIT: usize = 4 << 30;

fn wizer() -> Wizer {
    let mut wizer = Wizer::new();
    // The init export must stay: the core module's export of the same name is what the
    // component's lifted export refers to (removing it breaks loading). The guest makes it a
    // no-op once a model is in.
    wizer.keep_init_func(true);
    wizer
}

pub(super) fn snapshot(
    runtime: &Runtime,
    payload: &PackPayload,
    options: &PackOptions,
) -> Result<Snapshot> {
    let cache_dir = options.cache_dir.as_deref();
    // Only one or two instances live at once here, each with room for the whole model.
    let runtime = &Runtime::new(RuntimeConfig {
        memory_limit: options.memory_limit.unwrap_or(DEFAULT_PREINIT_MEMORY_LIMIT),
        max_instances: 2,
        ..runtime.config().clone()
    })?;
    // Instrumenting is deterministic, so the cache (keyed by the instrumented bytes) spares
    // the compile on every pack after the first.
    let wizer = wizer();
    let custom_guest = match &options.guest {
        Some(path) => Some(
            std::fs::read(path).with_context(|| format!("reading the guest {}", path.display()))?,
        ),
        None => None,
    };
    let generic_guest = custom_guest.as_deref().unwrap_or(crate::GENERIC_GUEST);
    let (cx, instrumented) = wizer.instrument_component(generic_guest)?;
    let guest = match cache_dir {
        Some(dir) => runtime.load_bytes_cached(&instrumented, dir)?,
        None => runtime.load_bytes(&instrumented)?,
    };

    options
        .progress
        .stage("pre-initializing: the guest parses, optimizes and warms up the model");
    let mut notes = Vec::new();
    let (eager, fallback_reason) = if payload.manifest.preinit {
        match retry_without_warm_up(payload, |p| guest.instantiate_unpacked(p)) {
            (Ok(instance), note) => {
                notes.extend(note);
                (Some(instance), None)
            }
            (Err(e), _) => (None, Some(format!("{e:#}"))),
        }
    } else {
        (None, Some("--no-preinit".to_string()))
    };

    let (mut instance, metadata, preinitialized) = match eager {
        Some(mut instance) => {
            let metadata = instance
                .metadata()
                .context("reading the packed model's metadata")?;
            (instance, Some(metadata), true)
        }
        None => {
            let mut deferred = payload.clone();
            deferred.manifest.preinit = false;
            // Metadata from a throwaway eager instance, if the model loads at all.
            let mut eager = payload.clone();
            eager.manifest.preinit = true;
            eager.manifest.specialize = None;
            let metadata = guest
                .instantiate_unpacked(&eager)
                .ok()
                .and_then(|mut i| i.metadata().ok());
            let instance = guest
                .instantiate_unpacked(&deferred)
                .context("handing the model to the guest failed")?;
            (instance, metadata, false)
        }
    };

    let memory_peak = instance.memory_peak_bytes();
    options
        .progress
        .stage("snapshotting the guest's memory into the component");
    let (store, raw) = instance.raw_parts();
    // wasmtime-wizer unwraps the errors of its calls into the guest.
    let component =
        edgeinfer_convert::guard::guarded("snapshotting the pre-initialized guest", || {
            pollster::block_on(wizer.snapshot_component(
                &cx,
                &mut WasmtimeWizerComponent {
                    store,
                    instance: raw,
                },
            ))
            .map_err(anyhow::Error::from)
        })?;
    let component = super::segments::resegment(&component)
        .context("re-cutting the snapshot's data segments")?;
    Ok(Snapshot {
        component,
        preinitialized,
        fallback_reason,
        metadata,
        memory_peak,
        notes,
    })
}

/// Runs `attempt` (pre-init of a guest) on the payload and, if it fails, again with less:
/// first without the specialized plan (tract may fail to optimize the graph at the sizes
/// asked), then also without the warm-up (it runs on zeros with free dims at 1, which some
/// models cannot take: tract panics, the guest traps), while the plan itself may still be
/// fine. Returns the first error when every attempt fails, and the note to print when a
/// retry succeeded.
pub(super) fn retry_without_warm_up<T>(
    payload: &PackPayload,
    mut attempt: impl FnMut(&PackPayload) -> Result<T>,
) -> (Result<T>, Option<String>) {
    let first = attempt(payload);
    let Err(e) = &first else {
        return (first, None);
    };
    let reason = first_line(&format!("{e:#}"));
    let mut reduced = payload.clone();
    // Only the default specialization is let go quietly; sizes the user asked for fail.
    let asked_for_sizes = reduced
        .manifest
        .specialize
        .as_ref()
        .is_some_and(|sizes| !sizes.is_empty());
    if !asked_for_sizes
        && reduced.manifest.specialize.take().is_some()
        && let Ok(done) = attempt(&reduced)
    {
        let note = format!(
            "building the plan specialized to batch 1 failed ({reason}); packed with \
                 the symbolic plan only"
        );
        return (Ok(done), Some(note));
    }
    if reduced.manifest.skip_warm_up {
        return (first, None);
    }
    reduced.manifest.skip_warm_up = true;
    match attempt(&reduced) {
        Ok(done) => {
            let plans = match reduced.manifest.specialize {
                Some(_) => "",
                None => " (and without a specialized plan)",
            };
            let note = format!(
                "the warm-up inference on zeros failed ({reason}); packed without it{plans}, so \
                 the first call also builds what the warm-up would have"
            );
            (Ok(done), Some(note))
        }
        Err(_) => (first, None),
    }
}

/// The part of a guest failure worth one line: its panic message when it has one.
fn first_line(message: &str) -> String {
    let panic = message
        .split_once("panicked at ")
        .and_then(|(_, rest)| rest.split_once('\n'))
        .map(|(_, msg)| msg);
    panic
        .unwrap_or(message)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}
