//! ONNX -> NNEF, natively with tract-onnx: the translate-time half of the pipeline. The
//! guest only ever sees NNEF, so the protobuf parser stays out of the component.

use anyhow::{Context, Result, bail};
use std::path::Path;
use tract_onnx::WithOnnx;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

/// A model ready for the guest.
pub struct Converted {
    pub nnef: Vec<u8>,
    /// ONNX input and output names, in graph order.
    pub input_names: Vec<String>,
    pub output_names: Vec<String>,
}

/// `--input-shape name=1,3,H,W`: fixes (or renames) the dims of one input. Numbers fix a
/// dimension; names keep it free under that symbol.
#[derive(Clone, Debug, PartialEq)]
pub struct InputShape {
    pub name: String,
    pub dims: Vec<String>,
}

impl std::str::FromStr for InputShape {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, dims) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}`: expected name=d1,d2,... (e.g. x=1,3,224,224)"))?;
        let dims: Vec<String> = dims.split(',').map(|d| d.trim().to_string()).collect();
        if name.is_empty() || dims.iter().any(String::is_empty) {
            return Err(format!(
                "`{s}`: expected name=d1,d2,... (e.g. x=1,3,224,224)"
            ));
        }
        Ok(InputShape {
            name: name.to_string(),
            dims,
        })
    }
}

pub fn onnx_to_nnef(path: &Path, shapes: &[InputShape]) -> Result<Converted> {
    let mut onnx = tract_onnx::onnx();
    edgeinfer_ops::register_onnx(&mut onnx);
    let mut model = onnx
        .model_for_path(path)
        .map_err(|e| anyhow::anyhow!("{e:#}"))
        .with_context(|| format!("{} is not an ONNX model tract can read", path.display()))?;

    let input_names: Vec<String> = model
        .input_outlets()?
        .iter()
        .map(|o| model.node(o.node).name.clone())
        .collect();
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

    for shape in shapes {
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
        let dt = model
            .input_fact(ix)?
            .datum_type
            .concretize()
            .unwrap_or(f32::datum_type());
        let dims = shape
            .dims
            .iter()
            .map(|d| model.symbols.parse_tdim(d))
            .collect::<TractResult<Vec<TDim>>>()
            .map_err(|e| anyhow::anyhow!("--input-shape {}: {e}", shape.name))?;
        model.set_input_fact(ix, InferenceFact::dt_shape(dt, dims))?;
    }

    let typed = model
        .into_typed()
        .and_then(|m| m.into_decluttered())
        .map_err(|e| anyhow::anyhow!("{e:#}"))
        .with_context(|| {
            format!(
                "tract could not analyse this model (an operator it does not support, or free \
                 dimensions it cannot reason about: fix those with --input-shape, e.g. \
                 --input-shape {}=1,3,224,224)",
                input_names.first().map(String::as_str).unwrap_or("input")
            )
        })?;

    let nnef_framework = nnef();
    let mut nnef = Vec::new();
    nnef_framework
        // Deterministic: a fixed tar timestamp, so the same model packs to the same bytes.
        .write_to_tar_with_config(&typed, &mut nnef, false, true)
        .map_err(|e| anyhow::anyhow!("{e:#}"))
        .context("the model uses an operator that cannot be serialized to NNEF")?;

    // Load it back and optimize, as the guest will, so a failure shows here, natively.
    let reloaded = nnef_framework
        .model_for_read(&mut &nnef[..])
        .and_then(|m| m.into_optimized())
        .map_err(|e| anyhow::anyhow!("{e:#}"))
        .context("the NNEF form of this model does not load back into tract")?;
    if reloaded.input_outlets()?.len() != input_names.len() {
        bail!("the NNEF form of this model lost inputs");
    }
    Ok(Converted {
        nnef,
        input_names,
        output_names,
    })
}

/// The NNEF framework with the tract extensions the guest registers, no more, no less.
pub fn nnef() -> tract_nnef::framework::Nnef {
    let mut nnef = tract_nnef::nnef().with_onnx();
    nnef.allow_extended_identifier_syntax(true);
    edgeinfer_ops::register_nnef(&mut nnef);
    nnef
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
}
