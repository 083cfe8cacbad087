//! [`DType`] <-> tract's `DatumType`: the one mapping, shared by the guest and the host's
//! native runner.

use crate::DType;
use tract_data::prelude::DatumType;

/// tract's type for a [`DType`]; `None` for bfloat16, which tract lacks.
pub fn to_datum_type(dtype: DType) -> Option<DatumType> {
    Some(match dtype {
        DType::F16 => DatumType::F16,
        DType::F32 => DatumType::F32,
        DType::F64 => DatumType::F64,
        DType::BF16 => return None,
        DType::U8 => DatumType::U8,
        DType::I32 => DatumType::I32,
        DType::I64 => DatumType::I64,
        DType::Bool => DatumType::Bool,
        DType::I8 => DatumType::I8,
        DType::I16 => DatumType::I16,
        DType::U16 => DatumType::U16,
        DType::U32 => DatumType::U32,
        DType::U64 => DatumType::U64,
    })
}

/// The [`DType`] of a tract type; `None` for types the WIT cannot carry (strings, TDim,
/// quantized, blobs).
pub fn from_datum_type(dt: DatumType) -> Option<DType> {
    DType::ALL
        .into_iter()
        .find(|&d| to_datum_type(d) == Some(dt))
}
