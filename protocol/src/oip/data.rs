//! Tensor data in JSON: numbers (flat or nested arrays) to little-endian bytes of a dtype and
//! back, streaming, without an intermediate `serde_json::Value`.

use crate::DType;
use half::{bf16, f16};
use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeSeq, Serializer};
use std::fmt;

/// Reads a JSON array (nested arrays are flattened in row-major order) of `dtype` values,
/// appending their bytes to `out`. Returns the number of elements read.
pub(super) fn read_json_data(json: &str, dtype: DType, out: &mut Vec<u8>) -> Result<u64, String> {
    let mut count = 0u64;
    let mut de = serde_json::Deserializer::from_str(json);
    Flatten {
        dtype,
        out,
        count: &mut count,
        depth: 0,
    }
    .deserialize(&mut de)
    .map_err(|e| strip_position(e.to_string()))?;
    Ok(count)
}

/// serde_json appends "at line 1 column 123" (of the data fragment, not the body): noise.
fn strip_position(message: String) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message,
    }
}

struct Flatten<'a> {
    dtype: DType,
    out: &'a mut Vec<u8>,
    count: &'a mut u64,
    depth: usize,
}

impl Flatten<'_> {
    fn push_float(&mut self, v: f64) -> Result<(), String> {
        let out = &mut *self.out;
        match self.dtype {
            DType::F32 => out.extend_from_slice(&(v as f32).to_le_bytes()),
            DType::F64 => out.extend_from_slice(&v.to_le_bytes()),
            DType::F16 => out.extend_from_slice(&f16::from_f64(v).to_le_bytes()),
            DType::BF16 => out.extend_from_slice(&bf16::from_f64(v).to_le_bytes()),
            DType::Bool => return Err(format!("expected true or false, got {v}")),
            _ => {
                if v.fract() != 0.0 || !v.is_finite() {
                    return Err(format!(
                        "expected an integer for {}, got {v}",
                        self.dtype.oip_name()
                    ));
                }
                return self.push_int(v as i128);
            }
        }
        *self.count += 1;
        Ok(())
    }

    fn push_int(&mut self, v: i128) -> Result<(), String> {
        macro_rules! int {
            ($t:ty) => {{
                let x = <$t>::try_from(v)
                    .map_err(|_| format!("{v} is out of range for {}", self.dtype.oip_name()))?;
                self.out.extend_from_slice(&x.to_le_bytes());
            }};
        }
        match self.dtype {
            DType::I8 => int!(i8),
            DType::I16 => int!(i16),
            DType::I32 => int!(i32),
            DType::I64 => int!(i64),
            DType::U8 => int!(u8),
            DType::U16 => int!(u16),
            DType::U32 => int!(u32),
            DType::U64 => int!(u64),
            DType::Bool => return Err(format!("expected true or false, got {v}")),
            _ => return self.push_float(v as f64),
        }
        *self.count += 1;
        Ok(())
    }

    fn push_bool(&mut self, v: bool) -> Result<(), String> {
        if self.dtype != DType::Bool {
            return Err(format!(
                "expected a number for {}, got {v}",
                self.dtype.oip_name()
            ));
        }
        self.out.push(v as u8);
        *self.count += 1;
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Flatten<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Flatten<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an array of {} values", self.dtype.oip_name())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.depth > 32 {
            return Err(de::Error::custom("data is nested more than 32 levels deep"));
        }
        if let Some(n) = seq.size_hint() {
            self.out.reserve(n * self.dtype.size());
        }
        let Flatten {
            dtype,
            out,
            count,
            depth,
        } = self;
        while seq
            .next_element_seed(Flatten {
                dtype,
                out: &mut *out,
                count: &mut *count,
                depth: depth + 1,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_f64<E: de::Error>(mut self, v: f64) -> Result<(), E> {
        self.top_level_scalar()?;
        self.push_float(v).map_err(E::custom)
    }
    fn visit_i64<E: de::Error>(mut self, v: i64) -> Result<(), E> {
        self.top_level_scalar()?;
        self.push_int(v as i128).map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(mut self, v: u64) -> Result<(), E> {
        self.top_level_scalar()?;
        self.push_int(v as i128).map_err(E::custom)
    }
    fn visit_bool<E: de::Error>(mut self, v: bool) -> Result<(), E> {
        self.top_level_scalar()?;
        self.push_bool(v).map_err(E::custom)
    }
}

impl Flatten<'_> {
    /// `"data": 3` is not an array; the spec wants `[3]`.
    fn top_level_scalar<E: de::Error>(&self) -> Result<(), E> {
        if self.depth == 0 {
            return Err(E::custom("`data` must be an array"));
        }
        Ok(())
    }
}

/// Serializes raw little-endian bytes of `dtype` as a flat JSON array of numbers (booleans
/// for BOOL; f16/bf16 widened to f32).
pub(super) struct JsonData<'a> {
    pub(super) dtype: DType,
    pub(super) bytes: &'a [u8],
}

impl Serialize for JsonData<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let width = self.dtype.size();
        let chunks = self.bytes.chunks_exact(width);
        let mut seq = s.serialize_seq(Some(chunks.len()))?;
        macro_rules! each {
            ($t:ty, $n:literal) => {
                for c in chunks {
                    let a: [u8; $n] = c.try_into().expect("chunk width");
                    seq.serialize_element(&<$t>::from_le_bytes(a))?;
                }
            };
        }
        match self.dtype {
            DType::F32 => each!(f32, 4),
            DType::F64 => each!(f64, 8),
            DType::F16 => {
                for c in chunks {
                    seq.serialize_element(&f16::from_le_bytes([c[0], c[1]]).to_f32())?;
                }
            }
            DType::BF16 => {
                for c in chunks {
                    seq.serialize_element(&bf16::from_le_bytes([c[0], c[1]]).to_f32())?;
                }
            }
            DType::Bool => {
                for c in chunks {
                    seq.serialize_element(&(c[0] != 0))?;
                }
            }
            DType::I8 => each!(i8, 1),
            DType::I16 => each!(i16, 2),
            DType::I32 => each!(i32, 4),
            DType::I64 => each!(i64, 8),
            DType::U8 => each!(u8, 1),
            DType::U16 => each!(u16, 2),
            DType::U32 => each!(u32, 4),
            DType::U64 => each!(u64, 8),
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str, dtype: DType) -> Result<(u64, Vec<u8>), String> {
        let mut out = Vec::new();
        read_json_data(json, dtype, &mut out).map(|n| (n, out))
    }

    #[test]
    fn flat_and_nested() {
        let (n, bytes) = read("[[1, 2.5], [3, -4]]", DType::F32).unwrap();
        assert_eq!(n, 4);
        let values: Vec<f32> = bytes
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(values, [1.0, 2.5, 3.0, -4.0]);
        assert_eq!(read("[]", DType::I64).unwrap().0, 0);
    }

    #[test]
    fn integers_are_range_checked() {
        assert_eq!(read("[255, 0]", DType::U8).unwrap().1, vec![255, 0]);
        assert!(
            read("[256]", DType::U8)
                .unwrap_err()
                .contains("out of range for UINT8")
        );
        assert!(
            read("[-1]", DType::U64)
                .unwrap_err()
                .contains("out of range")
        );
        assert!(
            read("[1.5]", DType::I64)
                .unwrap_err()
                .contains("expected an integer")
        );
        assert_eq!(read("[2.0]", DType::I32).unwrap().1, 2i32.to_le_bytes());
        let (_, big) = read("[9223372036854775807]", DType::I64).unwrap();
        assert_eq!(big, i64::MAX.to_le_bytes());
    }

    #[test]
    fn type_errors() {
        assert!(
            read("[true]", DType::F32)
                .unwrap_err()
                .contains("expected a number")
        );
        assert!(
            read("[1]", DType::Bool)
                .unwrap_err()
                .contains("true or false")
        );
        assert!(
            read("[\"a\"]", DType::F32)
                .unwrap_err()
                .contains("array of FP32")
        );
        assert!(
            read("3", DType::F32)
                .unwrap_err()
                .contains("must be an array")
        );
        assert_eq!(read("[true, false]", DType::Bool).unwrap().1, vec![1, 0]);
    }

    #[test]
    fn half_precision_round_trip() {
        let (_, bytes) = read("[0.5, -2]", DType::F16).unwrap();
        let json = serde_json::to_string(&JsonData {
            dtype: DType::F16,
            bytes: &bytes,
        })
        .unwrap();
        assert_eq!(json, "[0.5,-2.0]");
    }

    #[test]
    fn serializes_every_dtype() {
        for dtype in DType::ALL {
            let mut bytes = Vec::new();
            let json = if dtype == DType::Bool {
                "[true,false]"
            } else {
                "[1,2]"
            };
            read_json_data(json, dtype, &mut bytes).unwrap();
            let back = serde_json::to_string(&JsonData {
                dtype,
                bytes: &bytes,
            })
            .unwrap();
            let mut again = Vec::new();
            read_json_data(&back, dtype, &mut again).unwrap();
            assert_eq!(bytes, again, "{dtype}");
        }
    }
}
