//! `--input-value`: an input becomes an initializer of the same name, in the ONNX graph itself,
//! so tract sees a constant (and folds an `If` on a sample rate, say) and the input leaves the
//! packed model's interface.

use crate::shapes::InputValue;
use anyhow::{Result, bail};
use tract_onnx::pb;

pub(super) fn bake_inputs(
    proto: &mut pb::ModelProto,
    values: &[InputValue],
) -> Result<Vec<String>> {
    let Some(graph) = proto.graph.as_mut() else {
        return Ok(vec![]);
    };
    let mut notes = vec![];
    for value in values {
        let names: Vec<&str> = graph
            .input
            .iter()
            .filter(|i| !graph.initializer.iter().any(|t| t.name == i.name))
            .map(|i| i.name.as_str())
            .collect();
        let Some(ix) = graph.input.iter().position(|i| i.name == value.name) else {
            bail!(
                "--input-value {}: the model has no input `{}` (inputs: {})",
                value.name,
                value.name,
                names.join(", ")
            );
        };
        let input = graph.input.remove(ix);
        let Some(pb::type_proto::Value::TensorType(t)) = input.r#type.and_then(|t| t.value) else {
            bail!("--input-value {}: the input is not a tensor", value.name);
        };
        let dims = declared_dims(&t, value)?;
        let tensor = tensor_proto(&value.name, t.elem_type, dims, &value.values)?;
        graph.initializer.retain(|i| i.name != value.name);
        graph.initializer.push(tensor);
        notes.push(format!(
            "input `{}` baked in as {:?}: it is no longer an input",
            value.name, value.values
        ));
    }
    Ok(notes)
}

/// The tensor's dims: the declared ones when all are fixed (the count must match), else a
/// vector of the values given (a scalar for one value declared with rank 0).
fn declared_dims(t: &pb::type_proto::Tensor, value: &InputValue) -> Result<Vec<i64>> {
    use pb::tensor_shape_proto::dimension::Value;
    let declared: Option<Vec<i64>> = t.shape.as_ref().map(|s| {
        s.dim
            .iter()
            .map(|d| match d.value {
                Some(Value::DimValue(v)) if v >= 0 => v,
                _ => -1,
            })
            .collect()
    });
    match declared {
        Some(dims) if dims.iter().all(|&d| d >= 0) => {
            let count: i64 = dims.iter().product();
            if count as usize != value.values.len() {
                bail!(
                    "--input-value {}: {} value(s) given, the input is declared {dims:?} ({count})",
                    value.name,
                    value.values.len()
                );
            }
            Ok(dims)
        }
        Some(dims) if dims.is_empty() => Ok(vec![]),
        _ => Ok(vec![value.values.len() as i64]),
    }
}

fn tensor_proto(
    name: &str,
    elem_type: i32,
    dims: Vec<i64>,
    values: &[f64],
) -> Result<pb::TensorProto> {
    use pb::tensor_proto::DataType;
    let ty = DataType::try_from(elem_type).ok();
    let raw: Vec<u8> = match ty {
        Some(DataType::Float) => values
            .iter()
            .flat_map(|&v| (v as f32).to_le_bytes())
            .collect(),
        Some(DataType::Double) => values.iter().flat_map(|&v| v.to_le_bytes()).collect(),
        Some(DataType::Int64) => integers(name, values)?
            .iter()
            .flat_map(|&v| v.to_le_bytes())
            .collect(),
        Some(DataType::Int32) => integers(name, values)?
            .iter()
            .flat_map(|&v| (v as i32).to_le_bytes())
            .collect(),
        Some(DataType::Int8 | DataType::Uint8 | DataType::Bool) => {
            integers(name, values)?.iter().map(|&v| v as u8).collect()
        }
        _ => bail!("--input-value {name}: inputs of ONNX element type {elem_type} cannot be baked"),
    };
    Ok(pb::TensorProto {
        name: name.to_string(),
        dims,
        data_type: elem_type,
        raw_data: raw,
        ..Default::default()
    })
}

fn integers(name: &str, values: &[f64]) -> Result<Vec<i64>> {
    values
        .iter()
        .map(|&v| {
            if v.fract() != 0.0 {
                bail!("--input-value {name}: {v} is not an integer, the input's type is");
            }
            Ok(v as i64)
        })
        .collect()
}
