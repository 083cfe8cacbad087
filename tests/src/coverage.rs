//! The model coverage corpus (`models/corpus/`, made by `models/corpus/fetch`): pack each
//! model as a user would, run it in a fresh component on the stored inputs and hold its
//! outputs to onnxruntime's within the case's tolerance. Used by the `coverage` binary (the
//! whole corpus, COVERAGE.md) and by `tests/tests/coverage.rs` (the models that must pass).

use anyhow::{Context, Result, bail};
use edgeinfer::pack::{DimValue, InputShape, InputValue, PackOptions, ShapeRequest};
use edgeinfer::{DType, Runtime, RuntimeConfig, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is in the workspace")
        .to_path_buf()
}

pub fn corpus_dir() -> PathBuf {
    root().join("models").join("corpus")
}

/// What `models/corpus/fetch` wrote for one model (`<name>/case.json`).
#[derive(Clone, Debug, Deserialize)]
pub struct Case {
    pub name: String,
    pub category: String,
    pub source: String,
    pub subset: String,
    pub onnx_bytes: u64,
    /// Bytes of the ONNX initializers and Constant tensors.
    pub weight_bytes: u64,
    pub inputs: Vec<IoFile>,
    pub outputs: Vec<IoFile>,
    pub atol: f64,
    pub rtol: f64,
    pub ort_ms: Option<f64>,
    #[serde(default)]
    pub non_tensor_outputs: Vec<String>,
    #[serde(skip)]
    pub dir: PathBuf,
}

#[derive(Clone, Debug, Deserialize)]
pub struct IoFile {
    pub name: String,
    pub file: String,
}

/// An entry of `models/corpus/index.json`.
#[derive(Clone, Debug, Deserialize)]
pub struct IndexEntry {
    pub name: String,
    pub category: String,
    pub subset: String,
    pub dir: String,
}

pub fn index() -> Result<Vec<IndexEntry>> {
    let path = corpus_dir().join("index.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

impl Case {
    /// Reads a fetched case; `None` when `models/corpus/fetch` has not fetched it.
    pub fn load(entry: &IndexEntry) -> Result<Option<Case>> {
        let dir = corpus_dir().join(&entry.dir);
        let path = dir.join("case.json");
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path)?;
        let mut case: Case =
            serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
        case.dir = dir;
        Ok(Some(case))
    }

    pub fn onnx(&self) -> PathBuf {
        self.dir.join("model.onnx")
    }
}

/// `tests/coverage/expected.txt`: the models that must pack and match (one per line);
/// `tests/coverage/flags.txt`: `name: --dim ... --input-shape ...` for those that need flags;
/// `tests/coverage/size-exceptions.txt`: `name: why` for passing models over the size goal.
pub struct Expectations {
    pub must_pass: Vec<String>,
    pub flags: BTreeMap<String, String>,
    pub size_exceptions: BTreeMap<String, String>,
}

impl Expectations {
    pub fn load() -> Result<Expectations> {
        let dir = root().join("tests").join("coverage");
        let lines = |file: &str| -> Result<Vec<String>> {
            let text = std::fs::read_to_string(dir.join(file))?;
            Ok(text
                .lines()
                .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
                .filter(|l| !l.is_empty())
                .collect())
        };
        let pairs = |file: &str| -> Result<BTreeMap<String, String>> {
            lines(file)?
                .into_iter()
                .map(|l| match l.split_once(':') {
                    Some((name, value)) => Ok((name.trim().to_string(), value.trim().to_string())),
                    None => bail!("tests/coverage/{file}: `{l}` is not `name: value`"),
                })
                .collect()
        };
        Ok(Expectations {
            must_pass: lines("expected.txt")?,
            flags: pairs("flags.txt")?,
            size_exceptions: pairs("size-exceptions.txt")?,
        })
    }
}

/// `--dim h=320 --input-shape x=1,3,H,W` as pack takes them.
pub fn parse_flags(flags: &str) -> Result<ShapeRequest> {
    let mut request = ShapeRequest::default();
    let mut words = flags.split_whitespace();
    while let Some(flag) = words.next() {
        let value = words
            .next()
            .with_context(|| format!("`{flag}` needs a value"))?;
        match flag {
            "--dim" => request
                .dims
                .push(value.parse::<DimValue>().map_err(anyhow::Error::msg)?),
            "--input-shape" => request
                .input_shapes
                .push(value.parse::<InputShape>().map_err(anyhow::Error::msg)?),
            "--input-value" => request
                .values
                .push(value.parse::<InputValue>().map_err(anyhow::Error::msg)?),
            _ => bail!("unknown pack flag `{flag}`"),
        }
    }
    Ok(request)
}

/// How one model fared.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub name: String,
    pub category: String,
    pub source: String,
    pub flags: String,
    pub onnx_bytes: u64,
    pub weight_bytes: u64,
    pub packed_bytes: Option<u64>,
    /// Packed size over the size goal, generic guest + 1.3 x the model's bytes (the ONNX
    /// file: tree ensembles keep their weights in attributes, not tensors): <= 1 meets it.
    pub size_ratio: Option<f64>,
    /// The free dims pack's second, specialized plan fixed (`N=1`), when it built one.
    pub specialized: Option<String>,
    pub status: Status,
    /// Largest |component - onnxruntime| over all float outputs.
    pub max_abs_err: Option<f64>,
    pub warm_ms: Option<f64>,
    pub cold_ms: Option<f64>,
    pub ort_ms: Option<f64>,
    pub pack_s: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "status", content = "reason", rename_all = "kebab-case")]
pub enum Status {
    Pass,
    /// Packed and ran, outputs outside the tolerance.
    Mismatch(String),
    /// `edgeinfer pack` refused the model (the one-line error a user sees).
    PackFailed(String),
    /// Packed, but the component refused or failed the inference.
    InferFailed(String),
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.status == Status::Pass
    }
}

/// What the corpus runs share: a runtime with room for big models, where packed files go.
pub struct Runner {
    pub runtime: Runtime,
    pub out_dir: PathBuf,
    pub cache_dir: PathBuf,
    /// Timed warm runs per model (at least 3, at most this many or about 2 s).
    pub max_runs: usize,
}

impl Runner {
    pub fn new(out_dir: PathBuf) -> Result<Runner> {
        let runtime = Runtime::new(RuntimeConfig {
            memory_limit: 4 << 30,
            deadline: Some(Duration::from_secs(300)),
            max_instances: 4,
            ..RuntimeConfig::default()
        })?;
        std::fs::create_dir_all(&out_dir)?;
        Ok(Runner {
            runtime,
            cache_dir: root().join("target").join("edgeinfer-test-cache"),
            out_dir,
            max_runs: 20,
        })
    }

    /// Packs, runs and checks one model. Errors of the model are outcomes, not `Err`.
    pub fn run(&self, case: &Case, flags: &str) -> Result<Outcome> {
        let mut outcome = Outcome {
            name: case.name.clone(),
            category: case.category.clone(),
            source: case.source.clone(),
            flags: flags.to_string(),
            onnx_bytes: case.onnx_bytes,
            weight_bytes: case.weight_bytes,
            packed_bytes: None,
            size_ratio: None,
            specialized: None,
            status: Status::Pass,
            max_abs_err: None,
            warm_ms: None,
            cold_ms: None,
            ort_ms: case.ort_ms,
            pack_s: None,
        };
        let wasm = self.out_dir.join(format!("{}.wasm", case.name));
        let shapes = parse_flags(flags)?;
        let baked: Vec<String> = shapes.values.iter().map(|v| v.name.clone()).collect();
        let options = PackOptions {
            name: Some(case.name.clone()),
            version: Some("1".into()),
            shapes,
            cache_dir: Some(self.cache_dir.clone()),
            ..PackOptions::default()
        };
        let started = Instant::now();
        let report = match edgeinfer::pack::pack(&self.runtime, &case.onnx(), &wasm, &options) {
            Ok(report) => report,
            Err(e) => {
                outcome.status = Status::PackFailed(one_line(&e));
                return Ok(outcome);
            }
        };
        outcome.pack_s = Some(started.elapsed().as_secs_f64());
        outcome.packed_bytes = Some(report.bytes);
        outcome.specialized = report.specialized.clone();
        let budget = size_goal(case, report.specialized.is_some()) as f64;
        outcome.size_ratio = Some(report.bytes as f64 / budget);
        if !report.preinitialized {
            outcome.status = Status::PackFailed(format!(
                "pre-initialization failed: {}",
                report.fallback_reason.unwrap_or_default()
            ));
            return Ok(outcome);
        }

        let model = self
            .runtime
            .load_cached(&wasm, Some(&self.cache_dir))
            .context("loading the packed model")?;
        // Inputs baked in with --input-value are no longer inputs.
        let inputs = case
            .inputs
            .iter()
            .filter(|i| !baked.contains(&i.name))
            .map(|i| edgeinfer::npy::read_npy_file(&case.dir.join(&i.file), &i.name))
            .collect::<Result<Vec<Tensor>>>()?;

        let started = Instant::now();
        let mut instance = model.instantiate()?;
        let outputs = match instance.infer(&inputs) {
            Ok(outputs) => outputs,
            Err(e) => {
                outcome.status = Status::InferFailed(e.to_string());
                return Ok(outcome);
            }
        };
        outcome.cold_ms = Some(started.elapsed().as_secs_f64() * 1e3);
        match compare(case, &outputs) {
            Ok(max_abs_err) => outcome.max_abs_err = max_abs_err,
            Err(e) => {
                outcome.status = Status::Mismatch(one_line(&e));
                return Ok(outcome);
            }
        }
        outcome.warm_ms = Some(warm_median_ms(&mut instance, &inputs, self.max_runs)?);
        Ok(outcome)
    }
}

/// The size goal of a packed model: the generic guest plus 1.3 x the model's bytes (the
/// larger of its tensors and its file: tree ensembles keep their weights in attributes), plus
/// 1 x more when pack built a specialized plan (a second copy of the packed weights; the
/// price of running batch 1 as fast as a fixed-batch model, which `--no-specialize` saves).
pub fn size_goal(case: &Case, specialized: bool) -> u64 {
    let model_bytes = case.weight_bytes.max(case.onnx_bytes);
    let copies = if specialized { 2.3 } else { 1.3 };
    edgeinfer::GENERIC_GUEST.len() as u64 + (copies * model_bytes as f64) as u64
}

/// Median of warm runs on one instance: at least 3, then until `max_runs` or about 2 s.
fn warm_median_ms(
    instance: &mut edgeinfer::Instance,
    inputs: &[Tensor],
    max_runs: usize,
) -> Result<f64> {
    let started = Instant::now();
    let mut times = vec![];
    while times.len() < 3 || (times.len() < max_runs && started.elapsed() < Duration::from_secs(2))
    {
        let t = Instant::now();
        instance.infer(inputs)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Checks every stored output: floats within `atol + rtol * |expected|` (numpy's isclose,
/// NaN equal to NaN), everything else exactly. Returns the largest absolute float error.
pub fn compare(case: &Case, outputs: &[Tensor]) -> Result<Option<f64>> {
    let mut max_abs: Option<f64> = None;
    for expected in &case.outputs {
        let want = edgeinfer::npy::read_npy_file(&case.dir.join(&expected.file), &expected.name)?;
        let got = outputs
            .iter()
            .find(|t| t.name == expected.name)
            .with_context(|| format!("the component has no output `{}`", expected.name))?;
        if got.shape != want.shape {
            bail!(
                "output `{}` has shape {:?}, onnxruntime's has {:?}",
                expected.name,
                got.shape,
                want.shape
            );
        }
        let float = matches!(
            want.dtype,
            DType::F16 | DType::F32 | DType::F64 | DType::BF16
        );
        if !float {
            if got.dtype != want.dtype || got.data != want.data {
                let (g, w) = (got.to_f64_lossy(), want.to_f64_lossy());
                let differ = g.iter().zip(&w).filter(|(a, b)| a != b).count();
                bail!(
                    "output `{}` ({} vs onnxruntime's {}): {differ} of {} values differ",
                    expected.name,
                    got.dtype,
                    want.dtype,
                    w.len()
                );
            }
            continue;
        }
        let (g, w) = (got.to_f64_lossy(), want.to_f64_lossy());
        let mut worst: Option<(usize, f64, f64)> = None;
        let mut out_of_tolerance = 0;
        for (ix, (&a, &b)) in g.iter().zip(&w).enumerate() {
            if a.is_nan() && b.is_nan() {
                continue;
            }
            let diff = (a - b).abs();
            let diff = if diff.is_nan() { f64::INFINITY } else { diff };
            max_abs = Some(max_abs.map_or(diff, |m: f64| m.max(diff)));
            if diff > case.atol + case.rtol * b.abs() {
                out_of_tolerance += 1;
                if worst.is_none_or(|(_, d, _)| diff > d) {
                    worst = Some((ix, diff, b));
                }
            }
        }
        if let Some((ix, diff, b)) = worst {
            bail!(
                "output `{}`: {out_of_tolerance} of {} values outside atol {} + rtol {}; worst at \
                 [{ix}]: {} vs onnxruntime's {b} (|diff| {diff:.3e})",
                expected.name,
                w.len(),
                case.atol,
                case.rtol,
                g[ix]
            );
        }
    }
    Ok(max_abs)
}

fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}
