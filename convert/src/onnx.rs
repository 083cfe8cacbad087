//! ONNX -> NNEF, natively with tract-onnx: the translate-time half of the pipeline. The
//! guest only ever sees NNEF, so the protobuf parser stays out of the component.

use crate::shapes::{self, ShapeRequest};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::Path;
use tract_onnx::WithOnnx;
use tract_onnx::pb;
use tract_onnx::prelude::*;

/// A model ready for the guest.
pub struct Converted {
    pub nnef: Vec<u8>,
    /// ONNX input and output names, in graph order.
    pub input_names: Vec<String>,
    pub output_names: Vec<String>,
    /// The ONNX `metadata_props` (labels, character dictionaries...) and producer.
    pub properties: BTreeMap<String, String>,
    /// What pack did to the graph that the user should know (named dims, casts...).
    pub notes: Vec<String>,
    /// The symbols that are whole dims of some input, as the guest will see them (what
    /// `--specialize` may fix).
    pub free_dims: Vec<String>,
}

/// Reads, analyses and converts an ONNX model.
pub fn onnx_to_nnef(path: &Path, request: &ShapeRequest) -> Result<Converted> {
    crate::guard::guarded("tract, converting the model,", || convert(path, request))
}

fn convert(path: &Path, request: &ShapeRequest) -> Result<Converted> {
    check_is_onnx_file(path)?;
    let mut proto = tract_onnx::onnx()
        .proto_model_for_path(path)
        .map_err(|e| anyhow::anyhow!("{e:#}"))
        .with_context(|| format!("{} is not an ONNX model tract can read", path.display()))?;
    let baked = crate::values::bake_inputs(&mut proto, &request.values)?;
    let graph = proto
        .graph
        .as_ref()
        .with_context(|| format!("{} holds no graph", path.display()))?;
    check_tensor_io(graph)?;

    // External weights (`model.onnx.data`) are found relative to the model's directory.
    let model_dir = path.parent().map(|d| d.to_string_lossy().into_owned());
    let (typed, mut notes) = analyse(&proto, model_dir.as_deref(), graph, request)?;
    notes.splice(0..0, baked);
    let (mut typed, input_names, output_names) = typed;
    notes.extend(interface_types(&mut typed, &output_names)?);
    notes.extend(free_dims_cost(&typed, &input_names)?);
    // The ONNX properties travel in the pack manifest; tract would otherwise write them into
    // the NNEF text, whose string syntax cannot hold every dictionary (quotes, newlines).
    typed.properties.clear();

    let nnef_framework = nnef();
    let mut nnef = Vec::new();
    nnef_framework
        // Deterministic: a fixed tar timestamp, so the same model packs to the same bytes.
        .write_to_tar_with_config(&typed, &mut nnef, false, true)
        .map_err(|e| anyhow::anyhow!("{e:#}"))
        .context("the model uses an operator that cannot be serialized to NNEF")?;
    drop(typed);

    // Load it back and optimize, as the guest will, so a failure shows here, natively.
    let reloaded = nnef_framework
        .model_for_read(&mut &nnef[..])
        .and_then(|mut m| {
            edgeinfer_ops::repair_reloaded(&mut m)?;
            edgeinfer_ops::optimize(m)
        })
        .map_err(|e| anyhow::anyhow!("{e:#}"))
        .context("the NNEF form of this model does not load back into tract")?;
    if reloaded.input_outlets()?.len() != input_names.len() {
        bail!("the NNEF form of this model lost inputs");
    }
    let mut free_dims = vec![];
    for outlet in reloaded.input_outlets()? {
        for dim in reloaded.outlet_fact(*outlet)?.shape.iter() {
            if let TDim::Sym(symbol) = dim {
                free_dims.push(symbol.to_string());
            }
        }
    }
    free_dims.sort();
    free_dims.dedup();
    Ok(Converted {
        nnef,
        input_names,
        output_names,
        properties: properties(&proto),
        notes,
        free_dims,
    })
}

type Analysed = (TypedModel, Vec<String>, Vec<String>);

/// Parses the graph and runs tract's analysis. Exports often declare intermediate and output
/// shapes with their own symbols (`batch`, `DynamicDimension.3`) that contradict fixed inputs
/// or what tract infers, so when the declared shapes get in the way the analysis runs again
/// from the inputs alone. With fixed dims that is tried first.
fn analyse(
    proto: &pb::ModelProto,
    model_dir: Option<&str>,
    graph: &pb::GraphProto,
    request: &ShapeRequest,
) -> Result<(Analysed, Vec<String>)> {
    let declared_first = request.is_empty();
    let attempts = if declared_first {
        [false, true]
    } else {
        [true, false]
    };
    let mut failure = None;
    for ignore_declared in attempts {
        let onnx = onnx()
            .with_ignore_value_info(ignore_declared)
            .with_ignore_output_shapes(ignore_declared);
        let parsed = onnx
            .parse(proto, model_dir.or(Some(".")))
            .map_err(|e| anyhow::anyhow!("{e:#}"))
            .context("tract could not read this ONNX graph")?;
        if !parsed.unresolved_inputs.is_empty() {
            bail!(
                "the ONNX graph uses values nothing defines: {}",
                parsed.unresolved_inputs.join(", ")
            );
        }
        let mut model = parsed.model;
        let input_names = node_names(&model, model.input_outlets()?);
        let output_names: Vec<String> = model
            .output_outlets()?
            .iter()
            .map(|o| {
                model
                    .outlet_label(*o)
                    .unwrap_or(&model.node(o.node).name)
                    .to_string()
            })
            .collect();
        let notes = shapes::name_anonymous_dims(&mut model, graph, &input_names, request)?;
        shapes::apply(&mut model, &input_names, request)?;
        let hint = shapes::free_dims_hint(&model, &input_names)?;
        match model.into_typed().and_then(|m| m.into_decluttered()) {
            Ok(typed) => return Ok(((typed, input_names, output_names), notes)),
            // The analysis from the inputs alone is the one whose error means something.
            Err(e) if ignore_declared || failure.is_none() => {
                failure = Some((format!("{e:#}"), hint, input_names));
            }
            Err(_) => {}
        }
    }
    let (error, hint, input_names) = failure.expect("at least one attempt ran");
    let advice = match hint {
        Some(hint) => hint,
        None => format!(
            "no input dim is free, so an operator or its attributes are the cause (inputs: {})",
            input_names.join(", ")
        ),
    };
    bail!("tract could not analyse this model: {error}; {advice}")
}

fn node_names(model: &InferenceModel, outlets: &[OutletId]) -> Vec<String> {
    outlets
        .iter()
        .map(|o| model.node(o.node).name.clone())
        .collect()
}

/// The mistakes a protobuf error would only hint at: an empty file, a WebAssembly file.
fn check_is_onnx_file(path: &Path) -> Result<()> {
    use std::io::Read;
    let mut head = [0u8; 4];
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let n = file.read(&mut head)?;
    if n == 0 {
        bail!("{} is empty, not an ONNX model", path.display());
    }
    if head == *b"\0asm" {
        bail!(
            "{} is WebAssembly, not an ONNX model: pack takes the .onnx file a model was \
             exported to",
            path.display()
        );
    }
    Ok(())
}

/// Refuses graph inputs and outputs that are not tensors (ZipMap's sequence of maps,
/// sequences, optionals): no tensor interface carries them.
fn check_tensor_io(graph: &pb::GraphProto) -> Result<()> {
    let is_tensor = |info: &pb::ValueInfoProto| {
        // tract's protobuf schema only knows tensor types: any other type decodes to None.
        info.r#type.as_ref().is_none_or(|t| t.value.is_some())
    };
    for output in &graph.output {
        let producer = graph.node.iter().find(|n| n.output.contains(&output.name));
        if let Some(node) = producer.filter(|n| n.op_type == "ZipMap") {
            bail!(
                "output `{}` is a sequence of maps made by ZipMap node `{}`, which no tensor \
                 interface can carry: export the classifier without it, with \
                 `options={{'zipmap': False}}` in skl2onnx or `zipmap=False` in onnxmltools \
                 (the probabilities then come as a [N, classes] tensor)",
                output.name,
                node.name
            );
        }
        if !is_tensor(output) {
            bail!(
                "output `{}` is not a tensor (a sequence, map or optional value), which no \
                 tensor interface can carry; export the model so that it returns tensors",
                output.name
            );
        }
    }
    if let Some(input) = graph.input.iter().find(|i| !is_tensor(i)) {
        bail!(
            "input `{}` is not a tensor (a sequence, map or optional value), which no tensor \
             interface can carry",
            input.name
        );
    }
    Ok(())
}

/// Makes the outputs carry interface types: tract's symbolic-dimension integers (TDim, from
/// shape arithmetic that ends in an output) become i64, which is what ONNX declared.
/// Strings and other types with no interface form are refused by name.
fn interface_types(model: &mut TypedModel, output_names: &[String]) -> Result<Vec<String>> {
    let mut notes = vec![];
    let mut outputs = model.output_outlets()?.to_vec();
    for (ix, outlet) in outputs.iter_mut().enumerate() {
        let name = output_names.get(ix).map(String::as_str).unwrap_or("?");
        let dt = model.outlet_fact(*outlet)?.datum_type;
        if dt == TDim::datum_type() {
            *outlet = model.wire_node(
                format!("edgeinfer.output_{ix}_as_i64"),
                tract_onnx::tract_core::ops::cast::cast(i64::datum_type()),
                &[*outlet],
            )?[0];
            notes.push(format!(
                "output `{name}`: computed from shapes, cast to i64"
            ));
        } else if edgeinfer_protocol::tract::from_datum_type(dt).is_none() {
            bail!(
                "output `{name}` has element type {dt:?}, which no interface carries{}",
                if dt == String::datum_type() {
                    " (string class labels: train or export the classifier with integer labels)"
                } else {
                    ""
                }
            );
        }
    }
    for (ix, outlet) in model.input_outlets()?.iter().enumerate() {
        let dt = model.outlet_fact(*outlet)?.datum_type;
        if edgeinfer_protocol::tract::from_datum_type(dt).is_none() {
            bail!(
                "input #{ix} (`{}`) has element type {dt:?}, which no interface carries",
                model.node(outlet.node).name
            );
        }
    }
    model.select_output_outlets(&outputs)?;
    Ok(notes)
}

/// tract optimizes a convolutional network with a free dimension less well (no depthwise
/// kernels, fewer fusions: 2-4x slower on MobileNet-class models), so pack says so when it
/// keeps one, and what its specialized plan (`PackManifest::specialize`) does about it.
fn free_dims_cost(model: &TypedModel, input_names: &[String]) -> Result<Option<String>> {
    let has_conv = model.nodes().iter().any(|n| n.op.name().contains("Conv"));
    let mut free = vec![];
    for (ix, outlet) in model.input_outlets()?.iter().enumerate() {
        let shape = &model.outlet_fact(*outlet)?.shape;
        if shape.iter().any(|d| d.to_i64().is_err()) {
            free.push(format!("{} [{shape:?}]", input_names[ix]));
        }
    }
    if !has_conv || free.is_empty() {
        return Ok(None);
    }
    Ok(Some(format!(
        "free dims kept ({}): each call may pick their sizes. When the batch is the only free \
         dim, calls at batch 1 run on a second plan pack optimizes for that shape (or calls at \
         the sizes given to --specialize); other calls run on the symbolic plan, which tract \
         runs 2-4x slower. If you feed one shape, fix it with --input-shape",
        free.join("; ")
    )))
}

/// The ONNX `metadata_props` as they are, plus who produced the model.
fn properties(proto: &pb::ModelProto) -> BTreeMap<String, String> {
    let mut properties: BTreeMap<String, String> = proto
        .metadata_props
        .iter()
        .map(|p| (p.key.clone(), p.value.clone()))
        .collect();
    if !proto.producer_name.is_empty() {
        let producer = format!("{} {}", proto.producer_name, proto.producer_version);
        properties
            .entry("onnx.producer".into())
            .or_insert_with(|| producer.trim().to_string());
    }
    properties
}

/// The ONNX framework with the operators edgeinfer adds (`edgeinfer-ops`: ai.onnx.ml).
fn onnx() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    edgeinfer_ops::register_onnx(&mut onnx);
    onnx
}

/// The NNEF framework with the tract extensions the guest registers, no more, no less.
pub fn nnef() -> tract_nnef::framework::Nnef {
    let mut nnef = tract_nnef::nnef().with_onnx();
    nnef.allow_extended_identifier_syntax(true);
    edgeinfer_ops::register_nnef(&mut nnef);
    nnef
}
