//! Every committed corpus file and crash reproducer, through its target, on every `cargo
//! test`: what a fuzzer once found stays fixed, and the corpora keep the targets' deep paths
//! exercised without a fuzzer.

fn replay(target: &str, run: fn(&[u8])) {
    let files = edgeinfer_fuzz::corpus_files(target);
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
