//! `edgeinfer pack --target fastly`: the same model, pre-initialized in the generic Fastly
//! Compute module (wasm32-wasip1, `edgeinfer-guest-fastly`) instead of the component, and
//! written as `fastly compute pack` writes a package:
//!
//! ```text
//! <out>/<name>.tar.gz      <name>/bin/main.wasm + <name>/fastly.toml  (what `fastly compute deploy` takes)
//! <out>/<name>/bin/main.wasm, <out>/<name>/fastly.toml                (the same, unpacked: `viceroy` runs it)
//! ```
//!
//! Pre-init runs the module's `wizer-initialize` under wasmtime with WASI preview 1; Fastly's
//! hostcalls are linked as traps, as the init function must not (and does not) call them.

use super::{PackOptions, PackPayload, nnef_weight_bytes, sha256_hex, write_atomically};
use crate::runtime::code_cache;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use wasmtime::{Config, Engine, Linker, Module, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wizer::{WasmtimeWizer, Wizer};

/// What `pack --target fastly` produced.
#[derive(Debug, serde::Serialize)]
pub struct FastlyPackReport {
    /// `<out>/<name>.tar.gz`, for `fastly compute deploy --package`.
    pub package: PathBuf,
    /// `<out>/<name>/bin/main.wasm`, the pre-initialized module.
    pub wasm: PathBuf,
    /// `<out>/<name>/fastly.toml`.
    pub manifest: PathBuf,
    /// Bytes of main.wasm and of the package (Fastly's 100 MB limit is on the package).
    pub wasm_bytes: u64,
    pub package_bytes: u64,
    pub sha256: String,
    pub preinitialized: bool,
    pub notes: Vec<String>,
    pub weight_bytes: u64,
    pub preinit_memory_bytes: u64,
    pub convert_time: Duration,
    pub preinit_time: Duration,
}

/// Packs an ONNX model into a Fastly Compute package under `out_dir`.
pub fn pack_fastly(onnx: &Path, out_dir: &Path, options: &PackOptions) -> Result<FastlyPackReport> {
    let started = Instant::now();
    options
        .progress
        .stage("reading the ONNX model and converting it to NNEF (tract, natively)");
    let (payload, mut notes) = super::convert(onnx, options)?;
    let convert_time = started.elapsed();
    let weight_bytes = nnef_weight_bytes(&payload.nnef);

    let started = Instant::now();
    options
        .progress
        .stage("pre-initializing the Fastly module: it parses, optimizes and warms up the model");
    let limit = options
        .memory_limit
        .unwrap_or(super::DEFAULT_PREINIT_MEMORY_LIMIT);
    let cache = options.cache_dir.as_deref();
    let (snapshot, note) =
        super::preinit::retry_without_warm_up(&payload, |p| snapshot_module(p, limit, cache));
    let snapshot = snapshot.context("pre-initializing the Fastly module")?;
    notes.extend(note);
    let preinit_time = started.elapsed();

    options.progress.stage("writing the Fastly package");
    let name = &payload.manifest.name;
    let package_name = package_name(name);
    let dir = out_dir.join(&package_name);
    let wasm_path = dir.join("bin").join("main.wasm");
    let manifest_path = dir.join("fastly.toml");
    std::fs::create_dir_all(wasm_path.parent().unwrap())
        .with_context(|| format!("creating {}", dir.display()))?;
    let manifest = fastly_toml(&package_name, name, &payload.manifest.version);
    write_atomically(&wasm_path, &snapshot.wasm)?;
    write_atomically(&manifest_path, manifest.as_bytes())?;
    let package = out_dir.join(format!("{package_name}.tar.gz"));
    let tarball = tar_gz(&package_name, &snapshot.wasm, &manifest)?;
    write_atomically(&package, &tarball)?;

    Ok(FastlyPackReport {
        package,
        wasm: wasm_path,
        manifest: manifest_path,
        wasm_bytes: snapshot.wasm.len() as u64,
        package_bytes: tarball.len() as u64,
        sha256: sha256_hex(&snapshot.wasm),
        preinitialized: payload.manifest.preinit,
        notes,
        weight_bytes,
        preinit_memory_bytes: snapshot.memory_peak as u64,
        convert_time,
        preinit_time,
    })
}

struct ModuleSnapshot {
    wasm: Vec<u8>,
    memory_peak: usize,
}

struct InitState {
    wasi: WasiP1Ctx,
    limits: StoreLimits,
}

/// Runs the generic module's `wizer-initialize` on the payload and snapshots it.
fn snapshot_module(
    payload: &PackPayload,
    memory_limit: usize,
    cache_dir: Option<&Path>,
) -> Result<ModuleSnapshot> {
    let mut config = Config::new();
    config
        .wasm_simd(true)
        .wasm_relaxed_simd(true)
        // As `wasmtime wizer` does: identical results whatever CPU runs the snapshot.
        .relaxed_simd_deterministic(true)
        .cranelift_opt_level(wasmtime::OptLevel::Speed);
    let engine = Engine::new(&config)?;

    let wizer = Wizer::new();
    let (cx, instrumented) = wizer.instrument(crate::GENERIC_FASTLY_GUEST)?;
    let module = compile_cached(&engine, &instrumented, cache_dir)?;
    let mut linker: Linker<InitState> = Linker::new(&engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s| &mut s.wasi)?;
    // Fastly's hostcalls: present so the module links, traps if init ever called one.
    linker.define_unknown_imports_as_traps(&module)?;

    let stderr = MemoryOutputPipe::new(64 << 10);
    let wasi = WasiCtxBuilder::new()
        .stdin(MemoryInputPipe::new(payload.encode()))
        .stderr(stderr.clone())
        .build_p1();
    let limits = StoreLimitsBuilder::new().memory_size(memory_limit).build();
    let mut store = Store::new(&engine, InitState { wasi, limits });
    store.limiter(|s| &mut s.limits);
    let instance = linker
        .instantiate(&mut store, &module)
        .map_err(anyhow::Error::from)
        .context("instantiating the Fastly module")?;
    // What wasmtime-wizer's own runner does: the reactor's constructors, then the init
    // function. The snapshot drops `_initialize`, so they never run again.
    let initialize = instance.get_typed_func::<(), ()>(&mut store, "_initialize");
    let init = instance.get_typed_func::<(), ()>(&mut store, wizer.get_init_func())?;
    let ran = match initialize {
        Ok(initialize) => initialize.call(&mut store, ()),
        Err(_) => Ok(()),
    }
    .and_then(|()| init.call(&mut store, ()));
    if let Err(e) = ran {
        let said = String::from_utf8_lossy(&stderr.contents())
            .trim()
            .to_string();
        let memory = memory_size(&instance, &mut store);
        if memory + (64 << 10) > memory_limit {
            bail!(
                "the model needed more than the {} MiB memory limit (raise it with --memory-limit)",
                memory_limit >> 20
            );
        }
        bail!("the model trapped: {e:#}; guest stderr: {said}");
    }
    let memory_peak = memory_size(&instance, &mut store);
    let wasm =
        edgeinfer_convert::guard::guarded("snapshotting the pre-initialized module", || {
            pollster::block_on(wizer.snapshot(
                &cx,
                &mut WasmtimeWizer {
                    store: &mut store,
                    instance,
                },
            ))
            .map_err(anyhow::Error::from)
        })?;
    let wasm = super::segments::resegment_core_module(&wasm)
        .context("re-cutting the snapshot's data segments")?;
    Ok(ModuleSnapshot { wasm, memory_peak })
}

/// Compiles the instrumented generic module, or loads it from `cache_dir` (instrumenting is
/// deterministic, so its hash keys the cache): spares a compile of several seconds per pack.
fn compile_cached(engine: &Engine, wasm: &[u8], cache_dir: Option<&Path>) -> Result<Module> {
    let compile = || {
        Module::new(engine, wasm)
            .map_err(anyhow::Error::from)
            .context("compiling the Fastly module")
    };
    let Some(dir) = cache_dir else {
        return compile();
    };
    let key = sha256_hex(wasm);
    let path = dir.join(format!(
        "{}-fastly-preinit-wasmtime{}.cwasm",
        &key[..16],
        crate::runtime::wasmtime_version()
    ));
    // SAFETY: the file is one this function wrote with this engine configuration (keyed by
    // the module's hash and wasmtime's version); wasmtime checks its header on load.
    if let Ok(module) = unsafe { Module::deserialize_file(engine, &path) } {
        code_cache::touch(&path);
        return Ok(module);
    }
    let module = compile()?;
    if let Ok(bytes) = module.serialize() {
        code_cache::store(&path, &bytes);
    }
    Ok(module)
}

fn memory_size(instance: &wasmtime::Instance, store: &mut Store<InitState>) -> usize {
    instance
        .get_memory(&mut *store, "memory")
        .map(|m| m.data_size(&*store))
        .unwrap_or(0)
}

/// A Fastly package name: the model name in the characters Fastly's CLI uses for paths.
fn package_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "model".into()
    } else {
        cleaned
    }
}

fn fastly_toml(package: &str, model: &str, version: &str) -> String {
    let quote = |s: &str| toml_string(s);
    format!(
        "# A Fastly Compute package made by `edgeinfer pack --target fastly`.\n\
         # https://www.fastly.com/documentation/reference/compute/fastly-toml\n\
         manifest_version = 3\n\
         name = {}\n\
         description = {}\n\
         authors = []\n\
         language = \"other\"\n",
        quote(package),
        quote(&format!(
            "edgeinfer: model {model} version {version}, Open Inference Protocol v2"
        )),
    )
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `<package>/bin/main.wasm` and `<package>/fastly.toml`, as `fastly compute pack` lays out.
fn tar_gz(package: &str, wasm: &[u8], manifest: &str) -> Result<Vec<u8>> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(encoder);
    for (path, bytes) in [
        (format!("{package}/bin/main.wasm"), wasm),
        (format!("{package}/fastly.toml"), manifest.as_bytes()),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, &path, bytes)?;
    }
    Ok(tar.into_inner()?.finish()?)
}
