//! `.npy` files <-> [`Tensor`]s, over `edgeinfer_protocol::npy` (which the fuzzers drive).

use crate::Tensor;
use anyhow::{Context, Result};
use edgeinfer_protocol::npy;
use std::io::Write;
use std::path::Path;

/// Reads a `.npy` (C order, little-endian, plain numeric or bool) into a tensor named `name`.
pub fn read_npy(bytes: &[u8], name: &str) -> Result<Tensor> {
    let array = npy::read(bytes)?;
    Ok(Tensor::new(name, array.dtype, &array.shape, array.data))
}

pub fn read_npy_file(path: &Path, name: &str) -> Result<Tensor> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    read_npy(&bytes, name).with_context(|| format!("{}", path.display()))
}

pub fn write_npy(tensor: &Tensor, w: impl Write) -> Result<()> {
    npy::write(tensor.dtype, &tensor.shape, &tensor.data, w)
        .with_context(|| format!("writing `{}`", tensor.name))
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
