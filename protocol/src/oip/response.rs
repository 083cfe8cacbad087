//! Encoding responses: infer results (JSON or binary), metadata, health and errors.

use super::data::JsonData;
use super::request::{InputBody, decode_input};
use super::{InferRequest, OipError, Tensor};
use crate::DType;
use serde::Serialize;
use serde_json::json;

/// A response body; `json_len` is set when binary tensors follow the JSON (send it as the
/// `Inference-Header-Content-Length` header).
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedBody {
    pub body: Vec<u8>,
    pub json_len: Option<usize>,
}

impl EncodedBody {
    pub fn content_type(&self) -> &'static str {
        match self.json_len {
            Some(_) => "application/octet-stream",
            None => "application/json",
        }
    }
}

/// A tensor in model metadata; `None` dimensions are free (`-1` on the wire).
#[derive(Clone, Debug, PartialEq)]
pub struct TensorDescription {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<Option<u64>>,
}

/// What the metadata endpoint says about a model.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelDescription {
    pub name: String,
    pub version: String,
    pub platform: String,
    pub inputs: Vec<TensorDescription>,
    pub outputs: Vec<TensorDescription>,
    /// The model's properties (ONNX `metadata_props`: labels, dictionaries...), sent as the
    /// protocol's `parameters` when there are any.
    pub parameters: Vec<(String, String)>,
}

#[derive(Serialize)]
struct OutputJson<'a> {
    name: &'a str,
    datatype: &'static str,
    shape: &'a [u64],
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<JsonData<'a>>,
}

#[derive(Serialize)]
struct ResponseJson<'a> {
    model_name: &'a str,
    model_version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    outputs: Vec<OutputJson<'a>>,
}

/// Encodes the outputs the request asked for (all, in model order, when it named none).
/// An output name the model does not have is a 400 that lists the ones it has.
pub fn encode_response(
    model_name: &str,
    model_version: &str,
    request: &InferRequest,
    outputs: &[Tensor],
) -> Result<EncodedBody, OipError> {
    let selected: Vec<&Tensor> = if request.outputs.is_empty() {
        outputs.iter().collect()
    } else {
        request
            .outputs
            .iter()
            .map(|wanted| {
                outputs
                    .iter()
                    .find(|t| t.name == wanted.name)
                    .ok_or_else(|| {
                        let names: Vec<&str> = outputs.iter().map(|t| t.name.as_str()).collect();
                        OipError::bad_request(format!(
                            "unknown output `{}`; the model's outputs are: {}",
                            wanted.name,
                            names.join(", ")
                        ))
                    })
            })
            .collect::<Result<_, _>>()?
    };

    let mut binary_tail = Vec::new();
    let json_outputs = selected
        .iter()
        .map(|t| {
            let binary = request.wants_binary(&t.name);
            if binary {
                binary_tail.extend_from_slice(&t.data);
            }
            OutputJson {
                name: &t.name,
                datatype: t.dtype.oip_name(),
                shape: &t.shape,
                parameters: binary.then(|| json!({ "binary_data_size": t.data.len() })),
                data: (!binary).then_some(JsonData {
                    dtype: t.dtype,
                    bytes: &t.data,
                }),
            }
        })
        .collect();
    let response = ResponseJson {
        model_name,
        model_version,
        id: request.id.as_deref(),
        outputs: json_outputs,
    };
    let mut body = serde_json::to_vec(&response).expect("serializing to memory cannot fail");
    let any_binary = selected.iter().any(|t| request.wants_binary(&t.name));
    let json_len = any_binary.then_some(body.len());
    body.extend_from_slice(&binary_tail);
    Ok(EncodedBody { body, json_len })
}

/// A decoded infer response.
#[derive(Clone, Debug, PartialEq)]
pub struct InferResponse {
    pub model_name: String,
    pub model_version: String,
    pub id: Option<String>,
    pub outputs: Vec<Tensor>,
}

#[derive(serde::Deserialize)]
struct ResponseBody<'a> {
    model_name: String,
    model_version: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(borrow)]
    outputs: Vec<InputBody<'a>>,
}

/// Decodes an infer response body (JSON, or JSON header + binary tensors when `json_len` is
/// the `Inference-Header-Content-Length` header). An output reads exactly as a request's
/// input does, so the two share one tensor decoder.
pub fn decode_response(body: &[u8], json_len: Option<usize>) -> Result<InferResponse, OipError> {
    let (json, mut binary) = match json_len {
        Some(n) if n <= body.len() => body.split_at(n),
        Some(n) => {
            return Err(OipError::new(
                502,
                format!(
                    "the response claims a {n}-byte JSON header in a {}-byte body",
                    body.len()
                ),
            ));
        }
        None => (body, &[][..]),
    };
    let bad = |e: String| OipError::new(502, format!("malformed infer response: {e}"));
    let json = std::str::from_utf8(json).map_err(|e| bad(e.to_string()))?;
    let parsed: ResponseBody = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
    let outputs = parsed
        .outputs
        .into_iter()
        .map(|o| decode_input(o, &mut binary).map_err(|e| bad(e.message)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(InferResponse {
        model_name: parsed.model_name,
        model_version: parsed.model_version,
        id: parsed.id,
        outputs,
    })
}

/// `{"error": message}`, the body of every failed request.
pub fn error_body(message: &str) -> Vec<u8> {
    json_bytes(json!({ "error": message }))
}

/// `GET /v2`.
pub fn server_metadata_body(name: &str, version: &str) -> Vec<u8> {
    json_bytes(json!({
        "name": name,
        "version": version,
        "extensions": ["binary_tensor_data"],
    }))
}

pub fn server_live_body() -> Vec<u8> {
    json_bytes(json!({ "live": true }))
}

pub fn server_ready_body(ready: bool) -> Vec<u8> {
    json_bytes(json!({ "ready": ready }))
}

pub fn model_ready_body(name: &str, version: &str, ready: bool) -> Vec<u8> {
    json_bytes(json!({ "name": name, "version": version, "ready": ready }))
}

/// `GET /v2/models/{name}[/versions/{v}]`.
pub fn model_metadata_body(model: &ModelDescription) -> Vec<u8> {
    let tensors = |list: &[TensorDescription]| -> Vec<serde_json::Value> {
        list.iter()
            .map(|t| {
                let shape: Vec<i64> = t.shape.iter().map(|d| d.map_or(-1, |n| n as i64)).collect();
                json!({ "name": t.name, "datatype": t.dtype.oip_name(), "shape": shape })
            })
            .collect()
    };
    let mut body = json!({
        "name": model.name,
        "versions": [model.version],
        "platform": model.platform,
        "inputs": tensors(&model.inputs),
        "outputs": tensors(&model.outputs),
    });
    if !model.parameters.is_empty() {
        let parameters: serde_json::Map<String, serde_json::Value> = model
            .parameters
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        body["parameters"] = serde_json::Value::Object(parameters);
    }
    json_bytes(body)
}

fn json_bytes(value: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&value).expect("serializing to memory cannot fail")
}

#[cfg(test)]
mod tests {
    use super::super::{RequestedOutput, decode_request};
    use super::*;

    fn outputs() -> Vec<Tensor> {
        vec![
            Tensor {
                name: "probs".into(),
                dtype: DType::F32,
                shape: vec![1, 2],
                data: [0.25f32, 0.75]
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect(),
            },
            Tensor {
                name: "label".into(),
                dtype: DType::I64,
                shape: vec![1],
                data: 1i64.to_le_bytes().to_vec(),
            },
        ]
    }

    fn request(outputs: Vec<RequestedOutput>, binary_output: bool) -> InferRequest {
        InferRequest {
            id: Some("7".into()),
            inputs: vec![],
            outputs,
            binary_output,
        }
    }

    #[test]
    fn json_response() {
        let r = encode_response("m", "1", &request(vec![], false), &outputs()).unwrap();
        assert_eq!(r.json_len, None);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            v,
            json!({"model_name":"m","model_version":"1","id":"7","outputs":[
                {"name":"probs","datatype":"FP32","shape":[1,2],"data":[0.25,0.75]},
                {"name":"label","datatype":"INT64","shape":[1],"data":[1]}]})
        );
    }

    #[test]
    fn binary_response_selected_output() {
        let wanted = vec![RequestedOutput {
            name: "probs".into(),
            binary: Some(true),
        }];
        let r = encode_response("m", "1", &request(wanted, false), &outputs()).unwrap();
        let n = r.json_len.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&r.body[..n]).unwrap();
        assert_eq!(v["outputs"].as_array().unwrap().len(), 1);
        assert_eq!(v["outputs"][0]["parameters"]["binary_data_size"], 8);
        assert_eq!(&r.body[n..], &outputs()[0].data[..]);
    }

    #[test]
    fn unknown_output_lists_the_real_ones() {
        let wanted = vec![RequestedOutput {
            name: "nope".into(),
            binary: None,
        }];
        let e = encode_response("m", "1", &request(wanted, false), &outputs()).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("probs, label"), "{}", e.message);
    }

    #[test]
    fn responses_decode_back_to_their_tensors() {
        for binary in [false, true] {
            let r = encode_response("m", "1", &request(vec![], binary), &outputs()).unwrap();
            let back = decode_response(&r.body, r.json_len).unwrap();
            assert_eq!(back.outputs, outputs());
            assert_eq!(
                (back.model_name.as_str(), back.id.as_deref()),
                ("m", Some("7"))
            );
        }
        let e = decode_response(b"{}", None).unwrap_err();
        assert_eq!(e.status, 502);
        assert!(
            e.message.contains("malformed infer response"),
            "{}",
            e.message
        );
    }

    #[test]
    fn binary_requests_decode_back_to_their_inputs() {
        let encoded = super::super::encode_binary_request(&outputs());
        let back = decode_request(&encoded.body, encoded.json_len).unwrap();
        assert_eq!(back.inputs, outputs());
        assert!(back.binary_output);
    }

    #[test]
    fn response_decodes_as_request_data() {
        // The codec reads its own output: the JSON data of a response parses back to the bytes.
        let r = encode_response("m", "1", &request(vec![], false), &outputs()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let out = &v["outputs"][0];
        let req = json!({"inputs":[{"name":"probs","shape":out["shape"],"datatype":"FP32","data":out["data"]}]});
        let back = decode_request(req.to_string().as_bytes(), None).unwrap();
        assert_eq!(back.inputs[0].data, outputs()[0].data);
    }
}
