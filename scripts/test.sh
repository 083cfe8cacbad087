#!/usr/bin/env bash
# Runs the whole test suite. Idempotent; on a fresh machine it first installs what it needs:
# the wasm32-wasip2 target, a Python venv with onnx/onnxruntime, the real models and their
# reference outputs (models/fetch). Tests build in the release profile, the same optimized
# build of wasmtime and tract as the CLI, so nothing compiles twice.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# rust-toolchain.toml lists the target, but rustup installs it only with a new toolchain.
rustup target add wasm32-wasip2 >/dev/null

models/fetch
cargo test --release "$@"
