#!/usr/bin/env bash
# Runs the deploy/ wrappers for real, in-process and offline: the Dagster asset
# (dagster.materialize, no server), the Prefect 3 flow (a temporary local API server, no
# PREFECT_API_URL), the Airflow 3 DAG (dag.test() on a throwaway SQLite DB), and the cron
# wrapper's exit-code mapping, flock and logrotate config. The records are 20 .npy files made
# from the PP-OCR classifier's reference input; every run's outputs must equal one
# `edgeinfer infer` call on all 20 stacked.
#
# Backends: `embed` (wasmtime-py) always; `cli` (`edgeinfer batch`) when $EDGEINFER has the
# batch subcommand, else reported as skipped.
# Env: EDGEINFER (default ../target/release/edgeinfer), MODELS (default ../models),
#      DEPLOY_AIRFLOW=0 skips the Airflow venv and check.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
EDGEINFER="${EDGEINFER:-$here/../target/release/edgeinfer}"
MODELS="${MODELS:-$here/../models}"
model_dir="$MODELS/real/ppocr-cls"
start=$(date +%s)
N=20

[ -x "$EDGEINFER" ] || { echo "deploy: no edgeinfer CLI at $EDGEINFER (set EDGEINFER)" >&2; exit 2; }
[ -f "$model_dir/model.onnx" ] || { echo "deploy: no $model_dir/model.onnx (run models/fetch or set MODELS)" >&2; exit 2; }

# venv DIR REQUIREMENTS: create or refresh; pip runs only when the requirements change.
venv() {
  local dir="$1" req="$2" want t
  want="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ "$want" != "$(cat "$dir/.requirements.sha256" 2>/dev/null || true)" ]; then
    t=$(date +%s)
    [ -x "$dir/bin/python" ] || python3 -m venv "$dir"
    timeout 900 "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$req"
    echo "$want" > "$dir/.requirements.sha256"
    echo "deploy: $(basename "$dir") installed in $(( $(date +%s) - t )) s" >&2
  fi
}
venv "$here/.venv" "$here/requirements.txt"
py="$here/.venv/bin/python"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
: > "$work/results"
export DAGSTER_HOME="$work/dagster-home" PREFECT_HOME="$work/prefect-home"
mkdir -p "$DAGSTER_HOME" "$PREFECT_HOME"
# Prefect: no remote API, no telemetry. With no PREFECT_API_URL and ephemeral mode on,
# Prefect 3 starts its API server as a subprocess on a loopback port (SQLite in $PREFECT_HOME)
# for the life of the process; 90 s instead of the default 20 s for its start on a busy CI.
unset PREFECT_API_URL PREFECT_API_KEY PREFECT_PROFILE
export PREFECT_SERVER_EPHEMERAL_ENABLED=true PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=90 \
  PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1 PREFECT_LOGGING_LEVEL=WARNING

t=$(date +%s)
# --precompile: cls.cwasm beside cls.wasm, so the CLI runs below load it instead of each
# compiling the component again (~13 s each on 2 cores).
timeout 300 "$EDGEINFER" pack "$model_dir/model.onnx" -o "$work/cls.wasm" --name ppocr-cls \
  --input-shape x=1,3,48,192 --precompile 2>/dev/null >/dev/null
timeout 300 "$EDGEINFER" pack "$model_dir/model.onnx" -o "$work/cls-n.wasm" --name ppocr-cls \
  --input-shape "x=$N,3,48,192" 2>/dev/null >/dev/null
# N records, [1,3,48,192] each: the upright (even) and rotated (odd) reference line, with a
# little deterministic noise so that no two records are equal.
timeout 120 "$py" - "$model_dir/inputs/x.npy" "$work/records" "$N" <<'PY'
import sys, pathlib, numpy as np
x = np.load(sys.argv[1]); out = pathlib.Path(sys.argv[2]); out.mkdir(); n = int(sys.argv[3])
rng = np.random.default_rng(2026)
for k in range(n):
    r = x[k % 2][None] + rng.normal(0, 0.02, x[k % 2][None].shape).astype(np.float32)
    np.save(out / f"rec-{k:03d}.npy", r.astype(np.float32))
PY
echo "deploy: packed 2 models and made $N records in $(( $(date +%s) - t )) s" >&2

backends=embed
if timeout 30 "$EDGEINFER" batch --help >/dev/null 2>&1; then
  backends=embed,cli
else
  echo "SKIP deploy: $EDGEINFER has no 'batch' subcommand: the cli backend of dagster and prefect" | tee -a "$work/results"
fi

fails=0
t=$(date +%s)
# Dagster and Prefect log the expected failures with tracebacks on stderr: keep them in a
# file, show them only when a check fails.
if ! timeout 600 "$py" "$here/check.py" --edgeinfer "$EDGEINFER" --model "$work/cls.wasm" \
    --model-n "$work/cls-n.wasm" --records "$work/records" --work "$work" --backends "$backends" \
    2> "$work/check.stderr" | tee -a "$work/results"; then
  tail -60 "$work/check.stderr" >&2
  fails=$((fails + 1))
fi
echo "deploy: dagster + prefect checks took $(( $(date +%s) - t )) s" >&2

t=$(date +%s)
bash "$here/cron/test-cron.sh" "$work/cron" "$EDGEINFER" "$work/cls.wasm" "$work/records" \
  | tee -a "$work/results" || fails=$((fails + 1))
echo "deploy: cron checks took $(( $(date +%s) - t )) s" >&2

if [ "${DEPLOY_AIRFLOW:-1}" != 0 ]; then
  venv "$here/.venv-airflow" "$here/requirements-airflow.txt"
  t=$(date +%s)
  # Airflow logs a lot to stdout: keep it in a file, show it only on failure.
  # The production path (cli) when the CLI has `batch`, else embed.
  if EDGEINFER="$EDGEINFER" AIRFLOW_HOME="$work/airflow-home" timeout 300 \
      "$here/.venv-airflow/bin/python" "$here/airflow/check_dag.py" "$work/cls.wasm" \
      "$work/records" "$work/airflow-out" "${backends##*,}" > "$work/airflow.log" 2>&1; then
    grep -E '^(PASS|FAIL|airflow:)' "$work/airflow.log" | tee -a "$work/results"
  else
    tail -40 "$work/airflow.log"
    grep -E '^(PASS|FAIL)' "$work/airflow.log" >> "$work/results" || true
    fails=$((fails + 1))
  fi
  echo "deploy: airflow check took $(( $(date +%s) - t )) s" >&2
fi

echo "deploy: finished in $(( $(date +%s) - start )) s"
# One closing line over every check: PASS / FAIL / SKIP lines of the scripts above, plus a
# failure for a script that died without saying which check.
passed="$(grep -c '^PASS' "$work/results" || true)"
failed="$(grep -c '^FAIL' "$work/results" || true)"
skipped="$(grep -c '^SKIP' "$work/results" || true)"
[ "$failed" = 0 ] && [ "$fails" != 0 ] && failed="$fails"
echo "deploy: $passed passed, $failed failed, $skipped skipped"
[ "$fails" = 0 ] && [ "$failed" = 0 ]
