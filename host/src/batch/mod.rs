//! `edgeinfer batch`: run a packed model over many records, in parallel, resumably, with a
//! report a scheduler can read.
//!
//! `jobs` worker threads each own one instance and reuse it for many records. Reuse is safe
//! because the component keeps no state between calls (the WIT contract; the guest holds only
//! the immutable plan, and each call runs on fresh tract state); an instance that traps or
//! times out is replaced. One writer (this thread) puts results in place, so output lines never
//! interleave, and see [`sink`] for why a kill at any moment loses nothing and duplicates
//! nothing.

mod progress;
mod sink;
mod source;

pub use source::InputKind;

use crate::Tensor;
use crate::runtime::{Dim, InferError, Metadata, Model, Runtime};
use anyhow::{Context, Result, bail};
use edgeinfer_protocol::oip::RequestedOutput;
use progress::Progress;
use serde::Serialize;
use sink::Sink;
use source::Source;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Instant, SystemTime};

#[derive(Clone, Debug)]
pub struct BatchOptions {
    pub model: PathBuf,
    pub input: PathBuf,
    pub output: PathBuf,
    /// Worker threads, one instance each.
    pub jobs: usize,
    /// Records per call along the model's free batch dimension (1: one call per record).
    pub batch_size: usize,
    /// The input a `.npy` file or CSV row fills, when the model has several.
    pub input_name: Option<String>,
    /// CSV columns that make the input, in order (default: all but `id`).
    pub columns: Option<Vec<String>>,
    pub report: Option<PathBuf>,
    pub errors: Option<PathBuf>,
    /// Stop taking new records once more than this many failed.
    pub max_failures: Option<u64>,
    pub quiet: bool,
    /// Where compiled code is cached between runs (see [`Runtime::load_cached`]).
    pub cache_dir: Option<PathBuf>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ModelInfo {
    pub path: PathBuf,
    pub name: String,
    pub version: String,
    pub sha256: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct RecordCounts {
    /// Records in the input.
    pub total: u64,
    /// Processed by this run.
    pub ok: u64,
    /// Already in the output from an earlier run.
    pub skipped: u64,
    pub failed: u64,
}

/// The run report, written as JSON beside the output.
#[derive(Clone, Debug, Serialize)]
pub struct BatchReport {
    pub started: String,
    pub finished: String,
    pub model: ModelInfo,
    pub input: PathBuf,
    pub input_kind: &'static str,
    pub output: PathBuf,
    pub records: RecordCounts,
    pub seconds: f64,
    pub records_per_second: f64,
    pub jobs: usize,
    pub batch_size: usize,
    /// True when `max_failures` stopped the run early.
    pub aborted: bool,
    /// Why the run stopped because its output could not be written (disk full, read-only
    /// folder...); the records written before are complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_error: Option<String>,
    /// 0: every record is done; 1: some failed or the run was aborted; 3 (see
    /// [`EXIT_OUTPUT_UNWRITABLE`]): the output could not be written.
    pub exit_code: u8,
    pub report_path: PathBuf,
    pub errors_path: PathBuf,
}

/// Exit code of a run stopped because its output (results, error log or report) could not be
/// written: what is in the output is complete, and a re-run once the cause is fixed resumes.
pub const EXIT_OUTPUT_UNWRITABLE: u8 = 3;

/// The output, the error log or the report could not be written (`anyhow` context marker:
/// the CLI exits with [`EXIT_OUTPUT_UNWRITABLE`] when an error carries it).
#[derive(Debug, thiserror::Error)]
#[error("cannot write the output")]
pub struct OutputUnwritable;

/// An error of the file system under the output, which every later record would meet too
/// (rather than one of this record's outputs: a name too long, a dtype `.npy` cannot hold).
fn is_output_unwritable(e: &anyhow::Error) -> bool {
    use std::io::ErrorKind::*;
    e.chain()
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .any(|io| {
            matches!(
                io.kind(),
                StorageFull | QuotaExceeded | FileTooLarge | ReadOnlyFilesystem | PermissionDenied
            )
        })
}

/// `out/` -> `out.report.json`, `preds.jsonl` -> `preds.jsonl.report.json`.
pub fn default_side_file(output: &Path, suffix: &str) -> PathBuf {
    let text = output.to_string_lossy();
    PathBuf::from(format!("{}{suffix}", text.trim_end_matches('/')))
}

struct Outcome {
    index: usize,
    result: Result<(Vec<Tensor>, Vec<RequestedOutput>), String>,
}

/// Runs the batch. An `Err` is a usage or model problem (nothing ran), or an output that
/// cannot be opened ([`OutputUnwritable`]): it still leaves a report with `exit_code` 2 (or
/// 3) and the error, for schedulers that read reports. Failed records
/// are counted in the report instead.
pub fn run(runtime: &Runtime, options: &BatchOptions) -> Result<BatchReport> {
    let started_at = SystemTime::now();
    run_records(runtime, options, started_at).inspect_err(|e| {
        let report = serde_json::json!({
            "started": humantime::format_rfc3339_seconds(started_at).to_string(),
            "finished": humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            "model": { "path": options.model },
            "input": options.input,
            "output": options.output,
            "exit_code": if e.downcast_ref::<OutputUnwritable>().is_some() {
                EXIT_OUTPUT_UNWRITABLE
            } else {
                2
            },
            "error": format!("{e:#}"),
        });
        let path = report_path(options);
        if let Ok(bytes) = serde_json::to_vec_pretty(&report) {
            let _ = crate::pack::write_atomically(&path, &bytes);
        }
    })
}

fn report_path(options: &BatchOptions) -> PathBuf {
    options
        .report
        .clone()
        .unwrap_or_else(|| default_side_file(&options.output, ".report.json"))
}

fn run_records(
    runtime: &Runtime,
    options: &BatchOptions,
    started_at: SystemTime,
) -> Result<BatchReport> {
    let started = Instant::now();
    let bytes = crate::runtime::read_model_file(&options.model)?;
    let sha256 = crate::pack::sha256_hex(&bytes);
    let model = runtime
        .load_read_cached(&options.model, &bytes, options.cache_dir.as_deref())
        .with_context(|| format!("cannot load {}", options.model.display()))?;
    drop(bytes);
    let metadata = model.metadata()?;
    let source = Source::open(
        &options.input,
        &metadata,
        options.input_name.as_deref(),
        options.columns.as_deref(),
    )?;
    let batch_size = options.batch_size.max(1);
    if batch_size > 1 {
        check_batchable(&metadata)?;
    }
    let mut sink = Sink::open(
        &options.output,
        source.kind,
        &metadata.name,
        &metadata.version,
    )
    .context(OutputUnwritable)?;
    let report_path = report_path(options);
    let errors_path = options
        .errors
        .clone()
        .unwrap_or_else(|| default_side_file(&options.output, ".errors.jsonl"));
    let mut error_log = std::fs::File::create(&errors_path)
        .with_context(|| format!("creating {}", errors_path.display()))
        .context(OutputUnwritable)?;

    let total = source.records.len() as u64;
    let pending: Vec<usize> = (0..source.records.len())
        .filter(|&i| !sink.is_done(&source.records[i].id))
        .collect();
    let mut counts = RecordCounts {
        total,
        skipped: total - pending.len() as u64,
        ..RecordCounts::default()
    };
    let jobs = options.jobs.max(1).min(pending.len().max(1));
    if !options.quiet {
        eprintln!(
            "batch: {} v{}: {} records ({} already done), {jobs} workers, batch size {batch_size}",
            metadata.name, metadata.version, total, counts.skipped
        );
    }

    let mut progress = Progress::new(pending.len() as u64, options.quiet);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<Outcome>();
    let mut aborted = false;
    let mut output_error: Option<anyhow::Error> = None;
    std::thread::scope(|scope| -> Result<()> {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (model, metadata, source, pending, next, stop) =
                (&model, &metadata, &source, &pending, &next, &stop);
            scope.spawn(move || {
                work(
                    model, metadata, source, pending, next, stop, batch_size, &tx,
                );
            });
        }
        drop(tx);
        for outcome in rx {
            if output_error.is_some() {
                continue; // stopping: the workers finish their calls, nothing more is written
            }
            let record = &source.records[outcome.index];
            // A record fails alone (its inference, or outputs the format cannot hold); an
            // I/O error of the output stops the run.
            let failure = match outcome.result {
                Ok((outputs, requested)) => match sink.write(&record.id, outputs, &requested) {
                    Ok(()) => {
                        counts.ok += 1;
                        None
                    }
                    Err(e) if is_output_unwritable(&e) => {
                        output_error = Some(e);
                        None
                    }
                    Err(e) => Some(format!("writing the outputs: {e:#}")),
                },
                Err(message) => Some(message),
            };
            let written = match failure {
                None => Ok(()),
                Some(message) => {
                    counts.failed += 1;
                    if options.max_failures.is_some_and(|max| counts.failed > max) && !aborted {
                        aborted = true;
                        stop.store(true, Ordering::Relaxed);
                    }
                    let line = serde_json::json!({ "record": record.id, "error": message });
                    writeln!(error_log, "{line}")
                        .with_context(|| format!("writing {}", errors_path.display()))
                }
            };
            if let Err(e) = written {
                output_error = Some(e);
            }
            if output_error.is_some() {
                // Every later record would fail the same way (a full disk, a read-only
                // folder): stop now, with everything written so far complete.
                stop.store(true, Ordering::Relaxed);
            }
            progress.record(counts.failed);
        }
        Ok(())
    })?;
    progress.finish();
    if output_error.is_none() {
        output_error = sink
            .sync()
            .and_then(|()| error_log.flush().context("flushing the error log"))
            .err();
    }

    let seconds = started.elapsed().as_secs_f64();
    let exit_code = if output_error.is_some() {
        EXIT_OUTPUT_UNWRITABLE
    } else if counts.failed > 0 || aborted {
        1
    } else {
        0
    };
    let mut report = BatchReport {
        started: humantime::format_rfc3339_seconds(started_at).to_string(),
        finished: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        model: ModelInfo {
            path: options.model.clone(),
            name: metadata.name.clone(),
            version: metadata.version.clone(),
            sha256,
        },
        input: options.input.clone(),
        input_kind: match source.kind {
            InputKind::NpyFiles => "npy-files",
            InputKind::NpyFolders => "npy-folders",
            InputKind::Jsonl => "jsonl",
            InputKind::Csv => "csv",
        },
        output: options.output.clone(),
        records_per_second: counts.ok as f64 / seconds.max(1e-9),
        records: counts,
        seconds,
        jobs,
        batch_size,
        aborted,
        output_error: output_error.map(|e| format!("{e:#}")),
        exit_code,
        report_path: report_path.clone(),
        errors_path,
    };
    if let Err(e) =
        crate::pack::write_atomically(&report_path, &serde_json::to_vec_pretty(&report)?)
    {
        report.exit_code = EXIT_OUTPUT_UNWRITABLE;
        report.output_error.get_or_insert(format!("{e:#}"));
    }
    Ok(report)
}

/// One worker: claims `batch_size` records at a time until none are left (or the run stops).
#[allow(clippy::too_many_arguments)]
fn work(
    model: &Model,
    metadata: &Metadata,
    source: &Source,
    pending: &[usize],
    next: &AtomicUsize,
    stop: &AtomicBool,
    batch_size: usize,
    tx: &mpsc::Sender<Outcome>,
) {
    let mut instance = None;
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let start = next.fetch_add(batch_size, Ordering::Relaxed);
        if start >= pending.len() {
            return;
        }
        let chunk = &pending[start..(start + batch_size).min(pending.len())];
        let inputs: Vec<(usize, Result<source::RecordInputs, String>)> = chunk
            .iter()
            .map(|&i| {
                let read = source
                    .read(&source.records[i], metadata)
                    .map_err(|e| format!("reading the inputs: {e:#}"));
                (i, read)
            })
            .collect();
        for (index, result) in run_chunk(model, &mut instance, metadata, inputs) {
            if tx.send(Outcome { index, result }).is_err() {
                return;
            }
        }
    }
}

type ChunkResult = Vec<(usize, Result<(Vec<Tensor>, Vec<RequestedOutput>), String>)>;

/// Runs a chunk as one call along the batch dimension when it can, else record by record
/// (also when the joint call fails, so one bad record fails alone).
fn run_chunk(
    model: &Model,
    instance: &mut Option<crate::Instance>,
    metadata: &Metadata,
    inputs: Vec<(usize, Result<source::RecordInputs, String>)>,
) -> ChunkResult {
    if inputs.len() > 1
        && inputs
            .iter()
            .all(|(_, r)| r.as_ref().is_ok_and(|r| r.outputs.is_empty()))
    {
        let records: Vec<&[Tensor]> = inputs
            .iter()
            .map(|(_, r)| r.as_ref().expect("checked").tensors.as_slice())
            .collect();
        if let Some((joined, sizes)) = join_batch(metadata, &records)
            && let Ok(outputs) = infer(model, instance, &joined)
            && let Some(split) = split_batch(&outputs, &sizes)
        {
            return inputs
                .iter()
                .zip(split)
                .map(|((i, _), outs)| (*i, Ok((outs, Vec::new()))))
                .collect();
        }
    }
    inputs
        .into_iter()
        .map(|(i, read)| {
            let result = read.and_then(|r| {
                infer(model, instance, &r.tensors)
                    .map(|outputs| (outputs, r.outputs))
                    .map_err(|e| e.to_string())
            });
            (i, result)
        })
        .collect()
}

/// One call on the worker's instance, replacing an instance that trapped or timed out.
fn infer(
    model: &Model,
    instance: &mut Option<crate::Instance>,
    inputs: &[Tensor],
) -> Result<Vec<Tensor>, InferError> {
    if instance.is_none() {
        *instance = Some(
            model
                .instantiate()
                .map_err(|e| InferError::Host(format!("{e:#}")))?,
        );
    }
    let result = instance.as_mut().expect("just set").infer(inputs);
    if matches!(
        result,
        Err(InferError::Trap(_) | InferError::Timeout(_) | InferError::OutOfMemory { .. })
    ) {
        *instance = None;
    }
    result
}

/// Batching needs every input and output to start with the same free dimension.
fn check_batchable(metadata: &Metadata) -> Result<()> {
    let first = |shape: &[Dim]| match shape.first() {
        Some(Dim::Free(s)) => Some(s.clone()),
        _ => None,
    };
    let symbols: Vec<Option<String>> = metadata
        .inputs
        .iter()
        .chain(&metadata.outputs)
        .map(|t| first(&t.shape))
        .collect();
    match symbols.first() {
        Some(Some(sym)) if symbols.iter().all(|s| s.as_ref() == Some(sym)) => Ok(()),
        _ => {
            let shapes: Vec<String> = metadata
                .inputs
                .iter()
                .chain(&metadata.outputs)
                .map(|t| format!("{} {}", t.name, t.shape_string()))
                .collect();
            bail!(
                "--batch-size needs a model whose inputs and outputs all start with the same \
                 free (batch) dimension; this one has {} (pack it without fixing the batch \
                 dimension, or use --batch-size 1)",
                shapes.join(", ")
            )
        }
    }
}

/// Concatenates the records' inputs along dimension 0; `None` when their other dimensions or
/// dtypes differ. Returns the joined inputs and each record's share of dimension 0.
fn join_batch(metadata: &Metadata, records: &[&[Tensor]]) -> Option<(Vec<Tensor>, Vec<usize>)> {
    let mut sizes = Vec::with_capacity(records.len());
    let mut joined = Vec::with_capacity(metadata.inputs.len());
    for spec in &metadata.inputs {
        let parts: Vec<&Tensor> = records
            .iter()
            .map(|r| r.iter().find(|t| t.name == spec.name))
            .collect::<Option<_>>()?;
        let head = parts[0];
        if head.shape.is_empty()
            || parts.iter().any(|t| {
                t.dtype != head.dtype
                    || t.shape.len() != head.shape.len()
                    || t.shape[1..] != head.shape[1..]
            })
        {
            return None;
        }
        let these: Vec<usize> = parts.iter().map(|t| t.shape[0]).collect();
        if sizes.is_empty() {
            sizes = these;
        } else if sizes != these {
            return None;
        }
        let mut shape = head.shape.clone();
        shape[0] = sizes.iter().sum();
        let data = parts.iter().flat_map(|t| t.data.iter().copied()).collect();
        joined.push(Tensor::new(spec.name.clone(), head.dtype, &shape, data));
    }
    Some((joined, sizes))
}

/// Splits joined outputs back per record.
fn split_batch(outputs: &[Tensor], sizes: &[usize]) -> Option<Vec<Vec<Tensor>>> {
    let total: usize = sizes.iter().sum();
    let mut per_record = vec![Vec::with_capacity(outputs.len()); sizes.len()];
    for output in outputs {
        if output.shape.first() != Some(&total) {
            return None;
        }
        let row_bytes = output.data.len() / total.max(1);
        let mut offset = 0;
        for (record, &n) in per_record.iter_mut().zip(sizes) {
            let mut shape = output.shape.clone();
            shape[0] = n;
            let data = output.data[offset..offset + n * row_bytes].to_vec();
            offset += n * row_bytes;
            record.push(Tensor::new(output.name.clone(), output.dtype, &shape, data));
        }
    }
    Some(per_record)
}
