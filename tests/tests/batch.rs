//! `edgeinfer batch` as a scheduler runs it: the real classifier over .npy records, JSONL OIP
//! requests and CSV rows; outputs equal single `infer` calls; batching along a free dimension;
//! a SIGKILL mid-run resumed to a complete output with no duplicates; corrupt records in the
//! error log while the rest succeed; exit codes 0/1/2; plain progress when not a terminal.

mod common;

use common::*;
use edgeinfer::{Model, Tensor};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn batch(args: &[&str]) -> Output {
    Command::new(edgeinfer_bin())
        .arg("batch")
        .args(args)
        .env("EDGEINFER_CACHE_DIR", cache_dir())
        .stdin(Stdio::null())
        .output()
        .expect("running edgeinfer batch")
}

/// `edgeinfer batch` in the background, for tests that strike while it runs.
fn spawn_batch(args: &[&str], stderr: Stdio) -> Child {
    Command::new(edgeinfer_bin())
        .arg("batch")
        .args(args)
        .env("EDGEINFER_CACHE_DIR", cache_dir())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("running edgeinfer batch")
}

/// Record folders complete in `out` (temp folders start with a dot).
fn completed_records(out: &Path) -> usize {
    std::fs::read_dir(out).map_or(0, |d| {
        d.filter(|e| {
            !e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        })
        .count()
    })
}

/// Waits until `n` records are complete; the run must still be going (`early` says why it
/// matters) and make progress within 120 s.
fn wait_for_records(child: &mut Child, out: &Path, n: usize, early: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while completed_records(out) < n {
        assert!(child.try_wait().unwrap().is_none(), "{early}");
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn report(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("report written")).unwrap()
}

/// The classifier packed at batch 1, as a batch job would use it.
fn cls_b1() -> (PathBuf, Model) {
    let wasm = pack_variant(
        &model_case("real", "ppocr-cls"),
        "batch-cls-b1",
        "1",
        &["x=1,3,48,192"],
    );
    let model = runtime().load(&wasm).unwrap();
    (wasm, model)
}

/// `n` distinct records made from the two reference rows (upright / rotated text), each
/// slightly scaled so every record has its own output.
fn cls_records(n: usize) -> Vec<Tensor> {
    let x = &model_case("real", "ppocr-cls").inputs()[0];
    let row_len = x.data.len() / 2;
    (0..n)
        .map(|i| {
            let row = &x.data[(i % 2) * row_len..(i % 2 + 1) * row_len];
            let scale = 1.0 + i as f32 * 1e-3;
            let values: Vec<f32> = row
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()) * scale)
                .collect();
            Tensor::from_f32("x", &[1, 3, 48, 192], &values)
        })
        .collect()
}

fn write_npy_records(dir: &Path, records: &[Tensor]) {
    std::fs::create_dir_all(dir).unwrap();
    for (i, t) in records.iter().enumerate() {
        edgeinfer::npy::write_npy_file(t, &dir.join(format!("rec{i:05}.npy"))).unwrap();
    }
}

/// Every record folder holds exactly the outputs a single `infer` call gives.
fn check_npy_outputs(out: &Path, model: &Model, records: &[Tensor]) {
    let folders: Vec<_> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        folders.len(),
        records.len(),
        "one folder per record, no temp leftovers: {folders:?}"
    );
    let mut instance = model.instantiate().unwrap();
    for (i, record) in records.iter().enumerate() {
        let want = instance.infer(std::slice::from_ref(record)).unwrap();
        for w in &want {
            let file = out
                .join(format!("rec{i:05}"))
                .join(format!("{}.npy", edgeinfer::npy::file_stem_for(&w.name)));
            let got = edgeinfer::npy::read_npy_file(&file, &w.name).unwrap();
            assert_eq!(&got, w, "record {i}");
        }
    }
}

#[test]
fn npy_records_match_single_infer_calls() {
    let (wasm, model) = cls_b1();
    let dir = scratch("batch-npy");
    let records = cls_records(24);
    write_npy_records(&dir.join("in"), &records);
    let out = dir.join("out");
    let o = batch(&[
        wasm.to_str().unwrap(),
        dir.join("in").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-j",
        "2",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    check_npy_outputs(&out, &model, &records);

    let r = report(&dir.join("out.report.json"));
    assert_eq!(
        r["records"],
        json!({"total": 24, "ok": 24, "skipped": 0, "failed": 0})
    );
    assert_eq!(r["exit_code"], 0);
    assert_eq!(r["model"]["name"], "ppocr-cls");
    assert_eq!(r["model"]["sha256"].as_str().unwrap().len(), 64);
    assert!(r["records_per_second"].as_f64().unwrap() > 0.0);
    // Not a terminal: plain lines, no bar redraws or colors.
    let stderr = text(&o.stderr);
    assert!(stderr.contains("24/24 records (100%)"), "{stderr}");
    assert!(
        !stderr.contains('\r') && !stderr.contains('\x1b'),
        "{stderr:?}"
    );

    // A second run finds everything done.
    let again = batch(&[
        wasm.to_str().unwrap(),
        dir.join("in").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(again.status.code(), Some(0));
    assert!(
        again.stderr.is_empty(),
        "--quiet prints nothing: {}",
        text(&again.stderr)
    );
    assert_eq!(
        report(&dir.join("out.report.json"))["records"]["skipped"],
        24
    );

    // Without a deadline (code without its checks): the same outputs, bit for bit.
    let unchecked = dir.join("out-deadline-0");
    let o = batch(&[
        wasm.to_str().unwrap(),
        dir.join("in").to_str().unwrap(),
        "-o",
        unchecked.to_str().unwrap(),
        "-j",
        "2",
        "--deadline",
        "0",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    check_npy_outputs(&unchecked, &model, &records);
}

#[test]
fn killed_run_resumes_to_a_complete_output() {
    let (wasm, model) = cls_b1();
    let dir = scratch("batch-kill");
    let records = cls_records(400);
    write_npy_records(&dir.join("in"), &records);
    let out = dir.join("out");
    let input = dir.join("in");
    let args = [
        wasm.to_str().unwrap(),
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-j",
        "1",
    ];
    let mut child = spawn_batch(&args, Stdio::null());
    wait_for_records(
        &mut child,
        &out,
        40,
        "the run ended before it could be killed",
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partial = completed_records(&out);
    assert!(
        partial < records.len(),
        "killed too late to test anything ({partial})"
    );

    let o = batch(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let r = report(&dir.join("out.report.json"));
    let skipped = r["records"]["skipped"].as_u64().unwrap();
    let ok = r["records"]["ok"].as_u64().unwrap();
    assert!(
        skipped as usize >= partial,
        "skipped {skipped}, {partial} were done"
    );
    assert_eq!(skipped + ok, 400, "every record exactly once");
    check_npy_outputs(&out, &model, &records);
}

#[test]
fn jsonl_requests_with_corrupt_records_and_exit_codes() {
    let (wasm, model) = cls_b1();
    let dir = scratch("batch-jsonl");
    let records = cls_records(6);
    let mut lines: Vec<String> = records
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({"id": format!("r{i}"), "inputs": [{"name": "x", "shape": t.shape, "datatype": "FP32",
                   "data": t.to_f32().unwrap()}]})
            .to_string()
        })
        .collect();
    lines.insert(2, "{not json".to_string());
    lines.insert(
        4,
        json!({"id": "bad-shape", "inputs": [{"name": "x", "shape": [1, 3, 48, 100],
        "datatype": "FP32", "data": vec![0.0; 3 * 48 * 100]}]})
        .to_string(),
    );
    let input = dir.join("requests.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let out = dir.join("responses.jsonl");
    let run = || {
        batch(&[
            wasm.to_str().unwrap(),
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "-j",
            "2",
        ])
    };

    let o = run();
    assert_eq!(
        o.status.code(),
        Some(1),
        "some records failed: {}",
        text(&o.stderr)
    );
    let errors: Vec<Value> = std::fs::read_to_string(dir.join("responses.jsonl.errors.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let failed: HashSet<&str> = errors
        .iter()
        .map(|e| e["record"].as_str().unwrap())
        .collect();
    assert_eq!(failed, HashSet::from(["3", "bad-shape"]), "{errors:?}");
    let why = |id: &str| {
        errors.iter().find(|e| e["record"] == id).unwrap()["error"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(why("3").contains("malformed infer request"), "{}", why("3"));
    assert!(
        why("bad-shape").contains("input `x`"),
        "{}",
        why("bad-shape")
    );

    let check_responses = || {
        let responses: Vec<Value> = std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(responses.len(), 6, "no duplicates after re-runs");
        let mut instance = model.instantiate().unwrap();
        for (i, record) in records.iter().enumerate() {
            let response = responses
                .iter()
                .find(|r| r["id"] == format!("r{i}"))
                .unwrap();
            assert_eq!(response["model_name"], "ppocr-cls");
            let want = instance.infer(std::slice::from_ref(record)).unwrap()[0]
                .to_f32()
                .unwrap();
            let got: Vec<f32> = response["outputs"][0]["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            assert_eq!(got, want, "record r{i}");
        }
    };
    check_responses();

    // A torn last line, as a kill mid-write leaves it, is dropped and redone; failures retry.
    let mut torn = std::fs::read_to_string(&out).unwrap();
    let last = torn.trim_end().rfind('\n').unwrap();
    torn.truncate(last + 20);
    std::fs::write(&out, &torn).unwrap();
    let o = run();
    assert_eq!(o.status.code(), Some(1));
    let r = report(&dir.join("responses.jsonl.report.json"));
    assert_eq!(
        r["records"],
        json!({"total": 8, "ok": 1, "skipped": 5, "failed": 2})
    );
    check_responses();

    // --max-failures: stop early and say so.
    let o = batch(&[
        wasm.to_str().unwrap(),
        input.to_str().unwrap(),
        "-o",
        dir.join("again.jsonl").to_str().unwrap(),
        "-j",
        "1",
        "--max-failures",
        "0",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let r = report(&dir.join("again.jsonl.report.json"));
    assert_eq!(r["aborted"], true);
    assert!(r["records"]["ok"].as_u64().unwrap() < 6, "{r}");
}

#[test]
fn csv_rows_and_batching_along_the_free_dimension() {
    let case = model_case("test", "mlp");
    let (wasm, model) = case.packed().unwrap();
    let dir = scratch("batch-csv");
    let rows: Vec<Vec<f32>> = (0..10)
        .map(|i| {
            (0..16)
                .map(|j| ((i * 16 + j) as f32 * 0.37).sin())
                .collect()
        })
        .collect();
    let mut csv = String::from("id");
    for j in 0..16 {
        csv.push_str(&format!(",f{j}"));
    }
    csv.push('\n');
    for (i, row) in rows.iter().enumerate() {
        csv.push_str(&format!("row{i}"));
        for v in row {
            csv.push_str(&format!(",{v}"));
        }
        csv.push('\n');
    }
    std::fs::write(dir.join("in.csv"), csv).unwrap();
    let out = dir.join("out.csv");
    let o = batch(&[
        wasm.to_str().unwrap(),
        dir.join("in.csv").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let written = std::fs::read_to_string(&out).unwrap();
    let mut lines = written.lines();
    assert_eq!(lines.next(), Some("id,y_0,y_1,y_2,y_3"));
    let mut instance = model.instantiate().unwrap();
    let mut seen = 0;
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        let i: usize = fields[0].trim_start_matches("row").parse().unwrap();
        let want = instance
            .infer(&[Tensor::from_f32("x", &[1, 16], &rows[i])])
            .unwrap()[0]
            .to_f32()
            .unwrap();
        let got: Vec<f32> = fields[1..]
            .iter()
            .map(|v| v.parse::<f64>().unwrap() as f32)
            .collect();
        assert_eq!(got, want, "row {i}");
        seen += 1;
    }
    assert_eq!(seen, 10);

    // The same rows as .npy records, 4 per call along N: the same answers within float
    // reassociation of a batched matmul.
    let npy = dir.join("npy");
    let tensors: Vec<Tensor> = rows
        .iter()
        .map(|r| Tensor::from_f32("x", &[1, 16], r))
        .collect();
    write_npy_records(&npy, &tensors);
    let out = dir.join("batched");
    let o = batch(&[
        wasm.to_str().unwrap(),
        npy.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--batch-size",
        "4",
        "-j",
        "2",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    for (i, t) in tensors.iter().enumerate() {
        let want = instance.infer(std::slice::from_ref(t)).unwrap();
        let got =
            edgeinfer::npy::read_npy_file(&out.join(format!("rec{i:05}/y.npy")), "y").unwrap();
        assert_eq!(got.shape, vec![1, 4]);
        assert!(got.max_abs_diff(&want[0]).unwrap() < 1e-5, "record {i}");
    }
}

#[test]
fn usage_and_model_errors_exit_2() {
    let (wasm, _) = cls_b1();
    let dir = scratch("batch-errors");
    std::fs::create_dir_all(dir.join("in")).unwrap();
    // Outputs (and their run reports) land in the scratch dir, never in the working tree.
    let out = dir.join("out").display().to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "missing.wasm".into(),
                dir.join("in").display().to_string(),
                "-o".into(),
                out.clone(),
            ],
            "missing.wasm",
        ),
        (
            vec![
                wasm.display().to_string(),
                dir.join("nope.txt").display().to_string(),
                "-o".into(),
                out.clone(),
            ],
            "does not exist",
        ),
        (
            vec![
                wasm.display().to_string(),
                dir.join("in").display().to_string(),
                "-o".into(),
                out.clone(),
                "--batch-size".into(),
                "4".into(),
            ],
            "--batch-size needs",
        ),
        (vec!["--bogus".into()], "unexpected argument"),
    ];
    for (args, needle) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = batch(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains(needle),
            "{args:?}: {}",
            text(&o.stderr)
        );
    }
}

// Faults of the output: a disk that fills up, a folder that turns read-only, and what an
// earlier run or a crash left torn. Each must end with a clear exit code, keep every complete
// record, and leave a re-run to finish the job.

/// A tmpfs mounted on `<scratch>/<name>/disk`, unmounted on drop. Needs root (CI runs as
/// root); elsewhere the fault tests say they were skipped.
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    fn mount(name: &str, size: &str) -> Option<SmallDisk> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: mounting a small tmpfs needs root");
            return None;
        }
        let base = root().join("target/edgeinfer-test/scratch").join(name);
        // A mount left behind by a killed run would stop scratch() from clearing the folder.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(base.join("disk"))
            .stderr(Stdio::null())
            .status();
        let dir = scratch(name).join("disk");
        std::fs::create_dir_all(&dir).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(mounted.success(), "mount -t tmpfs failed, as root");
        Some(SmallDisk { dir })
    }

    /// `mount -o remount,<options>`; retried for a moment, since a file still open for
    /// writing makes a read-only remount fail with EBUSY.
    fn remount(&self, options: &str) {
        for _ in 0..200 {
            let ok = Command::new("mount")
                .args(["-o", &format!("remount,{options}")])
                .arg(&self.dir)
                .stderr(Stdio::null())
                .status()
                .unwrap();
            if ok.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("remount,{options} of {} kept failing", self.dir.display());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

fn write_jsonl_records(path: &Path, records: &[Tensor]) {
    let lines: Vec<String> = records
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({"id": format!("r{i:05}"), "inputs": [{"name": "x", "shape": t.shape,
                   "datatype": "FP32", "data": t.to_f32().unwrap()}]})
            .to_string()
        })
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// The result lines of a JSONL output by id; panics on a torn line or a duplicate id.
fn jsonl_results(path: &Path) -> std::collections::BTreeMap<String, Value> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'), "a torn last line");
    let mut results = std::collections::BTreeMap::new();
    for line in text.lines() {
        let Ok(value) = serde_json::from_str::<Value>(line) else {
            continue; // garbage a test put there on purpose; checked by the caller
        };
        let id = value["id"].as_str().unwrap().to_string();
        assert!(results.insert(id.clone(), value).is_none(), "{id} twice");
    }
    results
}

#[test]
fn a_full_disk_stops_with_exit_3_and_a_rerun_completes() {
    let Some(disk) = SmallDisk::mount("batch-full-disk", "16k") else {
        return;
    };
    let (wasm, model) = cls_b1();
    let records = cls_records(300);
    let input = disk.dir.parent().unwrap().join("requests.jsonl");
    write_jsonl_records(&input, &records);
    let wasm = wasm.to_str().unwrap();

    // The same job on a disk with room, for the expected output.
    let reference = disk.dir.parent().unwrap().join("reference.jsonl");
    let o = batch(&[
        wasm,
        input.to_str().unwrap(),
        "-o",
        reference.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));

    // JSONL output, report and error log on a 16 KiB disk: it fills up mid-run.
    let out = disk.dir.join("responses.jsonl");
    let args = [
        wasm,
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-j",
        "1",
    ];
    let o = batch(&args);
    let stderr = text(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(stderr.contains("re-run to resume"), "{stderr}");
    let written = jsonl_results(&out); // whole lines only
    assert!(
        !written.is_empty() && written.len() < records.len(),
        "the disk should fill mid-run: {} of {} written",
        written.len(),
        records.len()
    );
    let leftovers: Vec<_> = std::fs::read_dir(&disk.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temp files left on the full disk: {leftovers:?}"
    );

    // Space freed: the re-run does the rest, and the output is the reference's.
    disk.remount("size=8m");
    let o = batch(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let r = report(&disk.dir.join("responses.jsonl.report.json"));
    assert_eq!(
        r["records"]["skipped"].as_u64().unwrap() as usize,
        written.len()
    );
    assert_eq!(jsonl_results(&out), jsonl_results(&reference));

    // Record folders (.npy): a folder per record, on a disk that holds a dozen of them.
    let records = &records[..40];
    let npy_in = disk.dir.parent().unwrap().join("npy-in");
    write_npy_records(&npy_in, records);
    disk.remount("size=64k");
    let out = disk.dir.join("out");
    let args = [
        wasm,
        npy_in.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-j",
        "1",
    ];
    let o = batch(&args);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    disk.remount("size=8m");
    let o = batch(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    check_npy_outputs(&out, &model, records);
}

#[test]
fn an_output_turned_read_only_mid_run_exits_3_and_resumes() {
    let Some(disk) = SmallDisk::mount("batch-read-only", "64m") else {
        return;
    };
    let (wasm, model) = cls_b1();
    let records = cls_records(400);
    let side = disk.dir.parent().unwrap();
    let input = side.join("in");
    write_npy_records(&input, &records);
    let out = disk.dir.join("out");
    // The report and error log live off the disk that turns read-only: an open log would
    // keep the remount from happening.
    let (report_path, errors) = (side.join("report.json"), side.join("errors.jsonl"));
    let args = [
        wasm.to_str().unwrap(),
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-j",
        "1",
        "--report",
        report_path.to_str().unwrap(),
        "--errors",
        errors.to_str().unwrap(),
    ];
    let mut child = spawn_batch(&args, Stdio::piped());
    wait_for_records(&mut child, &out, 30, "ended before the fault");
    disk.remount("ro");
    let o = child.wait_with_output().unwrap();
    let stderr = text(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("Read-only file system"), "{stderr}");
    let r = report(&report_path);
    assert_eq!(r["exit_code"], 3);
    assert!(
        r["output_error"].as_str().unwrap().contains("Read-only"),
        "{r}"
    );

    disk.remount("rw");
    let o = batch(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    check_npy_outputs(&out, &model, &records);
}

#[test]
fn torn_outputs_and_a_corrupt_report_from_an_earlier_run_are_recovered() {
    let (wasm, model) = cls_b1();
    let dir = scratch("batch-torn");
    let records = cls_records(12);
    let wasm = wasm.to_str().unwrap();

    // JSONL: a record's line lost, a garbage line, a torn tail, a report that is not JSON.
    let input = dir.join("requests.jsonl");
    write_jsonl_records(&input, &records);
    let out = dir.join("responses.jsonl");
    let args = [wasm, input.to_str().unwrap(), "-o", out.to_str().unwrap()];
    assert_eq!(batch(&args).status.code(), Some(0));
    let complete = jsonl_results(&out);
    let text_before = std::fs::read_to_string(&out).unwrap();
    let mut lines: Vec<&str> = text_before
        .lines()
        .filter(|l| !l.contains("\"r00003\""))
        .collect();
    lines.insert(5, "{\"this is\": not a result");
    let torn = "{\"model_name\":\"ppocr-cls\",\"id\":\"r00009\",\"outp";
    std::fs::write(&out, lines.join("\n") + "\n" + torn).unwrap();
    let report_file = dir.join("responses.jsonl.report.json");
    std::fs::write(&report_file, "{\"started\": \"2026-").unwrap();

    let o = batch(&args);
    let stderr = text(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("torn last line"), "{stderr}");
    assert!(stderr.contains("not a result"), "{stderr}");
    let r = report(&report_file); // rewritten whole
    assert_eq!(
        (
            r["records"]["ok"].as_u64(),
            r["records"]["skipped"].as_u64()
        ),
        (Some(1), Some(11))
    );
    assert_eq!(
        jsonl_results(&out),
        complete,
        "every record once, as before"
    );
    assert!(
        std::fs::read_to_string(&out)
            .unwrap()
            .contains("{\"this is\": not a result")
    );

    // Record folders: one output file cut short.
    let npy_in = dir.join("npy-in");
    write_npy_records(&npy_in, &records);
    let out = dir.join("out");
    let args = [wasm, npy_in.to_str().unwrap(), "-o", out.to_str().unwrap()];
    assert_eq!(batch(&args).status.code(), Some(0));
    let victim = std::fs::read_dir(out.join("rec00005"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let len = std::fs::metadata(&victim).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&victim)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let o = batch(&args);
    let stderr = text(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("is torn"), "{stderr}");
    let r = report(&dir.join("out.report.json"));
    assert_eq!(
        (
            r["records"]["ok"].as_u64(),
            r["records"]["skipped"].as_u64()
        ),
        (Some(1), Some(11))
    );
    // The torn folder was set aside, not deleted.
    let aside: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".torn-rec00005")
        })
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    std::fs::remove_dir_all(&aside[0]).unwrap();
    check_npy_outputs(&out, &model, &records);
}
