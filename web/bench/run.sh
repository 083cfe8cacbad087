#!/usr/bin/env bash
# Benchmark @edgeinfer/web against onnxruntime-web in Node.
#
#   EDGEINFER=target/release/edgeinfer MODELS=models web/bench/run.sh [--runs 100] [--procs 5]
#     the PP-OCR classifier in detail: a markdown table (copied into web/BENCHMARKS.md) and
#     web/bench/results/latest.json.
#   EDGEINFER=... web/bench/run.sh --panel [--procs 3]
#     issue 12's panel (bench/tools/panel.sh; the corpus must be fetched:
#     models/corpus/fetch), one row per model, each packed with the flags serve uses.
#     PACK_FLAGS are added to every pack (e.g. --guest /abs/path.wasm, a variant guest) and NODE_FLAGS
#     to every node (e.g. --experimental-wasm-relaxed-simd, which Node 20 needs for one).
set -euo pipefail
# EDGEINFER and MODELS are relative to where the script is called from.
EDGEINFER=$(realpath -m "${EDGEINFER:-$(dirname "${BASH_SOURCE[0]}")/../../target/release/edgeinfer}")
MODELS=$(realpath -m "${MODELS:-$(dirname "${BASH_SOURCE[0]}")/../../models}")
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
mkdir -p bench/results

# Every model packed by one edgeinfer shares the component glue (bundle.mjs's fingerprint), so
# it is transpiled once, from the first component packed.
glued=
glue() {
  [ -z "$glued" ] || return 0
  timeout 300 node scripts/bundle.mjs "$1" -o dist/glue --glue-only
  glued=1
}

if [ "${1:-}" != "--panel" ]; then
  CLS=$MODELS/real/ppocr-cls
  WASM=bench/results/ppocr-cls.wasm
  timeout 300 "$EDGEINFER" pack "$CLS/model.onnx" --name ppocr-cls --version 1 --input-shape x=1,3,48,192 -o "$WASM" >/dev/null
  glue "$WASM"
  exec timeout 900 node bench/node-vs-ort.mjs --wasm "$WASM" --onnx "$CLS/model.onnx" --input "x=$CLS/inputs/x.npy" \
    --runs 100 --procs 5 --json bench/results/latest.json "$@"
fi
shift

# shellcheck source=../../bench/tools/panel.sh
source ../bench/tools/panel.sh
echo "| model | @edgeinfer/web median ms | onnxruntime-web median ms | edgeinfer speed (ort / ours) | @edgeinfer/web load + first ms | onnxruntime-web load + first ms | start-up (ort / ours) | max abs diff | note |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
for name in $PANEL; do
  case_dir=$MODELS/corpus/$name
  [ -f "$case_dir/model.onnx" ] || { echo "| $name | not fetched | | | | | | | |"; continue; }
  wasm=bench/results/$name.wasm
  # shellcheck disable=SC2086
  timeout 600 "$EDGEINFER" pack "$case_dir/model.onnx" -o "$wasm" ${PANEL_FLAGS[$name]:-} ${PACK_FLAGS:-} >/dev/null 2>&1 ||
    { echo "| $name | pack failed | | | | | | | |"; continue; }
  glue "$wasm" >/dev/null
  # --input NAME=FILE for each of the case's inputs
  mapfile -t inputs < <(python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))
for i in c["inputs"]: print("--input"); print(i["name"] + "=" + sys.argv[2] + "/" + i["file"])' "$case_dir/case.json" "$case_dir")
  # shellcheck disable=SC2086
  timeout 1800 node ${NODE_FLAGS:-} bench/node-vs-ort.mjs --wasm "$wasm" --onnx "$case_dir/model.onnx" \
    "${inputs[@]}" --procs 3 --warmup-ms 5000 --runs-ms 10000 --table-row --name "$name" "$@"
done
