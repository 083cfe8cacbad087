//! `.npy` files <-> [`Tensor`]s. npyz parses and writes the headers; the data is the raw
//! little-endian row-major bytes our tensors already hold, so no per-element conversion.

use crate::{DType, Tensor};
use anyhow::{Context, Result, bail};
use npyz::WriterBuilder;
use std::io::{Read, Write};
use std::path::Path;

/// Reads a `.npy` (C order, little-endian, plain numeric or bool) into a tensor named `name`.
pub fn read_npy(bytes: &[u8], name: &str) -> Result<Tensor> {
    let file = npyz::NpyFile::new(bytes).context("not a valid .npy file")?;
    let descr = match file.dtype() {
        npyz::DType::Plain(ts) => ts.to_string(),
        other => bail!(
            "unsupported .npy dtype {}: only plain numeric and bool arrays",
            other.descr()
        ),
    };
    let dtype = DType::from_numpy_descr(&descr).with_context(|| {
        format!("unsupported .npy dtype `{descr}`: expected little-endian float, int, uint or bool")
    })?;
    if file.order() == npyz::Order::Fortran {
        bail!("the array is in Fortran order; save it in C order (np.ascontiguousarray)");
    }
    let shape: Vec<usize> = file.shape().iter().map(|&d| d as usize).collect();
    let len: usize = shape.iter().product();
    let mut data = Vec::new();
    file.into_inner().read_to_end(&mut data)?;
    let want = len * dtype.size();
    if data.len() < want {
        bail!(
            "truncated .npy: shape {shape:?} of {dtype} needs {want} bytes of data, found {}",
            data.len()
        );
    }
    data.truncate(want);
    Ok(Tensor::new(name, dtype, &shape, data))
}

pub fn read_npy_file(path: &Path, name: &str) -> Result<Tensor> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    read_npy(&bytes, name).with_context(|| format!("{}", path.display()))
}

pub fn write_npy(tensor: &Tensor, mut w: impl Write) -> Result<()> {
    let descr = tensor.dtype.numpy_descr().with_context(|| {
        format!(
            "`{}` is {}, which .npy cannot hold",
            tensor.name, tensor.dtype
        )
    })?;
    let shape: Vec<u64> = tensor.shape.iter().map(|&d| d as u64).collect();
    npyz::WriteOptions::new_header_only()
        .dtype(npyz::DType::Plain(descr.parse().expect("valid descr")))
        .shape(&shape)
        .writer(&mut w)
        .write_header_only()?;
    w.write_all(&tensor.data)?;
    Ok(())
}

/// Writes atomically (temp file + rename).
pub fn write_npy_file(tensor: &Tensor, path: &Path) -> Result<()> {
    let mut bytes = Vec::with_capacity(tensor.data.len() + 128);
    write_npy(tensor, &mut bytes)?;
    crate::pack::write_atomically(path, &bytes)
}

/// A file name for a tensor name: ONNX names may hold `/`, `:` and such.
pub fn file_stem_for(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_numpy_dtype() {
        for dtype in DType::ALL.into_iter().filter(|d| d.numpy_descr().is_some()) {
            let data: Vec<u8> = (0..6 * dtype.size()).map(|i| (i % 2) as u8).collect();
            let t = Tensor::new("t", dtype, &[2, 3], data);
            let mut bytes = Vec::new();
            write_npy(&t, &mut bytes).unwrap();
            assert_eq!(read_npy(&bytes, "t").unwrap(), t, "{dtype}");
        }
    }

    #[test]
    fn refuses_bad_files() {
        let err = read_npy(b"garbage", "x").unwrap_err();
        assert!(format!("{err:#}").contains("not a valid .npy"), "{err:#}");
        let t = Tensor::from_f32("x", &[4], &[1.0; 4]);
        let mut bytes = Vec::new();
        write_npy(&t, &mut bytes).unwrap();
        bytes.truncate(bytes.len() - 3);
        let err = read_npy(&bytes, "x").unwrap_err();
        assert!(format!("{err:#}").contains("truncated"), "{err:#}");
    }

    #[test]
    fn sanitizes_names() {
        assert_eq!(
            file_stem_for("save_infer_model/scale_0.tmp_1"),
            "save_infer_model_scale_0.tmp_1"
        );
    }
}
