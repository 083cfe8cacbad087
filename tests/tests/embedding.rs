//! The Rust embedding example (`host/examples/embed.rs`) runs and prints the reference answer.
//! The Python and JavaScript embedding examples run from scripts/test.sh
//! (`examples/python/test.sh`, `web/test.sh`).

mod common;

use common::*;
use std::process::Command;

#[test]
fn rust_embedding_example_prints_the_reference_output() {
    let case = model_case("real", "ppocr-cls");
    let (wasm, _) = case.packed().unwrap();
    // `cargo test` builds the examples next to the test binaries' profile directory.
    let example = edgeinfer_bin()
        .parent()
        .unwrap()
        .join("examples")
        .join("embed");
    assert!(
        example.exists(),
        "{} missing: run `cargo test --release` at the workspace root",
        example.display()
    );
    let output = Command::new(&example)
        .arg(&wasm)
        .arg(case.dir.join("inputs/x.npy"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.starts_with("ppocr-cls v1: input x fp32 [2,3,48,192]"),
        "{stdout}"
    );
    let line = stdout.lines().nth(1).expect("an output line");
    let values: Vec<f64> = serde_json::from_str(&line[line.rfind('[').unwrap()..]).unwrap();
    let expected = case.expected()[0].to_f64_lossy();
    assert_eq!(values.len(), expected.len());
    for (got, want) in values.iter().zip(&expected) {
        assert!(
            (got - want).abs() <= case.tolerance,
            "{values:?} vs {expected:?}"
        );
    }
}
