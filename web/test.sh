#!/usr/bin/env bash
# Tests of the web package: Node API, Node example, and the demo page in headless Chromium.
#
#   EDGEINFER=../target/release/edgeinfer MODELS=../models web/test.sh
#
# EDGEINFER: the CLI (default ../target/release/edgeinfer, relative to web/); MODELS: the
# project's models/ directory with real/ppocr-cls fetched by models/fetch (default ../models).
# Installs npm deps (npm ci) and Debian chromium when /usr/bin/chromium is missing, packs the
# PP-OCR cls model with the CLI, bundles it, then runs the tests. The screenshot of the demo goes
# to web/test-output/demo.png.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
WEB=$PWD
T0=$(date +%s)
step() { echo "web/test.sh: $* ($(( $(date +%s) - T0 )) s)"; }

EDGEINFER=$(realpath -m "${EDGEINFER:-../target/release/edgeinfer}")
MODELS=$(realpath -m "${MODELS:-../models}")
CLS=$MODELS/real/ppocr-cls
[ -x "$EDGEINFER" ] || { echo "web/test.sh: no edgeinfer CLI at $EDGEINFER (build it, or set EDGEINFER)" >&2; exit 1; }
for f in model.onnx sample.png inputs/x.npy expected/save_infer_model_scale_0.tmp_1.npy; do
  [ -f "$CLS/$f" ] || { echo "web/test.sh: $CLS/$f missing: run models/fetch (or set MODELS)" >&2; exit 1; }
done

step "npm ci"
timeout 300 npm ci --no-audit --no-fund --loglevel=error

if [ ! -x /usr/bin/chromium ]; then
  step "installing Debian chromium"
  if [ "$(id -u)" = 0 ]; then
    timeout 600 apt-get update -qq && timeout 600 apt-get install -y -qq chromium >/dev/null
  else
    timeout 600 sudo apt-get update -qq && timeout 600 sudo apt-get install -y -qq chromium >/dev/null
  fi
fi

WORK=$WEB/.cache/test
mkdir -p "$WORK/pack"
step "packing ppocr-cls v1 and v2 with $EDGEINFER"
for v in 1 2; do
  out=$WORK/pack/ppocr-cls-v$v.wasm
  timeout 300 "$EDGEINFER" pack "$CLS/model.onnx" --name ppocr-cls --version "$v" \
    --input-shape x=1,3,48,192 -o "$out.new" >/dev/null
  if cmp -s "$out.new" "$out"; then rm "$out.new"; else mv "$out.new" "$out"; rm -f "${out%.wasm}.cwasm"; fi
done
# The host reference (`edgeinfer infer`) would compile the 17 MB component on every call:
# precompile v1 once (the CLI picks up the .cwasm next to the .wasm while it is newer).
V1=$WORK/pack/ppocr-cls-v1.wasm
if [ ! -f "${V1%.wasm}.cwasm" ] || [ "$EDGEINFER" -nt "${V1%.wasm}.cwasm" ] || [ "$V1" -nt "${V1%.wasm}.cwasm" ]; then
  step "precompiling v1 for the host reference runs"
  timeout 300 "$EDGEINFER" precompile "$V1" >/dev/null
fi

step "bundling (jco transpile, cached by sha256 under web/.cache)"
rm -rf dist/glue "$WORK/bundle-v1"
timeout 300 node scripts/bundle.mjs "$WORK/pack/ppocr-cls-v1.wasm" -o dist/glue --glue-only
timeout 300 node scripts/bundle.mjs "$WORK/pack/ppocr-cls-v1.wasm" -o "$WORK/bundle-v1"

step "publishing the demo model (demo/models/)"
rm -rf demo/models && mkdir -p demo/models
timeout 120 node scripts/publish.mjs "$WORK/pack/ppocr-cls-v1.wasm" -o demo/models
cp "$CLS/sample.png" demo/models/sample.png

export EDGEINFER CLS WORK
mkdir -p test-output
step "node tests"
timeout 300 node --test --test-timeout=180000 --test-reporter=spec test/node.test.mjs

step "node example (web/examples/node)"
timeout 120 node examples/node/classify.mjs "$WORK/pack/ppocr-cls-v1.wasm" "$CLS/inputs/x.npy" | tee "$WORK/example.out"
grep -q '^row 0: 0 ' "$WORK/example.out" && grep -q '^row 1: 180 ' "$WORK/example.out" \
  || { echo "web/test.sh: the example did not print the expected labels" >&2; exit 1; }

step "browser tests (Playwright + /usr/bin/chromium)"
timeout 300 node --test --test-timeout=240000 --test-reporter=spec test/browser.test.mjs

step "all web tests passed"
