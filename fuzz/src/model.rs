//! The model the engine targets run on, and how fuzz bytes become their inputs.

use arbitrary::Unstructured;
use edgeinfer_engine::{NamedTensor, Tensor, http::HttpRequest};
use edgeinfer_protocol::oip::OipError;
use edgeinfer_protocol::{DType, PackManifest, PackPayload};

/// `models/test/shape_out`: `x [N,4] f32 -> doubled [N,4] f32, rows i64` (a free dim, an
/// output computed from shapes). Small, so each run is quick, and every validation path of
/// the engine is reachable.
pub const MODEL_ONNX: &[u8] = include_bytes!("../../models/test/shape_out/model.onnx");
const INPUT: &str = "x";

/// Loads the model into this thread's engine (once), as `edgeinfer pack` would: ONNX ->
/// NNEF natively, then the pack payload through the engine's init.
pub fn engine_ready() {
    thread_local! {
        static READY: () = load();
    }
    READY.with(|_| ());
}

fn load() {
    let path = crate::scratch_file("shape_out.onnx", MODEL_ONNX);
    let converted = edgeinfer_convert::onnx_to_nnef(&path, &Default::default()).expect("converts");
    let payload = PackPayload {
        manifest: PackManifest {
            name: "shape_out".into(),
            version: "1".into(),
            preinit: true,
            input_names: converted.input_names,
            output_names: converted.output_names,
            // Both plans, as pack builds them: calls at batch 1 take the specialized one.
            specialize: Some(Default::default()),
            ..Default::default()
        },
        nnef: converted.nnef,
    };
    edgeinfer_engine::state::initialize(&payload.encode()[..]).expect("the engine loads it");
}

/// Up to four tensors: mostly named like the model's input, with any dtype, a rank up to 4,
/// small dims (sometimes huge ones) and data of the right length or not.
pub fn tensors_from(data: &[u8]) -> Vec<NamedTensor> {
    let mut u = Unstructured::new(data);
    let count = u.int_in_range(0..=4u8).unwrap_or(1);
    (0..count).map_while(|_| tensor(&mut u).ok()).collect()
}

fn tensor(u: &mut Unstructured) -> arbitrary::Result<NamedTensor> {
    let name = match u.int_in_range(0..=3u8)? {
        0 => u.arbitrary::<String>()?,
        _ => INPUT.to_string(),
    };
    let ty = *u.choose(&DType::ALL)?;
    let rank = u.int_in_range(0..=4u8)?;
    let mut dimensions = Vec::new();
    for _ in 0..rank {
        dimensions.push(match u.int_in_range(0..=15u8)? {
            0 => u.arbitrary::<u32>()?,
            _ => u.int_in_range(0..=8u32)?,
        });
    }
    let elements = dimensions
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d as usize));
    let exact = elements.and_then(|n| n.checked_mul(ty.size()));
    let data = match exact {
        Some(len) if len <= 1 << 16 && u.ratio(7, 8)? => {
            let mut bytes = u.bytes(len.min(u.len()))?.to_vec();
            bytes.resize(len, 0);
            bytes
        }
        _ => u.bytes(u.len().min(64))?.to_vec(),
    };
    Ok(NamedTensor {
        name,
        tensor: Tensor {
            dimensions,
            ty,
            data,
        },
    })
}

/// An HTTP request made of fuzz bytes (see [`crate::engine_http`]).
pub struct FuzzRequest {
    pub method: &'static str,
    pub path: String,
    pub body: Vec<u8>,
    /// The JSON part's length of a binary-extension body.
    pub json_len: Option<usize>,
}

impl FuzzRequest {
    pub fn from_bytes(data: &[u8]) -> FuzzRequest {
        const METHODS: [&str; 4] = ["POST", "GET", "PUT", "DELETE"];
        let (method, rest) = match data.split_first() {
            Some((&m, rest)) => (METHODS[m as usize % METHODS.len()], rest),
            None => ("GET", data),
        };
        let (path, body) = match rest.iter().position(|&b| b == 0) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &[][..]),
        };
        let json_len = match body.first() {
            Some(b'{') | None => None,
            Some(_) => Some(body.iter().position(|&b| b == b'\n').unwrap_or(body.len())),
        };
        FuzzRequest {
            method,
            path: String::from_utf8_lossy(path).into_owned(),
            body: body.to_vec(),
            json_len,
        }
    }
}

impl HttpRequest for FuzzRequest {
    fn method(&self) -> String {
        self.method.to_string()
    }

    fn path_with_query(&self) -> String {
        self.path.clone()
    }

    fn header(&self, name: &str) -> Option<Vec<u8>> {
        match name.to_ascii_lowercase().as_str() {
            "inference-header-content-length" => self.json_len.map(|n| n.to_string().into()),
            "content-type" if self.json_len.is_some() => Some(b"application/octet-stream".to_vec()),
            "content-type" => Some(b"application/json".to_vec()),
            _ => None,
        }
    }

    fn read_body(&mut self, limit: usize) -> Result<Vec<u8>, OipError> {
        if self.body.len() > limit {
            return Err(OipError::new(413, "body too large"));
        }
        Ok(std::mem::take(&mut self.body))
    }
}
