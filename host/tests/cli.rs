//! The `edgeinfer` binary as a user runs it: exit codes, one-line errors, outputs on disk.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn work_dir() -> PathBuf {
    let dir = root().join("target/edgeinfer-test/cli");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn edgeinfer(args: &[&str]) -> Output {
    edgeinfer_with_env(args, &[])
}

/// `edgeinfer` with the test cache, then `env` on top of it.
fn edgeinfer_with_env(args: &[&str], env: &[(&str, &OsStr)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgeinfer"))
        .args(args)
        .env(
            "EDGEINFER_CACHE_DIR",
            root().join("target/edgeinfer-test-cache"),
        )
        .envs(env.iter().copied())
        .output()
        .expect("running edgeinfer")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The file names in a compile-cache folder, sorted.
fn cache_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Runs and expects failure with exit code 1 and a single `error: ...` line containing `needle`.
fn fails_with(args: &[&str], needle: &str) {
    let o = edgeinfer(args);
    assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    let last = lines.last().copied().unwrap_or("");
    assert!(
        last.starts_with("error: ") && last.contains(needle),
        "{args:?}: {err}"
    );
}

fn cnn_dir() -> PathBuf {
    root().join("models/test/cnn")
}

/// cnn packed once, with a .cwasm beside it so later commands skip compiling.
fn packed_cnn() -> &'static str {
    static PACKED: OnceLock<String> = OnceLock::new();
    PACKED.get_or_init(|| {
        let out = work_dir().join("cnn.wasm");
        let onnx = cnn_dir().join("model.onnx");
        let o = edgeinfer(&[
            "pack",
            onnx.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--name",
            "digits",
            "--precompile",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = stdout(&o);
        assert!(text.contains("pre-initialized: yes"), "{text}");
        assert!(text.contains("input  fp32   [1,1,28,28]"), "{text}");
        assert!(out.with_extension("cwasm").exists());
        out.to_str().unwrap().to_string()
    })
}

#[test]
fn help_lists_the_commands() {
    let o = edgeinfer(&["--help"]);
    assert!(o.status.success());
    for cmd in ["pack", "info", "infer", "precompile", "bench"] {
        assert!(stdout(&o).contains(cmd), "{cmd}");
    }
}

#[test]
fn infer_writes_npy_outputs_matching_onnxruntime() {
    let wasm = packed_cnn();
    let input = cnn_dir().join("inputs/input.npy");
    let out_dir = work_dir().join("cnn-out");
    let o = edgeinfer(&[
        "infer",
        wasm,
        "-i",
        input.to_str().unwrap(),
        "-o",
        out_dir.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(summary["model"]["name"], "digits");
    assert_eq!(summary["outputs"][0]["shape"], serde_json::json!([1, 10]));
    let got = edgeinfer::npy::read_npy_file(&out_dir.join("probs.npy"), "probs").unwrap();
    let want =
        edgeinfer::npy::read_npy_file(&cnn_dir().join("expected/probs.npy"), "probs").unwrap();
    assert!(got.max_abs_diff(&want).unwrap() <= 1e-5);
}

#[test]
fn info_reads_metadata() {
    let o = edgeinfer(&["info", packed_cnn(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let info: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(info["name"], "digits");
    assert_eq!(
        info["inputs"][0]["shape"],
        serde_json::json!([1, 1, 28, 28])
    );
    assert_eq!(info["preinitialized"], true);
    let cwasm = Path::new(packed_cnn()).with_extension("cwasm");
    let o = edgeinfer(&["info", cwasm.to_str().unwrap()]);
    assert!(stdout(&o).contains("name      digits"), "{}", stdout(&o));
}

#[test]
fn bench_reports_cold_warm_and_native() {
    let onnx = cnn_dir().join("model.onnx");
    let o = edgeinfer(&[
        "bench",
        packed_cnn(),
        "--onnx",
        onnx.to_str().unwrap(),
        "--runs",
        "3",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    for key in ["instantiate", "cold", "teardown", "warm", "native"] {
        assert_eq!(r[key]["runs"], 3, "{key}");
    }
    assert!(r["speed_vs_native"].as_f64().unwrap() > 0.0);
}

#[test]
fn bad_inputs_fail_with_one_line_naming_the_problem() {
    let wasm = packed_cnn();
    let dir = work_dir();
    let corrupt = dir.join("corrupt.npy");
    std::fs::write(&corrupt, b"\x93NUMPY garbage").unwrap();
    fails_with(
        &["infer", wasm, "-i", corrupt.to_str().unwrap()],
        "not a valid .npy",
    );

    let input = cnn_dir().join("inputs/input.npy");
    fails_with(
        &["infer", wasm, "-i", &format!("pixels={}", input.display())],
        "unknown input `pixels`",
    );

    let wrong_shape = root().join("models/test/mlp/inputs/x.npy");
    fails_with(
        &["infer", wasm, "-i", wrong_shape.to_str().unwrap()],
        "the model expects [1,1,28,28]",
    );

    let wrong_dtype = root().join("models/test/int64/inputs/ids.npy");
    fails_with(
        &["infer", wasm, "-i", wrong_dtype.to_str().unwrap()],
        "has dtype i64, the model expects fp32",
    );

    let onnx = cnn_dir().join("model.onnx");
    fails_with(
        &[
            "infer",
            onnx.to_str().unwrap(),
            "-i",
            input.to_str().unwrap(),
        ],
        "not a WebAssembly component",
    );
    fails_with(
        &["info", dir.join("missing.wasm").to_str().unwrap()],
        "missing.wasm",
    );

    let corrupt_onnx = dir.join("corrupt.onnx");
    std::fs::write(&corrupt_onnx, &std::fs::read(&onnx).unwrap()[..500]).unwrap();
    fails_with(
        &[
            "pack",
            corrupt_onnx.to_str().unwrap(),
            "-o",
            dir.join("x.wasm").to_str().unwrap(),
        ],
        "not an ONNX model",
    );
}

#[test]
fn usage_errors_exit_2() {
    let o = edgeinfer(&["infer"]);
    assert_eq!(o.status.code(), Some(2));
    let o = edgeinfer(&["pack", "m.onnx", "--input-shape", "nonsense"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("expected name=d1,d2"), "{}", stderr(&o));
}

/// The compile cache is bounded and best effort: a cache that cannot be written costs a
/// compile, not the answer; a full one evicts its least recently used code.
#[test]
fn the_compile_cache_is_bounded_and_never_fails_a_load() {
    // A copy has no fresh .cwasm beside it, so loading it compiles through the cache.
    let wasm = work_dir().join("cnn-uncached.wasm");
    std::fs::copy(packed_cnn(), &wasm).unwrap();
    let input = cnn_dir().join("inputs/input.npy");
    let infer = |cache: &Path, max_mib: &str| {
        edgeinfer_with_env(
            &[
                "infer",
                wasm.to_str().unwrap(),
                "-i",
                input.to_str().unwrap(),
            ],
            &[
                ("EDGEINFER_CACHE_DIR", cache.as_os_str()),
                ("EDGEINFER_CACHE_MAX_MIB", OsStr::new(max_mib)),
            ],
        )
    };

    // A regular file where the folder should be: nothing can be written under it.
    let not_a_dir = work_dir().join("cache-is-a-file");
    std::fs::write(&not_a_dir, b"x").unwrap();
    let o = infer(&not_a_dir, "2048");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("probs"), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("not caching compiled code"),
        "{}",
        stderr(&o)
    );

    // A bound of 0 keeps only the entry just written: older code is evicted.
    let cache = work_dir().join("bounded-cache");
    let _ = std::fs::remove_dir_all(&cache);
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(cache.join("0000-old.cwasm"), vec![0u8; 4096]).unwrap();
    let o = infer(&cache, "0");
    assert!(o.status.success(), "{}", stderr(&o));
    let left = cache_entries(&cache);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(
        left[0].ends_with(".cwasm") && left[0] != "0000-old.cwasm",
        "{left:?}"
    );
}

/// `--deadline 0` runs code compiled without the deadline's checks: the same answers, its own
/// compile-cache entry, a `.cwasm` of the other kind named as such, and `serve` refuses it.
#[test]
fn deadline_zero_runs_without_one_and_serve_refuses_it() {
    let wasm = work_dir().join("cnn-nodeadline.wasm");
    std::fs::copy(packed_cnn(), &wasm).unwrap();
    let cache = work_dir().join("nodeadline-cache");
    let _ = std::fs::remove_dir_all(&cache);
    let input = cnn_dir().join("inputs/input.npy");
    let infer = |model: &str, deadline: &str, out: &str| {
        let out = work_dir().join(out);
        let o = edgeinfer_with_env(
            &[
                "infer",
                model,
                "-i",
                input.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
                "--deadline",
                deadline,
            ],
            &[("EDGEINFER_CACHE_DIR", cache.as_os_str())],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        (
            edgeinfer::npy::read_npy_file(&out.join("probs.npy"), "probs").unwrap(),
            stderr(&o),
        )
    };
    let (checked, _) = infer(wasm.to_str().unwrap(), "30", "deadline-30");
    let (unchecked, _) = infer(wasm.to_str().unwrap(), "0", "deadline-0");
    assert_eq!(unchecked, checked);
    let want =
        edgeinfer::npy::read_npy_file(&cnn_dir().join("expected/probs.npy"), "probs").unwrap();
    assert!(unchecked.max_abs_diff(&want).unwrap() <= 1e-5);
    let entries = cache_entries(&cache);
    assert_eq!(entries.len(), 2, "one compiled code per kind: {entries:?}");
    assert!(entries[0].ends_with("-s2-nodeadline.cwasm"), "{entries:?}");
    // Each kind finds its own entry again instead of overwriting the other's.
    infer(wasm.to_str().unwrap(), "0", "deadline-0-again");
    assert_eq!(cache_entries(&cache), entries);

    // The .cwasm beside the packed model was compiled with the checks: skipped with a
    // warning that names the flag (the model is compiled through the cache instead), and
    // refused when asked for by name.
    std::fs::remove_dir_all(&cache).unwrap();
    let (beside, warning) = infer(packed_cnn(), "0", "deadline-0-beside");
    assert_eq!(beside, checked);
    assert!(warning.contains("--deadline"), "{warning}");
    let cached = cache_entries(&cache);
    assert!(
        cached.len() == 1 && cached[0].ends_with("-nodeadline.cwasm"),
        "{cached:?}"
    );
    let cwasm = Path::new(packed_cnn()).with_extension("cwasm");
    let input = input.to_str().unwrap();
    fails_with(
        &[
            "infer",
            cwasm.to_str().unwrap(),
            "-i",
            input,
            "--deadline",
            "0",
        ],
        "--deadline",
    );

    fails_with(
        &["serve", packed_cnn(), "--deadline", "0"],
        "serve needs a deadline",
    );
    fails_with(
        &["infer", packed_cnn(), "-i", input, "--deadline=-1"],
        "or 0 for none",
    );
}

/// `bench --op-profile` needs a guest built to time its operators; the shipped one is not,
/// and the error says how to get one.
#[test]
fn op_profile_of_a_shipped_guest_says_how_to_get_one() {
    fails_with(
        &["bench", packed_cnn(), "--op-profile", "--runs", "1"],
        "does not time its operators",
    );
}

/// Native tract's per-operator times cover every node of its plan once, and read back from
/// the guest's line format unchanged.
#[test]
fn native_op_times_cover_the_plan() {
    use edgeinfer::native::NativeModel;
    use edgeinfer_protocol::op_profile;
    let native =
        NativeModel::from_onnx(&cnn_dir().join("model.onnx"), &Default::default()).unwrap();
    let input =
        edgeinfer::npy::read_npy_file(&cnn_dir().join("inputs/input.npy"), "input").unwrap();
    let times = native.run_timed(std::slice::from_ref(&input)).unwrap();
    let ops: Vec<&str> = times.iter().map(|t| t.op.as_str()).collect();
    assert!(ops.contains(&"OptMatMul"), "{ops:?}");
    assert!(ops.contains(&"Source"), "{ops:?}");
    assert!(times.iter().map(|t| t.nodes).sum::<u32>() >= 6, "{times:?}");
    assert!(times.iter().any(|t| t.nanos > 0), "{times:?}");
    assert_eq!(op_profile::parse(&op_profile::format(&times)), vec![times]);
}

/// `pack --guest` pre-initializes the given guest: the embedded one, written to a file,
/// packs the same model as the default.
#[test]
fn pack_with_another_guest_file() {
    let guest = work_dir().join("generic-guest.wasm");
    std::fs::write(&guest, edgeinfer::GENERIC_GUEST).unwrap();
    let onnx = cnn_dir().join("model.onnx");
    let out = work_dir().join("cnn-own-guest.wasm");
    let o = edgeinfer(&[
        "pack",
        onnx.to_str().unwrap(),
        "--guest",
        guest.to_str().unwrap(),
        "--name",
        "digits",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let info = |wasm: &str| stdout(&edgeinfer(&["info", wasm, "--json"]));
    assert_eq!(info(out.to_str().unwrap()), info(packed_cnn()));
    fails_with(
        &[
            "pack",
            onnx.to_str().unwrap(),
            "--guest",
            "no-such-guest.wasm",
            "-o",
            out.to_str().unwrap(),
        ],
        "no-such-guest.wasm",
    );
}
