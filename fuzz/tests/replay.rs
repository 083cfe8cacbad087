//! Every committed corpus file and crash reproducer, through its target, on every `cargo
//! test`: what a fuzzer once found stays fixed, and the corpora keep the targets' deep paths
//! exercised without a fuzzer.

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in [
        root.join("corpus").join(target),
        root.join("regressions").join(target),
    ] {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            files.extend(entries.map(|e| e.expect("a readable entry").path()));
        }
    }
    files.sort();
    files
}

fn replay(target: &str, run: fn(&[u8])) {
    let files = inputs(target);
    assert!(
        !files.is_empty(),
        "no corpus for `{target}` under fuzz/corpus/{target}"
    );
    for file in &files {
        let bytes = std::fs::read(file).expect("a readable corpus file");
        let outcome = std::panic::catch_unwind(|| run(&bytes));
        assert!(outcome.is_ok(), "{target} panicked on {}", file.display());
    }
    eprintln!("{target}: {} inputs replayed", files.len());
}

#[test]
fn oip_request() {
    replay("oip_request", edgeinfer_fuzz::oip_request);
}

#[test]
fn npy_file() {
    replay("npy_file", edgeinfer_fuzz::npy_file);
}

#[test]
fn pack_payload() {
    replay("pack_payload", edgeinfer_fuzz::pack_payload);
}

#[test]
fn onnx_model() {
    replay("onnx_model", edgeinfer_fuzz::onnx_model);
}

#[test]
fn engine_infer() {
    replay("engine_infer", edgeinfer_fuzz::engine_infer);
}

#[test]
fn engine_http() {
    replay("engine_http", edgeinfer_fuzz::engine_http);
}
