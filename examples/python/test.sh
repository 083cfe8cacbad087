#!/usr/bin/env bash
# Checks the Python embedding end to end: packs the PP-OCR text-direction classifier with the
# edgeinfer CLI, runs it in-process with wasmtime-py (embed.py), and compares the outputs with
# onnxruntime's reference (models/real/ppocr-cls/expected, tolerance 1e-4) and with the CLI's
# own `edgeinfer infer` on the same component (tolerance 1e-6). Exits non-zero on any mismatch.
#
# Env: EDGEINFER  the CLI (default ../../target/release/edgeinfer, relative to this directory)
#      MODELS     the models directory with real/ppocr-cls (default: the repo's models/, made by
#                 models/fetch)
# The venv (examples/python/.venv, git-ignored) is created on first use and re-installed only
# when requirements.txt changes.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
EDGEINFER="${EDGEINFER:-$here/../../target/release/edgeinfer}"
MODELS="${MODELS:-$here/../../models}"
model_dir="$MODELS/real/ppocr-cls"
start=$(date +%s)

[ -x "$EDGEINFER" ] || { echo "python-embed: no edgeinfer CLI at $EDGEINFER (set EDGEINFER)" >&2; exit 2; }
[ -f "$model_dir/model.onnx" ] || { echo "python-embed: no $model_dir/model.onnx (run models/fetch or set MODELS)" >&2; exit 2; }

venv="$here/.venv"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [ "$want" != "$(cat "$stamp" 2>/dev/null || true)" ]; then
  t=$(date +%s)
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  timeout 600 "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    -r "$here/requirements.txt"
  echo "$want" > "$stamp"
  echo "python-embed: venv installed in $(( $(date +%s) - t )) s" >&2
fi
py="$venv/bin/python"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The batch of 2 ([2,3,48,192]): upright and rotated 180 degrees.
timeout 300 "$EDGEINFER" pack "$model_dir/model.onnx" -o "$work/ppocr-cls.wasm" \
  --name ppocr-cls --input-shape x=2,3,48,192 >/dev/null
timeout 300 "$EDGEINFER" infer "$work/ppocr-cls.wasm" -i "x=$model_dir/inputs/x.npy" \
  -o "$work/cli" >/dev/null

# Against onnxruntime's reference outputs.
timeout 300 "$py" "$here/embed.py" "$work/ppocr-cls.wasm" -i "x=$model_dir/inputs/x.npy" \
  --expected "$model_dir/expected" --tolerance 1e-4 -o "$work/embed"
# Against the CLI on the same component: same wasm, same tract, so the same numbers.
timeout 300 "$py" "$here/embed.py" "$work/ppocr-cls.wasm" -i "x=$model_dir/inputs/x.npy" \
  --expected "$work/cli" --tolerance 1e-6 >/dev/null
# A model error (wrong batch size) must come back as the component's error record, exit 2.
timeout 60 "$py" -c 'import numpy as np, sys; np.save(sys.argv[1], np.zeros((1,3,48,192), np.float32))' "$work/one.npy"
set +e
err="$(timeout 300 "$py" "$here/embed.py" "$work/ppocr-cls.wasm" -i "x=$work/one.npy" 2>&1 >/dev/null)"
rc=$?
set -e
if [ "$rc" != 2 ] || [[ "$err" != *invalid-argument* ]]; then
  echo "python-embed: a wrong shape gave exit $rc, expected 2 with invalid-argument: $err" >&2
  exit 1
fi

echo "python-embed: took $(( $(date +%s) - start )) s"
echo "python-embed: 3 passed, 0 failed"
