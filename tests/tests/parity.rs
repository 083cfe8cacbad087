//! Pack + infer on every test model and fetched real model, compared with onnxruntime's
//! outputs on the same inputs (tolerances in models/models.json: 1e-5 for the small test
//! models, 1e-4 for the classifiers and VAD, 1e-3 for the detector's 320x320 map).

mod common;

use common::{ModelCase, compare, model_case, runtime};
use edgeinfer::native::NativeModel;
use edgeinfer::{DType, Tensor};

fn check_parity(case: &ModelCase) -> Vec<Tensor> {
    let (_, model) = case.packed().unwrap();
    let metadata = model.metadata().unwrap();
    assert!(
        metadata.preinitialized,
        "{} should be pre-initialized",
        case.name
    );
    let outputs = model.infer(&case.inputs()).unwrap();
    let worst = compare(&outputs, &case.expected(), case.tolerance).unwrap();
    println!(
        "{}: max |component - onnxruntime| = {worst:e} (tolerance {:e})",
        case.name, case.tolerance
    );
    outputs
}

#[test]
fn cnn_matches_onnxruntime() {
    check_parity(&model_case("test", "cnn"));
}

#[test]
fn mlp_matches_onnxruntime() {
    check_parity(&model_case("test", "mlp"));
}

/// The guest's own GEMM kernel (engine/src/wasm_gemm.rs) on partial tiles, odd k and every
/// step tract fuses into a product (models/gen_test_models.py, `make_gemm_tiles`).
#[test]
fn gemm_kernel_tiles_match_onnxruntime() {
    check_parity(&model_case("test", "gemm_tiles"));
}

#[test]
fn int64_model_matches_onnxruntime() {
    let outputs = check_parity(&model_case("test", "int64"));
    let argmax = outputs.iter().find(|t| t.name == "argmax").unwrap();
    assert_eq!(argmax.dtype, DType::I64);
}

#[test]
fn ppocr_classifier_matches_onnxruntime_and_reads_text_direction() {
    let case = model_case("real", "ppocr-cls");
    let outputs = check_parity(&case);
    // Batch: the rendered text line upright, then rotated 180 degrees.
    let probs = outputs[0].to_f32().unwrap();
    let top: Vec<&str> = probs
        .chunks(2)
        .map(|row| {
            if row[0] > row[1] {
                case.labels[0].as_str()
            } else {
                case.labels[1].as_str()
            }
        })
        .collect();
    assert_eq!(top, ["0", "180"]);
}

#[test]
fn ppocr_detector_matches_onnxruntime() {
    check_parity(&model_case("real", "ppocr-det"));
}

#[test]
fn silero_vad_matches_onnxruntime() {
    check_parity(&model_case("real", "silero-vad"));
}

#[test]
fn free_batch_dimension_resolves_on_each_call() {
    let case = model_case("test", "mlp");
    let (_, model) = case.packed().unwrap();
    let metadata = model.metadata().unwrap();
    assert_eq!(metadata.inputs[0].shape_string(), "[N,16]");
    let native = NativeModel::from_onnx(&case.onnx(), &Default::default()).unwrap();
    let mut instance = model.instantiate().unwrap();
    for batch in [1usize, 3, 7] {
        let values: Vec<f32> = (0..batch * 16).map(|i| (i as f32 * 0.37).sin()).collect();
        let input = Tensor::from_f32("x", &[batch, 16], &values);
        let got = instance.infer(std::slice::from_ref(&input)).unwrap();
        assert_eq!(got[0].shape, [batch, 4]);
        let want = native.run(&[input]).unwrap();
        // Same tract graph in and out of wasm: only SIMD reassociation may differ.
        assert!(got[0].max_abs_diff(&want[0]).unwrap() <= 1e-5);
    }
}

#[test]
fn instances_are_stateless() {
    let case = model_case("real", "silero-vad");
    let (_, model) = case.packed().unwrap();
    let inputs = case.inputs();
    let mut instance = model.instantiate().unwrap();
    let first = instance.infer(&inputs).unwrap();
    let again = instance.infer(&inputs).unwrap();
    let fresh = model.instantiate().unwrap().infer(&inputs).unwrap();
    assert_eq!(first, again, "a reused instance must answer as before");
    assert_eq!(first, fresh, "a fresh instance must answer as a reused one");
}

#[test]
fn no_preinit_packs_a_model_that_loads_on_first_call() {
    let case = model_case("test", "cnn");
    let mut options = case.pack_options();
    options.no_preinit = true;
    let wasm = common::root().join("target/edgeinfer-test/cnn-lazy.wasm");
    std::fs::create_dir_all(wasm.parent().unwrap()).unwrap();
    let report = edgeinfer::pack::pack(&runtime(), &case.onnx(), &wasm, &options).unwrap();
    assert!(!report.preinitialized);
    assert_eq!(report.fallback_reason.as_deref(), Some("--no-preinit"));
    let model = runtime().load(&wasm).unwrap();
    let metadata = model.metadata().unwrap();
    assert!(!metadata.preinitialized);
    assert_eq!(metadata.inputs[0].shape_string(), "[1,1,28,28]");
    let outputs = model.infer(&case.inputs()).unwrap();
    compare(&outputs, &case.expected(), case.tolerance).unwrap();
}
