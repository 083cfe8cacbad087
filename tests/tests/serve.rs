//! `edgeinfer serve` end to end over real HTTP on 127.0.0.1: the Open Inference Protocol v2
//! answered by the packed component's own wasi:http handler, JSON and binary tensors matching
//! onnxruntime, every error path, the traffic split, hot reload under load, `/metrics`, and
//! the same bytes from a third-party host (`jco serve`, `wasmtime serve` when installed) and
//! from the Fastly package under Viceroy.

mod common;

use common::*;
use edgeinfer::serve::{self, ModelSpec, ServeOptions, WeightSpec};
use serde_json::{Value, json};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const CLS_OUTPUT: &str = "save_infer_model/scale_0.tmp_1";

fn cls() -> ModelCase {
    model_case("real", "ppocr-cls")
}

/// The batch-2 classifier, packed as version `version` into its own file.
fn cls_wasm(file: &str, version: &str) -> PathBuf {
    pack_variant(&cls(), file, version, &[])
}

struct TestServer {
    runtime: tokio::runtime::Runtime,
    running: Option<serve::Running>,
    base: String,
}

impl TestServer {
    fn start(options: ServeOptions) -> TestServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let running = runtime
            .block_on(serve::start(ServeOptions {
                listen: "127.0.0.1:0".into(),
                cache_dir: Some(cache_dir()),
                ..options
            }))
            .expect("server starts");
        let base = format!("http://{}", running.addr);
        TestServer {
            runtime,
            running: Some(running),
            base,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            self.runtime.block_on(running.shutdown());
        }
    }
}

fn spec(path: &Path) -> ModelSpec {
    ModelSpec::parse(path.to_str().unwrap()).unwrap()
}

struct Reply {
    status: u16,
    content_type: Option<String>,
    header_len: Option<usize>,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        let end = self.header_len.unwrap_or(self.body.len());
        serde_json::from_slice(&self.body[..end])
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

fn read_reply(mut response: ureq::http::Response<ureq::Body>) -> Reply {
    let header_len = response
        .headers()
        .get("inference-header-content-length")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let body = response
        .body_mut()
        .with_config()
        .limit(256 << 20)
        .read_to_vec()
        .unwrap();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    Reply {
        status: response.status().as_u16(),
        content_type,
        header_len,
        body,
    }
}

fn post(url: &str, body: &[u8], header_len: Option<usize>) -> Reply {
    let mut request = agent().post(url).header("content-type", "application/json");
    if let Some(n) = header_len {
        request = request
            .header("inference-header-content-length", n.to_string())
            .header("content-type", "application/octet-stream");
    }
    read_reply(request.send(body).expect("request sent"))
}

fn get(url: &str) -> Reply {
    read_reply(agent().get(url).call().expect("request sent"))
}

/// The reference input as an OIP JSON body (written by models/fetch).
fn json_request() -> Vec<u8> {
    std::fs::read(cls().dir.join("request.json")).expect("request.json (run models/fetch)")
}

/// The reference input as a binary-extension body asking for a binary output.
fn binary_request() -> (Vec<u8>, usize) {
    let x = &cls().inputs()[0];
    let header = json!({
        "id": "bin",
        "inputs": [{"name": "x", "shape": x.shape, "datatype": "FP32",
                    "parameters": {"binary_data_size": x.data.len()}}],
        "outputs": [{"name": CLS_OUTPUT, "parameters": {"binary_data": true}}],
    })
    .to_string()
    .into_bytes();
    let mut body = header.clone();
    body.extend_from_slice(&x.data);
    (body, header.len())
}

fn f32_values(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// Checks an infer reply against onnxruntime's reference output; returns the values.
fn check_cls_reply(reply: &Reply) -> Vec<f32> {
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let v = reply.json();
    let out = &v["outputs"][0];
    assert_eq!(out["name"], CLS_OUTPUT);
    assert_eq!(out["datatype"], "FP32");
    assert_eq!(out["shape"], json!([2, 2]));
    let values: Vec<f32> = match reply.header_len {
        Some(n) => f32_values(&reply.body[n..]),
        None => out["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect(),
    };
    let expected = &cls().expected()[0];
    let got = edgeinfer::Tensor::from_f32(CLS_OUTPUT, &[2, 2], &values);
    let diff = got.max_abs_diff(expected).unwrap();
    assert!(
        diff <= cls().tolerance,
        "differs from onnxruntime by {diff:e}"
    );
    // Row 0 is the upright line (label "0"), row 1 the rotated one ("180").
    assert!(values[0] > values[1] && values[3] > values[2], "{values:?}");
    values
}

#[test]
fn json_and_binary_requests_match_onnxruntime() {
    let wasm = cls_wasm("serve-cls", "1");
    let server = TestServer::start(ServeOptions {
        models: vec![spec(&wasm)],
        ..ServeOptions::default()
    });
    let url = server.url("/v2/models/ppocr-cls/infer");
    let from_json = check_cls_reply(&post(&url, &json_request(), None));
    let (body, header_len) = binary_request();
    let binary = post(&url, &body, Some(header_len));
    assert_eq!(binary.json()["id"], "bin");
    assert_eq!(
        binary.json()["outputs"][0]["parameters"]["binary_data_size"],
        16
    );
    let from_binary = check_cls_reply(&binary);
    // JSON prints f32 exactly (shortest round-trip form): both paths give the same numbers.
    assert_eq!(from_json, from_binary);

    // Metadata, health and readiness, routed by name and by version.
    let meta = get(&server.url("/v2/models/ppocr-cls"));
    assert_eq!(meta.status, 200);
    let meta = meta.json();
    assert_eq!(meta["versions"], json!(["1"]));
    assert_eq!(
        meta["inputs"][0],
        json!({"name": "x", "datatype": "FP32", "shape": [2, 3, 48, 192]})
    );
    // The model's properties (ONNX metadata_props and producer) as the protocol's parameters.
    assert_eq!(meta["parameters"], json!({"onnx.producer": "PaddlePaddle"}));
    assert_eq!(
        get(&server.url("/v2/models/ppocr-cls/versions/1/ready")).json()["ready"],
        true
    );
    assert_eq!(get(&server.url("/v2/health/live")).status, 200);
    assert_eq!(get(&server.url("/v2/health/ready")).json()["ready"], true);
    assert_eq!(
        get(&server.url("/v2")).json()["extensions"],
        json!(["binary_tensor_data"])
    );
}

#[test]
fn every_error_path_has_its_status_and_message() {
    let wasm = cls_wasm("serve-cls", "1");
    let server = TestServer::start(ServeOptions {
        models: vec![spec(&wasm)],
        max_body_bytes: 1 << 20,
        ..ServeOptions::default()
    });
    let infer = server.url("/v2/models/ppocr-cls/infer");
    let cases: Vec<(&str, Reply, u16, &str)> = vec![
        (
            "malformed JSON",
            post(&infer, b"{\"inputs\": [", None),
            400,
            "malformed infer request",
        ),
        (
            "unknown model",
            post(&server.url("/v2/models/nope/infer"), b"{}", None),
            404,
            "unknown model `nope`; this server serves: ppocr-cls",
        ),
        (
            "unknown version",
            post(
                &server.url("/v2/models/ppocr-cls/versions/9/infer"),
                b"{}",
                None,
            ),
            404,
            "has no version `9`",
        ),
        (
            "wrong shape",
            post(
                &infer,
                br#"{"inputs":[{"name":"x","shape":[1,3,48,192],"datatype":"FP32","data":[0]}]}"#,
                None,
            ),
            400,
            "input `x`: shape [1,3,48,192] needs 27648 values, `data` has 1",
        ),
        (
            "shape the model refuses",
            post(&infer, &zeros_request("x", &[1, 3, 48, 192], "FP32"), None),
            400,
            "input `x`",
        ),
        (
            "wrong dtype",
            post(&infer, &zeros_request("x", &[2, 3, 48, 192], "INT64"), None),
            400,
            "input `x`",
        ),
        (
            "unknown input",
            post(&infer, &zeros_request("y", &[2, 3, 48, 192], "FP32"), None),
            400,
            "unknown input `y`; the model's inputs are: x",
        ),
        (
            "unknown output",
            post(
                &infer,
                &with_outputs(&json_request(), json!([{"name": "nope"}])),
                None,
            ),
            400,
            "unknown output `nope`",
        ),
        (
            "truncated binary body",
            {
                let (mut body, n) = binary_request();
                body.truncate(body.len() - 100);
                post(&infer, &body, Some(n))
            },
            400,
            "binary data remain in the body",
        ),
        (
            "oversized body (Content-Length)",
            raw_post(
                &server.base,
                "/v2/models/ppocr-cls/infer",
                "Content-Length: 2097152\r\n",
                b"",
            ),
            413,
            "larger than 1048576 bytes",
        ),
        (
            "oversized body (chunked)",
            raw_post(
                &server.base,
                "/v2/models/ppocr-cls/infer",
                "Transfer-Encoding: chunked\r\n",
                &chunked(&vec![b' '; (1 << 20) + 10]),
            ),
            413,
            "larger than 1048576 bytes",
        ),
        (
            "wrong method",
            get(&infer),
            405,
            "method GET is not allowed",
        ),
        (
            "unknown endpoint",
            get(&server.url("/v1/models")),
            404,
            "no such endpoint",
        ),
    ];
    for (what, reply, status, message) in cases {
        assert_eq!(
            reply.status,
            status,
            "{what}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        let error = reply.error();
        assert!(
            error.contains(message),
            "{what}: `{error}` lacks `{message}`"
        );
    }
    // After all that the server still answers correctly.
    check_cls_reply(&post(&infer, &json_request(), None));
}

/// Slow and idle clients hold a connection for a bounded time, never an instance; a full
/// server says so with 503 + Retry-After; and it keeps answering throughout.
#[test]
fn slow_idle_and_excess_clients_are_cut_off() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    let wasm = cls_wasm("serve-cls", "1");
    let server = TestServer::start(ServeOptions {
        models: vec![spec(&wasm)],
        header_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(1),
        max_connections: 8,
        ..ServeOptions::default()
    });
    let addr = server.base.trim_start_matches("http://").to_string();
    let open = |first_bytes: &[u8]| {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(first_bytes).unwrap();
        s
    };
    // Reads until the server closes; returns what it sent and how long that took.
    let until_closed = |mut s: TcpStream| {
        let started = Instant::now();
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        (String::from_utf8_lossy(&got).to_string(), started.elapsed())
    };

    // Slowloris: request lines whose headers never end are closed at the header timeout.
    let half_open: Vec<TcpStream> = (0..6)
        .map(|_| open(b"POST /v2/models/ppocr-cls/infer HTTP/1.1\r\nHost: t\r\n"))
        .collect();
    for s in half_open {
        let (_, took) = until_closed(s);
        assert!(
            took < Duration::from_secs(5),
            "half-open connection held {took:?}"
        );
    }
    // An idle kept-alive connection is closed as well, after its answer.
    let mut idle = open(b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\n\r\n");
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let (_, took) = until_closed(idle);
    assert!(
        took < Duration::from_secs(5),
        "idle connection held {took:?}"
    );
    // A body that trickles in gets 408 at the body timeout.
    let slow = open(
        b"POST /v2/models/ppocr-cls/infer HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n{",
    );
    let (answer, took) = until_closed_or_answered(slow);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("did not arrive within 1 s"), "{answer}");
    assert!(took < Duration::from_secs(5), "{took:?}");

    // Past --max-connections: 503, Retry-After, closed; the held ones still work after.
    let held: Vec<TcpStream> = (0..8).map(|_| open(b"")).collect();
    std::thread::sleep(Duration::from_millis(200));
    let (answer, _) = until_closed(open(b""));
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.to_lowercase().contains("retry-after: 1"), "{answer}");
    assert!(
        answer.contains("too many open connections (the limit is 8)"),
        "{answer}"
    );
    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    check_cls_reply(&post(
        &server.url("/v2/models/ppocr-cls/infer"),
        &json_request(),
        None,
    ));
}

/// Reads a response whose connection may stay open: up to the end of its JSON body.
fn until_closed_or_answered(mut s: std::net::TcpStream) -> (String, Duration) {
    use std::io::Read;
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if got.ends_with(b"}") {
            break;
        }
    }
    (String::from_utf8_lossy(&got).to_string(), started.elapsed())
}

/// With every instance busy and no room to wait (`max_queued` 0), a request gets 503 and
/// Retry-After at once; the others are answered correctly.
#[test]
fn a_full_server_answers_503_with_retry_after() {
    let wasm = cls_wasm("serve-cls", "1");
    let server = TestServer::start(ServeOptions {
        models: vec![spec(&wasm)],
        max_concurrency: 1,
        max_queued: 0,
        ..ServeOptions::default()
    });
    let url = server.url("/v2/models/ppocr-cls/infer");
    let body = json_request();
    let mut refused = None;
    // Bounded: 20 rounds of 6 simultaneous requests; one overlap is enough.
    for _ in 0..20 {
        let barrier = Barrier::new(6);
        let replies: Vec<(u16, Option<String>, Vec<u8>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..6)
                .map(|_| {
                    scope.spawn(|| {
                        barrier.wait();
                        let mut r = agent()
                            .post(&url)
                            .header("content-type", "application/json")
                            .send(&body[..])
                            .unwrap();
                        let retry = r
                            .headers()
                            .get("retry-after")
                            .map(|v| v.to_str().unwrap().to_string());
                        let status = r.status().as_u16();
                        let bytes = r.body_mut().read_to_vec().unwrap();
                        (status, retry, bytes)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (status, retry, bytes) in replies {
            match status {
                200 => {
                    check_cls_reply(&Reply {
                        status,
                        content_type: None,
                        header_len: None,
                        body: bytes,
                    });
                }
                503 => refused = Some((retry, String::from_utf8_lossy(&bytes).to_string())),
                other => panic!("status {other}: {}", String::from_utf8_lossy(&bytes)),
            };
        }
        if refused.is_some() {
            break;
        }
    }
    let (retry, message) = refused.expect("six simultaneous requests never overlapped");
    assert_eq!(retry.as_deref(), Some("1"));
    assert!(message.contains("all 1 instances are busy"), "{message}");
}

/// A request written by hand on a socket: the server answers an oversized body without
/// reading it, which an HTTP client still sending the body sees as a broken pipe.
fn raw_post(base: &str, path: &str, headers: &str, body: &[u8]) -> Reply {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let head = format!("POST {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{headers}\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let _ = stream.write_all(body); // the server may stop reading early
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.as_bytes().to_vec())
        .unwrap_or_default();
    Reply {
        status,
        content_type: None,
        header_len: None,
        body,
    }
}

fn chunked(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in body.chunks(64 << 10) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

fn zeros_request(name: &str, shape: &[usize], datatype: &str) -> Vec<u8> {
    let n: usize = shape.iter().product();
    json!({"inputs": [{"name": name, "shape": shape, "datatype": datatype, "data": vec![0; n]}]})
        .to_string()
        .into_bytes()
}

fn with_outputs(body: &[u8], outputs: Value) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(body).unwrap();
    v["outputs"] = outputs;
    v.to_string().into_bytes()
}

#[test]
fn traffic_split_follows_the_weights() {
    let v1 = cls_wasm("serve-split-v1", "1");
    let v2 = cls_wasm("serve-split-v2", "2");
    let server = TestServer::start(ServeOptions {
        models: vec![spec(&v1), spec(&v2)],
        weights: vec![
            WeightSpec::parse("ppocr-cls@1=90").unwrap(),
            WeightSpec::parse("ppocr-cls@2=10").unwrap(),
        ],
        ..ServeOptions::default()
    });
    let url = server.url("/v2/models/ppocr-cls/infer");
    let body = json_request();
    let mut v2_count = 0;
    for _ in 0..100 {
        let reply = post(&url, &body, None);
        assert_eq!(reply.status, 200);
        if reply.json()["model_version"] == "2" {
            v2_count += 1;
        }
    }
    // Smooth weighted round-robin: every 100 consecutive requests split exactly 90/10.
    assert_eq!(v2_count, 10);
    // A version named in the path bypasses the split.
    let pinned = post(
        &server.url("/v2/models/ppocr-cls/versions/2/infer"),
        &body,
        None,
    );
    assert_eq!(pinned.json()["model_version"], "2");
}

#[test]
fn hot_reload_under_load_loses_no_request() {
    let dir = scratch("serve-reload");
    let live = dir.join("cls.wasm");
    std::fs::copy(cls_wasm("serve-reload-v1", "1"), &live).unwrap();
    let v2 = cls_wasm("serve-reload-v2", "2");
    let server = TestServer::start(ServeOptions {
        models: vec![ModelSpec::parse(&format!("ppocr-cls@live={}", live.display())).unwrap()],
        reload_interval: Some(Duration::from_millis(200)),
        ..ServeOptions::default()
    });
    let url = server.url("/v2/models/ppocr-cls/infer");
    let body = Arc::new(json_request());
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed, saw_v2) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let start = Arc::new(Barrier::new(5));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (url, body, stop, ok, failed, saw_v2, start) = (
                url.clone(),
                body.clone(),
                stop.clone(),
                ok.clone(),
                failed.clone(),
                saw_v2.clone(),
                start.clone(),
            );
            std::thread::spawn(move || {
                start.wait();
                while !stop.load(Ordering::Relaxed) {
                    let reply = post(&url, &body, None);
                    if reply.status == 200 {
                        ok.fetch_add(1, Ordering::Relaxed);
                        if reply.json()["model_version"] == "2" {
                            saw_v2.store(true, Ordering::Relaxed);
                        }
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                        eprintln!(
                            "failed during reload: {}",
                            String::from_utf8_lossy(&reply.body)
                        );
                    }
                }
            })
        })
        .collect();
    start.wait();
    std::thread::sleep(Duration::from_millis(300));
    // Deploy a new version the way a user should: write beside, then rename over.
    let staging = dir.join("cls.wasm.new");
    std::fs::copy(&v2, &staging).unwrap();
    std::fs::rename(&staging, &live).unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    while !saw_v2.load(Ordering::Relaxed) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    assert!(
        saw_v2.load(Ordering::Relaxed),
        "the new file never took traffic"
    );
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during the reload"
    );
    assert!(ok.load(Ordering::Relaxed) > 20);
    let metrics = String::from_utf8(get(&server.url("/metrics")).body).unwrap();
    assert!(
        metrics.contains(
            r#"edgeinfer_model_reloads_total{model="ppocr-cls",version="live",result="ok"} 1"#
        ),
        "{metrics}"
    );
}

/// `/metrics`, parsed (it must parse).
fn scrape_metrics(server: &TestServer) -> prometheus_parse::Scrape {
    let text = String::from_utf8(get(&server.url("/metrics")).body).unwrap();
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    prometheus_parse::Scrape::parse(lines.into_iter().map(Ok)).expect("parses")
}

/// The value of the sample `name` with these labels (among others).
fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
        .unwrap_or_else(|| panic!("no sample {name} {labels:?} in {:?}", scrape.samples))
}

#[test]
fn metrics_parse_as_prometheus_text_and_count_requests() {
    let wasm = cls_wasm("serve-cls", "1");
    let server = TestServer::start(ServeOptions {
        models: vec![spec(&wasm)],
        ..ServeOptions::default()
    });
    let url = server.url("/v2/models/ppocr-cls/infer");
    for _ in 0..3 {
        assert_eq!(post(&url, &json_request(), None).status, 200);
    }
    assert_eq!(post(&url, b"not json", None).status, 400);
    // The in-flight gauge falls when a call's instance is dropped, just after its answer is
    // sent (the slot's reset is not the client's to wait for): scrape until it is back to 0,
    // for a bounded time.
    let settled = Instant::now() + Duration::from_secs(10);
    let scrape = loop {
        let scrape = scrape_metrics(&server);
        let in_flight = sample(&scrape, "edgeinfer_instances_in_flight", &[]);
        if in_flight == 0.0 || Instant::now() > settled {
            break scrape;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let value = |name: &str, labels: &[(&str, &str)]| sample(&scrape, name, labels);
    let model = [("model", "ppocr-cls"), ("version", "1")];
    assert_eq!(
        value(
            "edgeinfer_requests_total",
            &[model[0], model[1], ("status", "200")]
        ),
        3.0
    );
    assert_eq!(
        value(
            "edgeinfer_requests_total",
            &[model[0], model[1], ("status", "400")]
        ),
        1.0
    );
    assert_eq!(value("edgeinfer_errors_total", &model), 1.0);
    assert_eq!(value("edgeinfer_instances_in_flight", &[]), 0.0);
    let histogram = scrape
        .samples
        .iter()
        .find(|s| s.metric == "edgeinfer_request_duration_seconds")
        .expect("latency histogram");
    match &histogram.value {
        prometheus_parse::Value::Histogram(buckets) => {
            assert_eq!(buckets.last().unwrap().count, 4.0);
        }
        other => panic!("not a histogram: {other:?}"),
    }
}

#[test]
fn cli_serves_and_shuts_down_on_sigterm() {
    let wasm = cls_wasm("serve-cls", "1");
    let port = free_port();
    let mut child = Command::new(edgeinfer_bin())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg(&wasm)
        .env("EDGEINFER_CACHE_DIR", cache_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(
        &format!("{base}/v2/health/ready"),
        &mut child,
        Duration::from_secs(120),
    );
    check_cls_reply(&post(
        &format!("{base}/v2/models/ppocr-cls/infer"),
        &json_request(),
        None,
    ));
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}: {stderr}",
        output.status
    );
    assert!(stdout.contains(&format!("listening on {base}")), "{stdout}");
    assert!(stdout.contains("shutting down"), "{stdout}");
    // Structured access log line for the request.
    assert!(
        stderr.contains("path=/v2/models/ppocr-cls/infer") && stderr.contains("status=200"),
        "{stderr}"
    );
}

/// `jco serve` (Node, @bytecodealliance/jco from tests/hosts/package.json) runs the same
/// .wasm: its answers must be byte for byte those of `edgeinfer serve`.
#[test]
fn jco_serve_gives_the_same_bytes() {
    let hosts = root().join("tests").join("hosts");
    let jco = hosts.join("node_modules/.bin/jco");
    assert!(
        jco.exists(),
        "{} is missing: run `npm ci --prefix tests/hosts` (scripts/test.sh does)",
        jco.display()
    );
    let port = free_port();
    let mut command = Command::new(&jco);
    command
        .args(["serve", "--host", "127.0.0.1", "--port", &port.to_string()])
        .current_dir(&hosts);
    same_bytes_as_edgeinfer_serve(command, port);
}

/// `wasmtime serve -Scli` when wasmtime-cli is installed (`cargo install wasmtime-cli@48.0.8
/// --locked`, ~17 minutes on 2 cores; not in CI).
#[test]
fn wasmtime_serve_gives_the_same_bytes() {
    let Ok(found) = Command::new("wasmtime").arg("--version").output() else {
        eprintln!("skipped: `wasmtime` is not on PATH");
        return;
    };
    eprintln!("using {}", String::from_utf8_lossy(&found.stdout).trim());
    let port = free_port();
    let mut command = Command::new("wasmtime");
    command.args(["serve", "-Scli", "--addr", &format!("127.0.0.1:{port}")]);
    same_bytes_as_edgeinfer_serve(command, port);
}

/// `edgeinfer pack --target fastly` on the classifier, run by Viceroy (Fastly's local
/// runtime, `cargo install --locked viceroy@0.22.0`; `.ci/run` installs it): the Fastly
/// module answers byte for byte what `edgeinfer serve` answers with the component.
#[test]
fn viceroy_runs_the_fastly_package_with_the_same_bytes() {
    let viceroy = Command::new("viceroy").arg("--version").output();
    assert!(
        viceroy.as_ref().is_ok_and(|o| o.status.success()),
        "`viceroy` is not on PATH: `cargo install --locked viceroy@0.22.0` (.ci/run does)"
    );
    let dir = scratch("fastly-cls");
    let shapes: Vec<String> = cls()
        .input_shapes
        .iter()
        .map(|s| format!("--input-shape={}={}", s.name, s.dims.join(",")))
        .collect();
    let packed = Command::new(edgeinfer_bin())
        .args(["pack", "--target", "fastly", "--name", "ppocr-cls", "-o"])
        .arg(dir.join("pkg"))
        .args(&shapes)
        .arg(cls().onnx())
        .env("EDGEINFER_CACHE_DIR", cache_dir())
        .output()
        .unwrap();
    assert!(
        packed.status.success(),
        "{}",
        String::from_utf8_lossy(&packed.stderr)
    );
    // Run what `fastly compute deploy` would upload: the files inside the tarball.
    let unpacked = dir.join("unpacked");
    let tar = Command::new("tar")
        .arg("xzf")
        .arg(dir.join("pkg/ppocr-cls.tar.gz"))
        .arg("-C")
        .arg({
            std::fs::create_dir_all(&unpacked).unwrap();
            &unpacked
        })
        .status()
        .unwrap();
    assert!(tar.success());
    let wasm = unpacked.join("ppocr-cls/bin/main.wasm");
    let toml = unpacked.join("ppocr-cls/fastly.toml");
    assert_eq!(
        std::fs::read(&wasm).unwrap(),
        std::fs::read(dir.join("pkg/ppocr-cls/bin/main.wasm")).unwrap(),
        "the tarball holds the module pack wrote"
    );
    let manifest = std::fs::read_to_string(&toml).unwrap();
    assert!(
        manifest.contains("manifest_version = 3") && manifest.contains("name = \"ppocr-cls\""),
        "{manifest}"
    );

    // `fit` takes components; on the module it says what to run instead.
    let fit = Command::new(edgeinfer_bin())
        .arg("fit")
        .arg(&wasm)
        .output()
        .unwrap();
    assert_eq!(fit.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&fit.stderr).contains("--target fastly --report"),
        "{}",
        String::from_utf8_lossy(&fit.stderr)
    );

    let ours = TestServer::start(ServeOptions {
        models: vec![spec(&cls_wasm("serve-cls", "1"))],
        ..ServeOptions::default()
    });
    let port = free_port();
    let child = Command::new("viceroy")
        .arg(&wasm)
        .arg("-C")
        .arg(&toml)
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut child = Reaped(child);
    let theirs = format!("http://127.0.0.1:{port}");
    wait_ready(
        &format!("{theirs}/v2/health/ready"),
        &mut child.0,
        Duration::from_secs(180),
    );
    compare_hosts(&ours.base, &theirs);
}

/// Starts a third-party host on the classifier (`command` + the .wasm) and compares its
/// answers with `edgeinfer serve`'s.
fn same_bytes_as_edgeinfer_serve(mut command: Command, port: u16) {
    let wasm = cls_wasm("serve-cls", "1");
    let ours = TestServer::start(ServeOptions {
        models: vec![spec(&wasm)],
        ..ServeOptions::default()
    });
    let child = command
        .arg(&wasm)
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut child = Reaped(child);
    let theirs = format!("http://127.0.0.1:{port}");
    wait_ready(
        &format!("{theirs}/v2/health/ready"),
        &mut child.0,
        Duration::from_secs(180),
    );
    compare_hosts(&ours.base, &theirs);
}

/// Every request whose answer comes from the model's guest (not from `edgeinfer serve`'s own
/// router: its model list, versions, limits) gets the same status, headers of the protocol and
/// body bytes from both servers.
fn compare_hosts(ours: &str, theirs: &str) {
    let infer = "/v2/models/ppocr-cls/infer";
    let (binary, n) = binary_request();
    let truncated = binary[..binary.len() - 100].to_vec();
    let requests: Vec<(&str, Vec<u8>, Option<usize>)> = vec![
        ("json", json_request(), None),
        ("binary", binary, Some(n)),
        (
            "bad shape",
            zeros_request("x", &[1, 3, 48, 192], "FP32"),
            None,
        ),
        (
            "wrong dtype",
            zeros_request("x", &[2, 3, 48, 192], "INT64"),
            None,
        ),
        (
            "unknown input",
            zeros_request("y", &[2, 3, 48, 192], "FP32"),
            None,
        ),
        (
            "unknown output",
            with_outputs(&json_request(), json!([{"name": "nope"}])),
            None,
        ),
        ("truncated binary", truncated, Some(n)),
        ("malformed", b"{".to_vec(), None),
    ];
    for (what, body, header_len) in requests {
        let a = post(&format!("{ours}{infer}"), &body, header_len);
        let b = post(&format!("{theirs}{infer}"), &body, header_len);
        assert_eq!(
            a.status,
            b.status,
            "{what}: {}",
            String::from_utf8_lossy(&b.body)
        );
        assert_eq!(a.content_type, b.content_type, "{what}");
        assert_eq!(a.header_len, b.header_len, "{what}");
        assert_eq!(a.body, b.body, "{what}: bodies differ");
        if what == "json" || what == "binary" {
            check_cls_reply(&b);
        }
    }
    for path in [
        "/v2/models/ppocr-cls",
        "/v2/models/ppocr-cls/versions/1",
        "/v2/models/ppocr-cls/ready",
        "/v2/health/live",
        "/v2/health/ready",
    ] {
        let a = get(&format!("{ours}{path}"));
        let b = get(&format!("{theirs}{path}"));
        assert_eq!(
            (a.status, &a.content_type, &a.body),
            (b.status, &b.content_type, &b.body),
            "GET {path}"
        );
    }
}

/// `--reuse-instances`: an instance that answered (200 or 400) serves the next request of its
/// model, with answers equal to a fresh instance's; one that overran its deadline is dropped,
/// never reused; concurrent requests each get an instance of their own.
#[test]
fn reused_instances_answer_like_fresh_ones_and_one_that_overran_is_dropped() {
    let cls_wasm = cls_wasm("serve-cls", "1");
    let slow = pack_variant(&model_case("test", "slow"), "serve-reuse-slow", "1", &[]);
    let defaults = ServeOptions::default();
    let server = TestServer::start(ServeOptions {
        models: vec![spec(&cls_wasm), spec(&slow)],
        reuse_instances: true,
        runtime: edgeinfer::RuntimeConfig {
            deadline: Some(Duration::from_millis(500)),
            ..defaults.runtime.clone()
        },
        ..defaults
    });
    let url = server.url("/v2/models/ppocr-cls/infer");
    let instances = |model: &str, kind: &str| {
        let scrape = scrape_metrics(&server);
        let labels = [("model", model), ("instance", kind)];
        // A series appears with its first increment.
        let found = scrape.samples.iter().any(|s| {
            s.metric == "edgeinfer_instances_total"
                && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
        });
        if found {
            sample(&scrape, "edgeinfer_instances_total", &labels)
        } else {
            0.0
        }
    };

    let first = check_cls_reply(&post(&url, &json_request(), None));
    for _ in 0..4 {
        assert_eq!(check_cls_reply(&post(&url, &json_request(), None)), first);
    }
    assert_eq!(post(&url, b"not json", None).status, 400);
    assert_eq!(check_cls_reply(&post(&url, &json_request(), None)), first);
    assert_eq!(instances("ppocr-cls", "fresh"), 1.0);
    assert_eq!(instances("ppocr-cls", "reused"), 6.0);

    // The slow model: 300 MatMul+Tanh over [N,128]. 8192 rows take seconds, past 500 ms.
    let slow_url = server.url("/v2/models/slow/infer");
    let rows = |n: usize| zeros_request("x", &[n, 128], "FP32");
    let text = |r: &Reply| String::from_utf8_lossy(&r.body).into_owned();
    let small = post(&slow_url, &rows(1), None);
    assert_eq!(small.status, 200, "{}", text(&small));
    let overrun = post(&slow_url, &rows(8192), None);
    assert_eq!(overrun.status, 504, "{}", text(&overrun));
    let again = post(&slow_url, &rows(1), None);
    assert_eq!(again.status, 200, "{}", text(&again));
    assert_eq!(again.body, small.body);
    // The overrun took the kept instance and was dropped with it: the next call is fresh.
    assert_eq!(instances("slow", "fresh"), 2.0);
    assert_eq!(instances("slow", "reused"), 1.0);

    // Four clients at once: each answer is right, and at most four more instances start.
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..5 {
                    assert_eq!(check_cls_reply(&post(&url, &json_request(), None)), first);
                }
            });
        }
    });
    let fresh = instances("ppocr-cls", "fresh");
    assert!((1.0..=5.0).contains(&fresh), "{fresh} fresh instances");
    assert_eq!(fresh + instances("ppocr-cls", "reused"), 27.0);
}

/// Rows `rows` of the tabular model's reference input as an infer body: JSON or binary,
/// with an id and, when given, the outputs asked for.
fn tabular_request(
    x: &[f32],
    rows: std::ops::Range<usize>,
    binary: bool,
    id: &str,
    outputs: Option<Value>,
) -> (Vec<u8>, Option<usize>) {
    let values = &x[rows.start * 8..rows.end * 8];
    let shape = [rows.len(), 8];
    let mut request = if binary {
        json!({"id": id, "inputs": [{"name": "X", "shape": shape, "datatype": "FP32",
               "parameters": {"binary_data_size": values.len() * 4}}],
               "parameters": {"binary_data_output": true}})
    } else {
        json!({"id": id, "inputs": [{"name": "X", "shape": shape, "datatype": "FP32",
               "data": values}]})
    };
    if let Some(outputs) = outputs {
        request["outputs"] = outputs;
    }
    let mut body = request.to_string().into_bytes();
    let header_len = binary.then_some(body.len());
    if binary {
        body.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    }
    (body, header_len)
}

/// The named outputs of an infer reply as tensors, whether they came as JSON or binary.
fn reply_outputs(reply: &Reply) -> Vec<edgeinfer::Tensor> {
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let v = reply.json();
    let mut tail = &reply.body[reply.header_len.unwrap_or(reply.body.len())..];
    v["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let name = o["name"].as_str().unwrap();
            let shape: Vec<usize> = serde_json::from_value(o["shape"].clone()).unwrap();
            let values = |x: &Value| -> Vec<f64> {
                x.as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap())
                    .collect()
            };
            match (o["datatype"].as_str().unwrap(), o.get("data")) {
                ("FP32", Some(data)) => {
                    let v: Vec<f32> = values(data).iter().map(|&v| v as f32).collect();
                    edgeinfer::Tensor::from_f32(name, &shape, &v)
                }
                ("INT64", Some(data)) => {
                    let bytes = values(data)
                        .iter()
                        .flat_map(|&v| (v as i64).to_le_bytes())
                        .collect();
                    edgeinfer::Tensor::new(name, edgeinfer::DType::I64, &shape, bytes)
                }
                (datatype, None) => {
                    let size = o["parameters"]["binary_data_size"].as_u64().unwrap() as usize;
                    let (mine, rest) = tail.split_at(size);
                    tail = rest;
                    let dtype = edgeinfer::DType::from_oip_name(datatype).unwrap();
                    edgeinfer::Tensor::new(name, dtype, &shape, mine.to_vec())
                }
                (other, _) => panic!("unexpected datatype {other}"),
            }
        })
        .collect()
}

/// The expected tensor `name`, rows `rows` only.
fn expected_rows(
    expected: &[edgeinfer::Tensor],
    name: &str,
    rows: &std::ops::Range<usize>,
) -> edgeinfer::Tensor {
    let t = expected.iter().find(|t| t.name == name).unwrap();
    let row_bytes = t.data.len() / t.shape[0];
    let mut shape = t.shape.clone();
    shape[0] = rows.len();
    let data = t.data[rows.start * row_bytes..rows.end * row_bytes].to_vec();
    edgeinfer::Tensor::new(name, t.dtype, &shape, data)
}

fn batch_counter(server: &TestServer, name: &str, model: &str) -> f64 {
    let scrape = scrape_metrics(server);
    let found = scrape.samples.iter().any(|s| s.metric == name);
    if found {
        sample(&scrape, name, &[("model", model)])
    } else {
        0.0
    }
}

/// `--max-batch`: concurrent requests to a model with a free batch join into one call. Each
/// answer equals onnxruntime's rows and the answer of the same request sent alone, in the
/// form it asked for (JSON or binary, the outputs it named, its id); a request that cannot
/// join, or whose share of a batch cannot be encoded, fails alone with its own message.
#[test]
fn batched_answers_equal_single_answers_and_a_bad_request_fails_alone() {
    let case = model_case("test", "tabular");
    let wasm = pack_variant(&case, "serve-batch-tabular", "1", &[]);
    let server = TestServer::start(ServeOptions {
        models: vec![spec(&wasm)],
        batching: serve::BatchPolicy {
            max_batch: 16,
            // Long enough that requests released together always meet.
            window: Duration::from_millis(250),
        },
        ..ServeOptions::default()
    });
    let url = server.url("/v2/models/tabular/infer");
    let x = case.inputs()[0].to_f32().unwrap();
    let expected = case.expected();

    // (rows, binary, outputs asked for): 16 rows in 8 requests of every form.
    let both = json!([{"name": "probabilities"}, {"name": "label"}]);
    let label_only = json!([{"name": "label", "parameters": {"binary_data": true}}]);
    let sizes = [1, 2, 3, 1, 4, 2, 1, 2];
    let mut start = 0;
    let good: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let rows = start..start + n;
            start += n;
            let outputs = [None, Some(both.clone()), Some(label_only.clone())][i % 3].clone();
            let (body, header_len) =
                tabular_request(&x, rows.clone(), i % 2 == 1, &format!("r{i}"), outputs);
            (rows, body, header_len)
        })
        .collect();
    let unknown_output = tabular_request(&x, 0..1, false, "bad", Some(json!([{"name": "nope"}]))).0;
    let wrong_width = zeros_request("X", &[2, 7], "FP32");
    let wrong_dtype = zeros_request("X", &[2, 8], "INT64");
    let bad = [unknown_output, wrong_width, wrong_dtype];

    let barrier = Barrier::new(good.len() + bad.len());
    let (good_replies, bad_replies) = std::thread::scope(|scope| {
        let good: Vec<_> = good
            .iter()
            .map(|(_, body, header_len)| {
                scope.spawn(|| {
                    barrier.wait();
                    post(&url, body, *header_len)
                })
            })
            .collect();
        let bad: Vec<_> = bad
            .iter()
            .map(|body| {
                scope.spawn(|| {
                    barrier.wait();
                    post(&url, body, None)
                })
            })
            .collect();
        (
            good.into_iter()
                .map(|t| t.join().unwrap())
                .collect::<Vec<_>>(),
            bad.into_iter()
                .map(|t| t.join().unwrap())
                .collect::<Vec<_>>(),
        )
    });
    let batched = batch_counter(&server, "edgeinfer_batched_requests_total", "tabular");
    assert!(
        batched >= 2.0,
        "{batched} requests were answered from a batch"
    );

    for (i, ((rows, body, header_len), reply)) in good.iter().zip(&good_replies).enumerate() {
        let outputs = reply_outputs(reply);
        assert_eq!(reply.json()["id"], format!("r{i}"));
        assert_eq!(
            reply.header_len.is_some(),
            i % 2 == 1 || i % 3 == 2,
            "request {i}"
        );
        let names: Vec<&str> = outputs.iter().map(|t| t.name.as_str()).collect();
        let wanted = [
            vec!["label", "probabilities"],
            vec!["probabilities", "label"],
            vec!["label"],
        ];
        assert_eq!(names, wanted[i % 3], "request {i}");
        for got in &outputs {
            let want = expected_rows(&expected, &got.name, rows);
            let diff = got.max_abs_diff(&want).unwrap();
            assert!(
                diff <= case.tolerance,
                "request {i} `{}` differs by {diff:e}",
                got.name
            );
        }
        // The same request alone: the same answer (labels exactly, scores within 1e-6).
        let alone = reply_outputs(&post(&url, body, *header_len));
        for (a, b) in alone.iter().zip(&outputs) {
            assert_eq!((&a.name, &a.shape, a.dtype), (&b.name, &b.shape, b.dtype));
            assert!(
                a.max_abs_diff(b).unwrap() <= 1e-6,
                "request {i} alone vs batched"
            );
        }
    }
    let messages: Vec<(u16, String)> = bad_replies.iter().map(|r| (r.status, r.error())).collect();
    assert_eq!(messages[0].0, 400);
    assert!(
        messages[0].1.contains("unknown output `nope`"),
        "{messages:?}"
    );
    assert_eq!(messages[1].0, 400);
    assert!(messages[1].1.contains("axis 1 must be 8"), "{messages:?}");
    assert_eq!(messages[2].0, 400);
    assert!(messages[2].1.contains("X"), "{messages:?}");
    assert_eq!(
        batch_counter(&server, "edgeinfer_batches_failed_total", "tabular"),
        0.0
    );
}

/// A batch whose call fails (here: joined rows overrun a deadline each request alone meets)
/// is run again request by request, and every request is answered.
#[test]
fn a_batch_that_overruns_its_deadline_is_run_again_request_by_request() {
    let slow = pack_variant(&model_case("test", "slow"), "serve-batch-slow", "1", &[]);
    const ROWS: usize = 64;
    let body = zeros_request("x", &[ROWS, 128], "FP32");
    // How long ROWS rows take alone here, without batching.
    let alone = {
        let server = TestServer::start(ServeOptions {
            models: vec![spec(&slow)],
            ..ServeOptions::default()
        });
        let url = server.url("/v2/models/slow/infer");
        let mut times: Vec<Duration> = (0..4)
            .map(|_| {
                let t = Instant::now();
                assert_eq!(post(&url, &body, None).status, 200);
                t.elapsed()
            })
            .collect();
        times.sort();
        times[1]
    };
    // Alone a request takes a third of the deadline; 8 joined take 8/3 of it.
    let defaults = ServeOptions::default();
    let server = TestServer::start(ServeOptions {
        models: vec![spec(&slow)],
        max_concurrency: 2,
        batching: serve::BatchPolicy {
            max_batch: 8 * ROWS as u64,
            window: Duration::from_millis(250),
        },
        runtime: edgeinfer::RuntimeConfig {
            deadline: Some(alone * 3),
            ..defaults.runtime.clone()
        },
        ..defaults
    });
    let url = server.url("/v2/models/slow/infer");
    let barrier = Barrier::new(8);
    let replies: Vec<Reply> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    post(&url, &body, None)
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    for reply in &replies {
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        assert_eq!(reply.json()["outputs"][0]["shape"], json!([ROWS, 128]));
    }
    let failed = batch_counter(&server, "edgeinfer_batches_failed_total", "slow");
    assert!(
        failed >= 1.0,
        "no batch failed (one request alone took {alone:?})"
    );
}

/// A call yields to the server's runtime at every epoch tick: while every core runs a call of
/// seconds, health, metadata and metrics answer at once instead of queueing behind it (a
/// Kubernetes probe would otherwise fail under load).
#[test]
fn health_and_metrics_answer_while_every_core_runs_a_long_call() {
    let slow = pack_variant(&model_case("test", "slow"), "serve-busy-slow", "1", &[]);
    let server = TestServer::start(ServeOptions {
        models: vec![spec(&slow)],
        ..ServeOptions::default()
    });
    let url = server.url("/v2/models/slow/infer");
    // 300 MatMul+Tanh over [8192,128]: seconds per call. Twice as many calls as cores keeps
    // every core busy with a queue behind it.
    let body = zeros_request("x", &[8192, 128], "FP32");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let started = Instant::now();
    let (health_at, finished) = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..2 * cores)
            .map(|_| {
                scope.spawn(|| {
                    let reply = post(&url, &body, None);
                    assert_eq!(
                        reply.status,
                        200,
                        "{}",
                        String::from_utf8_lossy(&reply.body)
                    );
                    started.elapsed()
                })
            })
            .collect();
        // Until the calls are running.
        let busy = || {
            sample(
                &scrape_metrics(&server),
                "edgeinfer_instances_in_flight",
                &[],
            )
        };
        while busy() < cores as f64 {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the calls never started"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(get(&server.url("/v2/health/ready")).status, 200);
        // Model metadata and readiness too (KServe's per-model probe).
        assert_eq!(get(&server.url("/v2/models/slow")).status, 200);
        assert_eq!(
            get(&server.url("/v2/models/slow/ready")).json()["ready"],
            true
        );
        let health_at = started.elapsed();
        let finished: Vec<Duration> = calls.into_iter().map(|c| c.join().unwrap()).collect();
        (health_at, finished)
    });
    let first_done = finished.iter().min().unwrap();
    assert!(
        health_at < *first_done,
        "health answered at {health_at:?}, after the first call ended at {first_done:?}"
    );
}
