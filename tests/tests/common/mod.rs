//! Helpers shared by the end-to-end tests: where the models are, packing them once per
//! process, reading their reference data.
#![allow(dead_code)]

use anyhow::{Context, Result};
use edgeinfer::pack::{DimValue, InputShape, PackOptions, ShapeRequest};
use edgeinfer::{Model, Runtime, RuntimeConfig, Tensor};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn models_dir() -> PathBuf {
    root().join("models")
}

/// Compiled code shared by all test processes of a run (the generic guest compiles once).
pub fn cache_dir() -> PathBuf {
    root().join("target").join("edgeinfer-test-cache")
}

pub fn runtime() -> Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| Runtime::new(RuntimeConfig::default()).expect("runtime"))
        .clone()
}

/// One model of `models/models.json`.
pub struct ModelCase {
    pub kind: &'static str,
    pub name: String,
    pub dir: PathBuf,
    pub input_shapes: Vec<InputShape>,
    pub dims: Vec<DimValue>,
    pub tolerance: f64,
    pub labels: Vec<String>,
}

pub fn model_cases(kind: &'static str) -> Vec<ModelCase> {
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(models_dir().join("models.json")).unwrap())
            .unwrap();
    config[kind]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, c)| ModelCase {
            kind,
            name: name.clone(),
            dir: models_dir().join(kind).join(name),
            input_shapes: c["input_shape"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| s.as_str().unwrap().parse().unwrap())
                .collect(),
            dims: c["dims"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| s.as_str().unwrap().parse().unwrap())
                .collect(),
            tolerance: c["tolerance"].as_f64().unwrap(),
            labels: c["labels"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| s.as_str().unwrap().to_string())
                .collect(),
        })
        .collect()
}

pub fn model_case(kind: &'static str, name: &str) -> ModelCase {
    model_cases(kind)
        .into_iter()
        .find(|c| c.name == name)
        .unwrap()
}

impl ModelCase {
    pub fn onnx(&self) -> PathBuf {
        let path = self.dir.join("model.onnx");
        assert!(
            path.exists(),
            "{} is missing: run `models/fetch` first (it downloads the real models and writes their references)",
            path.display()
        );
        path
    }

    pub fn pack_options(&self) -> PackOptions {
        PackOptions {
            name: Some(self.name.clone()),
            version: Some("1".into()),
            shapes: ShapeRequest {
                input_shapes: self.input_shapes.clone(),
                dims: self.dims.clone(),
                ..ShapeRequest::default()
            },
            cache_dir: Some(cache_dir()),
            ..PackOptions::default()
        }
    }

    /// Packs the model (pre-initialized) into target/edgeinfer-test/<kind>-<name>.wasm and
    /// loads it, once per test process.
    pub fn packed(&self) -> Result<(PathBuf, Model)> {
        type Slot = Arc<OnceLock<(PathBuf, Model)>>;
        static PACKED: Mutex<BTreeMap<String, Slot>> = Mutex::new(BTreeMap::new());
        let slot = PACKED
            .lock()
            .unwrap()
            .entry(format!("{}/{}", self.kind, self.name))
            .or_default()
            .clone();
        if let Some(done) = slot.get() {
            return Ok(done.clone());
        }
        let packed = self.pack_now()?;
        Ok(slot.get_or_init(|| packed).clone())
    }

    fn pack_now(&self) -> Result<(PathBuf, Model)> {
        let out_dir = root().join("target").join("edgeinfer-test");
        std::fs::create_dir_all(&out_dir)?;
        let wasm = out_dir.join(format!("{}-{}.wasm", self.kind, self.name));
        edgeinfer::pack::pack(&runtime(), &self.onnx(), &wasm, &self.pack_options())?;
        let model = runtime().load(&wasm)?;
        Ok((wasm, model))
    }

    /// Inputs and expected outputs, named by the tensor names in io.json / order.json, or by
    /// file stem for the generated test models.
    pub fn inputs(&self) -> Vec<Tensor> {
        read_tensor_dir(&self.dir.join("inputs"), self.names("inputs"))
    }

    pub fn expected(&self) -> Vec<Tensor> {
        read_tensor_dir(&self.dir.join("expected"), self.names("outputs"))
    }

    /// (file stem -> tensor name) pairs from io.json, when the model has one.
    fn names(&self, key: &str) -> Vec<(String, String)> {
        let Ok(text) = std::fs::read_to_string(self.dir.join("io.json")) else {
            return vec![];
        };
        let io: serde_json::Value = serde_json::from_str(&text).unwrap();
        io[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                let file = t["file"].as_str().unwrap();
                let stem = Path::new(file)
                    .file_stem()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string();
                (stem, t["name"].as_str().unwrap().to_string())
            })
            .collect()
    }
}

pub fn read_tensor_dir(dir: &Path, names: Vec<(String, String)>) -> Vec<Tensor> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "npy"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
            let name = names
                .iter()
                .find(|(s, _)| *s == stem)
                .map(|(_, n)| n.clone())
                .unwrap_or(stem);
            edgeinfer::npy::read_npy_file(path, &name).unwrap()
        })
        .collect()
}

/// Checks every expected output is produced, same dtype and shape, within `tolerance`.
/// Returns the largest difference seen.
pub fn compare(outputs: &[Tensor], expected: &[Tensor], tolerance: f64) -> Result<f64> {
    let mut worst = 0.0f64;
    for want in expected {
        let got = outputs
            .iter()
            .find(|t| t.name == want.name)
            .with_context(|| format!("no output `{}`", want.name))?;
        let diff = got.max_abs_diff(want)?;
        anyhow::ensure!(
            diff <= tolerance,
            "output `{}` differs from the reference by {diff:e} (tolerance {tolerance:e})",
            want.name
        );
        worst = worst.max(diff);
    }
    Ok(worst)
}

/// Packs `case` again under its own file, name and version (serve and batch tests need
/// several versions, or another input shape). Cached on disk per test process.
pub fn pack_variant(case: &ModelCase, file: &str, version: &str, shapes: &[&str]) -> PathBuf {
    // Tests of one binary run in parallel threads: pack each variant once.
    static PACKED: Mutex<BTreeMap<String, Arc<OnceLock<PathBuf>>>> = Mutex::new(BTreeMap::new());
    let slot = PACKED
        .lock()
        .unwrap()
        .entry(file.to_string())
        .or_default()
        .clone();
    slot.get_or_init(|| pack_variant_now(case, file, version, shapes))
        .clone()
}

fn pack_variant_now(case: &ModelCase, file: &str, version: &str, shapes: &[&str]) -> PathBuf {
    let out_dir = root().join("target").join("edgeinfer-test");
    std::fs::create_dir_all(&out_dir).unwrap();
    let wasm = out_dir.join(format!("{file}.wasm"));
    let mut options = case.pack_options();
    options.version = Some(version.into());
    if !shapes.is_empty() {
        options.shapes.input_shapes = shapes.iter().map(|s| s.parse().unwrap()).collect();
    }
    edgeinfer::pack::pack(&runtime(), &case.onnx(), &wasm, &options)
        .unwrap_or_else(|e| panic!("packing {file}: {e:#}"));
    wasm
}

/// The `edgeinfer` binary of this build (tests run after `cargo build`/`cargo test` built it).
pub fn edgeinfer_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test>-<hash> -> target/<profile>/edgeinfer
    let bin = exe.parent().unwrap().parent().unwrap().join("edgeinfer");
    assert!(
        bin.exists(),
        "{} is missing; run the suite with `cargo test --release` from the workspace root",
        bin.display()
    );
    bin
}

/// A fresh scratch directory under target/edgeinfer-test/scratch.
pub fn scratch(name: &str) -> PathBuf {
    let dir = root()
        .join("target")
        .join("edgeinfer-test")
        .join("scratch")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An HTTP client for the servers under test: statuses are answers, not errors.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

/// A child process (started in its own process group) killed with its children when the test
/// ends, pass or fail: `jco` runs the server in a node process of its own.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        // SAFETY: signalling the process group we created for this child.
        unsafe { libc::kill(-(self.0.id() as i32), libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wait_ready(url: &str, child: &mut Child, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(r) = agent().get(url).call()
            && r.status().is_success()
        {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the server exited with {status} before answering {url}");
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not answer within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One step of xorshift64: reproducible pseudo-random bytes and choices without a dependency.
pub fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}
