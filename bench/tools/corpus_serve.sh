# Sourced by the bench scripts that serve corpus models one after the other (batching.sh,
# memory.sh), from the repository root: one server at a time on $PORT, its pid in $PID;
# one-row JSON requests by wrk. The caller sets PORT and WORK; EDGEINFER may be set.

EDGEINFER=${EDGEINFER:-target/release/edgeinfer}
PY=bench/.venv/bin/python

command -v wrk >/dev/null || { echo "wrk missing: apt-get install -y wrk" >&2; exit 1; }
[ -x "$PY" ] || { echo "bench/.venv missing: run bench/serve.sh once (it creates it)" >&2; exit 1; }
mkdir -p "$WORK"

PID=""
# Stops the running server, if any (also on exit).
stop() { if [ -n "$PID" ]; then kill -TERM "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; PID=""; fi; }
trap stop EXIT

# Waits (bounded, 120 s) until the server answers ready; fails if it died.
ready() {
  for _ in $(seq 1200); do
    curl -fsS -o /dev/null "http://127.0.0.1:$PORT/v2/health/ready" 2>/dev/null && return 0
    kill -0 "$PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# pack_corpus_model NAME [FLAGS]: packs and precompiles models/corpus/NAME as $WORK/NAME.wasm
# with FLAGS (default: the pack flags of its case.json), and writes its one-row request body to
# $WORK/NAME.json. Fails with pack's error.
pack_corpus_model() {
  local dir=models/corpus/$1 flags=${2:-}
  "$PY" bench/tools/row_body.py "$dir" "$WORK/$1.json"
  [ -n "$flags" ] ||
    flags=$("$PY" -c "import json,sys; print(' '.join(json.load(open(sys.argv[1]))['pack_flags']))" "$dir/case.json")
  # shellcheck disable=SC2086
  "$EDGEINFER" pack "$dir/model.onnx" --name model -o "$WORK/$1.wasm" $flags >"$WORK/pack.log" 2>&1 ||
    { tail -1 "$WORK/pack.log" >&2; return 1; }
  "$EDGEINFER" precompile "$WORK/$1.wasm" >/dev/null
}

# wrk_load BODY CONNS DURATION: POSTs BODY to the model's infer route; prints wrk's RESULT line
# (tools/post.lua).
wrk_load() {
  local out threads=$(($2 < 2 ? $2 : 2)) # wrk wants at least one connection per thread
  out=$(BODY="$1" wrk -t"$threads" -c"$2" -d"$3" --timeout 10s --latency -s bench/tools/post.lua \
    "http://127.0.0.1:$PORT/v2/models/model/infer" 2>&1) || true
  grep '^RESULT' <<<"$out" || echo "RESULT rps=0 non2xx=0 errors=1"
}

# result_kv LINE KEY: one value of a RESULT line.
result_kv() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }

# result_bad LINE: non-2xx answers plus socket errors.
result_bad() { echo $(( $(result_kv "$1" non2xx) + $(result_kv "$1" errors) )); }
