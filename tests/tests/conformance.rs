//! ONNX backend conformance: the test cases shipped in the `onnx` wheel
//! (`onnx/backend/test/data/{simple,pytorch-converted,pytorch-operator}`, converted to .npy by
//! `models/conformance.py`), each converted to NNEF natively and run in the generic guest
//! component, compared with the expected outputs as ONNX's backend tests do
//! (|got - want| <= atol + rtol * |want|, rtol 1e-3, atol 1e-5).
//!
//! `tests/conformance/expected-pass.txt` lists the cases that must pass: a listed case that
//! fails fails the suite; a case that starts passing is reported so it can be added. Set
//! `EDGEINFER_UPDATE_CONFORMANCE=1` to rewrite the list from the current results.
//!
//! All cases share one compiled guest: the model goes in through `wizer-initialize` at run
//! time (the path `pack` snapshots), so no case pays a component compile.

mod common;

use anyhow::{Context, Result, bail};
use edgeinfer::Model;
use edgeinfer::pack::{PackOptions, payload_from_onnx};
use std::collections::BTreeSet;
use std::path::Path;

const RTOL: f64 = 1e-3;
const ATOL: f64 = 1e-5;

fn run_case(guest: &Model, dir: &Path) -> Result<()> {
    let order: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("order.json"))?)?;
    let payload = payload_from_onnx(&dir.join("model.onnx"), &PackOptions::default())?;
    let read = |kind: &str| -> Result<Vec<edgeinfer::Tensor>> {
        order["files"][kind]
            .as_object()
            .context("order.json files")?
            .iter()
            .map(|(name, file)| {
                edgeinfer::npy::read_npy_file(&dir.join(file.as_str().unwrap()), name)
            })
            .collect()
    };
    let (inputs, expected) = (read("inputs")?, read("expected")?);
    let mut instance = guest.instantiate_unpacked(&payload)?;
    let outputs = instance.infer(&inputs)?;
    for want in &expected {
        let got = outputs
            .iter()
            .find(|t| t.name == want.name)
            .with_context(|| format!("no output `{}`", want.name))?;
        if got.dtype != want.dtype || got.shape != want.shape {
            bail!(
                "`{}`: got {} {:?}, want {} {:?}",
                want.name,
                got.dtype,
                got.shape,
                want.dtype,
                want.shape
            );
        }
        for (g, w) in got.to_f64_lossy().iter().zip(want.to_f64_lossy()) {
            let close =
                g == &w || (g.is_nan() && w.is_nan()) || (g - w).abs() <= ATOL + RTOL * w.abs();
            if !close {
                bail!("`{}`: {g} vs expected {w}", want.name);
            }
        }
    }
    Ok(())
}

#[test]
fn onnx_backend_conformance() {
    let root = common::models_dir().join("conformance");
    assert!(
        root.exists(),
        "{} is missing: run `models/fetch` first",
        root.display()
    );
    let guest = common::runtime()
        .generic_guest(Some(&common::cache_dir()))
        .unwrap();

    let mut cases = Vec::new();
    for suite in ["simple", "pytorch-converted", "pytorch-operator"] {
        for entry in std::fs::read_dir(root.join(suite)).unwrap() {
            let path = entry.unwrap().path();
            if path.join("order.json").exists() {
                cases.push((
                    format!("{suite}/{}", path.file_name().unwrap().to_str().unwrap()),
                    path,
                ));
            }
        }
    }
    cases.sort();

    let mut passed = BTreeSet::new();
    let mut failures = Vec::new();
    for (name, dir) in &cases {
        // A panic in tract's native conversion must not end the run.
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_case(&guest, dir)));
        match result {
            Ok(Ok(())) => {
                passed.insert(name.clone());
            }
            Ok(Err(e)) => failures.push((name.clone(), format!("{e:#}"))),
            Err(_) => failures.push((name.clone(), "panicked".into())),
        }
    }

    let list_path = common::root().join("tests/conformance/expected-pass.txt");
    if std::env::var_os("EDGEINFER_UPDATE_CONFORMANCE").is_some() {
        let mut text =
            String::from("# ONNX backend cases that must pass (see tests/tests/conformance.rs)\n");
        passed.iter().for_each(|c| text.push_str(&format!("{c}\n")));
        std::fs::write(&list_path, text).unwrap();
    }
    let expected: BTreeSet<String> = std::fs::read_to_string(&list_path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.trim().to_string())
        .collect();

    for (name, why) in &failures {
        let flag = if expected.contains(name) {
            "REGRESSION"
        } else {
            "known failure"
        };
        println!(
            "  {flag}: {name}: {}",
            why.chars().take(200).collect::<String>()
        );
    }
    let newly: Vec<&String> = passed.difference(&expected).collect();
    if !newly.is_empty() {
        println!(
            "  newly passing (add to {}): {newly:?}",
            list_path.display()
        );
    }
    println!(
        "conformance: {} passed, {} failed of {} cases ({} expected to pass)",
        passed.len(),
        failures.len(),
        cases.len(),
        expected.len()
    );
    let regressions: Vec<&String> = expected.difference(&passed).collect();
    assert!(
        regressions.is_empty(),
        "expected-pass cases failed: {regressions:?}"
    );
}
