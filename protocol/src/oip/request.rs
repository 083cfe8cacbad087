//! Decoding an infer request body: JSON tensors, or a JSON header followed by raw tensor
//! bytes (the binary tensor extension).

use super::data::read_json_data;
use super::{EncodedBody, OipError, Tensor, shape_text};
use crate::DType;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// A decoded infer request.
#[derive(Clone, Debug, PartialEq)]
pub struct InferRequest {
    /// Echoed in the response.
    pub id: Option<String>,
    pub inputs: Vec<Tensor>,
    /// The outputs asked for, in order; empty means all.
    pub outputs: Vec<RequestedOutput>,
    /// `parameters.binary_data_output`: answer every output as binary unless it says otherwise.
    pub binary_output: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestedOutput {
    pub name: String,
    /// `parameters.binary_data` of this output, if given.
    pub binary: Option<bool>,
}

impl InferRequest {
    /// Whether any output of the response will be binary.
    pub fn wants_binary(&self, output: &str) -> bool {
        self.outputs
            .iter()
            .find(|o| o.name == output)
            .and_then(|o| o.binary)
            .unwrap_or(self.binary_output)
    }
}

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
    #[serde(borrow)]
    inputs: Vec<InputBody<'a>>,
    #[serde(default)]
    outputs: Option<Vec<OutputBody>>,
}

#[derive(Deserialize)]
pub(super) struct InputBody<'a> {
    name: String,
    shape: Vec<u64>,
    datatype: String,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct OutputBody {
    name: String,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
}

/// Decodes an infer body. `json_len` is the `Inference-Header-Content-Length` header: when
/// given, the first `json_len` bytes are JSON and the rest hold the binary tensors, in input
/// order, each `parameters.binary_data_size` bytes long.
pub fn decode_request(body: &[u8], json_len: Option<usize>) -> Result<InferRequest, OipError> {
    let (json, mut binary) = match json_len {
        Some(n) if n > body.len() => {
            return Err(OipError::bad_request(format!(
                "Inference-Header-Content-Length is {n} but the body has only {} bytes",
                body.len()
            )));
        }
        Some(n) => body.split_at(n),
        None => (body, &[][..]),
    };
    let json = std::str::from_utf8(json)
        .map_err(|e| OipError::bad_request(format!("the JSON header is not UTF-8: {e}")))?;
    let parsed: Body = serde_json::from_str(json)
        .map_err(|e| OipError::bad_request(format!("malformed infer request: {e}")))?;

    let id = match parsed.id {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => {
            return Err(OipError::bad_request(format!(
                "`id` must be a string, got {other}"
            )));
        }
    };
    if parsed.inputs.is_empty() {
        return Err(OipError::bad_request("the request has no inputs"));
    }

    let mut inputs = Vec::with_capacity(parsed.inputs.len());
    for input in parsed.inputs {
        inputs.push(decode_input(input, &mut binary)?);
    }
    if !binary.is_empty() {
        return Err(OipError::bad_request(format!(
            "{} bytes of binary data after the last input are not claimed by any \
             `binary_data_size`",
            binary.len()
        )));
    }

    let binary_output = flag(&parsed.parameters, "binary_data_output", "request")?.unwrap_or(false);
    let outputs = parsed
        .outputs
        .unwrap_or_default()
        .into_iter()
        .map(|o| {
            let binary = flag(
                &o.parameters,
                "binary_data",
                &format!("output `{}`", o.name),
            )?;
            Ok(RequestedOutput {
                name: o.name,
                binary,
            })
        })
        .collect::<Result<Vec<_>, OipError>>()?;
    Ok(InferRequest {
        id,
        inputs,
        outputs,
        binary_output,
    })
}

/// One tensor of a body (an input of a request, an output of a response): its data from
/// JSON, or the next `binary_data_size` bytes of `binary`.
pub(super) fn decode_input(input: InputBody, binary: &mut &[u8]) -> Result<Tensor, OipError> {
    let name = input.name;
    let bad = |message: String| OipError::bad_request(format!("input `{name}`: {message}"));
    let dtype = DType::from_oip_name(&input.datatype).ok_or_else(|| {
        let known: Vec<&str> = DType::ALL.iter().map(|d| d.oip_name()).collect();
        bad(format!(
            "unsupported datatype `{}` (supported: {})",
            input.datatype,
            known.join(", ")
        ))
    })?;
    let elements = Tensor::element_count(&input.shape)
        .filter(|&n| n.checked_mul(dtype.size() as u64).is_some())
        .ok_or_else(|| bad(format!("shape {} is too large", shape_text(&input.shape))))?;
    let needed = elements * dtype.size() as u64;

    let binary_size = match input
        .parameters
        .as_ref()
        .and_then(|p| p.get("binary_data_size"))
    {
        None => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            bad(format!(
                "`binary_data_size` must be a non-negative integer, got {v}"
            ))
        })?),
    };
    let data = match (binary_size, input.data) {
        (Some(_), Some(_)) => {
            return Err(bad(
                "has both `data` and `binary_data_size`; give one".into()
            ));
        }
        (None, None) => return Err(bad("has no `data` (and no `binary_data_size`)".into())),
        (Some(size), None) => {
            if size > binary.len() as u64 {
                return Err(bad(format!(
                    "binary_data_size is {size} bytes but only {} bytes of binary data remain \
                     in the body",
                    binary.len()
                )));
            }
            if size != needed {
                return Err(bad(format!(
                    "binary_data_size is {size} bytes but shape {} of {} needs {needed}",
                    shape_text(&input.shape),
                    dtype.oip_name()
                )));
            }
            let (mine, rest) = binary.split_at(size as usize);
            *binary = rest;
            mine.to_vec()
        }
        (None, Some(raw)) => {
            let mut bytes = Vec::with_capacity(needed.min(1 << 28) as usize);
            let count = read_json_data(raw.get(), dtype, &mut bytes).map_err(&bad)?;
            if count != elements {
                return Err(bad(format!(
                    "shape {} needs {elements} values, `data` has {count}",
                    shape_text(&input.shape)
                )));
            }
            bytes
        }
    };
    Ok(Tensor {
        name,
        dtype,
        shape: input.shape,
        data,
    })
}

/// Encodes an infer request whose inputs and outputs all travel as binary tensors, the
/// cheapest form to build and to read back (what `edgeinfer serve` sends when it joins
/// requests into one batch).
pub fn encode_binary_request(inputs: &[Tensor]) -> EncodedBody {
    let header = serde_json::json!({
        "inputs": inputs.iter().map(|t| serde_json::json!({
            "name": t.name,
            "shape": t.shape,
            "datatype": t.dtype.oip_name(),
            "parameters": {"binary_data_size": t.data.len()},
        })).collect::<Vec<_>>(),
        "parameters": {"binary_data_output": true},
    });
    let mut body = serde_json::to_vec(&header).expect("serializing to memory cannot fail");
    let json_len = body.len();
    for t in inputs {
        body.extend_from_slice(&t.data);
    }
    EncodedBody {
        body,
        json_len: Some(json_len),
    }
}

fn flag(
    parameters: &Option<Map<String, Value>>,
    key: &str,
    owner: &str,
) -> Result<Option<bool>, OipError> {
    match parameters.as_ref().and_then(|p| p.get(key)) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(OipError::bad_request(format!(
            "{owner}: parameter `{key}` must be true or false, got {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32s(t: &Tensor) -> Vec<f32> {
        t.data
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    #[test]
    fn json_request() {
        let body = br#"{"id":"r1","inputs":[{"name":"x","shape":[2,2],"datatype":"FP32",
            "data":[1,2,3,4]}],"outputs":[{"name":"y","parameters":{"binary_data":true}}]}"#;
        let r = decode_request(body, None).unwrap();
        assert_eq!(r.id.as_deref(), Some("r1"));
        assert_eq!(r.inputs[0].shape, [2, 2]);
        assert_eq!(f32s(&r.inputs[0]), [1.0, 2.0, 3.0, 4.0]);
        assert!(r.wants_binary("y"));
        assert!(!r.wants_binary("z"));
    }

    #[test]
    fn binary_request() {
        let header = br#"{"inputs":[{"name":"a","shape":[2],"datatype":"INT64","parameters":{"binary_data_size":16}},{"name":"b","shape":[1],"datatype":"FP32","data":[0.5]}],"parameters":{"binary_data_output":true}}"#;
        let mut body = header.to_vec();
        body.extend_from_slice(&7i64.to_le_bytes());
        body.extend_from_slice(&(-1i64).to_le_bytes());
        let r = decode_request(&body, Some(header.len())).unwrap();
        assert_eq!(r.inputs[0].data[..8], 7i64.to_le_bytes());
        assert_eq!(f32s(&r.inputs[1]), [0.5]);
        assert!(r.wants_binary("anything"));
    }

    #[test]
    fn errors_name_the_problem() {
        let err = |body: &[u8], len| decode_request(body, len).unwrap_err().message;
        assert!(err(b"{", None).starts_with("malformed infer request"));
        assert!(err(br#"{"inputs":[]}"#, None).contains("no inputs"));
        assert!(
            err(
                br#"{"inputs":[{"name":"x","shape":[3],"datatype":"FP32","data":[1,2]}]}"#,
                None
            )
            .contains("input `x`: shape [3] needs 3 values, `data` has 2")
        );
        assert!(
            err(
                br#"{"inputs":[{"name":"x","shape":[1],"datatype":"BYTES","data":["a"]}]}"#,
                None
            )
            .contains("unsupported datatype `BYTES`")
        );
        assert!(
            err(
                br#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32"}]}"#,
                None
            )
            .contains("has no `data`")
        );
        let header = br#"{"inputs":[{"name":"x","shape":[4],"datatype":"FP32","parameters":{"binary_data_size":16}}]}"#;
        let mut truncated = header.to_vec();
        truncated.extend_from_slice(&[0u8; 10]);
        assert!(
            err(&truncated, Some(header.len())).contains("only 10 bytes of binary data remain")
        );
        assert!(err(header, Some(header.len() + 5)).contains("Inference-Header-Content-Length"));
        let mut extra = header.to_vec();
        extra.extend_from_slice(&[0u8; 20]);
        assert!(err(&extra, Some(header.len())).contains("4 bytes of binary data"));
        assert!(
            err(br#"{"inputs":[{"name":"x","shape":[4294967296,4294967296,16],"datatype":"FP32","data":[]}]}"#, None)
                .contains("too large")
        );
    }
}
