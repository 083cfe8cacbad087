//! `.npy` arrays (C order, little-endian, plain numeric or bool) <-> dtype, shape and the raw
//! row-major bytes our tensors hold, so no per-element conversion. npyz parses and writes
//! the headers. A host-side format (feature `npy`): the guest never reads files.

use crate::DType;
use npyz::WriterBuilder;
use std::io::{Read, Write};

/// A `.npy` array: its element type, shape and little-endian row-major bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    #[error("not a valid .npy file: {0}")]
    Header(std::io::Error),
    #[error("unsupported .npy dtype {0}: only plain numeric and bool arrays")]
    NotPlain(String),
    #[error("unsupported .npy dtype `{0}`: expected little-endian float, int, uint or bool")]
    UnsupportedDtype(String),
    #[error("the array is in Fortran order; save it in C order (np.ascontiguousarray)")]
    FortranOrder,
    #[error("the header's shape {shape:?} of {dtype} is more bytes than this machine can address")]
    TooLarge { shape: Vec<u64>, dtype: DType },
    #[error("truncated .npy: shape {shape:?} of {dtype} needs {want} bytes of data, found {found}")]
    Truncated {
        shape: Vec<usize>,
        dtype: DType,
        want: usize,
        found: usize,
    },
    #[error("{dtype} cannot be stored in a .npy file")]
    NoNumpyDtype { dtype: DType },
    #[error("writing the .npy: {0}")]
    Write(#[source] std::io::Error),
}

/// Reads a whole `.npy` file's bytes. The header's shape is checked against the bytes that
/// follow it, so a header lying about its size is an error, not an allocation.
pub fn read(bytes: &[u8]) -> Result<NpyArray, NpyError> {
    check_header_nesting(bytes)?;
    let file = npyz::NpyFile::new(bytes).map_err(NpyError::Header)?;
    let descr = match file.dtype() {
        npyz::DType::Plain(ts) => ts.to_string(),
        other => return Err(NpyError::NotPlain(other.descr())),
    };
    let dtype = DType::from_numpy_descr(&descr).ok_or(NpyError::UnsupportedDtype(descr))?;
    if file.order() == npyz::Order::Fortran {
        return Err(NpyError::FortranOrder);
    }
    let header_shape = file.shape().to_vec();
    let too_large = || NpyError::TooLarge {
        shape: header_shape.clone(),
        dtype,
    };
    let shape = header_shape
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| too_large()))
        .collect::<Result<Vec<usize>, _>>()?;
    let want = shape
        .iter()
        .try_fold(dtype.size(), |acc, &d| acc.checked_mul(d))
        .ok_or_else(too_large)?;
    let mut data = Vec::new();
    file.into_inner()
        .take(want as u64)
        .read_to_end(&mut data)
        .map_err(NpyError::Header)?;
    if data.len() < want {
        return Err(NpyError::Truncated {
            shape,
            dtype,
            want,
            found: data.len(),
        });
    }
    Ok(NpyArray { dtype, shape, data })
}

/// Brackets a plain array's header nests at most: `{'shape': (2, 3)}`.
const MAX_HEADER_NESTING: usize = 4;

/// npyz's header parser backtracks exponentially on nested brackets (75 `{` took minutes,
/// found by fuzzing), so a header nesting deeper than any plain array's is refused before
/// it gets there. Structured dtypes nest deeper, and are refused later anyway.
fn check_header_nesting(bytes: &[u8]) -> Result<(), NpyError> {
    let Some((start, len)) = header_span(bytes) else {
        return Ok(()); // npyz names the magic, version or truncation problem
    };
    let header = &bytes[start.min(bytes.len())..(start + len).min(bytes.len())];
    let mut depth = 0usize;
    for &b in header {
        match b {
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > MAX_HEADER_NESTING {
                    return Err(NpyError::Header(std::io::Error::other(
                        "the header nests brackets deeper than a plain array's",
                    )));
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Where the header text starts and how long it is: after the magic, the version and a
/// little-endian length (2 bytes in version 1, 4 in versions 2 and 3).
fn header_span(bytes: &[u8]) -> Option<(usize, usize)> {
    let rest = bytes.strip_prefix(b"\x93NUMPY")?;
    match rest {
        [1, _, a, b, ..] => Some((10, u16::from_le_bytes([*a, *b]) as usize)),
        [2 | 3, _, a, b, c, d, ..] => Some((12, u32::from_le_bytes([*a, *b, *c, *d]) as usize)),
        _ => None,
    }
}

/// The length a whole `.npy` file must have, from its first bytes (which must hold the
/// header): how a re-run of `batch` tells a complete output file from a torn one without
/// reading the data.
pub fn expected_file_len(prefix: &[u8]) -> Result<u64, NpyError> {
    check_header_nesting(prefix)?;
    let (start, len) = header_span(prefix)
        .ok_or_else(|| NpyError::Header(std::io::Error::other("no .npy header")))?;
    let file = npyz::NpyFile::new(prefix).map_err(NpyError::Header)?;
    let size = match file.dtype() {
        npyz::DType::Plain(ts) => ts.size_field(),
        other => return Err(NpyError::NotPlain(other.descr())),
    };
    file.shape()
        .iter()
        .try_fold(size, |acc, &d| acc.checked_mul(d))
        .and_then(|data| data.checked_add((start + len) as u64))
        .ok_or_else(|| NpyError::Header(std::io::Error::other("the shape overflows")))
}

/// Writes `data` (row-major, little-endian) as a `.npy` array of `shape`.
pub fn write(
    dtype: DType,
    shape: &[usize],
    data: &[u8],
    mut w: impl Write,
) -> Result<(), NpyError> {
    let descr = dtype
        .numpy_descr()
        .and_then(|d| d.parse::<npyz::TypeStr>().ok())
        .ok_or(NpyError::NoNumpyDtype { dtype })?;
    let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    npyz::WriteOptions::new_header_only()
        .dtype(npyz::DType::Plain(descr))
        .shape(&shape)
        .writer(&mut w)
        .write_header_only()
        .map_err(NpyError::Write)?;
    w.write_all(data).map_err(NpyError::Write)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_numpy_dtype() {
        for dtype in DType::ALL.into_iter().filter(|d| d.numpy_descr().is_some()) {
            let data: Vec<u8> = (0..6 * dtype.size()).map(|i| (i % 2) as u8).collect();
            let mut bytes = Vec::new();
            write(dtype, &[2, 3], &data, &mut bytes).unwrap();
            let array = read(&bytes).unwrap();
            assert_eq!(
                array,
                NpyArray {
                    dtype,
                    shape: vec![2, 3],
                    data
                },
                "{dtype}"
            );
        }
    }

    #[test]
    fn refuses_garbage_truncation_and_lies_about_size() {
        assert!(matches!(read(b"garbage"), Err(NpyError::Header(_))));
        let mut bytes = Vec::new();
        write(DType::F32, &[4], &[0; 16], &mut bytes).unwrap();
        let err = read(&bytes[..bytes.len() - 3]).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
        // A header whose shape multiplies past usize: an error, not a wrapped length.
        let mut bytes = Vec::new();
        write(DType::F32, &[1 << 40, 1 << 40], &[], &mut bytes).unwrap();
        let err = read(&bytes).unwrap_err();
        assert!(err.to_string().contains("more bytes than"), "{err}");
    }

    #[test]
    fn knows_a_whole_file_from_its_header() {
        let mut bytes = Vec::new();
        write(DType::F32, &[3, 5], &[0; 60], &mut bytes).unwrap();
        assert_eq!(
            expected_file_len(&bytes[..bytes.len() - 60]).unwrap(),
            bytes.len() as u64
        );
        assert!(expected_file_len(b"\x93NUMPY\x01").is_err());
    }

    #[test]
    fn refuses_deeply_nested_headers_at_once() {
        let mut bytes = b"\x93NUMPY\x01\x00\x50\x00".to_vec();
        bytes.extend([b'{'; 80]);
        // Before the check, npyz took minutes over this.
        let err = read(&bytes).unwrap_err();
        assert!(err.to_string().contains("nests brackets"), "{err}");
    }
}
