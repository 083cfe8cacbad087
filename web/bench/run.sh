#!/usr/bin/env bash
# Benchmark @edgeinfer/web against onnxruntime-web in Node on the PP-OCR cls model.
#   EDGEINFER=../target/release/edgeinfer MODELS=../models web/bench/run.sh [--runs 100] [--procs 5]
# Prints a markdown table (copied into web/BENCHMARKS.md) and writes web/bench/results/latest.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
EDGEINFER=$(realpath -m "${EDGEINFER:-../target/release/edgeinfer}")
MODELS=$(realpath -m "${MODELS:-../models}")
CLS=$MODELS/real/ppocr-cls
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
mkdir -p bench/results
WASM=bench/results/ppocr-cls.wasm
timeout 300 "$EDGEINFER" pack "$CLS/model.onnx" --name ppocr-cls --version 1 --input-shape x=1,3,48,192 -o "$WASM" >/dev/null
timeout 300 node scripts/bundle.mjs "$WASM" -o dist/glue --glue-only
timeout 900 node bench/node-vs-ort.mjs --wasm "$WASM" --onnx "$CLS/model.onnx" --input "$CLS/inputs/x.npy" \
  --runs 100 --procs 5 --json bench/results/latest.json "$@"
