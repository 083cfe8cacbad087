#!/usr/bin/env bash
# Issue 12 goal 2: what the deadline's epoch checks cost. The same packed components, run by
# the same edgeinfer with its default deadline and with `--deadline 0` (code compiled without
# the checks), alternating twice; warm and cold medians of `edgeinfer bench --runs RUNS`, and
# native tract (`bench --onnx`) for the ratio of goal 2.
#   bench/deadline.sh [RUNS=20]      (MODELS='a b' for other corpus models)
# Needs the corpus (models/fetch) and target/release/edgeinfer (or EDGEINFER=...).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNS=${1:-20}
EI=${EDGEINFER:-target/release/edgeinfer}
WORK=bench/work/deadline
mkdir -p "$WORK"
# The panel of issue 12 (bench/tools/panel.sh, with its pack flags), plus three more CNNs
# and a transformer from bench/guest_variant.sh.
# shellcheck source=tools/panel.sh
. bench/tools/panel.sh
MODELS=${MODELS:-"$PANEL paraphrase-minilm-l3 opennsfw ppocr-v4-det"}
PANEL_FLAGS[ppocr-v4-det]="--input-shape x=1,3,320,320"
bench() { # component, deadline, more bench flags -> "warm cold native" medians in ms
  "$EI" bench "$1" --runs "$RUNS" --deadline "$2" "${@:3}" --json 2>/dev/null |
    python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["warm"]["median_ms"], r["cold"]["median_ms"], (r.get("native") or {}).get("median_ms"))'
}
echo "| model | warm ms, deadline 30 s | warm ms, --deadline 0 | 0 / 30 s | cold ms, 30 s | cold ms, 0 | 0 / 30 s | native tract ms | speed vs native, --deadline 0 |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for name in $MODELS; do
  flags=${PANEL_FLAGS[$name]:-}
  onnx=models/corpus/$name/model.onnx
  [ -f "$onnx" ] || { echo "| $name | not fetched | | | | | | | |"; continue; }
  wasm=$WORK/$name.wasm
  # shellcheck disable=SC2086
  "$EI" pack "$onnx" -o "$wasm" $flags >/dev/null 2>&1 || { echo "| $name | pack failed | | | | | | | |"; continue; }
  # First calls compile each kind of code into the cache (the timed runs map it); the
  # second also times native tract on the ONNX with the same flags. For a free batch native
  # runs the symbolic plan (the component runs batch 1 on its specialized plan).
  bench "$wasm" 30 >/dev/null
  # shellcheck disable=SC2086
  read -r _ _ native < <(bench "$wasm" 0 --onnx "$onnx" ${flags//--dim/--pack-dim})
  read -r w30a c30a _ < <(bench "$wasm" 30)
  read -r w0a c0a _ < <(bench "$wasm" 0)
  read -r w30b c30b _ < <(bench "$wasm" 30)
  read -r w0b c0b _ < <(bench "$wasm" 0)
  [ -n "$w30a" ] && [ -n "$w0a" ] && [ -n "$w30b" ] && [ -n "$w0b" ] ||
    { echo "| $name | bench failed | | | | | | | |"; continue; }
  python3 - "$name" "$native" "$w30a" "$w30b" "$w0a" "$w0b" "$c30a" "$c30b" "$c0a" "$c0b" <<'PY'
import sys
name, native, *v = sys.argv[1:]
w30a, w30b, w0a, w0b, c30a, c30b, c0a, c0b = map(float, v)
mean = lambda a, b: (a + b) / 2
ms = lambda x: f"{x:.2f}" if x >= 1 else f"{x:.4f}"
native = None if native == "None" else float(native)
vs_native = "" if native is None else f"{native / mean(w0a, w0b):.2f}x"
print(f"| {name} | {ms(w30a)}, {ms(w30b)} | {ms(w0a)}, {ms(w0b)} | {mean(w0a, w0b) / mean(w30a, w30b):.2f}x "
      f"| {ms(c30a)}, {ms(c30b)} | {ms(c0a)}, {ms(c0b)} | {mean(c0a, c0b) / mean(c30a, c30b):.2f}x "
      f"| {'' if native is None else ms(native)} | {vs_native} |")
PY
done
