//! Element types. `DType` lists the cases of WIT `tensor-type` in the same order, so the
//! [`dtype_conversions!`](crate::dtype_conversions) macro can map the bindings each side
//! generates without a second hand-written table.

use std::fmt;
use std::str::FromStr;

/// Element type of a tensor, in the order of the WIT `tensor-type` enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F16,
    F32,
    F64,
    BF16,
    U8,
    I32,
    I64,
    Bool,
    I8,
    I16,
    U16,
    U32,
    U64,
}

impl DType {
    pub const ALL: [DType; 13] = [
        DType::F16,
        DType::F32,
        DType::F64,
        DType::BF16,
        DType::U8,
        DType::I32,
        DType::I64,
        DType::Bool,
        DType::I8,
        DType::I16,
        DType::U16,
        DType::U32,
        DType::U64,
    ];

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::Bool | DType::U8 | DType::I8 => 1,
            DType::F16 | DType::BF16 | DType::I16 | DType::U16 => 2,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F64 | DType::I64 | DType::U64 => 8,
        }
    }

    /// The WIT case name (`fp32`, `i64`...), also the name the CLI prints.
    pub fn wit_name(self) -> &'static str {
        match self {
            DType::F16 => "fp16",
            DType::F32 => "fp32",
            DType::F64 => "fp64",
            DType::BF16 => "bf16",
            DType::U8 => "u8",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::Bool => "bool",
            DType::I8 => "i8",
            DType::I16 => "i16",
            DType::U16 => "u16",
            DType::U32 => "u32",
            DType::U64 => "u64",
        }
    }

    /// The Open Inference Protocol v2 `datatype` string (`FP32`, `INT64`, `BOOL`...).
    pub fn oip_name(self) -> &'static str {
        match self {
            DType::F16 => "FP16",
            DType::F32 => "FP32",
            DType::F64 => "FP64",
            DType::BF16 => "BF16",
            DType::U8 => "UINT8",
            DType::I32 => "INT32",
            DType::I64 => "INT64",
            DType::Bool => "BOOL",
            DType::I8 => "INT8",
            DType::I16 => "INT16",
            DType::U16 => "UINT16",
            DType::U32 => "UINT32",
            DType::U64 => "UINT64",
        }
    }

    /// The NumPy type string (little-endian), as in a `.npy` header's `descr`.
    /// NumPy has no bfloat16, hence `None`.
    pub fn numpy_descr(self) -> Option<&'static str> {
        Some(match self {
            DType::F16 => "<f2",
            DType::F32 => "<f4",
            DType::F64 => "<f8",
            DType::BF16 => return None,
            DType::U8 => "|u1",
            DType::I32 => "<i4",
            DType::I64 => "<i8",
            DType::Bool => "|b1",
            DType::I8 => "|i1",
            DType::I16 => "<i2",
            DType::U16 => "<u2",
            DType::U32 => "<u4",
            DType::U64 => "<u8",
        })
    }

    /// Parses a NumPy `descr` (`<f4`, `|b1`, `<i8`...). Big-endian types are refused.
    pub fn from_numpy_descr(descr: &str) -> Option<DType> {
        let normalized = descr.replace('=', "<");
        DType::ALL.into_iter().find(|d| {
            d.numpy_descr().is_some_and(|n| {
                n == normalized || (n.starts_with('|') && n[1..] == normalized[1..])
            })
        })
    }

    pub fn from_oip_name(name: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.oip_name() == name)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wit_name())
    }
}

impl FromStr for DType {
    type Err = String;
    /// Accepts the WIT name (`fp32`), the OIP name (`FP32`) or common aliases (`f32`, `float32`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        let alias = match lower.as_str() {
            "f16" | "float16" | "half" => Some(DType::F16),
            "f32" | "float32" | "float" => Some(DType::F32),
            "f64" | "float64" | "double" => Some(DType::F64),
            "int8" => Some(DType::I8),
            "int16" => Some(DType::I16),
            "int32" => Some(DType::I32),
            "int64" => Some(DType::I64),
            "uint8" => Some(DType::U8),
            "uint16" => Some(DType::U16),
            "uint32" => Some(DType::U32),
            "uint64" => Some(DType::U64),
            _ => None,
        };
        alias
            .or_else(|| DType::ALL.into_iter().find(|d| d.wit_name() == lower))
            .or_else(|| DType::from_oip_name(s))
            .ok_or_else(|| format!("unknown dtype `{s}`"))
    }
}

/// Implements `From` both ways between [`DType`] and a bindings-generated `tensor-type`
/// enum (wit-bindgen in the guest, wasmtime's `bindgen!` in the host). Case names follow
/// the generators' conventions for the WIT names.
#[macro_export]
macro_rules! dtype_conversions {
    ($wit:ty) => {
        impl From<$wit> for $crate::DType {
            fn from(t: $wit) -> Self {
                type W = $wit;
                match t {
                    W::Fp16 => $crate::DType::F16,
                    W::Fp32 => $crate::DType::F32,
                    W::Fp64 => $crate::DType::F64,
                    W::Bf16 => $crate::DType::BF16,
                    W::U8 => $crate::DType::U8,
                    W::I32 => $crate::DType::I32,
                    W::I64 => $crate::DType::I64,
                    W::Bool => $crate::DType::Bool,
                    W::I8 => $crate::DType::I8,
                    W::I16 => $crate::DType::I16,
                    W::U16 => $crate::DType::U16,
                    W::U32 => $crate::DType::U32,
                    W::U64 => $crate::DType::U64,
                }
            }
        }
        impl From<$crate::DType> for $wit {
            fn from(d: $crate::DType) -> Self {
                type W = $wit;
                match d {
                    $crate::DType::F16 => W::Fp16,
                    $crate::DType::F32 => W::Fp32,
                    $crate::DType::F64 => W::Fp64,
                    $crate::DType::BF16 => W::Bf16,
                    $crate::DType::U8 => W::U8,
                    $crate::DType::I32 => W::I32,
                    $crate::DType::I64 => W::I64,
                    $crate::DType::Bool => W::Bool,
                    $crate::DType::I8 => W::I8,
                    $crate::DType::I16 => W::I16,
                    $crate::DType::U16 => W::U16,
                    $crate::DType::U32 => W::U32,
                    $crate::DType::U64 => W::U64,
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in DType::ALL {
            assert_eq!(d.wit_name().parse::<DType>().unwrap(), d);
            assert_eq!(DType::from_oip_name(d.oip_name()), Some(d));
            if let Some(descr) = d.numpy_descr() {
                assert_eq!(DType::from_numpy_descr(descr), Some(d), "{descr}");
            }
        }
    }

    #[test]
    fn numpy_descr_variants() {
        assert_eq!(DType::from_numpy_descr("<f4"), Some(DType::F32));
        assert_eq!(DType::from_numpy_descr("=f4"), Some(DType::F32));
        assert_eq!(DType::from_numpy_descr("<b1"), Some(DType::Bool));
        assert_eq!(DType::from_numpy_descr(">f4"), None);
        assert_eq!(DType::from_numpy_descr("<U8"), None);
    }

    #[test]
    fn aliases() {
        assert_eq!("float32".parse::<DType>().unwrap(), DType::F32);
        assert_eq!("INT64".parse::<DType>().unwrap(), DType::I64);
        assert!("complex64".parse::<DType>().is_err());
    }
}
