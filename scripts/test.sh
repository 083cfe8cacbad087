#!/usr/bin/env bash
# Runs the whole test suite. Idempotent; on a fresh machine it first installs what it needs:
# the wasm32-wasip2 and wasm32-wasip1 targets, Viceroy, a Python venv with onnx/onnxruntime, the real models and their
# reference outputs (models/fetch), the ci subset of the coverage corpus (models/corpus/fetch),
# the Node hosts (jco), and, in the suites that need them,
# Debian chromium, npm packages and Python venvs.
#
#   scripts/test.sh                 everything
#   scripts/test.sh -- FILTER       only `cargo test --release -- FILTER` (quick iteration)
#
# The Rust tests build in the release profile, the same optimized build of wasmtime and tract
# as the CLI, so nothing compiles twice; the web, Python and workflow suites then drive that
# CLI binary.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
T0=$(date +%s)
step() { echo "== test.sh: $* ($(( $(date +%s) - T0 )) s)" >&2; }

# rust-toolchain.toml lists the targets, but rustup installs them only with a new toolchain.
rustup target add wasm32-wasip2 wasm32-wasip1 >/dev/null

# Viceroy, Fastly's local runtime, runs the Fastly package test. Its own wasmtime (46) builds
# outside the workspace, once (about 10 minutes on 2 cores).
if ! viceroy --version 2>/dev/null | grep -q " 0.22.0"; then
  step "cargo install --locked viceroy@0.22.0 (Fastly's local runtime)"
  cargo install --locked --quiet viceroy@0.22.0
fi

step "models/fetch"
models/fetch
step "models/corpus/fetch --subset ci (real models and tabular exports for the coverage test)"
models/corpus/fetch --subset ci
step "npm ci in tests/hosts (jco serve, a third-party wasi:http host)"
timeout 300 npm ci --prefix tests/hosts --no-audit --no-fund --loglevel=error

# The tests share one compile cache (target/edgeinfer-test-cache); a run fills about 2.6 GB of
# it, so its bound is raised above the 2 GiB default to spare recompiling large models.
export EDGEINFER_CACHE_MAX_MIB="${EDGEINFER_CACHE_MAX_MIB:-4096}"

step "cargo test --release"
cargo test --release "$@"
if [ $# -gt 0 ]; then
  exit 0
fi

export EDGEINFER="$PWD/target/release/edgeinfer" MODELS="$PWD/models"
step "web: npm package, Node embedding example, demo page in headless Chromium"
web/test.sh
step "examples/python: embedding with the wasmtime PyPI package"
examples/python/test.sh
step "examples/sklearn: train, export, pack with no flags, batch a CSV, equal to onnxruntime"
examples/sklearn/run.sh >/dev/null
step "deploy: cron wrapper, Dagster, Prefect and Airflow running edgeinfer batch"
deploy/test.sh
step "all suites passed"
