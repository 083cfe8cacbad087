//! The engine fuzz targets' corpora (fuzz/corpus, fuzz/regressions) replayed through the real
//! component, not only the native engine the fuzzer drives: every tensor list through the WIT
//! `infer` of the packed `shape_out` model, every HTTP request through `edgeinfer serve` and
//! the component's wasi:http handler. None may trap or get a 500; the server keeps serving.

mod common;

use common::*;
use edgeinfer::{InferError, Tensor};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

fn corpus(target: &str) -> Vec<std::path::PathBuf> {
    let files = edgeinfer_fuzz::corpus_files(target);
    assert!(!files.is_empty(), "no corpus for {target}");
    files
}

#[test]
fn engine_infer_corpus_through_the_wit_infer() {
    let (_, model) = model_case("test", "shape_out").packed().unwrap();
    let mut answered = [0usize; 2];
    for file in corpus("engine_infer") {
        let inputs: Vec<Tensor> = edgeinfer_fuzz::tensors_from(&std::fs::read(&file).unwrap())
            .into_iter()
            .map(|t| {
                let dims: Vec<usize> = t.tensor.dimensions.iter().map(|&d| d as usize).collect();
                Tensor::new(t.name, t.tensor.ty, &dims, t.tensor.data)
            })
            .collect();
        match model.instantiate().unwrap().infer(&inputs) {
            Ok(outputs) => {
                answered[0] += 1;
                for o in outputs {
                    assert_eq!(o.data.len(), o.len() * o.dtype.size(), "{}", file.display());
                }
            }
            Err(InferError::Model { .. }) => answered[1] += 1,
            Err(e) => panic!("{}: {e:?}", file.display()),
        }
    }
    eprintln!(
        "engine_infer: {} answered, {} refused with a typed error",
        answered[0], answered[1]
    );
}

#[test]
fn engine_http_corpus_through_edgeinfer_serve() {
    let (wasm, _) = model_case("test", "shape_out").packed().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = Reaped(
        Command::new(edgeinfer_bin())
            .arg("serve")
            .arg(format!("shape_out={}", wasm.display()))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("EDGEINFER_CACHE_DIR", cache_dir())
            .process_group(0)
            .spawn()
            .unwrap(),
    );
    wait_ready(
        &format!("{base}/v2/health/ready"),
        &mut server.0,
        Duration::from_secs(60),
    );
    let agent = agent();
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for file in corpus("engine_http") {
        let request = edgeinfer_fuzz::FuzzRequest::from_bytes(&std::fs::read(&file).unwrap());
        // Paths no HTTP client can send (spaces, control bytes) stay with the native replay.
        let uri = ureq::http::Uri::builder()
            .scheme("http")
            .authority(format!("127.0.0.1:{port}"))
            .path_and_query(request.path.as_str())
            .build();
        let Ok(uri) = uri else {
            continue;
        };
        let mut builder = ureq::http::Request::builder()
            .method(request.method)
            .uri(uri);
        builder = match request.json_len {
            Some(n) => builder
                .header("content-type", "application/octet-stream")
                .header("inference-header-content-length", n.to_string()),
            None => builder.header("content-type", "application/json"),
        };
        let status = match agent.run(builder.body(request.body).unwrap()) {
            Ok(response) => response.status().as_u16(),
            Err(e) => panic!(
                "{}: no answer ({e}); the server: {:?}",
                file.display(),
                server.0.try_wait()
            ),
        };
        assert!(status < 500, "{}: {status}", file.display());
        *statuses.entry(status).or_default() += 1;
    }
    eprintln!("engine_http through serve: statuses {statuses:?}");
    assert!(statuses.get(&200).is_some_and(|&n| n > 0), "{statuses:?}");
    let ready = agent
        .get(&format!("{base}/v2/health/ready"))
        .call()
        .unwrap();
    assert_eq!(ready.status(), 200, "the server stopped serving");
}
