//! edgeinfer-ops against onnxruntime. Every case of `tests/models/cases.json` (written with
//! its models, inputs and onnxruntime's outputs by `tests/models/gen.py`) goes the way a model
//! goes through edgeinfer:
//!
//! 1. pack (as `host/src/pack/onnx.rs`): tract-onnx with [`edgeinfer_ops::register_onnx`],
//!    typed, decluttered, TDim outputs cast to i64 (the patch this crate proposes for pack),
//!    written to an NNEF tar in memory;
//! 2. guest (as `guest/src/model.rs`): a fresh `tract_nnef::nnef().with_onnx()` with extended
//!    identifiers and [`edgeinfer_ops::register_nnef`] reads the tar,
//!    [`edgeinfer_ops::repair_reloaded`] works around tract's reload bugs (the call this crate
//!    proposes for the guest and pack), then it is optimized and run, with the batch axis left
//!    free (`N`), at the two batch sizes the case holds.
//!
//! Outputs must have onnxruntime's types and shapes, integers exactly its values, floats its
//! values within the case's `atol + rtol * |expected|`.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::tract_core::ops::cast::cast;

#[derive(Deserialize)]
struct Manifest {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    model: String,
    #[serde(default)]
    atol: f32,
    #[serde(default)]
    rtol: f32,
    #[serde(default)]
    refusal: Option<Vec<String>>,
    runs: Vec<Run>,
}

#[derive(Deserialize)]
struct Run {
    inputs: Vec<(String, String)>,
    outputs: Vec<(String, String)>,
}

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/models")
}

fn manifest() -> Manifest {
    let text = std::fs::read_to_string(models_dir().join("cases.json")).expect("cases.json");
    serde_json::from_str(&text).expect("valid cases.json")
}

fn case(name: &str) -> Case {
    manifest()
        .cases
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case {name} in cases.json (run gen.py)"))
}

fn onnx() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    edgeinfer_ops::register_onnx(&mut onnx);
    onnx
}

/// The guest's framework (guest/src/model.rs) plus this crate's registry.
fn nnef() -> tract_nnef::framework::Nnef {
    let mut nnef = tract_nnef::nnef().with_onnx();
    nnef.allow_extended_identifier_syntax(true);
    edgeinfer_ops::register_nnef(&mut nnef);
    nnef
}

/// The patch proposed for `host/src/pack/onnx.rs`: tract-onnx reads `Cast(to=INT64)` as a
/// cast to TDim (so shape arithmetic stays symbolic), which leaves an int64 graph output
/// (a classifier's label) typed TDim; cast such outputs to i64.
fn cast_tdim_outputs_to_i64(model: &mut TypedModel) -> TractResult<()> {
    for ix in 0..model.outputs.len() {
        let outlet = model.outputs[ix];
        if model.outlet_fact(outlet)?.datum_type == TDim::datum_type() {
            let name = format!("{}.to_i64", model.node(outlet.node).name);
            let label = model.outlet_label(outlet).map(str::to_string);
            let casted = model.wire_node(name, cast(i64::datum_type()), &[outlet])?[0];
            model.outputs[ix] = casted;
            if let Some(label) = label {
                model.set_outlet_label(casted, label)?;
            }
        }
    }
    Ok(())
}

/// Pack-time half: ONNX to an NNEF tar, as `onnx_to_nnef` does.
fn pack(path: &Path) -> TractResult<Vec<u8>> {
    let model = onnx().model_for_path(path)?;
    let mut typed = model.into_typed()?.into_decluttered()?;
    cast_tdim_outputs_to_i64(&mut typed)?;
    let mut tar = vec![];
    nnef().write_to_tar_with_config(&typed, &mut tar, false, true)?;
    Ok(tar)
}

fn read_npy(path: &Path) -> Tensor {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape: Vec<usize> = npy.shape().iter().map(|d| *d as usize).collect();
    let descr = npy.dtype().descr();
    fn array<T: npyz::Deserialize + Datum>(npy: npyz::NpyFile<&[u8]>, shape: &[usize]) -> Tensor {
        tract_ndarray::ArrayD::from_shape_vec(shape, npy.into_vec::<T>().unwrap())
            .unwrap()
            .into_tensor()
    }
    match descr.as_str() {
        "'<f4'" => array::<f32>(npy, &shape),
        "'<f8'" => array::<f64>(npy, &shape),
        "'<i8'" => array::<i64>(npy, &shape),
        "'<i4'" => array::<i32>(npy, &shape),
        "'|b1'" => array::<bool>(npy, &shape),
        "'|u1'" => array::<u8>(npy, &shape),
        "'|i1'" => array::<i8>(npy, &shape),
        other => panic!("{}: unexpected dtype {other}", path.display()),
    }
}

fn assert_close(case: &Case, what: &str, got: &Tensor, want: &Tensor) {
    assert_eq!(got.datum_type(), want.datum_type(), "{what}: element type");
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    if want.datum_type().is_float() {
        let got = got.cast_to::<f64>().unwrap();
        let want = want.cast_to::<f64>().unwrap();
        let got = got.try_as_plain_ram().unwrap();
        let want = want.try_as_plain_ram().unwrap();
        let (got, want) = (
            got.as_slice::<f64>().unwrap(),
            want.as_slice::<f64>().unwrap(),
        );
        let mut worst = 0f64;
        for (ix, (g, w)) in got.iter().zip(want).enumerate() {
            if w.is_nan() {
                assert!(g.is_nan(), "{what}[{ix}]: {g}, onnxruntime NaN");
                continue;
            }
            let err = (g - w).abs();
            let tol = case.atol as f64 + case.rtol as f64 * w.abs();
            assert!(
                err <= tol,
                "{what}[{ix}]: {g}, onnxruntime {w} (error {err:e} > {tol:e})\n got {got:?}\nwant {want:?}"
            );
            worst = worst.max(err);
        }
        eprintln!("{what}: max abs error {worst:e}");
    } else {
        assert_eq!(got, want, "{what}: values");
    }
}

fn run_case(name: &str) {
    let case = case(name);
    let path = models_dir().join(&case.model);
    if let Some(expect) = &case.refusal {
        let err = match pack(&path) {
            Ok(_) => panic!("{name}: packed, but should be refused"),
            Err(e) => format!("{e:#}"),
        };
        for s in expect {
            assert!(err.contains(s.as_str()), "{name}: error lacks {s:?}: {err}");
        }
        eprintln!("{name}: refused: {err}");
        return;
    }
    let input_names: Vec<String> = {
        let m = onnx().model_for_path(&path).unwrap();
        m.input_outlets()
            .unwrap()
            .iter()
            .map(|o| m.node(o.node).name.clone())
            .collect()
    };
    let tar = pack(&path).unwrap_or_else(|e| panic!("{name}: pack: {e:#}"));
    let mut model = nnef()
        .model_for_read(&mut &tar[..])
        .unwrap_or_else(|e| panic!("{name}: reading NNEF: {e:#}"));
    edgeinfer_ops::repair_reloaded(&mut model).unwrap();
    let batch = &model.input_fact(0).unwrap().shape[0];
    assert!(
        batch.to_i64().is_err(),
        "{name}: the batch axis should stay free, got {batch}"
    );
    let plan = model
        .into_optimized()
        .and_then(|m| m.into_runnable())
        .unwrap_or_else(|e| panic!("{name}: optimizing: {e:#}"));
    assert!(!case.runs.is_empty());
    for (r, run) in case.runs.iter().enumerate() {
        let inputs: TVec<TValue> = input_names
            .iter()
            .map(|n| {
                let file = &run
                    .inputs
                    .iter()
                    .find(|(k, _)| k == n)
                    .unwrap_or_else(|| panic!("no input {n}"))
                    .1;
                read_npy(&models_dir().join(file)).into_tvalue()
            })
            .collect();
        let outputs = plan
            .run(inputs)
            .unwrap_or_else(|e| panic!("{name} run {r}: {e:#}"));
        assert_eq!(
            outputs.len(),
            run.outputs.len(),
            "{name}: number of outputs"
        );
        for ((oname, file), got) in run.outputs.iter().zip(outputs) {
            let want = read_npy(&models_dir().join(file));
            assert_close(
                &case,
                &format!("{name} run {r} `{oname}`"),
                &got.into_tensor(),
                &want,
            );
        }
    }
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_case(stringify!($name));
            }
        )*
        const CASES: &[&str] = &[$(stringify!($name)),*];
    };
}

cases!(
    tree_sum_base_nan,
    tree_average_base_nan,
    tree_branch_modes,
    tree_targets3_sum_none,
    tree_targets3_average_none,
    tree_targets3_sum_logistic,
    tree_targets3_sum_softmax,
    tree_targets3_sum_softmax_zero,
    tree_one_target_logistic_ignored,
    tree_double_input_as_tensor,
    tree_sparse_node_ids,
    tree_classifier_binary_one_base_logistic,
    tree_classifier_binary_two_base_values,
    tree_classifier_binary_both_classes,
    tree_classifier_binary_no_base_softmax,
    tree_classifier_3_classes_one_unscored,
    scaler,
    scaler_scalar,
    scaler_double,
    scaler_int64,
    binarizer,
    imputer_nan,
    imputer_value,
    imputer_int64,
    ohe_int64,
    ohe_float_truncates,
    array_feature_extractor,
    array_feature_extractor_dynamic_indices,
    feature_vectorizer,
    feature_vectorizer_int64,
    label_encoder_int_int,
    label_encoder_float_int_opset2,
    label_encoder_float_int_opset4_nan,
    label_encoder_int_float,
    label_encoder_double_tensors,
    svc_handmade_softmax,
    svc_handmade_binary_none,
    svc_handmade_binary_logistic,
    svc_handmade_binary_softmax,
    svr_handmade_linear_form,
    skl_random_forest_regressor,
    skl_random_forest_regressor_2_targets,
    skl_gradient_boosting_regressor,
    skl_random_forest_classifier_2,
    skl_random_forest_classifier_3,
    skl_gradient_boosting_classifier_2,
    skl_gradient_boosting_classifier_3,
    skl_decision_tree_classifier_2,
    skl_svr_rbf,
    skl_svr_linear,
    skl_svr_poly,
    skl_svr_sigmoid,
    skl_one_class_svm,
    skl_svc_binary,
    skl_svc_3_classes_poly,
    skl_svc_3_classes_probability,
    skl_svc_binary_probability,
    skl_scaler_svr_pipeline,
    skl_imputer_scaler,
    skl_column_transformer,
    skl_one_hot_encoder,
    skl_knn_classifier,
    lgbm_regressor,
    lgbm_classifier_binary,
    lgbm_classifier_3_classes,
    gelu_erf,
    gelu_erf_torch,
    gelu_op,
    mod_fmod_float,
    mod_int64,
    quantize_dequantize_u8,
    quantize_dequantize_i8,
    if_shape_then,
    if_shape_else,
    if_config_nested,
    if_data,
    if_data_nested,
    if_data_constant_branch,
    refuse_label_encoder_strings,
    refuse_label_encoder_v1,
    refuse_one_hot_encoder_strings,
    refuse_tree_min,
    refuse_zipmap,
    refuse_tree_classifier_class1_two_base_values,
    refuse_tree_classifier_strings,
);

#[test]
fn every_generated_case_has_a_test() {
    let generated: Vec<String> = manifest().cases.into_iter().map(|c| c.name).collect();
    for name in &generated {
        assert!(
            CASES.contains(&name.as_str()),
            "case {name} of cases.json has no test here"
        );
    }
    for name in CASES {
        assert!(
            generated.iter().any(|g| g == name),
            "test {name} has no case in cases.json"
        );
    }
}

/// Why a LightGBM classifier's `label` reached the interface as TDim: onnxmltools ends the
/// label with `Cast(to=INT64)`, which tract-onnx reads as a cast to TDim, and decluttering
/// keeps it. The cast of the pack patch makes it i64 again.
#[test]
fn lgbm_label_is_tdim_without_the_pack_patch() {
    let path = models_dir().join("lgbm_classifier_binary.onnx");
    let typed = onnx()
        .model_for_path(&path)
        .unwrap()
        .into_typed()
        .unwrap()
        .into_decluttered()
        .unwrap();
    let label = typed.outputs[0];
    assert_eq!(
        typed.outlet_fact(label).unwrap().datum_type,
        TDim::datum_type()
    );
    let producer = typed.node(label.node);
    assert!(format!("{:?}", producer.op).contains("Cast"), "{producer}");
    let mut patched = typed.clone();
    cast_tdim_outputs_to_i64(&mut patched).unwrap();
    assert_eq!(
        patched.outlet_fact(patched.outputs[0]).unwrap().datum_type,
        i64::datum_type()
    );
    assert_eq!(
        patched.outlet_label(patched.outputs[0]),
        typed.outlet_label(label)
    );
}

/// The GELU, Mod and QDQ cases prove the NNEF forms of `edgeinfer_ops::core_forms` only if
/// their decluttered graphs hold the ops (GELU fused into `GeluExact`, Mod as `Rem`, the
/// quantize / dequantize pair left as it is) and tract's own registries cannot write them.
#[test]
fn core_forms_cases_hold_the_ops() {
    for (case, op) in [
        ("gelu_erf", "GeluExact"),
        ("gelu_erf_torch", "GeluExact"),
        ("gelu_op", "GeluExact"),
        ("mod_fmod_float", "Rem"),
        ("mod_int64", "Rem"),
        ("quantize_dequantize_u8", "QuantizeLinearU8"),
        ("quantize_dequantize_u8", "DequantizeLinearF32"),
        ("quantize_dequantize_i8", "QuantizeLinearI8"),
        ("quantize_dequantize_i8", "DequantizeLinearF32"),
        ("if_data", "IfThenElse"),
        ("if_data_nested", "IfThenElse"),
    ] {
        let typed = onnx()
            .model_for_path(models_dir().join(format!("{case}.onnx")))
            .unwrap()
            .into_typed()
            .unwrap()
            .into_decluttered()
            .unwrap();
        let names: Vec<String> = typed
            .nodes()
            .iter()
            .map(|n| n.op.name().to_string())
            .collect();
        assert!(
            names.iter().any(|n| n == op),
            "{case}: no {op} in the decluttered graph: {names:?}"
        );
        if op == "GeluExact" {
            assert!(!names.iter().any(|n| n == "Erf"), "{case}: {names:?}");
        }
        let mut plain = tract_nnef::nnef().with_onnx();
        plain.allow_extended_identifier_syntax(true);
        let err = plain
            .write_to_tar(&typed, &mut vec![])
            .expect_err("tract alone now writes it: core_forms may drop it");
        assert!(
            format!("{err:#}").contains("No serializer"),
            "{case}: {err:#}"
        );
    }
}

/// skl2onnx's nearest neighbours scan over the training data: read back from NNEF, tract
/// 0.23.9 cannot optimize them without `repair_reloaded` (see `edgeinfer_ops::repair`). Fails
/// once tract gets it right, and the repair can go.
#[test]
fn knn_needs_the_repair() {
    let tar = pack(&models_dir().join("skl_knn_classifier.onnx")).unwrap();
    let model = nnef().model_for_read(&mut &tar[..]).unwrap();
    let err = model.into_optimized().unwrap_err();
    assert!(
        format!("{err:#}").contains("Trying to substitute"),
        "{err:#}"
    );
}

/// An If on a dim or a configuration value folds at pack time: the decluttered graph holds
/// the taken branch only. tract-onnx's own If loader cannot type the dim cases at all (it
/// builds an `IfThenElse`, which wants both branches' outputs alike); this test fails once
/// it can, and `edgeinfer_ops`' If loader may go.
#[test]
fn constant_conditions_fold_where_tract_fails() {
    for case in ["if_shape_then", "if_shape_else", "if_config_nested"] {
        let path = models_dir().join(format!("{case}.onnx"));
        let typed = onnx()
            .model_for_path(&path)
            .unwrap()
            .into_typed()
            .unwrap()
            .into_decluttered()
            .unwrap();
        let ops: Vec<String> = typed
            .nodes()
            .iter()
            .map(|n| n.op.name().to_string())
            .collect();
        assert!(
            !ops.iter().any(|o| o == "IfThenElse" || o == "If"),
            "{case}: {ops:?}"
        );
        if case.starts_with("if_shape") {
            let err = tract_onnx::onnx()
                .model_for_path(&path)
                .unwrap()
                .into_typed()
                .expect_err("tract-onnx now types it: the If loader may go");
            assert!(
                format!("{err:#}").contains("IfThenElse: Condition failed"),
                "{case}: {err:#}"
            );
        }
    }
}

/// A data-dependent If is written as `edgeinfer_core_if_then_else` with one fragment per
/// branch (nested ones hoisted to the top level), and a branch's own constant travels as a
/// tensor of the archive.
#[test]
fn data_conditions_are_written_with_branch_fragments() {
    let files = |case: &str| tar_files(&pack(&models_dir().join(format!("{case}.onnx"))).unwrap());
    let archive = files("if_data");
    let graph = &archive.iter().find(|(n, _)| n == "graph.nnef").unwrap().1;
    assert_eq!(
        graph.matches("edgeinfer_core_if_then_else(").count(),
        1,
        "{graph}"
    );
    assert_eq!(
        graph.matches("fragment edgeinfer_if_body_").count(),
        2,
        "{graph}"
    );
    // the branch's constants (its own, and the outer weight it reads), once each
    let names: Vec<&String> = archive.iter().map(|f| &f.0).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("then_y")), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("xw")), "{names:?}");
    let archive = files("if_data_nested");
    let graph = &archive.iter().find(|(n, _)| n == "graph.nnef").unwrap().1;
    assert_eq!(
        graph.matches("edgeinfer_core_if_then_else(").count(),
        2,
        "{graph}"
    );
    assert_eq!(
        graph.matches("fragment edgeinfer_if_body_").count(),
        4,
        "{graph}"
    );
}

/// The files of a tar archive (ustar: 512-byte headers, octal sizes), as (name, text).
fn tar_files(tar: &[u8]) -> Vec<(String, String)> {
    let mut files = vec![];
    let mut at = 0;
    while at + 512 <= tar.len() && tar[at] != 0 {
        let header = &tar[at..at + 512];
        let name = String::from_utf8_lossy(&header[..100])
            .trim_end_matches('\0')
            .to_string();
        let size = std::str::from_utf8(&header[124..136]).unwrap();
        let size =
            usize::from_str_radix(size.trim_matches(|c: char| c == '\0' || c == ' '), 8).unwrap();
        let body = &tar[at + 512..at + 512 + size];
        files.push((name, String::from_utf8_lossy(body).to_string()));
        at += 512 + size.div_ceil(512) * 512;
    }
    files
}
