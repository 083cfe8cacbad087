//! Tensors crossing the engine's boundary: validation against the model's declared inputs and
//! conversion to and from tract tensors. Every bad input becomes a typed error, never a trap.

use crate::types::{Dimension, Error, ErrorCode, NamedTensor, Tensor as WitTensor};
use edgeinfer_protocol::DType;
pub(crate) use edgeinfer_protocol::tract::{from_datum_type, to_datum_type};
use std::collections::BTreeMap;
use tract_nnef::internal::*;

/// A declared input or output.
pub(crate) struct IoSpec {
    pub(crate) name: String,
    pub(crate) dtype: DType,
    pub(crate) shape: Vec<Dimension>,
}

fn invalid(message: String) -> Error {
    Error::new(ErrorCode::InvalidArgument, message)
}

fn shape_string(shape: &[Dimension]) -> String {
    let dims: Vec<String> = shape
        .iter()
        .map(|d| match d {
            Dimension::Fixed(n) => n.to_string(),
            Dimension::Free(s) => s.clone(),
        })
        .collect();
    format!("[{}]", dims.join(","))
}

/// Checks the given tensors against the declared inputs (every input exactly once, dtype,
/// rank, fixed dims, consistent free dims, byte length) and returns them in model order.
pub(crate) fn validate_inputs(
    specs: &[IoSpec],
    given: Vec<NamedTensor>,
) -> Result<TVec<TValue>, Error> {
    let mut by_name: BTreeMap<String, WitTensor> = BTreeMap::new();
    for NamedTensor { name, tensor } in given {
        if !specs.iter().any(|s| s.name == name) {
            let known: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            return Err(Error::new(
                ErrorCode::NotFound,
                format!(
                    "unknown input `{name}`; the model's inputs are: {}",
                    known.join(", ")
                ),
            ));
        }
        if by_name.insert(name.clone(), tensor).is_some() {
            return Err(invalid(format!("input `{name}` given more than once")));
        }
    }
    let mut free_dims: BTreeMap<&str, u32> = BTreeMap::new();
    specs
        .iter()
        .map(|spec| {
            let tensor = by_name
                .remove(&spec.name)
                .ok_or_else(|| invalid(format!("missing input `{}`", spec.name)))?;
            check_tensor(spec, &tensor, &mut free_dims)?;
            to_tract(spec, tensor)
        })
        .collect()
}

fn check_tensor<'s>(
    spec: &'s IoSpec,
    tensor: &WitTensor,
    free_dims: &mut BTreeMap<&'s str, u32>,
) -> Result<(), Error> {
    let name = &spec.name;
    let dtype = tensor.ty;
    if dtype != spec.dtype {
        return Err(invalid(format!(
            "input `{name}` has dtype {dtype}, the model expects {}",
            spec.dtype
        )));
    }
    let expected = shape_string(&spec.shape);
    if tensor.dimensions.len() != spec.shape.len() {
        return Err(invalid(format!(
            "input `{name}` has shape {:?}, the model expects {expected} (rank {})",
            tensor.dimensions,
            spec.shape.len()
        )));
    }
    for (axis, (&got, want)) in tensor.dimensions.iter().zip(&spec.shape).enumerate() {
        match want {
            Dimension::Fixed(n) if u64::from(got) != *n => {
                return Err(invalid(format!(
                    "input `{name}` has shape {:?}, the model expects {expected} (axis {axis} must be {n})",
                    tensor.dimensions
                )));
            }
            Dimension::Free(sym) => {
                let seen = *free_dims.entry(sym.as_str()).or_insert(got);
                if seen != got {
                    return Err(invalid(format!(
                        "input `{name}` axis {axis} is {got} but free dimension `{sym}` is {seen} in another input"
                    )));
                }
            }
            _ => {}
        }
    }
    let expected_bytes = tensor
        .dimensions
        .iter()
        .try_fold(dtype.size(), |acc, &d| acc.checked_mul(d as usize))
        .ok_or_else(|| Error::new(ErrorCode::TooLarge, format!("input `{name}` is too large")))?;
    if tensor.data.len() != expected_bytes {
        return Err(invalid(format!(
            "input `{name}` has {} bytes of data, its shape {:?} of {dtype} needs {expected_bytes}",
            tensor.data.len(),
            tensor.dimensions
        )));
    }
    if dtype == DType::Bool && tensor.data.iter().any(|&b| b > 1) {
        return Err(Error::new(
            ErrorCode::InvalidEncoding,
            format!("input `{name}` is bool but holds bytes other than 0 and 1"),
        ));
    }
    Ok(())
}

fn to_tract(spec: &IoSpec, tensor: WitTensor) -> Result<TValue, Error> {
    let shape: Vec<usize> = tensor.dimensions.iter().map(|&d| d as usize).collect();
    let dt = to_datum_type(spec.dtype).ok_or_else(|| {
        Error::new(
            ErrorCode::UnsupportedOperation,
            format!("input `{}`: tract has no {}", spec.name, spec.dtype),
        )
    })?;
    // SAFETY: check_tensor proved that `data` holds exactly shape.product() elements of the
    // declared plain (non-pointer) type, and that bool bytes are 0 or 1.
    let t = unsafe { Tensor::from_raw_dt(dt, &shape, &tensor.data) }
        .map_err(|e| invalid(format!("input `{}`: {e:#}", spec.name)))?;
    Ok(t.into_tvalue())
}

pub(crate) fn to_named_tensor(name: &str, value: &TValue) -> Result<NamedTensor, Error> {
    let dtype = from_datum_type(value.datum_type()).ok_or_else(|| {
        Error::new(
            ErrorCode::UnsupportedOperation,
            format!(
                "output `{name}` has element type {:?}, which the WIT interface cannot carry",
                value.datum_type()
            ),
        )
    })?;
    let dimensions = value
        .shape()
        .iter()
        .map(|&d| u32::try_from(d))
        .collect::<Result<Vec<u32>, _>>()
        .map_err(|_| {
            Error::new(
                ErrorCode::TooLarge,
                format!("output `{name}` has a dimension over 2^32"),
            )
        })?;
    Ok(NamedTensor {
        name: name.to_string(),
        tensor: WitTensor {
            dimensions,
            ty: dtype,
            data: value.as_bytes().to_vec(),
        },
    })
}
