//! The payload `edgeinfer pack` streams to the generic guest's `wizer-initialize` on stdin:
//!
//! ```text
//! b"EIPK" | u32 LE manifest length | manifest JSON | NNEF tar bytes
//! ```
//!
//! A framed stream, not a data segment, so the raw model never lands in the component next
//! to its optimized copy. The guest reads the header with [`read_manifest`] and hands the
//! rest of the stream to tract as it is, so the NNEF bytes are never all in its memory.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const MAGIC: &[u8; 4] = b"EIPK";

/// The model metadata property where the guest names the sizes its specialized plan fixed
/// (`N=1`; see [`PackManifest::specialize`]), so hosts and users see which calls take it.
pub const SPECIALIZED_PROPERTY: &str = "edgeinfer.specialized";

/// What the guest needs to know besides the NNEF graph itself.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PackManifest {
    pub name: String,
    pub version: String,
    /// Prepare the plan now (parse, optimize, warm up) so the snapshot holds it. When false
    /// the guest keeps the NNEF bytes and prepares the plan on the first call.
    pub preinit: bool,
    /// Input and output names in graph order: the original (ONNX) names, which NNEF
    /// identifiers cannot always spell.
    #[serde(default)]
    pub input_names: Vec<String>,
    #[serde(default)]
    pub output_names: Vec<String>,
    /// Concrete values for free dimensions used by the pack-time warm-up inference
    /// (symbol name -> size). Symbols not listed warm up at 1.
    #[serde(default)]
    pub warmup_symbols: BTreeMap<String, u64>,
    /// Skip the warm-up inference. Pack sets it when the warm-up itself traps (a model whose
    /// free dims cannot be 1, or that rejects zeros): the plan is still good for real inputs.
    #[serde(default)]
    pub skip_warm_up: bool,
    /// Also build a plan with some free input dims fixed: the symbols named here at these
    /// sizes or, when none is named, each input's free first dim (the batch) at 1 if that
    /// leaves no input dim free (else no second plan). Calls
    /// whose inputs have those sizes run on it. tract optimizes a graph with concrete shapes
    /// much further (4x on a MobileNet at batch 1), so a free-batch model called one sample
    /// at a time pays nothing for its free batch. `None`: only the symbolic plan. Built only
    /// at pre-init, where it is paid once.
    #[serde(default)]
    pub specialize: Option<BTreeMap<String, u64>>,
    /// The ONNX model's `metadata_props` (class labels, character dictionaries...) and
    /// producer, shown in the model's metadata.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PackPayload {
    pub manifest: PackManifest,
    pub nnef: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("not an edgeinfer pack payload (bad magic)")]
    BadMagic,
    #[error("pack payload truncated")]
    Truncated,
    #[error("pack manifest is not valid JSON: {0}")]
    Manifest(#[from] serde_json::Error),
    #[error("reading the pack payload: {0}")]
    Io(#[from] std::io::Error),
}

/// Largest manifest accepted: names and properties, never tensors.
const MAX_MANIFEST_BYTES: usize = 64 << 20;

/// Reads the magic and the manifest, leaving `reader` at the first byte of the NNEF tar.
pub fn read_manifest(reader: &mut impl std::io::Read) -> Result<PackManifest, PayloadError> {
    let mut word = [0u8; 4];
    read_exact(reader, &mut word)?;
    if &word != MAGIC {
        return Err(PayloadError::BadMagic);
    }
    read_exact(reader, &mut word)?;
    let len = u32::from_le_bytes(word) as usize;
    if len > MAX_MANIFEST_BYTES {
        return Err(PayloadError::Truncated);
    }
    let mut manifest = vec![0u8; len];
    read_exact(reader, &mut manifest)?;
    Ok(serde_json::from_slice(&manifest)?)
}

fn read_exact(reader: &mut impl std::io::Read, buf: &mut [u8]) -> Result<(), PayloadError> {
    reader.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => PayloadError::Truncated,
        _ => PayloadError::Io(e),
    })
}

impl PackPayload {
    pub fn encode(&self) -> Vec<u8> {
        let manifest = serde_json::to_vec(&self.manifest).expect("manifest serializes");
        let mut out = Vec::with_capacity(8 + manifest.len() + self.nnef.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(manifest.len() as u32).to_le_bytes());
        out.extend_from_slice(&manifest);
        out.extend_from_slice(&self.nnef);
        out
    }

    pub fn decode(mut bytes: &[u8]) -> Result<PackPayload, PayloadError> {
        let manifest = read_manifest(&mut bytes)?;
        Ok(PackPayload {
            manifest,
            nnef: bytes.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let payload = PackPayload {
            manifest: PackManifest {
                name: "m".into(),
                version: "2".into(),
                preinit: true,
                input_names: vec!["x".into()],
                output_names: vec!["y".into()],
                warmup_symbols: [("N".to_string(), 4)].into(),
                skip_warm_up: true,
                specialize: Some([("N".to_string(), 1)].into()),
                properties: [("labels".to_string(), "cat\ndog \"quoted\"".to_string())].into(),
            },
            nnef: vec![1, 2, 3],
        };
        assert_eq!(PackPayload::decode(&payload.encode()).unwrap(), payload);
    }

    #[test]
    fn rejects_garbage() {
        assert!(matches!(
            PackPayload::decode(b"nope"),
            Err(PayloadError::BadMagic)
        ));
        assert!(matches!(
            PackPayload::decode(b"EIPK\x10\0\0\0{}"),
            Err(PayloadError::Truncated)
        ));
        assert!(matches!(
            PackPayload::decode(b"EIPK\x02\0\0\0{x"),
            Err(PayloadError::Manifest(_))
        ));
        assert!(matches!(
            PackPayload::decode(b"EIPK\xff\xff\xff\xff{}"),
            Err(PayloadError::Truncated)
        ));
        assert!(matches!(
            PackPayload::decode(b"EIPK\x02"),
            Err(PayloadError::Truncated)
        ));
    }
}
