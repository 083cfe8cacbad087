//! `edgeinfer pack`: ONNX model -> NNEF -> generic guest -> Wizer snapshot -> one component.

mod fastly;
mod preinit;
mod segments;

pub use edgeinfer_convert::{
    BATCH_SYMBOL, Converted, DimValue, InputShape, InputValue, ShapeRequest, nnef, onnx_to_nnef,
};
pub use fastly::{FastlyPackReport, pack_fastly};
pub use preinit::DEFAULT_PREINIT_MEMORY_LIMIT;

use crate::runtime::{Metadata, Runtime};
use anyhow::{Context, Result};
use edgeinfer_protocol::{PackManifest, PackPayload};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Clone, Debug, Default)]
pub struct PackOptions {
    /// Model name; defaults to the ONNX file stem.
    pub name: Option<String>,
    /// Model version; defaults to "1".
    pub version: Option<String>,
    /// `--input-shape` and `--dim`: dims to fix (or rename) before tract analyses the model.
    pub shapes: ShapeRequest,
    /// Skip the pre-initialization: the component parses the model on its first call.
    pub no_preinit: bool,
    /// Free input dims to fix in the second, specialized plan (`--specialize`); empty: the
    /// batch at 1.
    pub specialize: Vec<DimValue>,
    /// Build only the symbolic plan (`--no-specialize`): a smaller snapshot, slower calls.
    pub no_specialize: bool,
    /// Where compiled code of the generic guest is kept between runs (saves a compile).
    pub cache_dir: Option<PathBuf>,
    /// Linear memory the guest may use while it loads and optimizes the model; default
    /// [`DEFAULT_PREINIT_MEMORY_LIMIT`].
    pub memory_limit: Option<usize>,
    /// A generic guest component to pre-initialize instead of the embedded one (guest
    /// experiments: another build of `edgeinfer-guest`).
    pub guest: Option<PathBuf>,
    /// Told each stage as it starts (a big model takes a while in each).
    pub progress: Progress,
}

/// A callback told what pack is doing (`converting the ONNX model to NNEF`...).
#[derive(Clone, Default)]
pub struct Progress(Option<std::sync::Arc<StageCallback>>);

type StageCallback = dyn Fn(&str) + Send + Sync;

impl Progress {
    pub fn new(f: impl Fn(&str) + Send + Sync + 'static) -> Progress {
        Progress(Some(std::sync::Arc::new(f)))
    }

    pub(crate) fn stage(&self, what: &str) {
        if let Some(f) = &self.0 {
            f(what);
        }
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Progress(..)"
        } else {
            "Progress(none)"
        })
    }
}

/// What `pack` produced.
#[derive(Debug, serde::Serialize)]
pub struct PackReport {
    pub output: PathBuf,
    pub bytes: u64,
    pub gzip_bytes: u64,
    pub sha256: String,
    pub preinitialized: bool,
    /// Why pre-init was not done, when it was not.
    pub fallback_reason: Option<String>,
    pub metadata: Option<Metadata>,
    /// What pack did to the graph that the user should know (named dims, casts...).
    pub notes: Vec<String>,
    /// Bytes of the model's weights (the NNEF tensors), to judge the packed size by.
    pub weight_bytes: u64,
    /// Largest guest linear memory during pre-init.
    pub preinit_memory_bytes: u64,
    /// The free dims the second, specialized plan fixed (`N=1`), when pack built one.
    pub specialized: Option<String>,
    pub convert_time: Duration,
    pub preinit_time: Duration,
}

/// Converts an ONNX model into what the guest loads: NNEF plus the manifest.
pub fn payload_from_onnx(onnx: &Path, options: &PackOptions) -> Result<PackPayload> {
    Ok(convert(onnx, options)?.0)
}

/// [`payload_from_onnx`], plus the conversion notes.
fn convert(onnx: &Path, options: &PackOptions) -> Result<(PackPayload, Vec<String>)> {
    let converted = onnx_to_nnef(onnx, &options.shapes)?;
    check_specialize(options, &converted.free_dims)?;
    let stem = onnx.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    let manifest = PackManifest {
        name: options.name.clone().unwrap_or_else(|| stem.to_string()),
        version: options.version.clone().unwrap_or_else(|| "1".to_string()),
        preinit: !options.no_preinit,
        input_names: converted.input_names,
        output_names: converted.output_names,
        warmup_symbols: Default::default(),
        skip_warm_up: false,
        specialize: (!options.no_specialize).then(|| {
            options
                .specialize
                .iter()
                .map(|d| (d.name.clone(), d.value))
                .collect()
        }),
        properties: converted.properties,
    };
    let payload = PackPayload {
        manifest,
        nnef: converted.nnef,
    };
    Ok((payload, converted.notes))
}

/// `--specialize` may only name a free dim of an input (pre-init would fail on anything else,
/// later and less clearly).
fn check_specialize(options: &PackOptions, free_dims: &[String]) -> Result<()> {
    for dim in &options.specialize {
        if !free_dims.contains(&dim.name) {
            let known = match free_dims {
                [] => "the model's inputs have no free dims".to_string(),
                dims => format!("the free dims of its inputs are: {}", dims.join(", ")),
            };
            anyhow::bail!(
                "--specialize {}={}: no input has a free dim `{}`; {known}",
                dim.name,
                dim.value,
                dim.name
            );
        }
    }
    Ok(())
}

/// Packs an ONNX model into a component at `output`.
pub fn pack(
    runtime: &Runtime,
    onnx: &Path,
    output: &Path,
    options: &PackOptions,
) -> Result<PackReport> {
    let started = Instant::now();
    options
        .progress
        .stage("reading the ONNX model and converting it to NNEF (tract, natively)");
    let (payload, mut notes) = convert(onnx, options)?;
    let convert_time = started.elapsed();
    let weight_bytes = nnef_weight_bytes(&payload.nnef);

    let started = Instant::now();
    let packed = preinit::snapshot(runtime, &payload, options)?;
    let preinit_time = started.elapsed();
    notes.extend(packed.notes);

    options.progress.stage("writing the component");
    write_atomically(output, &packed.component)?;
    Ok(PackReport {
        output: output.to_path_buf(),
        bytes: packed.component.len() as u64,
        gzip_bytes: gzip_len(&packed.component),
        sha256: sha256_hex(&packed.component),
        preinitialized: packed.preinitialized,
        fallback_reason: packed.fallback_reason,
        notes,
        weight_bytes,
        preinit_memory_bytes: packed.memory_peak as u64,
        specialized: specialized_sizes(packed.metadata.as_ref()),
        metadata: packed.metadata,
        convert_time,
        preinit_time,
    })
}

/// The sizes the guest says its specialized plan fixed, if it built one.
pub(crate) fn specialized_sizes(metadata: Option<&Metadata>) -> Option<String> {
    let properties = &metadata?.properties;
    properties
        .get(edgeinfer_protocol::pack::SPECIALIZED_PROPERTY)
        .cloned()
}

/// Bytes of the tensors (`.dat` entries) in an NNEF tar: the model's weights.
pub fn nnef_weight_bytes(nnef: &[u8]) -> u64 {
    let mut archive = tar::Archive::new(nnef);
    let Ok(entries) = archive.entries() else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.path()
                .is_ok_and(|p| p.extension().is_some_and(|x| x == "dat"))
        })
        .map(|e| e.size())
        .sum()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(crate) fn gzip_len(bytes: &[u8]) -> u64 {
    // gzip's default level: what servers and `gzip` use, and much faster than -9 on big models.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("writing to memory");
    encoder.finish().expect("writing to memory").len() as u64
}

/// A sibling temp path unique to this process and call.
fn temp_path_for(path: &Path) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp{}-{n}", std::process::id()));
    path.with_file_name(name)
}

/// Temp file + rename: a reader never sees half a component.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_path_for(path);
    let written = std::fs::write(&tmp, bytes)
        .with_context(|| format!("writing {}", tmp.display()))
        .and_then(|()| {
            std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
        });
    if written.is_err() {
        // A full disk leaves a partial temp file: not a thing to leave behind.
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
