//! Every bad input gets a typed error naming the problem; the sandbox stops runaway calls;
//! nothing leaves an instance or the host in a bad state.

mod common;

use common::{model_case, runtime};
use edgeinfer::runtime::code_name;
use edgeinfer::{DType, InferError, Tensor};
use std::time::Duration;

fn cnn_input() -> Tensor {
    Tensor::from_f32("input", &[1, 1, 28, 28], &[0.5; 784])
}

/// Runs `inputs` on a fresh cnn instance; returns (code, message).
fn cnn_error(inputs: &[Tensor]) -> (String, String) {
    let (_, model) = model_case("test", "cnn").packed().unwrap();
    match model.instantiate().unwrap().infer(inputs) {
        Err(InferError::Model { code, message }) => (code_name(code).to_string(), message),
        other => panic!("expected a model error, got {other:?}"),
    }
}

#[test]
fn unknown_input_name_is_not_found() {
    let mut t = cnn_input();
    t.name = "image".into();
    let (code, message) = cnn_error(&[t]);
    assert_eq!(code, "not-found");
    assert!(
        message.contains("unknown input `image`") && message.contains("input"),
        "{message}"
    );
}

#[test]
fn missing_and_duplicate_inputs() {
    let (code, message) = cnn_error(&[]);
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("invalid-argument", "missing input `input`")
    );
    let (_, message) = cnn_error(&[cnn_input(), cnn_input()]);
    assert_eq!(message, "input `input` given more than once");
}

#[test]
fn wrong_dtype() {
    let t = Tensor::new("input", DType::F64, &[1, 1, 28, 28], vec![0; 784 * 8]);
    let (code, message) = cnn_error(&[t]);
    assert_eq!(code, "invalid-argument");
    assert_eq!(
        message,
        "input `input` has dtype fp64, the model expects fp32"
    );
}

#[test]
fn wrong_shape() {
    let t = Tensor::from_f32("input", &[1, 28, 28], &[0.0; 784]);
    let (_, message) = cnn_error(&[t]);
    assert!(
        message.contains("expects [1,1,28,28] (rank 4)"),
        "{message}"
    );
    let t = Tensor::from_f32("input", &[1, 1, 28, 27], &[0.0; 756]);
    let (_, message) = cnn_error(&[t]);
    assert!(message.contains("axis 3 must be 28"), "{message}");
}

#[test]
fn wrong_byte_length() {
    let mut t = cnn_input();
    t.data.truncate(100);
    let (code, message) = cnn_error(&[t]);
    assert_eq!(code, "invalid-argument");
    assert_eq!(
        message,
        "input `input` has 100 bytes of data, its shape [1, 1, 28, 28] of fp32 needs 3136"
    );
}

#[test]
fn an_instance_keeps_serving_after_bad_input() {
    let case = model_case("test", "cnn");
    let (_, model) = case.packed().unwrap();
    let mut instance = model.instantiate().unwrap();
    assert!(instance.infer(&[]).is_err());
    let outputs = instance.infer(&case.inputs()).unwrap();
    common::compare(&outputs, &case.expected(), case.tolerance).unwrap();
}

#[test]
fn deadline_stops_a_long_inference_and_the_model_keeps_serving() {
    let case = model_case("real", "ppocr-det");
    let (_, model) = case.packed().unwrap();
    let mut instance = model.instantiate().unwrap();
    instance.set_deadline(Duration::from_millis(1));
    let err = instance.infer(&case.inputs()).unwrap_err();
    assert!(matches!(err, InferError::Timeout(_)), "{err:?}");
    assert!(err.to_string().contains("deadline"), "{err}");
    // The interrupted instance is retired; a fresh one answers.
    assert!(matches!(
        instance.infer(&case.inputs()),
        Err(InferError::Host(_))
    ));
    let outputs = model.instantiate().unwrap().infer(&case.inputs()).unwrap();
    common::compare(&outputs, &case.expected(), case.tolerance).unwrap();
}

#[test]
fn memory_limit_is_reported_as_such() {
    let (_, model) = model_case("test", "mlp").packed().unwrap();
    let mut instance = model.instantiate().unwrap();
    instance.set_memory_limit(32 << 20);
    let batch = 1 << 20; // 64 MiB of input, over the 32 MiB limit
    let input = Tensor::new("x", DType::F32, &[batch, 16], vec![0; batch * 16 * 4]);
    let err = instance.infer(&[input]).unwrap_err();
    assert!(
        matches!(err, InferError::OutOfMemory { limit_mib: 32, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("32 MiB memory limit"), "{err}");
}

#[test]
fn generic_guest_without_a_model_says_so() {
    let guest = runtime().generic_guest(Some(&common::cache_dir())).unwrap();
    let err = guest.instantiate().unwrap().metadata().unwrap_err();
    assert!(
        err.to_string().contains("no model in this component"),
        "{err}"
    );
}

#[test]
fn files_that_are_not_components_are_refused() {
    let err = runtime().load_bytes(b"\x08\x07onnx garbage").err().unwrap();
    assert!(
        err.to_string().contains("not a WebAssembly component"),
        "{err}"
    );
    let core_module = b"\0asm\x01\0\0\0";
    let err = runtime().load_bytes(core_module).err().unwrap();
    assert!(err.to_string().contains("core WebAssembly module"), "{err}");
    let truncated = &edgeinfer::GENERIC_GUEST[..1000];
    assert!(runtime().load_bytes(truncated).is_err());
}

#[test]
fn corrupt_onnx_is_refused_by_pack() {
    let dir = common::root().join("target/edgeinfer-test");
    std::fs::create_dir_all(&dir).unwrap();
    let onnx = dir.join("corrupt.onnx");
    let mut bytes = std::fs::read(model_case("test", "cnn").onnx()).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&onnx, &bytes).unwrap();
    let err = edgeinfer::pack::pack(
        &runtime(),
        &onnx,
        &dir.join("corrupt.wasm"),
        &Default::default(),
    )
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("is not an ONNX model tract can read"),
        "{err:#}"
    );
}

#[test]
fn a_corrupt_model_traps_at_load_with_the_guest_reason() {
    let guest = runtime().generic_guest(Some(&common::cache_dir())).unwrap();
    let mut payload =
        edgeinfer::pack::payload_from_onnx(&model_case("test", "cnn").onnx(), &Default::default())
            .unwrap();
    payload.nnef.truncate(payload.nnef.len() / 3);
    let err = guest
        .instantiate_unpacked(&payload)
        .err()
        .expect("a truncated model must not load");
    let message = format!("{err:#}");
    assert!(
        message.contains("edgeinfer guest: loading the NNEF model"),
        "{message}"
    );
    // The compiled guest is unharmed: the intact model loads in the next instance.
    payload.nnef =
        edgeinfer::pack::payload_from_onnx(&model_case("test", "cnn").onnx(), &Default::default())
            .unwrap()
            .nnef;
    let case = model_case("test", "cnn");
    let outputs = guest
        .instantiate_unpacked(&payload)
        .unwrap()
        .infer(&case.inputs())
        .unwrap();
    common::compare(&outputs, &case.expected(), case.tolerance).unwrap();
}
