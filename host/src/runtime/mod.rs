//! Running model components: one engine configuration for every use (CLI, tests, embedders).
//!
//! A [`Runtime`] owns the wasmtime engine (SIMD, pooling allocator, epoch interruption) and
//! the WASI linker; [`Runtime::load`] compiles or maps a component into a [`Model`]; each
//! [`Instance`] of a model is a sandbox with its own memory cap and per-call deadline, and
//! gets no files, no network, no environment. A runtime made without a deadline
//! ([`RuntimeConfig::deadline`] `None`) compiles its code without epoch checks, so its
//! compiled code is cached apart from the default's.

pub mod bindings;
pub mod code_cache;
mod engine;
mod instance;

pub use engine::RuntimeConfig;
pub use instance::{Dim, InferError, Instance, Metadata, Model, TensorSpec, code_name};

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};

/// Bumped whenever `engine::build_engine` changes what a compiled component holds in a way
/// wasmtime does not check on load (its memory-image policy), so a cached compile from an
/// older edgeinfer is not reused.
const COMPILE_SETTINGS: &str = "s2";

/// What the compile cache's key adds for a runtime without a deadline: its code has no epoch
/// checks, and wasmtime refuses to load one kind of code in the other's engine.
const NO_DEADLINE_SETTINGS: &str = "-nodeadline";

pub(crate) use instance::HostState;

#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

struct RuntimeInner {
    engine: Engine,
    linker: Linker<HostState>,
    config: RuntimeConfig,
    /// Only with a deadline: without one the code has no epoch checks to tick for.
    _ticker: Option<engine::EpochTicker>,
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> Result<Runtime> {
        let engine = engine::build_engine(&config)?;
        let mut linker = Linker::new(&engine);
        // Rust std on wasm32-wasip2 imports the WASI CLI world; the context behind it grants
        // nothing (see `HostState::new`).
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        // Packed components also export the OIP over wasi:http and so import its types.
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker)?;
        let ticker = config
            .deadline
            .is_some()
            .then(|| engine::EpochTicker::start(&engine));
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                engine,
                linker,
                config,
                _ticker: ticker,
            }),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    pub(crate) fn linker(&self) -> &Linker<HostState> {
        &self.inner.linker
    }

    pub(crate) fn new_store(&self, stdin: Option<Vec<u8>>) -> Store<HostState> {
        let mut store = Store::new(
            &self.inner.engine,
            HostState::new(&self.inner.config, stdin),
        );
        store.limiter(|state| &mut state.limits);
        // What the guest may hand the host in one call (outputs, Wizer's memory snapshot) is
        // bounded by its memory, which the limiter caps already; wasmtime's default of 128
        // MiB would refuse big outputs and models.
        store.set_hostcall_fuel(self.inner.config.memory_limit.max(128 << 20));
        // With epoch interruption on, a store without a deadline would trap at once.
        if let Some(deadline) = self.inner.config.deadline {
            store.set_epoch_deadline(engine::deadline_ticks(deadline));
        }
        store
    }

    /// For a call awaited on a tokio runtime (`serve`): the call yields to the runtime at
    /// every epoch tick, so one long inference never holds a worker thread and the server's
    /// other requests, probes and metrics run in between (without it, `/v2/health/ready` took
    /// up to 1 s behind a 0.7 s detector). Past the deadline it traps, as a call of the other
    /// commands does. Set before each call, so a kept instance gets its full deadline again.
    /// Without a deadline there are no ticks to yield at (`serve` refuses that runtime).
    pub(crate) fn yield_until_deadline(&self, store: &mut Store<HostState>) {
        let Some(deadline) = self.inner.config.deadline else {
            return;
        };
        let ends = std::time::Instant::now() + deadline;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            Ok(if std::time::Instant::now() >= ends {
                wasmtime::UpdateDeadline::Interrupt
            } else {
                wasmtime::UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now()))
            })
        });
    }

    /// Loads a component from a file: a `.cwasm` made by [`Runtime::precompile`] (or
    /// `edgeinfer precompile`), or a `.wasm`, in which case a sibling `.cwasm` newer than it is
    /// used instead of compiling.
    pub fn load(&self, path: &Path) -> Result<Model> {
        self.load_with(path, |wasm| self.compile_file(wasm))
    }

    /// Like [`Runtime::load`], but a `.wasm` without a usable `.cwasm` beside it is compiled
    /// through `cache_dir`: the compiled code is kept there by content hash, so the next
    /// process maps it instead of compiling (seconds for a large model).
    pub fn load_cached(&self, path: &Path, cache_dir: Option<&Path>) -> Result<Model> {
        match cache_dir {
            Some(dir) => self.load_with(path, |wasm| {
                self.compile_cached(&read_model_file(wasm)?, dir)
            }),
            None => self.load(path),
        }
    }

    /// [`Runtime::load_cached`] of a file its caller has already read (to hash it), so a
    /// large model is not read twice.
    pub fn load_read_cached(
        &self,
        path: &Path,
        wasm: &[u8],
        cache_dir: Option<&Path>,
    ) -> Result<Model> {
        match cache_dir {
            Some(dir) => self.load_with(path, |_| self.compile_cached(wasm, dir)),
            None => self.load(path),
        }
    }

    /// A `.cwasm` as it is; for a `.wasm`, the fresh `.cwasm` beside it if this engine can map
    /// it (one made for the other `--deadline` mode cannot), else `compile(path)`.
    fn load_with(
        &self,
        path: &Path,
        compile: impl FnOnce(&Path) -> Result<Component>,
    ) -> Result<Model> {
        let component = if path.extension().is_some_and(|e| e == "cwasm") {
            self.deserialize_file(path)?
        } else {
            match fresh_precompiled(path) {
                Some(cwasm) => match self.deserialize_file(&cwasm) {
                    Ok(component) => component,
                    Err(e) => {
                        tracing::warn!("ignoring {}: {e:#}", cwasm.display());
                        compile(path)?
                    }
                },
                None => compile(path)?,
            }
        };
        Model::new(self.clone(), component)
    }

    /// Compiles a component from bytes.
    pub fn load_bytes(&self, wasm: &[u8]) -> Result<Model> {
        Model::new(self.clone(), self.compile(wasm)?)
    }

    /// Like [`Runtime::load_bytes`], but keeps the compiled code in `cache_dir` (keyed by the
    /// bytes' sha256, wasmtime's version, [`COMPILE_SETTINGS`] and whether the runtime has a
    /// deadline) so later processes map it
    /// instead of compiling; see [`code_cache`] for its bound.
    pub fn load_bytes_cached(&self, wasm: &[u8], cache_dir: &Path) -> Result<Model> {
        Model::new(self.clone(), self.compile_cached(wasm, cache_dir)?)
    }

    /// The compiled code of `wasm` from `cache_dir`, or compiled now and stored there.
    fn compile_cached(&self, wasm: &[u8], cache_dir: &Path) -> Result<Component> {
        let path = cache_dir.join(self.cache_file_name(wasm));
        check_fits_memory_limit(wasm, self.inner.config.memory_limit)?;
        if path.exists()
            && let Ok(component) = self.deserialize_file(&path)
        {
            code_cache::touch(&path);
            return Ok(component);
        }
        let component = self.compile(wasm)?;
        code_cache::store(&path, &component.serialize()?);
        Ok(component)
    }

    /// Ahead-of-time compiles a component for this engine configuration and host CPU.
    /// Compiles a model component ahead of time; refuses a component that is not a model
    /// (it could never be loaded, so a .cwasm of it would only fail later).
    pub fn precompile(&self, wasm: &[u8]) -> Result<Vec<u8>> {
        check_is_component(wasm)?;
        let cwasm = self.inner.engine.precompile_component(wasm)?;
        // SAFETY: the bytes were made by this engine a moment ago.
        let component = unsafe { Component::deserialize(&self.inner.engine, &cwasm) }?;
        Model::new(self.clone(), component)?;
        Ok(cwasm)
    }

    /// The generic guest (no model): the base of [`Runtime::load_unpacked`].
    pub fn generic_guest(&self, cache_dir: Option<&Path>) -> Result<Model> {
        match cache_dir {
            Some(dir) => self.load_bytes_cached(crate::GENERIC_GUEST, dir),
            None => self.load_bytes(crate::GENERIC_GUEST),
        }
    }

    /// The compile cache's entry for `wasm` in this engine configuration.
    fn cache_file_name(&self, wasm: &[u8]) -> String {
        let key = crate::pack::sha256_hex(wasm);
        let settings = match self.inner.config.deadline {
            Some(_) => COMPILE_SETTINGS.to_string(),
            None => format!("{COMPILE_SETTINGS}{NO_DEADLINE_SETTINGS}"),
        };
        format!(
            "{}-wasmtime{}-{settings}.cwasm",
            &key[..16],
            wasmtime_version()
        )
    }

    fn compile(&self, wasm: &[u8]) -> Result<Component> {
        check_is_component(wasm)?;
        check_fits_memory_limit(wasm, self.inner.config.memory_limit)?;
        Ok(Component::new(&self.inner.engine, wasm)?)
    }

    /// Errors do not repeat the path: the callers say which file they could not load.
    fn compile_file(&self, path: &Path) -> Result<Component> {
        self.compile(&read_model_file(path)?)
    }

    fn deserialize_file(&self, path: &Path) -> Result<Component> {
        // SAFETY: wasmtime checks the header (version, engine settings) before mapping; the
        // remaining trust is that the file was made by `precompile`, as for any .cwasm.
        let component = unsafe { Component::deserialize_file(&self.inner.engine, path) }
            .map_err(|e| {
                // wasmtime names the setting; say which flag it comes from.
                let e = anyhow::Error::from(e);
                if format!("{e:#}").contains("epoch interruption") {
                    e.context(
                        "it was compiled for the other --deadline mode (0 drops the checks \
                         that enforce a deadline): run `edgeinfer precompile` again with this \
                         command's --deadline",
                    )
                } else {
                    e
                }
            })
            .with_context(|| format!("loading precompiled {}", path.display()))?;
        Ok(component)
    }
}

/// Bytes of linear memory a component starts with (its largest memory's minimum). A packed
/// model's snapshot records the memory its pre-initialization grew to, so big models start
/// big; `None` for bytes that do not parse (a .cwasm, say).
pub fn initial_memory_bytes(wasm: &[u8]) -> Option<u64> {
    let mut largest = None;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::MemorySection(reader) = payload.ok()? {
            for memory in reader {
                let memory = memory.ok()?;
                let page = 1u64 << memory.page_size_log2.unwrap_or(16);
                let bytes = memory.initial.saturating_mul(page);
                largest = Some(largest.unwrap_or(0).max(bytes));
            }
        }
    }
    largest
}

/// Refuses, with the flag that fixes it, a component that starts with more memory than the
/// limit allows (wasmtime's own error speaks of pooling allocator slots).
fn check_fits_memory_limit(wasm: &[u8], limit: usize) -> Result<()> {
    if let Some(initial) = initial_memory_bytes(wasm)
        && initial > limit as u64
    {
        anyhow::bail!(
            "the model starts with {} MiB of linear memory (its weights and plan), more than the \
             memory limit of {} MiB: raise it, e.g. --memory-limit {}",
            initial >> 20,
            limit >> 20,
            (initial >> 20) + 256
        );
    }
    Ok(())
}

/// The cores this process may use: how many instances run at once by default (`serve`'s
/// `--max-concurrency`, `batch -j`), since an inference is CPU-bound.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

pub(crate) fn wasmtime_version() -> &'static str {
    "48.0.8"
}

/// `model.cwasm` beside `model.wasm`, if it exists and is not older than it.
pub fn precompiled_path(wasm: &Path) -> PathBuf {
    wasm.with_extension("cwasm")
}

/// The `.cwasm` beside `wasm` when it is at least as new (else it may be stale).
pub(crate) fn fresh_precompiled(wasm: &Path) -> Option<PathBuf> {
    let cwasm = precompiled_path(wasm);
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let (w, c): (SystemTime, SystemTime) = (modified(wasm)?, modified(&cwasm)?);
    (c >= w).then_some(cwasm)
}

/// Reads a model file (a component, a core module for `fit`, or a `.cwasm`), after checking
/// its first bytes: a multi-gigabyte file that is not WebAssembly is refused at once instead
/// of being read into memory first.
pub fn read_model_file(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut head = Vec::with_capacity(8);
    (&mut file).take(8).read_to_end(&mut head)?;
    match head.as_slice() {
        [0, b'a', b's', b'm', ..] | [0x7f, b'E', b'L', b'F', ..] => {}
        [] => anyhow::bail!("{} is empty, not a WebAssembly component", path.display()),
        _ => anyhow::bail!(
            "{} is not a WebAssembly component (no `\\0asm` header)",
            path.display()
        ),
    }
    let mut bytes = head;
    file.read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(bytes)
}

/// A clear error for files that are not components (a core module, an ONNX file, text...).
fn check_is_component(bytes: &[u8]) -> Result<()> {
    match bytes {
        [0, b'a', b's', b'm', _, _, 1, 0, ..] => Ok(()),
        [0, b'a', b's', b'm', 1, 0, 0, 0, ..] => anyhow::bail!(
            "this is a core WebAssembly module, not a component; pack a model with `edgeinfer pack`"
        ),
        _ => anyhow::bail!("not a WebAssembly component (no `\\0asm` header)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognizes_components() {
        assert!(check_is_component(b"\0asm\x0d\0\x01\0").is_ok());
        let core = check_is_component(b"\0asm\x01\0\0\0")
            .unwrap_err()
            .to_string();
        assert!(core.contains("core WebAssembly module"), "{core}");
        assert!(
            check_is_component(b"\x08\x07onnx")
                .unwrap_err()
                .to_string()
                .contains("not a WebAssembly")
        );
    }
}
