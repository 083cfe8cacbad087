//! Input shapes at pack time: naming the dims an export left anonymous, fixing dims the user
//! asks for (`--input-shape`, `--dim`), and explaining free dims when tract cannot analyse
//! them.

use anyhow::{Context, Result, bail};
use std::collections::BTreeSet;
use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::{Factoid, GenericFactoid};

/// `--input-shape name=1,3,H,W`: sets every dim of one input. Numbers fix a dimension; names
/// keep it free under that symbol.
#[derive(Clone, Debug, PartialEq)]
pub struct InputShape {
    pub name: String,
    pub dims: Vec<String>,
}

impl std::str::FromStr for InputShape {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let usage = || format!("`{s}`: expected name=d1,d2,... (e.g. x=1,3,224,224)");
        let (name, dims) = s.split_once('=').ok_or_else(usage)?;
        let dims: Vec<String> = dims.split(',').map(|d| d.trim().to_string()).collect();
        if name.is_empty() || dims.iter().any(String::is_empty) {
            return Err(usage());
        }
        Ok(InputShape {
            name: name.to_string(),
            dims,
        })
    }
}

/// `--dim height=320`: gives one free dimension a value wherever it appears; the other free
/// dims stay free.
#[derive(Clone, Debug, PartialEq)]
pub struct DimValue {
    pub name: String,
    pub value: u64,
}

impl std::str::FromStr for DimValue {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let usage = || format!("`{s}`: expected SYMBOL=SIZE (e.g. height=320)");
        let (name, value) = s.split_once('=').ok_or_else(usage)?;
        let value = value.trim().parse().map_err(|_| usage())?;
        if name.trim().is_empty() {
            return Err(usage());
        }
        Ok(DimValue {
            name: name.trim().to_string(),
            value,
        })
    }
}

/// `--input-value sr=16000`: bakes an input's value into the model (a sample rate, a
/// threshold: configuration a deployment never changes); the input leaves the interface and
/// tract folds what depends on it (an `If` on the sample rate, say).
#[derive(Clone, Debug, PartialEq)]
pub struct InputValue {
    pub name: String,
    /// The values, row-major; a single value for a scalar input.
    pub values: Vec<f64>,
}

impl std::str::FromStr for InputValue {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let usage = || format!("`{s}`: expected NAME=VALUE[,VALUE...] (e.g. sr=16000)");
        let (name, values) = s.split_once('=').ok_or_else(usage)?;
        let values = values
            .split(',')
            .map(|v| v.trim().parse::<f64>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| usage())?;
        if name.is_empty() {
            return Err(usage());
        }
        Ok(InputValue {
            name: name.to_string(),
            values,
        })
    }
}

/// What the user asked pack to do with the inputs before tract analyses the model.
#[derive(Clone, Debug, Default)]
pub struct ShapeRequest {
    pub input_shapes: Vec<InputShape>,
    pub dims: Vec<DimValue>,
    pub values: Vec<InputValue>,
}

impl ShapeRequest {
    /// Nothing fixed: the model is analysed as declared first.
    pub fn is_empty(&self) -> bool {
        self.input_shapes.is_empty() && self.dims.is_empty() && self.values.is_empty()
    }
}

/// Name of the symbol given to an anonymous first dimension: the batch, by convention.
pub const BATCH_SYMBOL: &str = "N";

/// Gives every dim that has neither a value nor a usable name a symbol, so tract can reason
/// about it: the first axis becomes `N` (a batch, by convention); another axis keeps its ONNX
/// `dim_param` made into an identifier (`DynamicDimension.1` -> `DynamicDimension_1`) or
/// becomes `d<axis>`. Returns what it named, for the pack notes.
pub(super) fn name_anonymous_dims(
    model: &mut InferenceModel,
    graph: &pb::GraphProto,
    input_names: &[String],
    request: &ShapeRequest,
) -> Result<Vec<String>> {
    let mut notes = vec![];
    for (ix, name) in input_names.iter().enumerate() {
        // `--input-shape` sets this input's every dim: nothing to name.
        if request.input_shapes.iter().any(|s| &s.name == name) {
            continue;
        }
        let mut fact = model.input_fact(ix)?.clone();
        if fact.shape.is_open() {
            continue;
        }
        let declared = declared_dim_params(graph, name);
        let mut dims: TVec<TDim> = tvec![];
        let mut renamed = vec![];
        for (axis, dim) in fact.shape.dims().enumerate() {
            match dim {
                GenericFactoid::Only(d) if !is_placeholder(d) => dims.push(d.clone()),
                _ => {
                    // A declared name means the same dim wherever it appears (ONNX's rule), an
                    // anonymous one is its own dim.
                    let declared = declared
                        .get(axis)
                        .and_then(|p| p.as_deref())
                        .map(identifier)
                        .filter(|p| p != "_" && !p.starts_with("unk__"));
                    let symbol = match declared {
                        _ if axis == 0 => model.symbols.sym(BATCH_SYMBOL),
                        Some(declared) => model.symbols.sym(&declared),
                        None => model.symbols.new_with_prefix(&format!("d{axis}")),
                    };
                    renamed.push(format!("axis {axis} -> {symbol}"));
                    dims.push(TDim::Sym(symbol));
                }
            }
        }
        if renamed.is_empty() {
            continue;
        }
        fact.shape = dims.into_iter().collect();
        model.set_input_fact(ix, fact)?;
        notes.push(format!(
            "input `{name}`: unnamed dims made free symbols ({})",
            renamed.join(", ")
        ));
    }
    Ok(notes)
}

/// tf2onnx names every unknown dim `unk__<n>`, a different name for each, even for the batch
/// that several inputs share: a placeholder, not a name.
fn is_placeholder(dim: &TDim) -> bool {
    matches!(dim, TDim::Sym(s) if s.to_string().starts_with("unk__"))
}

/// The `dim_param` of each axis of a graph input, as declared (None for a fixed dim).
fn declared_dim_params(graph: &pb::GraphProto, input: &str) -> Vec<Option<String>> {
    use pb::tensor_shape_proto::dimension::Value;
    let Some(info) = graph.input.iter().find(|i| i.name == input) else {
        return vec![];
    };
    let Some(pb::type_proto::Value::TensorType(t)) =
        info.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return vec![];
    };
    t.shape
        .iter()
        .flat_map(|s| &s.dim)
        .map(|d| match &d.value {
            Some(Value::DimParam(p)) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

/// `DynamicDimension.1` -> `DynamicDimension_1`: symbol names must be identifiers.
fn identifier(s: &str) -> String {
    let mut id: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if id.is_empty() || id.starts_with(|c: char| c.is_ascii_digit()) {
        id.insert(0, '_');
    }
    id
}

/// Applies `--input-shape` and `--dim` to the model's input facts.
pub(super) fn apply(
    model: &mut InferenceModel,
    input_names: &[String],
    request: &ShapeRequest,
) -> Result<()> {
    for shape in &request.input_shapes {
        let ix = input_names
            .iter()
            .position(|n| *n == shape.name)
            .with_context(|| {
                format!(
                    "--input-shape: the model has no input `{}` (inputs: {})",
                    shape.name,
                    input_names.join(", ")
                )
            })?;
        let fact = model.input_fact(ix)?;
        let dt = fact.datum_type.concretize().unwrap_or(f32::datum_type());
        if let Some(rank) = fact.shape.rank().concretize()
            && rank as usize != shape.dims.len()
        {
            bail!(
                "--input-shape {}: {} dims given, the input has rank {rank} ({})",
                shape.name,
                shape.dims.len(),
                describe_fact(fact)
            );
        }
        let dims = shape
            .dims
            .iter()
            .map(|d| model.symbols.parse_tdim(d))
            .collect::<TractResult<Vec<TDim>>>()
            .map_err(|e| anyhow::anyhow!("--input-shape {}: {e}", shape.name))?;
        model.set_input_fact(ix, InferenceFact::dt_shape(dt, dims))?;
    }

    for dim in &request.dims {
        let known = free_symbols(model, input_names)?;
        if !known.contains(&dim.name) {
            let hint = if known.is_empty() {
                "the inputs have no free dimensions".to_string()
            } else {
                format!(
                    "free dimensions of the inputs: {}",
                    known.iter().cloned().collect::<Vec<_>>().join(", ")
                )
            };
            bail!(
                "--dim {}: no input has a free dimension `{}` ({hint})",
                dim.name,
                dim.name
            );
        }
        let symbol = model.symbols.sym(&dim.name);
        let value = TDim::Val(dim.value as i64);
        for ix in 0..input_names.len() {
            let mut fact = model.input_fact(ix)?.clone();
            if fact.shape.is_open() {
                continue;
            }
            let dims = fact
                .shape
                .dims()
                .map(|d| match d {
                    GenericFactoid::Only(d) => {
                        Ok(GenericFactoid::Only(d.substitute(&symbol, &value)?))
                    }
                    GenericFactoid::Any => Ok(GenericFactoid::Any),
                })
                .collect::<TractResult<TVec<_>>>()?;
            fact.shape = tract_onnx::tract_hir::infer::ShapeFactoid::closed(dims);
            model.set_input_fact(ix, fact)?;
        }
    }
    Ok(())
}

/// The symbols appearing in the inputs' declared shapes.
pub(super) fn free_symbols(
    model: &InferenceModel,
    input_names: &[String],
) -> Result<BTreeSet<String>> {
    let mut symbols = BTreeSet::new();
    for ix in 0..input_names.len() {
        for dim in model.input_fact(ix)?.shape.dims() {
            if let GenericFactoid::Only(d) = dim {
                symbols.extend(d.symbols().iter().map(|s| s.to_string()));
            }
        }
    }
    Ok(symbols)
}

/// `[N,3,height,width]`, `[?,16]`, or `[..]` for an unknown rank.
pub(super) fn describe_fact(fact: &InferenceFact) -> String {
    if fact.shape.is_open() {
        return "[..]".into();
    }
    let dims: Vec<String> = fact
        .shape
        .dims()
        .map(|d| match d {
            GenericFactoid::Only(d) => d.to_string(),
            GenericFactoid::Any => "?".into(),
        })
        .collect();
    format!("[{}]", dims.join(","))
}

/// When analysis failed on a model with free input dims: which ones there are, and flags to
/// paste that fix them (the non-batch ones first, keeping the batch free). One line, as every
/// CLI error.
pub(super) fn free_dims_hint(
    model: &InferenceModel,
    input_names: &[String],
) -> Result<Option<String>> {
    let symbols = free_symbols(model, input_names)?;
    if symbols.is_empty() {
        return Ok(None);
    }
    let mut shapes = vec![];
    let mut keep_batch = vec![];
    let mut whole = vec![];
    for (ix, name) in input_names.iter().enumerate() {
        let fact = model.input_fact(ix)?;
        shapes.push(format!("{name} {}", describe_fact(fact)));
        if fact.shape.is_open() {
            continue;
        }
        let rank = fact.shape.dims().count();
        let mut dims = vec![];
        for (axis, dim) in fact.shape.dims().enumerate() {
            let example = example_size(axis, rank);
            match dim {
                GenericFactoid::Only(d) if d.to_i64().is_ok() => dims.push(d.to_string()),
                GenericFactoid::Only(TDim::Sym(s)) => {
                    let flag = format!("--dim {s}={example}");
                    if axis > 0 && !keep_batch.contains(&flag) {
                        keep_batch.push(flag);
                    }
                    dims.push(example.to_string());
                }
                _ => dims.push(example.to_string()),
            }
        }
        whole.push(format!("--input-shape {name}={}", dims.join(",")));
    }
    let mut advice = format!(
        "the inputs have free dimensions ({}): {}; fix them to the sizes you will feed, e.g. \
         `{}`",
        symbols.iter().cloned().collect::<Vec<_>>().join(", "),
        shapes.join(", "),
        whole.join(" ")
    );
    if !keep_batch.is_empty() {
        advice += &format!(
            ", or only the ones tract cannot reason about, e.g. `{}` (the batch stays free; \
             plans with free dims run slower)",
            keep_batch.join(" ")
        );
    }
    Ok(Some(advice))
}

/// A plausible size for an example flag: 1 for a batch, 640 for an image's height and width
/// (a multiple of every usual stride), 16 otherwise.
fn example_size(axis: usize, rank: usize) -> u64 {
    match (axis, rank) {
        (0, _) => 1,
        (2 | 3, 4) => 640,
        _ => 16,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_input_shapes() {
        let s: InputShape = "x=1,3,H,W".parse().unwrap();
        assert_eq!(s.name, "x");
        assert_eq!(s.dims, ["1", "3", "H", "W"]);
        assert!("x".parse::<InputShape>().is_err());
        assert!("x=1,,2".parse::<InputShape>().is_err());
        assert!("=1".parse::<InputShape>().is_err());
    }

    #[test]
    fn parses_dims() {
        let d: DimValue = "height=320".parse().unwrap();
        assert_eq!((d.name.as_str(), d.value), ("height", 320));
        assert!("height".parse::<DimValue>().is_err());
        assert!("height=-1".parse::<DimValue>().is_err());
        assert!("=3".parse::<DimValue>().is_err());
    }

    #[test]
    fn makes_identifiers() {
        assert_eq!(identifier("DynamicDimension.1"), "DynamicDimension_1");
        assert_eq!(identifier("1x"), "_1x");
        assert_eq!(identifier("batch"), "batch");
    }
}
