//! Host-side tensors: a name, a dtype, a shape and little-endian row-major bytes, the same
//! layout as the WIT `tensor`.

use crate::DType;
use anyhow::{Result, bail};

#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

/// Element types whose bytes `Tensor` can view directly.
pub trait Element: Copy {
    const DTYPE: DType;
    fn from_le(bytes: &[u8]) -> Self;
    fn to_le(self) -> Vec<u8>;
}

macro_rules! element {
    ($t:ty, $d:expr) => {
        impl Element for $t {
            const DTYPE: DType = $d;
            fn from_le(bytes: &[u8]) -> Self {
                <$t>::from_le_bytes(bytes.try_into().expect("element size"))
            }
            fn to_le(self) -> Vec<u8> {
                self.to_le_bytes().to_vec()
            }
        }
    };
}
element!(f32, DType::F32);
element!(f64, DType::F64);
element!(i64, DType::I64);
element!(i32, DType::I32);
element!(u8, DType::U8);

impl Tensor {
    pub fn new(name: impl Into<String>, dtype: DType, shape: &[usize], data: Vec<u8>) -> Tensor {
        Tensor {
            name: name.into(),
            dtype,
            shape: shape.to_vec(),
            data,
        }
    }

    pub fn from_values<T: Element>(
        name: impl Into<String>,
        shape: &[usize],
        values: &[T],
    ) -> Tensor {
        let data = values.iter().flat_map(|v| v.to_le()).collect();
        Tensor::new(name, T::DTYPE, shape, data)
    }

    pub fn from_f32(name: impl Into<String>, shape: &[usize], values: &[f32]) -> Tensor {
        Tensor::from_values(name, shape, values)
    }

    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements as `T`, if the dtype is `T`'s.
    pub fn values<T: Element>(&self) -> Result<Vec<T>> {
        if self.dtype != T::DTYPE {
            bail!("tensor `{}` is {}, not {}", self.name, self.dtype, T::DTYPE);
        }
        Ok(self
            .data
            .chunks_exact(T::DTYPE.size())
            .map(T::from_le)
            .collect())
    }

    pub fn to_f32(&self) -> Result<Vec<f32>> {
        self.values()
    }

    /// The elements widened to f64, for comparisons and summaries of any numeric dtype.
    pub fn to_f64_lossy(&self) -> Vec<f64> {
        let chunks = self.data.chunks_exact(self.dtype.size());
        match self.dtype {
            DType::F16 => chunks
                .map(|c| f16_to_f64(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
            DType::BF16 => chunks
                .map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16) as f64)
                .collect(),
            DType::F32 => chunks
                .map(|c| <f32 as Element>::from_le(c) as f64)
                .collect(),
            DType::F64 => chunks.map(<f64 as Element>::from_le).collect(),
            DType::U8 | DType::Bool => chunks.map(|c| c[0] as f64).collect(),
            DType::I8 => chunks.map(|c| c[0] as i8 as f64).collect(),
            DType::I16 => chunks
                .map(|c| i16::from_le_bytes([c[0], c[1]]) as f64)
                .collect(),
            DType::U16 => chunks
                .map(|c| u16::from_le_bytes([c[0], c[1]]) as f64)
                .collect(),
            DType::I32 => chunks
                .map(|c| <i32 as Element>::from_le(c) as f64)
                .collect(),
            DType::U32 => chunks
                .map(|c| u32::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            DType::I64 => chunks
                .map(|c| <i64 as Element>::from_le(c) as f64)
                .collect(),
            DType::U64 => chunks
                .map(|c| u64::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
        }
    }

    /// Largest absolute difference with `other`, after checking dtype and shape agree.
    pub fn max_abs_diff(&self, other: &Tensor) -> Result<f64> {
        if self.dtype != other.dtype || self.shape != other.shape {
            bail!(
                "`{}` is {} {:?} but the reference is {} {:?}",
                self.name,
                self.dtype,
                self.shape,
                other.dtype,
                other.shape
            );
        }
        let (a, b) = (self.to_f64_lossy(), other.to_f64_lossy());
        Ok(a.iter()
            .zip(&b)
            .map(|(x, y)| if x == y { 0.0 } else { (x - y).abs() })
            .fold(0.0, f64::max))
    }
}

fn f16_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((bits >> 10) & 0x1f) as i32;
    let frac = (bits & 0x3ff) as f64;
    sign * match exp {
        0 => frac * 2f64.powi(-24),
        31 if frac == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (1.0 + frac / 1024.0) * 2f64.powi(exp - 15),
    }
}

impl From<edgeinfer_protocol::oip::Tensor> for Tensor {
    fn from(t: edgeinfer_protocol::oip::Tensor) -> Tensor {
        Tensor {
            name: t.name,
            dtype: t.dtype,
            shape: t.shape.iter().map(|&d| d as usize).collect(),
            data: t.data,
        }
    }
}

impl From<Tensor> for edgeinfer_protocol::oip::Tensor {
    fn from(t: Tensor) -> edgeinfer_protocol::oip::Tensor {
        edgeinfer_protocol::oip::Tensor {
            name: t.name,
            dtype: t.dtype,
            shape: t.shape.iter().map(|&d| d as u64).collect(),
            data: t.data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_check_dtype() {
        let t = Tensor::from_values("x", &[2], &[1.5f32, -2.0]);
        assert_eq!(t.to_f32().unwrap(), vec![1.5, -2.0]);
        assert!(t.values::<i64>().is_err());
        assert_eq!(t.to_f64_lossy(), vec![1.5, -2.0]);
    }

    #[test]
    fn f16_decoding() {
        assert_eq!(f16_to_f64(0x3c00), 1.0);
        assert_eq!(f16_to_f64(0xc000), -2.0);
        assert_eq!(f16_to_f64(0x0001), 2f64.powi(-24));
    }

    #[test]
    fn diff_needs_same_shape() {
        let a = Tensor::from_f32("a", &[2], &[1.0, 2.0]);
        let b = Tensor::from_f32("a", &[2], &[1.0, 2.5]);
        assert_eq!(a.max_abs_diff(&b).unwrap(), 0.5);
        assert!(
            a.max_abs_diff(&Tensor::from_f32("a", &[1, 2], &[1.0, 2.0]))
                .is_err()
        );
    }
}
