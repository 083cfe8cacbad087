//! What each fuzz target does with one input. Every function must return for any bytes
//! (no panic, no abort, bounded memory and time) and checks what must hold when the input is
//! accepted. `fuzz/libfuzzer` drives them coverage-guided (`cargo fuzz`, see fuzz/README.md);
//! `tests/replay.rs` runs every committed corpus file and crash reproducer through them on
//! every `cargo test`.
//!
//! | target | code under test |
//! |---|---|
//! | [`oip_request`] | the Open Inference Protocol v2 request decoder, JSON and binary extension |
//! | [`npy_file`] | the `.npy` reader (`batch`, `infer`) |
//! | [`pack_payload`] | the pack payload reader (manifest + NNEF) the guest's init reads |
//! | [`onnx_model`] | `pack`'s ONNX loading and conversion to NNEF |
//! | [`engine_infer`] | the guest's input validation and inference: arbitrary tensors through `infer` |
//! | [`engine_http`] | the guest's HTTP front: route, decode, validate, infer, encode |

mod model;

pub use model::{FuzzRequest, MODEL_ONNX, engine_ready, tensors_from};

use edgeinfer_protocol::{PackPayload, npy, oip};

/// The committed inputs of `target`: its corpus and its crash reproducers, sorted (both
/// replays, native and through the component, walk the same list).
pub fn corpus_files(target: &str) -> Vec<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = ["corpus", "regressions"]
        .iter()
        .filter_map(|dir| std::fs::read_dir(root.join(dir).join(target)).ok())
        .flatten()
        .map(|e| e.expect("a readable corpus entry").path())
        .collect();
    files.sort();
    files
}

/// The OIP v2 decoder. The first byte chooses JSON (even) or the binary extension (odd, the
/// next two bytes give the JSON part's length).
pub fn oip_request(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (body, json_len) = if mode % 2 == 1 && rest.len() >= 2 {
        let len = u16::from_le_bytes([rest[0], rest[1]]) as usize;
        (&rest[2..], Some(len))
    } else {
        (rest, None)
    };
    if let Ok(request) = oip::decode_request(body, json_len) {
        for t in &request.inputs {
            let elements =
                oip::Tensor::element_count(&t.shape).expect("an accepted shape fits u64");
            assert_eq!(
                t.data.len() as u64,
                elements * t.dtype.size() as u64,
                "accepted tensor `{}` has bytes that do not match its shape",
                t.name
            );
        }
    }
}

/// The `.npy` reader: an accepted file holds exactly its shape's bytes and writes back the
/// same.
pub fn npy_file(data: &[u8]) {
    let whole_len = npy::expected_file_len(data);
    if let Ok(array) = npy::read(data) {
        let elements: usize = array.shape.iter().product();
        assert_eq!(array.data.len(), elements * array.dtype.size());
        let mut written = Vec::new();
        npy::write(array.dtype, &array.shape, &array.data, &mut written).expect("writes back");
        assert_eq!(npy::read(&written).expect("reads back"), array);
        assert!(
            whole_len.as_ref().is_ok_and(|&n| n <= data.len() as u64),
            "{whole_len:?}"
        );
    }
}

/// The pack payload reader: an accepted payload encodes back to one that decodes the same.
pub fn pack_payload(data: &[u8]) {
    let _ = edgeinfer_protocol::pack::read_manifest(&mut &data[..]);
    if let Ok(payload) = PackPayload::decode(data) {
        let again = PackPayload::decode(&payload.encode()).expect("an encoded payload decodes");
        assert_eq!(again, payload);
    }
}

/// `pack`'s ONNX conversion (parse, analyse, NNEF out and back, optimize) on a file of these
/// bytes. tract's own panics come back as errors (`guard`); anything else is a finding.
pub fn onnx_model(data: &[u8]) {
    let path = scratch_file("model.onnx", data);
    if let Ok(converted) = edgeinfer_convert::onnx_to_nnef(&path, &Default::default()) {
        assert!(!converted.nnef.is_empty());
    }
}

/// Writes `data` to a file of this process and thread (the conversion reads a path).
fn scratch_file(name: &str, data: &[u8]) -> std::path::PathBuf {
    let thread = format!("{:?}", std::thread::current().id());
    let thread: String = thread.chars().filter(char::is_ascii_digit).collect();
    let dir = std::env::temp_dir().join(format!("edgeinfer-fuzz-{}-{thread}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, data).expect("temp file");
    path
}

/// Arbitrary tensors through the engine's `infer` (the body of the component's WIT `infer`
/// and of the Fastly module), on a model with a free dim and two outputs.
pub fn engine_infer(data: &[u8]) {
    engine_ready();
    let inputs = tensors_from(data);
    if let Ok(outputs) = edgeinfer_engine::infer(inputs) {
        for out in outputs {
            let elements: usize = out.tensor.dimensions.iter().map(|&d| d as usize).product();
            assert_eq!(
                out.tensor.data.len(),
                elements * out.tensor.ty.size(),
                "{}",
                out.name
            );
        }
    }
}

/// The engine's HTTP front (the wasi:http and Fastly handlers' body). Bytes: the method's
/// index, a path up to the first NUL, the body; a body whose first byte is `{` goes as JSON,
/// anything else as the binary extension with its JSON part up to the first `\n`.
pub fn engine_http(data: &[u8]) {
    engine_ready();
    let mut request = FuzzRequest::from_bytes(data);
    let reply = edgeinfer_engine::http::answer(&mut request);
    assert!(
        (200..600).contains(&reply.status),
        "status {}",
        reply.status
    );
    if reply.content_type == "application/json" {
        serde_json::from_slice::<serde_json::Value>(&reply.body).expect("a JSON reply parses");
    }
}
