//! Builds the two generic guests so the `edgeinfer` binary carries them (`edgeinfer pack`
//! needs no Rust toolchain on the user's side): the component (crate `edgeinfer-guest`,
//! wasm32-wasip2) and the Fastly Compute module (crate `edgeinfer-guest-fastly`,
//! wasm32-wasip1). Both compile the same engine; they build side by side, each in a target
//! dir of its own. `EDGEINFER_GUEST_WASM=path` / `EDGEINFER_FASTLY_GUEST_WASM=path` embed
//! prebuilt guests instead.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

struct Guest {
    package: &'static str,
    target: &'static str,
    /// The artifact's file name under `<target dir>/<target>/guest/`.
    artifact: &'static str,
    /// Where the host's `include_bytes!` finds it, in OUT_DIR.
    embedded_as: &'static str,
    prebuilt_env: &'static str,
}

const GUESTS: [Guest; 2] = [
    Guest {
        package: "edgeinfer-guest",
        target: "wasm32-wasip2",
        artifact: "edgeinfer_guest.wasm",
        embedded_as: "edgeinfer_guest.wasm",
        prebuilt_env: "EDGEINFER_GUEST_WASM",
    },
    Guest {
        package: "edgeinfer-guest-fastly",
        target: "wasm32-wasip1",
        artifact: "edgeinfer_guest_fastly.wasm",
        embedded_as: "edgeinfer_guest_fastly.wasm",
        prebuilt_env: "EDGEINFER_FASTLY_GUEST_WASM",
    },
];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());

    // Everything the guests are built from: their crates and the workspace crates they use.
    for watched in [
        "guest/src",
        "guest/Cargo.toml",
        "guest-fastly/src",
        "guest-fastly/Cargo.toml",
        "engine/src",
        "engine/Cargo.toml",
        "protocol/src",
        "protocol/Cargo.toml",
        "ops/src",
        "ops/Cargo.toml",
        "wit",
        "Cargo.toml",
        "Cargo.lock",
        ".cargo/config.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    // Start every build first, then wait: the two compile (and fat-LTO link) in parallel.
    let builds: Vec<(&Guest, Option<(Child, PathBuf)>)> = GUESTS
        .iter()
        .map(|guest| {
            println!("cargo:rerun-if-env-changed={}", guest.prebuilt_env);
            let build = match std::env::var_os(guest.prebuilt_env) {
                Some(_) => None,
                None => Some(start_build(&root, guest)),
            };
            (guest, build)
        })
        .collect();
    for (guest, build) in builds {
        let wasm = match build {
            None => PathBuf::from(std::env::var_os(guest.prebuilt_env).unwrap()),
            Some((mut child, wasm)) => {
                let status = child.wait().expect("waiting for cargo");
                assert!(
                    status.success(),
                    "building the guest {} failed; is the {} target installed? (`rustup target add {}`)",
                    guest.package,
                    guest.target,
                    guest.target
                );
                wasm
            }
        };
        let out = out_dir.join(guest.embedded_as);
        std::fs::copy(&wasm, &out)
            .unwrap_or_else(|e| panic!("copying the guest {} failed: {e}", wasm.display()));
    }
}

fn start_build(root: &Path, guest: &Guest) -> (Child, PathBuf) {
    // A target dir per guest: the outer cargo holds the lock on the workspace's, and two
    // builds sharing one would wait for each other.
    let target_dir = root
        .join("target")
        .join(format!("guest-build-{}", guest.target));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let child = Command::new(cargo)
        .current_dir(root)
        .args(["build", "-p", guest.package, "--target", guest.target])
        .args(["--profile", "guest"])
        .arg("--target-dir")
        .arg(&target_dir)
        // The outer build's flags are for the host target, not for wasm.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
        // Under `cargo clippy` the wrapper would leak in and rebuild the guest as a lint run;
        // lint the guests on their own (`cargo clippy --target wasm32-wasip2 -p edgeinfer-guest`).
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .spawn()
        .expect("running cargo to build the guest");
    let wasm = target_dir
        .join(guest.target)
        .join("guest")
        .join(guest.artifact);
    (child, wasm)
}
