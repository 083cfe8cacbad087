//! NNEF round trips of real models, as pack does them (ONNX -> typed -> decluttered -> NNEF ->
//! read back -> optimized), over the corpus (`models/corpus/fetch`; `EDGEINFER_CORPUS` names
//! another corpus folder; `EDGEINFER_ONLY=a,b` picks models). Ignored by default: it reads
//! every corpus model, some large. Prints one line per model: where it fails, if it does, and
//! the tract-core ops of the decluttered graph that no NNEF registry serializes. The reloaded
//! model gets [`edgeinfer_ops::repair_reloaded`] as the guest's should (`EDGEINFER_NO_REPAIR=1`:
//! not). `EDGEINFER_BAKE=sr=16000` bakes an int64 scalar input into the graph where a model
//! has it (the input becomes an initializer of that value), as pack's flag for configuration
//! inputs does.
//!
//! ```text
//! cargo test -p edgeinfer-ops --features onnx --release --test nnef_round_trip -- --ignored --nocapture
//! ```

use std::path::{Path, PathBuf};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::{TractErrorContext, bail};

fn corpus_dir() -> PathBuf {
    std::env::var_os("EDGEINFER_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/corpus"))
}

fn onnx() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    edgeinfer_ops::register_onnx(&mut onnx);
    onnx
}

/// The guest's framework (guest/src/model.rs, host/src/pack/onnx.rs).
fn nnef() -> tract_nnef::framework::Nnef {
    let mut nnef = tract_nnef::nnef().with_onnx();
    nnef.allow_extended_identifier_syntax(true);
    edgeinfer_ops::register_nnef(&mut nnef);
    nnef
}

/// Declared input shapes, unknown dims made symbols as pack names them (`N` on axis 0); when
/// tract cannot analyse that, the shapes of the case's stored inputs (`case.json`), as a user
/// would fix them with pack's `--input-shape`.
fn typed(path: &Path) -> TractResult<TypedModel> {
    symbolic(path).or_else(|e| {
        concrete(path)
            .with_context(|| format!("with symbolic dims: {e:#}; with the inputs' shapes"))
    })
}

/// `EDGEINFER_BAKE`: (input name, value) pairs.
fn baked() -> Vec<(String, i64)> {
    std::env::var("EDGEINFER_BAKE")
        .unwrap_or_default()
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            (
                k.to_string(),
                v.parse().expect("EDGEINFER_BAKE: name=int64"),
            )
        })
        .collect()
}

/// The model, with the `EDGEINFER_BAKE` inputs it has turned into initializers.
fn load(onnx: &tract_onnx::Onnx, path: &Path) -> TractResult<InferenceModel> {
    use tract_onnx::pb::{TensorProto, tensor_proto::DataType};
    let mut proto = onnx.proto_model_for_path(path)?;
    let graph = proto.graph.as_mut().context("no graph")?;
    for (name, value) in baked() {
        if let Some(ix) = graph.input.iter().position(|i| i.name == name) {
            graph.input.remove(ix);
            graph.initializer.push(TensorProto {
                name,
                data_type: DataType::Int64 as i32,
                int64_data: vec![value],
                ..TensorProto::default()
            });
        }
    }
    let dir = path.parent().and_then(|d| d.to_str());
    let parsed = onnx.parse(&proto, dir)?;
    if !parsed.unresolved_inputs.is_empty() {
        bail!("unresolved inputs {:?}", parsed.unresolved_inputs);
    }
    Ok(parsed.model)
}

fn concrete(path: &Path) -> TractResult<TypedModel> {
    let case: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path.with_file_name("case.json"))?)?;
    // as pack's second analysis: declared intermediate and output shapes ignored
    let mut model = load(
        &onnx()
            .with_ignore_value_info(true)
            .with_ignore_output_shapes(true),
        path,
    )?;
    for input in case["inputs"].as_array().context("case.json: no inputs")? {
        let name = input["name"].as_str().context("input name")?;
        if baked().iter().any(|(n, _)| n == name) {
            continue;
        }
        let ix = model
            .input_outlets()?
            .iter()
            .position(|o| model.node(o.node).name == name)
            .with_context(|| format!("no input {name}"))?;
        let dt = match input["dtype"].as_str().context("dtype")? {
            "float32" => f32::datum_type(),
            "float64" => f64::datum_type(),
            "int64" => i64::datum_type(),
            "int32" => i32::datum_type(),
            "uint8" => u8::datum_type(),
            "bool" => bool::datum_type(),
            other => bail!("dtype {other}"),
        };
        let shape: Vec<usize> = input["shape"]
            .as_array()
            .context("shape")?
            .iter()
            .map(|d| d.as_u64().unwrap_or(1) as usize)
            .collect();
        model.set_input_fact(ix, dt.fact(&shape).into())?;
    }
    model.into_typed()?.into_decluttered()
}

fn symbolic(path: &Path) -> TractResult<TypedModel> {
    use tract_onnx::tract_hir::infer::GenericFactoid;
    let mut model = load(&onnx(), path)?;
    for ix in 0..model.input_outlets()?.len() {
        let mut fact = model.input_fact(ix)?.clone();
        if fact.shape.is_open() {
            continue;
        }
        let dims: TVec<TDim> = fact
            .shape
            .dims()
            .enumerate()
            .map(|(axis, dim)| match dim {
                GenericFactoid::Only(d) => d.clone(),
                GenericFactoid::Any if axis == 0 => model.symbols.sym("N").into(),
                GenericFactoid::Any => model.symbols.new_with_prefix(&format!("d{axis}")).into(),
            })
            .collect();
        fact.shape = dims.into_iter().collect();
        model.set_input_fact(ix, fact)?;
    }
    model.into_typed()?.into_decluttered()
}

/// Ops of `model` that no registry of `nnef` serializes.
fn unserializable(model: &TypedModel) -> Vec<String> {
    let nnef = nnef();
    let mut found = vec![];
    for node in model.nodes() {
        let mut single = TypedModel::default();
        let Ok(inputs) = node
            .inputs
            .iter()
            .enumerate()
            .map(|(ix, i)| {
                let fact = model.outlet_fact(*i)?.clone();
                single.add_source(format!("i{ix}"), fact.without_value())
            })
            .collect::<TractResult<TVec<_>>>()
        else {
            continue;
        };
        if node.op_is::<tract_onnx::tract_core::ops::source::TypedSource>() {
            continue;
        }
        let Ok(outputs) = single.wire_node(&node.name, node.op.clone(), &inputs) else {
            continue;
        };
        if single.select_output_outlets(&outputs).is_err() {
            continue;
        }
        let mut sink = vec![];
        if let Err(e) = nnef.write_to_tar(&single, &mut sink) {
            let e = format!("{e:#}");
            if e.contains("No serializer") {
                let name = format!("{:?}", node.op);
                let name = name.split(['(', ' ', '{']).next().unwrap_or("").to_string();
                let mut label = format!("{} ({name})", node.op.name());
                if node.op.name() == "IfThenElse" {
                    // a branch holds it: name what
                    let inner = e
                        .rsplit("No serializer found for node")
                        .next()
                        .unwrap_or("");
                    label = format!(
                        "{label} holding{}",
                        inner.chars().take(200).collect::<String>()
                    );
                }
                if !found.contains(&label) {
                    found.push(label);
                }
            }
        }
    }
    found
}

/// On success, the edgeinfer-ops forms the NNEF text uses, with their counts.
fn round_trip(path: &Path) -> Result<String, String> {
    let mut typed = typed(path).map_err(|e| format!("analysis: {e:#}"))?;
    // as pack: the ONNX properties travel beside the NNEF (its strings cannot hold them all)
    typed.properties.clear();
    let gaps = unserializable(&typed);
    if !gaps.is_empty() {
        return Err(format!("no NNEF form for: {}", gaps.join(", ")));
    }
    let nnef = nnef();
    let mut tar = vec![];
    nnef.write_to_tar_with_config(&typed, &mut tar, false, true)
        .map_err(|e| format!("writing NNEF: {e:#}"))?;
    // EDGEINFER_KEEP_NNEF=dir: the NNEF of models that fail from here on is kept there
    let keep = |e: String| {
        if let Ok(dir) = std::env::var("EDGEINFER_KEEP_NNEF") {
            let name = path.parent().unwrap().file_name().unwrap();
            let _ = std::fs::write(Path::new(&dir).join(name).with_extension("nnef.tar"), &tar);
        }
        e
    };
    let mut reloaded = nnef
        .model_for_read(&mut &tar[..])
        .map_err(|e| keep(format!("reading NNEF: {e:#}")))?;
    // as the guest should (EDGEINFER_NO_REPAIR=1: tract's behaviour alone)
    if std::env::var_os("EDGEINFER_NO_REPAIR").is_none() {
        edgeinfer_ops::repair_reloaded(&mut reloaded).map_err(|e| format!("repair: {e:#}"))?;
    }
    if std::env::var_os("EDGEINFER_REDECLUTTER").is_some() {
        // does a second declutter of pack's graph fail the same way, without NNEF?
        if let Err(e) = typed.clone().into_decluttered() {
            println!("  (decluttering pack's graph again, no NNEF: {e:#})");
        }
    }
    let optimized = reloaded
        .into_optimized()
        .map_err(|e| keep(format!("optimizing the reloaded model: {e:#}")))?;
    let checked = if std::env::var_os("EDGEINFER_RUN").is_some() {
        run_case(path, optimized)?
    } else {
        String::new()
    };
    let text = String::from_utf8_lossy(&tar);
    let mut used = vec![];
    for form in [
        "edgeinfer_core_gelu_exact",
        "edgeinfer_core_rem",
        "edgeinfer_core_if_then_else",
        "edgeinfer_ml_tree_ensemble",
        "edgeinfer_ml_label_encoder",
        "edgeinfer_ml_svm_multiclass_probability",
    ] {
        let n = text.matches(&format!("{form}(")).count();
        if n > 0 {
            used.push(format!("{form} x{n}"));
        }
    }
    Ok(format!("{checked}{}", used.join(", ")))
}

fn read_npy(path: &Path) -> Result<Tensor, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let npy = npyz::NpyFile::new(&bytes[..]).map_err(|e| e.to_string())?;
    let shape: Vec<usize> = npy.shape().iter().map(|d| *d as usize).collect();
    fn array<T: npyz::Deserialize + Datum>(npy: npyz::NpyFile<&[u8]>, shape: &[usize]) -> Tensor {
        tract_ndarray::ArrayD::from_shape_vec(shape, npy.into_vec::<T>().unwrap())
            .unwrap()
            .into_tensor()
    }
    Ok(match npy.dtype().descr().as_str() {
        "'<f4'" => array::<f32>(npy, &shape),
        "'<f8'" => array::<f64>(npy, &shape),
        "'<i8'" => array::<i64>(npy, &shape),
        "'<i4'" => array::<i32>(npy, &shape),
        "'|u1'" => array::<u8>(npy, &shape),
        "'|b1'" => array::<bool>(npy, &shape),
        other => return Err(format!("{}: dtype {other}", path.display())),
    })
}

/// Runs the optimized model on the case's stored inputs, against onnxruntime's outputs.
fn run_case(path: &Path, model: TypedModel) -> Result<String, String> {
    let dir = path.parent().unwrap();
    let case: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("case.json")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let names: Vec<String> = model
        .input_outlets()
        .map_err(|e| e.to_string())?
        .iter()
        .map(|o| model.node(o.node).name.clone())
        .collect();
    let mut inputs = tvec![];
    for name in &names {
        let input = case["inputs"]
            .as_array()
            .and_then(|a| a.iter().find(|i| i["name"] == name.as_str()))
            .ok_or(format!("no stored input {name}"))?;
        inputs.push(read_npy(&dir.join(input["file"].as_str().unwrap()))?.into_tvalue());
    }
    let plan = model.into_runnable().map_err(|e| format!("{e:#}"))?;
    let outputs = plan.run(inputs).map_err(|e| format!("running: {e:#}"))?;
    let (atol, rtol) = (
        case["atol"].as_f64().unwrap_or(1e-4),
        case["rtol"].as_f64().unwrap_or(1e-4),
    );
    let mut worst = 0f64;
    for (got, want) in outputs.iter().zip(case["outputs"].as_array().unwrap()) {
        let want = read_npy(&dir.join(want["file"].as_str().unwrap()))?;
        let got = got.cast_to::<f64>().map_err(|e| e.to_string())?;
        let want = want.cast_to::<f64>().map_err(|e| e.to_string())?;
        let (got, want) = (
            got.try_as_plain_ram()
                .unwrap()
                .as_slice::<f64>()
                .unwrap()
                .to_vec(),
            want.try_as_plain_ram()
                .unwrap()
                .as_slice::<f64>()
                .unwrap()
                .to_vec(),
        );
        if got.len() != want.len() {
            return Err(format!("{} values, onnxruntime {}", got.len(), want.len()));
        }
        for (g, w) in got.iter().zip(&want) {
            let err = (g - w).abs();
            if err > atol + rtol * w.abs() {
                return Err(format!("output {g}, onnxruntime {w}"));
            }
            worst = worst.max(err);
        }
    }
    Ok(format!("matches onnxruntime (max abs error {worst:.1e}) "))
}

#[test]
#[ignore]
fn corpus_nnef_round_trips() {
    let corpus = corpus_dir();
    let only: Option<Vec<String>> = std::env::var("EDGEINFER_ONLY")
        .ok()
        .map(|s| s.split(',').map(str::to_string).collect());
    let mut names: Vec<String> = std::fs::read_dir(&corpus)
        .unwrap_or_else(|e| panic!("{}: {e} (models/corpus/fetch)", corpus.display()))
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("model.onnx").exists())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| only.as_ref().is_none_or(|o| o.contains(n)))
        .collect();
    names.sort();
    let mut failed = 0;
    for name in &names {
        let path = corpus.join(name).join("model.onnx");
        let t = std::time::Instant::now();
        let result = std::panic::catch_unwind(|| round_trip(&path))
            .unwrap_or_else(|_| Err("panic".to_string()));
        match result {
            Ok(used) => println!("ok   {name} ({:.1} s) {used}", t.elapsed().as_secs_f32()),
            Err(e) => {
                failed += 1;
                let e: String = e.chars().take(600).collect();
                println!("FAIL {name}: {e}");
            }
        }
    }
    println!("{failed} of {} fail", names.len());
}
