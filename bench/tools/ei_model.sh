#!/usr/bin/env bash
# Print the path of a cls component for EDGEINFER (the binary under test):
# EI_WASM if set, else bench/work/cls-b1-<binary sha 12>.wasm, packed once by
# that binary from the ONNX with the input fixed to [1,3,48,192] (components
# must be packed by the edgeinfer that serves them: `serve` needs the
# wasi:http export that newer packs add).
set -euo pipefail
EDGEINFER=$1 ONNX=$2 WORK=$3
if [ -n "${EI_WASM:-}" ]; then echo "$EI_WASM"; exit 0; fi
sha=$(sha256sum "$EDGEINFER" | cut -c1-12)
out="$WORK/cls-b1-$sha.wasm"
if [ ! -s "$out" ]; then
  echo "[ei_model] packing $ONNX with $EDGEINFER -> $out" >&2
  "$EDGEINFER" pack "$ONNX" --input-shape x=1,3,48,192 -o "$out.tmp.wasm" >&2
  mv "$out.tmp.wasm" "$out"
fi
echo "$out"
