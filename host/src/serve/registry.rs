//! The served models: for each name, its versions (one file each), the traffic split between
//! them, and the compiled component behind each version, swapped in place on hot reload.

use super::batcher::{BatchPolicy, Batcher};
use super::config::{ModelSpec, WeightSpec};
use super::metrics::{Metrics, ModelLabels};
use super::split::Split;
use crate::runtime::{HostState, Metadata, Runtime};
use anyhow::{Context, Result, bail};
use edgeinfer_protocol::oip::{ModelRef, OipError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;
use wasmtime::component::Linker;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

/// Size and mtime: a changed file changes one of them (copy, rename or in-place write).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
}

impl FileStamp {
    fn of(path: &Path) -> Result<FileStamp> {
        let meta =
            std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
        Ok(FileStamp {
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

/// A compiled model file, ready to instantiate per request.
pub(crate) struct Loaded {
    pub(crate) proxy: ProxyPre<HostState>,
    /// What the component says it is (it answers to this name and version).
    pub(crate) metadata: Metadata,
    pub(crate) sha256: String,
    stamp: FileStamp,
    /// Instances that answered a request and wait for the next (`--reuse-instances`). They
    /// live and die with this version: a reload starts with none.
    pub(crate) idle: Mutex<Vec<Warm>>,
    /// Joins concurrent infer requests (`--max-batch`), when on and the model has a batch dim.
    pub(crate) batcher: Option<Batcher>,
}

impl Loaded {
    /// An instance that answered a request before, if one waits (last in, first out: the
    /// most recently used memory is the likeliest still in cache).
    pub(crate) fn take_idle(&self) -> Option<Warm> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    pub(crate) fn park(&self, warm: Warm) {
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(warm);
    }
}

/// A live instance of a model's component and its store, kept between requests.
pub(crate) struct Warm {
    pub(crate) store: wasmtime::Store<HostState>,
    pub(crate) proxy: wasmtime_wasi_http::p2::bindings::Proxy,
    /// Its place in the server's idle count, given back when it is taken or dropped.
    pub(crate) _counted: super::handler::IdlePlace,
}

/// One served version of a model.
pub(crate) struct Slot {
    pub(crate) labels: ModelLabels,
    pub(crate) path: PathBuf,
    /// How this version's requests are joined, kept for reloads.
    batching: BatchPolicy,
    current: RwLock<Arc<Loaded>>,
    /// A file that failed to load is not retried until it changes again.
    failed: Mutex<Option<FileStamp>>,
}

impl Slot {
    /// The component serving this version now. Requests keep their `Arc` to the end, so a
    /// reload never pulls a component from under an in-flight request.
    pub(crate) fn current(&self) -> Arc<Loaded> {
        self.current.read().expect("slot lock").clone()
    }
}

struct Group {
    slots: Vec<Arc<Slot>>,
    split: Split,
}

/// Compiles model files for serving: one engine, a wasi:http linker, the compile cache.
pub(crate) struct Loader {
    runtime: Runtime,
    linker: Linker<HostState>,
    cache_dir: Option<PathBuf>,
}

impl Loader {
    pub(crate) fn new(runtime: Runtime, cache_dir: Option<PathBuf>) -> Result<Loader> {
        let mut linker = Linker::new(runtime.engine());
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        Ok(Loader {
            runtime,
            linker,
            cache_dir,
        })
    }

    pub(crate) fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    fn load(&self, path: &Path, batching: BatchPolicy) -> Result<Loaded> {
        let stamp = FileStamp::of(path)?;
        let bytes = crate::runtime::read_model_file(path)?;
        let sha256 = crate::pack::sha256_hex(&bytes);
        let model = self
            .runtime
            .load_read_cached(path, &bytes, self.cache_dir.as_deref())
            .with_context(|| format!("cannot load {}", path.display()))?;
        drop(bytes);
        give_back_freed_memory();
        // A fresh instance answering `metadata` proves the file runs before it takes traffic.
        let metadata = model
            .metadata()
            .with_context(|| format!("{} does not answer metadata()", path.display()))?;
        let pre = self.linker.instantiate_pre(model.component())?;
        let proxy = ProxyPre::new(pre)
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!(
                    "{} does not export wasi:http/incoming-handler; repack it with this edgeinfer",
                    path.display()
                )
            })?;
        let batcher = batcher(path, &metadata, batching);
        Ok(Loaded {
            proxy,
            metadata,
            sha256,
            stamp,
            idle: Mutex::new(Vec::new()),
            batcher,
        })
    }
}

/// A batcher when the policy asks for one and the model can take it; a model that cannot
/// (no shared free first dim) is served request by request, and the log says why.
fn batcher(path: &Path, metadata: &Metadata, batching: BatchPolicy) -> Option<Batcher> {
    if batching.max_batch <= 1 {
        return None;
    }
    match Batcher::for_model(metadata, batching) {
        Ok(batcher) => Some(batcher),
        Err(why) => {
            tracing::warn!(
                "{}: not batched (--max-batch {}): {why}",
                path.display(),
                batching.max_batch
            );
            None
        }
    }
}

/// Compiling a component (Cranelift, when no cached compile exists) frees hundreds of MB in
/// small blocks that glibc keeps in its arenas: a `serve` that compiled at start or on a
/// reload stayed at ~770 MiB instead of ~220 in the soak. Trimming hands them back.
fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator.
    unsafe {
        libc::malloc_trim(0);
    }
}

pub(crate) struct Registry {
    groups: BTreeMap<String, Group>,
}

impl Registry {
    /// Loads every spec (in parallel on the blocking pool) and groups versions by name.
    pub(crate) async fn load(
        loader: &Arc<Loader>,
        specs: Vec<ModelSpec>,
        weights: &[WeightSpec],
        batching: BatchPolicy,
        metrics: &Metrics,
    ) -> Result<Registry> {
        if specs.is_empty() {
            bail!("no models to serve; give one or more packed .wasm files");
        }
        let tasks: Vec<_> = specs
            .iter()
            .map(|spec| {
                let loader = loader.clone();
                let path = spec.path.clone();
                let batching = spec.batching(batching);
                tokio::task::spawn_blocking(move || loader.load(&path, batching))
            })
            .collect();
        // name -> its versions, each with the weight given (if any)
        type Versions = Vec<(Arc<Slot>, Option<u32>)>;
        let mut groups: BTreeMap<String, Versions> = BTreeMap::new();
        for (spec, task) in specs.into_iter().zip(tasks) {
            let loaded = task.await??;
            let spec_batching = spec.batching(batching);
            let name = spec.name.unwrap_or_else(|| loaded.metadata.name.clone());
            let version = spec
                .version
                .unwrap_or_else(|| loaded.metadata.version.clone());
            let versions = groups.entry(name.clone()).or_default();
            if versions.iter().any(|(s, _)| s.labels.version == version) {
                bail!(
                    "model `{name}` version `{version}` is given twice; give each file its own \
                     version with NAME@VERSION=PATH"
                );
            }
            let labels = ModelLabels {
                model: name,
                version,
            };
            metrics.set_info(
                &labels,
                &loaded.sha256,
                &spec.path.display().to_string(),
                None,
            );
            let slot = Slot {
                labels,
                batching: spec_batching,
                path: spec.path,
                current: RwLock::new(Arc::new(loaded)),
                failed: Mutex::new(None),
            };
            versions.push((Arc::new(slot), spec.weight));
        }
        for w in weights {
            let versions = groups.get_mut(&w.name).with_context(|| {
                format!(
                    "--weight {}@{}: no model `{}` is served",
                    w.name, w.version, w.name
                )
            })?;
            let (_, weight) = versions
                .iter_mut()
                .find(|(s, _)| s.labels.version == w.version)
                .with_context(|| {
                    format!(
                        "--weight {}@{}: model `{}` has no such version",
                        w.name, w.version, w.name
                    )
                })?;
            *weight = Some(w.weight);
        }
        let groups = groups
            .into_iter()
            .map(|(name, versions)| {
                let weights = versions.iter().map(|(_, w)| w.unwrap_or(0)).collect();
                let slots = versions.into_iter().map(|(s, _)| s).collect();
                (
                    name,
                    Group {
                        slots,
                        split: Split::new(weights),
                    },
                )
            })
            .collect();
        Ok(Registry { groups })
    }

    /// The version a request goes to: the one it names, or one picked by the traffic split.
    pub(crate) fn resolve(&self, model: ModelRef) -> Result<Arc<Slot>, OipError> {
        let group = self.groups.get(model.name).ok_or_else(|| {
            let names: Vec<&str> = self.groups.keys().map(String::as_str).collect();
            OipError::not_found(format!(
                "unknown model `{}`; this server serves: {}",
                model.name,
                names.join(", ")
            ))
        })?;
        match model.version {
            None => Ok(group.slots[group.split.pick()].clone()),
            Some(version) => group
                .slots
                .iter()
                .find(|s| s.labels.version == version)
                .cloned()
                .ok_or_else(|| {
                    let versions: Vec<&str> = group
                        .slots
                        .iter()
                        .map(|s| s.labels.version.as_str())
                        .collect();
                    OipError::not_found(format!(
                        "model `{}` has no version `{version}`; its versions are: {}",
                        model.name,
                        versions.join(", ")
                    ))
                }),
        }
    }

    /// Every served version with its traffic weight.
    pub(crate) fn describe(&self) -> Vec<(Arc<Slot>, u32)> {
        self.groups
            .values()
            .flat_map(|g| {
                g.slots
                    .iter()
                    .cloned()
                    .zip(g.split.weights().iter().copied())
            })
            .collect()
    }

    /// Reloads the files that changed since they were loaded. A file that fails to load
    /// leaves the old version serving and is logged.
    pub(crate) async fn reload_changed(&self, loader: &Arc<Loader>, metrics: &Metrics) {
        for group in self.groups.values() {
            for slot in &group.slots {
                let Ok(stamp) = FileStamp::of(&slot.path) else {
                    continue; // mid-rename, or removed: keep serving what we have
                };
                let failed = *slot.failed.lock().expect("slot lock");
                if stamp == slot.current().stamp || Some(stamp) == failed {
                    continue;
                }
                let (path, batching) = (slot.path.clone(), slot.batching);
                let loader = loader.clone();
                let result =
                    tokio::task::spawn_blocking(move || loader.load(&path, batching)).await;
                let result = result.map_err(anyhow::Error::from).and_then(|r| r);
                match result {
                    Ok(loaded) => {
                        let old_sha = slot.current().sha256.clone();
                        tracing::info!(
                            model = %slot.labels.model,
                            version = %slot.labels.version,
                            sha256 = %&loaded.sha256[..16],
                            "reloaded {}",
                            slot.path.display()
                        );
                        metrics.set_info(
                            &slot.labels,
                            &loaded.sha256,
                            &slot.path.display().to_string(),
                            Some(&old_sha),
                        );
                        *slot.current.write().expect("slot lock") = Arc::new(loaded);
                        *slot.failed.lock().expect("slot lock") = None;
                        metrics.reloaded(&slot.labels, true);
                    }
                    Err(e) => {
                        tracing::error!(
                            model = %slot.labels.model,
                            version = %slot.labels.version,
                            "reload of {} failed, still serving the previous file: {e:#}",
                            slot.path.display()
                        );
                        *slot.failed.lock().expect("slot lock") = Some(stamp);
                        metrics.reloaded(&slot.labels, false);
                    }
                }
            }
        }
    }
}
