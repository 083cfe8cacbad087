//! What a packed component says about itself.

mod common;

use common::model_case;
use edgeinfer::DType;
use edgeinfer::runtime::Dim;

#[test]
fn metadata_names_dtypes_and_shapes() {
    let case = model_case("test", "int64");
    let mut options = case.pack_options();
    options.name = Some("embedder".into());
    options.version = Some("2.1".into());
    let wasm = common::root().join("target/edgeinfer-test/int64-named.wasm");
    std::fs::create_dir_all(wasm.parent().unwrap()).unwrap();
    let report = edgeinfer::pack::pack(&common::runtime(), &case.onnx(), &wasm, &options).unwrap();
    let m = common::runtime().load(&wasm).unwrap().metadata().unwrap();
    assert_eq!(
        report.metadata.as_ref(),
        Some(&m),
        "pack reports what the component says"
    );
    assert_eq!((m.name.as_str(), m.version.as_str()), ("embedder", "2.1"));
    assert!(m.engine.starts_with("tract "), "{}", m.engine);
    assert!(m.preinitialized);
    assert_eq!(m.inputs.len(), 1);
    assert_eq!(m.inputs[0].name, "ids");
    assert_eq!(m.inputs[0].dtype, DType::I64);
    assert_eq!(m.inputs[0].shape, [Dim::Fixed(1), Dim::Fixed(8)]);
    let outputs: Vec<(&str, DType)> = m
        .outputs
        .iter()
        .map(|o| (o.name.as_str(), o.dtype))
        .collect();
    assert_eq!(outputs, [("emb", DType::F32), ("argmax", DType::I64)]);
}

#[test]
fn free_dimensions_are_reported_by_symbol() {
    let (_, model) = model_case("test", "mlp").packed().unwrap();
    let m = model.metadata().unwrap();
    assert_eq!(m.inputs[0].shape, [Dim::Free("N".into()), Dim::Fixed(16)]);
    assert_eq!(m.outputs[0].shape, [Dim::Free("N".into()), Dim::Fixed(4)]);
    let json = serde_json::to_value(&m).unwrap();
    assert_eq!(json["inputs"][0]["shape"], serde_json::json!(["N", 16]));
    assert_eq!(json["inputs"][0]["dtype"], "fp32");
}

#[test]
fn packing_is_reproducible() {
    let case = model_case("test", "cnn");
    let dir = common::root().join("target/edgeinfer-test");
    std::fs::create_dir_all(&dir).unwrap();
    let shas: Vec<String> = ["a", "b"]
        .iter()
        .map(|tag| {
            let wasm = dir.join(format!("cnn-repro-{tag}.wasm"));
            edgeinfer::pack::pack(
                &common::runtime(),
                &case.onnx(),
                &wasm,
                &case.pack_options(),
            )
            .unwrap()
            .sha256
        })
        .collect();
    assert_eq!(
        shas[0], shas[1],
        "the same model and options must pack to the same bytes"
    );
}
