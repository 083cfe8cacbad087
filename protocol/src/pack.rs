//! The payload `edgeinfer pack` streams to the generic guest's `wizer-initialize` on stdin:
//!
//! ```text
//! b"EIPK" | u32 LE manifest length | manifest JSON | NNEF tar bytes
//! ```
//!
//! A framed stream, not a data segment, so the raw model never lands in the component next
//! to its optimized copy.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const MAGIC: &[u8; 4] = b"EIPK";

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

    pub fn decode(bytes: &[u8]) -> Result<PackPayload, PayloadError> {
        let rest = bytes.strip_prefix(MAGIC).ok_or(PayloadError::BadMagic)?;
        let (len, rest) = rest
            .split_first_chunk::<4>()
            .ok_or(PayloadError::Truncated)?;
        let len = u32::from_le_bytes(*len) as usize;
        if rest.len() < len {
            return Err(PayloadError::Truncated);
        }
        let (manifest, nnef) = rest.split_at(len);
        Ok(PackPayload {
            manifest: serde_json::from_slice(manifest)?,
            nnef: nnef.to_vec(),
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
    }
}
