//! Builds the generic guest component (crate `edgeinfer-guest`) for wasm32-wasip2 so the
//! `edgeinfer` binary carries it (`edgeinfer pack` needs no Rust toolchain on the user's
//! side). Set `EDGEINFER_GUEST_WASM=path` to embed a prebuilt guest instead.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    println!("cargo:rerun-if-env-changed=EDGEINFER_GUEST_WASM");

    let wasm = match std::env::var_os("EDGEINFER_GUEST_WASM") {
        Some(prebuilt) => PathBuf::from(prebuilt),
        None => build_guest(&root),
    };
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("edgeinfer_guest.wasm");
    std::fs::copy(&wasm, &out)
        .unwrap_or_else(|e| panic!("copying the guest {} failed: {e}", wasm.display()));
}

fn build_guest(root: &Path) -> PathBuf {
    // Everything the guest is built from: its crate and the workspace crates it uses.
    for watched in [
        "guest/src",
        "guest/Cargo.toml",
        "protocol/src",
        "protocol/Cargo.toml",
        "ops/src",
        "ops/Cargo.toml",
        "wit",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    // A target dir of its own: the outer cargo holds the lock on the workspace's.
    let target_dir = root.join("target").join("guest-build");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "-p",
            "edgeinfer-guest",
            "--target",
            "wasm32-wasip2",
            "--profile",
            "guest",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        // The outer build's flags are for the host target, not for wasm.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
        // Under `cargo clippy` the wrapper would leak in and rebuild the guest as a lint run;
        // lint the guest on its own (`cargo clippy --target wasm32-wasip2 -p edgeinfer-guest`).
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .status()
        .expect("running cargo to build the guest");
    assert!(
        status.success(),
        "building the guest failed; is the wasm32-wasip2 target installed? (`rustup target add wasm32-wasip2`)"
    );
    target_dir.join("wasm32-wasip2/guest/edgeinfer_guest.wasm")
}
