#!/usr/bin/env bash
# scikit-learn end to end: train and export a model (train.py), pack it with no flags, score a
# CSV with `edgeinfer batch`, and check every label and probability against onnxruntime.
#
#   examples/sklearn/run.sh [WORK_DIR]        (default: target/sklearn-example)
#
# Env: EDGEINFER  the CLI (default target/release/edgeinfer)
#      PYTHON     a Python with scikit-learn, skl2onnx and onnxruntime (default models/.venv,
#                 which `models/corpus/fetch` sets up with the pinned versions)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$root/examples/sklearn"
EDGEINFER="${EDGEINFER:-$root/target/release/edgeinfer}"
PYTHON="${PYTHON:-$root/models/.venv/bin/python}"
work="${1:-$root/target/sklearn-example}"
rm -rf "$work" && mkdir -p "$work"

"$PYTHON" -c "import sklearn, skl2onnx, onnxruntime" 2>/dev/null || {
  echo "sklearn-example: $PYTHON lacks scikit-learn/skl2onnx/onnxruntime (run models/corpus/fetch --subset ci, or set PYTHON)" >&2
  exit 2
}
set -x
"$PYTHON" "$here/train.py" "$work"
"$EDGEINFER" pack "$work/model.onnx" -o "$work/model.wasm"
"$EDGEINFER" batch "$work/model.wasm" "$work/rows.csv" -o "$work/scores.csv"
"$PYTHON" "$here/check.py" "$work/scores.csv" "$work/onnxruntime.csv"
