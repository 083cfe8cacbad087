#!/usr/bin/env bash
# The main job on the bundled default model: pack the PP-OCR text-direction classifier
# (fetched from the rapidocr-onnxruntime wheel on PyPI) into a pre-initialized component and
# classify a rendered text line, upright and upside down.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

rustup target add wasm32-wasip2 >/dev/null
models/fetch
echo "building edgeinfer (the first build takes 10-15 minutes on 2 cores) ..." >&2
cargo build --release -p edgeinfer
edgeinfer=target/release/edgeinfer
mkdir -p target/demo

# The classifier's width and height are free in the ONNX file; tract needs them fixed here.
$edgeinfer pack models/real/ppocr-cls/model.onnx -o target/demo/ppocr-cls.wasm \
  --name ppocr-cls --input-shape x=2,3,48,192 --precompile
echo
echo "input: \"edgeinfer 2026\" rendered upright [0] and rotated 180 degrees [1] (models/real/ppocr-cls/sample.png)"
$edgeinfer infer target/demo/ppocr-cls.wasm -i models/real/ppocr-cls/inputs/x.npy --labels 0,180
