#!/usr/bin/env bash
# Load harness: FastAPI+onnxruntime vs `edgeinfer serve` on the PP-OCR cls
# model, batch 1, Open Inference Protocol v2 over HTTP/1.1 keep-alive (wrk).
#
#   bench/serve.sh                       # everything that can run
#   DURATION=5s CONNS="1 8" bench/serve.sh
#   TARGETS=fastapi bench/serve.sh       # only the baseline
#
# Environment (defaults in brackets):
#   DURATION [15s]   wrk duration of each measured run
#   WARMUP   [2s]    unmeasured wrk run before each measured one (0 = none)
#   CONNS    ["1 8 32"]  connection counts; wrk threads = min(2, conns)
#   COLD_RUNS [5]    cold-start samples (median reported)
#   TARGETS  ["fastapi edgeinfer"]
#   EDGEINFER [target/release/edgeinfer]  binary with `serve`
#   EI_WASM  []      packed cls model, input fixed to [1,3,48,192]; default: packed
#                    once by $EDGEINFER itself into bench/work/ (tools/ei_model.sh)
#   EI_SERVE_ARGS []  extra arguments for `edgeinfer serve`
#   EI_VARIANTS ["fresh="]  edgeinfer servers to time one after the other in this
#                    run, LABEL=ARGS separated by `;`, e.g.
#                    "fresh=;reuse=--reuse-instances" (the label goes in the table)
#   EI_COLD_CWASM [1]  also measure cold start with a precompiled .cwasm next to the .wasm
#   FA_WORKERS [2], FA_THREADS [1]  uvicorn workers, onnxruntime intra-op threads
#   FA_PORT [18001], EI_PORT [18002]
#   QUIET_WAIT [60], QUIET_CORES [0.15]  before each run, wait up to QUIET_WAIT s
#                    until the whole machine uses < QUIET_CORES cores (other
#                    sessions' builds share the 2 cores); 0 = don't wait
#   NICE []          e.g. -10: run the whole harness (servers, wrk, cold-start
#                    spawns) in a session of its own whose scheduler autogroup
#                    gets that nice level, plus `nice` inside it, so that
#                    another session's build on the same cores takes (much)
#                    less from the measurement
#   BUSY_MAX [0.25], RETRY_BUSY [2]  a run during which other processes used
#                    more than BUSY_MAX cores while the server's threads waited
#                    for a CPU more than BUSY_MAX on average is repeated up to
#                    RETRY_BUSY times (the last attempt is kept and shown)
#
# Every server is checked once (label == reference, |out - onnxruntime| <= 1e-4)
# before it is timed; a wrk run with any non-2xx answer or socket error is
# marked INVALID. Writes the Markdown report to stdout and to
# bench/results/serve-<date>.md.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"
# With NICE: a session (scheduler autogroup) of our own whose weight we set,
# since with autogroups plain `nice` only counts within one session.
if [ -n "${NICE:-}" ] && [ -z "${_EI_BENCH_SESSION:-}" ]; then
  exec setsid -w env _EI_BENCH_SESSION=1 bash "$HERE/serve.sh" "$@"
fi
if [ -n "${NICE:-}" ]; then
  echo "$NICE" >/proc/$$/autogroup 2>/dev/null || echo "[serve.sh] could not set the autogroup nice" >&2
fi

DURATION=${DURATION:-15s}
WARMUP=${WARMUP:-2s}
CONNS=${CONNS:-"1 8 32"}
COLD_RUNS=${COLD_RUNS:-5}
TARGETS=${TARGETS:-"fastapi edgeinfer"}
EDGEINFER=${EDGEINFER:-$HERE/../target/release/edgeinfer}
EI_WASM=${EI_WASM:-}
EI_SERVE_ARGS=${EI_SERVE_ARGS:-}
EI_VARIANTS=${EI_VARIANTS:-"fresh="}
EI_COLD_CWASM=${EI_COLD_CWASM:-1}
QUIET_WAIT=${QUIET_WAIT:-60}
QUIET_CORES=${QUIET_CORES:-0.15}
NICE=${NICE:-}
BUSY_MAX=${BUSY_MAX:-0.25}
RETRY_BUSY=${RETRY_BUSY:-2}
FA_WORKERS=${FA_WORKERS:-2}
FA_THREADS=${FA_THREADS:-1}
FA_PORT=${FA_PORT:-18001}
EI_PORT=${EI_PORT:-18002}
ONNX=${ONNX:-$HERE/../models/real/ppocr-cls/model.onnx}

WORK="$HERE/work"
mkdir -p "$WORK" "$HERE/results"
STAMP=$(date -u +%Y-%m-%d-%H%M)
REPORT="$HERE/results/serve-$STAMP.md"
LOG="$WORK/serve-$STAMP.log"
: >"$LOG"

say() { echo "[serve.sh] $*" >&2; echo "[serve.sh] $*" >>"$LOG"; }

# ---------------------------------------------------------------- setup
command -v wrk >/dev/null || { say "wrk missing: apt-get update && apt-get install -y wrk"; exit 1; }
command -v curl >/dev/null || { say "curl missing"; exit 1; }
if [ ! -x "$HERE/.venv/bin/python" ]; then
  say "creating bench/.venv"
  python3 -m venv "$HERE/.venv"
  "$HERE/.venv/bin/pip" install -q -r "$HERE/requirements.txt"
fi
PY="$HERE/.venv/bin/python"

say "request bodies"
"$PY" tools/oip.py bodies "$WORK" >"$WORK/bodies.json"
HLEN=$(cat "$WORK/body.bin.hlen")
JSON_BYTES=$(stat -c %s "$WORK/body.json")
BIN_BYTES=$(stat -c %s "$WORK/body.bin")

NICE_CMD=()
[ -n "$NICE" ] && NICE_CMD=(nice -n "$NICE")
SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill -TERM -- "-$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
trap stop_server EXIT INT TERM

# start_server LOGNAME CMD... ; runs CMD in its own process group
start_server() {
  local name=$1; shift
  say "start $name: $*"
  set -m   # own process group (killed as a group), same session/autogroup
  "${NICE_CMD[@]}" "$@" >"$WORK/$name.server.log" 2>&1 &
  SERVER_PID=$!
  set +m
}

wait_ready() { # URL TIMEOUT_S
  local url=$1 t=${2:-120} i
  for i in $(seq $((t * 20))); do
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || { say "server died; log:"; return 1; }
    sleep 0.05
  done
  say "not ready after ${t}s: $url"; return 1
}

ROWS=()      # Markdown table rows (load)
COLD=()      # Markdown table rows (cold start)
CHECKS=()    # validation lines
ANY_INVALID=0

# run_wrk TARGET BODYKIND URL
run_wrk() {
  local target=$1 kind=$2 url=$3 c t body hl out line
  if [ "$kind" = binary ]; then body="$WORK/body.bin"; hl=$HLEN; else body="$WORK/body.json"; hl=""; fi
  for c in $CONNS; do
    t=$(( c < 2 ? c : 2 ))
    local load cpu wrkcpu attempt rqwait rss
    for attempt in $(seq $((RETRY_BUSY + 1))); do
      if [ "$QUIET_WAIT" != 0 ]; then say "waiting (≤ ${QUIET_WAIT}s) for a quiet machine: $("$PY" tools/cpu.py quiet "$QUIET_WAIT" "$QUIET_CORES")"; fi
      if [ "$WARMUP" != 0 ]; then
        BODY="$body" HLEN="$hl" "${NICE_CMD[@]}" wrk -t"$t" -c"$c" -d"$WARMUP" -s tools/post.lua "$url" >/dev/null 2>&1 || true
      fi
      wrkcpu=0
      "$PY" tools/cpu.py snap "$SERVER_PID" >"$WORK/cpu.snap"
      if [ -x /usr/bin/time ]; then
        out=$(BODY="$body" HLEN="$hl" /usr/bin/time -f 'WRKCPU %U %S' -o "$WORK/wrk.time" "${NICE_CMD[@]}" wrk -t"$t" -c"$c" -d"$DURATION" --timeout 10s --latency -s tools/post.lua "$url" 2>&1) || true
        wrkcpu=$(awk '/^WRKCPU/{print $2+$3}' "$WORK/wrk.time")
      else
        out=$(BODY="$body" HLEN="$hl" "${NICE_CMD[@]}" wrk -t"$t" -c"$c" -d"$DURATION" --timeout 10s --latency -s tools/post.lua "$url" 2>&1) || true
      fi
      cpu=$("$PY" tools/cpu.py diff "$WORK/cpu.snap" "$SERVER_PID" "${wrkcpu:-0}")
      rss=$("$PY" tools/cpu.py rss "$SERVER_PID")
      load=$(sed -n 's/.*others=\([0-9.]*\).*/\1/p' <<<"$cpu")
      printf '%s\n%s\n' "=== $target $kind c=$c t=$t attempt $attempt cpu: $cpu" "$out" >>"$LOG"
      rqwait=$(sed -n 's/.*server_runqueue_wait=\([0-9.]*\).*/\1/p' <<<"$cpu")
      # Disturbed = other processes were busy AND the server waited for a CPU
      # (at 1 connection others may use the idle second core harmlessly).
      if awk -v o="$load" -v w="$rqwait" -v m="$BUSY_MAX" 'BEGIN{exit !(o > m && w > m)}' && [ "$attempt" -le "$RETRY_BUSY" ]; then
        say "$target $kind c=$c: other processes used $load cores and the server waited for a CPU ($rqwait) during the run: again"
        continue
      fi
      break
    done
    line=$(grep '^RESULT' <<<"$out" || true)
    if [ -z "$line" ]; then
      say "wrk produced no RESULT for $target $kind c=$c"; ROWS+=("| $target | $kind | $c | — | — | — | — | — | $load | — | wrk failed |"); ANY_INVALID=1; continue
    fi
    kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
    local rps p50 p90 p99 non2xx errors status
    rps=$(kv rps); p50=$(kv p50_ms); p90=$(kv p90_ms); p99=$(kv p99_ms)
    non2xx=$(kv non2xx); errors=$(kv errors)
    if [ "$non2xx" = 0 ] && [ "$errors" = 0 ]; then status="ok"; else status="**INVALID** (non-2xx $non2xx, socket/status errors $errors)"; ANY_INVALID=1; fi
    ROWS+=("$(printf '| %s | %s | %s | %.0f | %.2f | %.2f | %.2f | %s | %s | %s | %s |' "$target" "$kind" "$c" "$rps" "$p50" "$p90" "$p99" "$rss" "$load" "$rqwait" "$status")")
    say "$target $kind c=$c: $(printf '%.0f' "$rps") req/s, p50 ${p50} ms, p99 ${p99} ms, non2xx $non2xx, errors $errors; cores used: $cpu"
  done
}

check() { # URL BODYKIND
  local url=$1 kind=$2 r
  if [ "$kind" = binary ]; then
    r=$("$PY" tools/oip.py check "$url" "$WORK/body.bin" --binary 2>&1) && { CHECKS+=("$r"); say "$r"; return 0; }
  else
    r=$("$PY" tools/oip.py check "$url" "$WORK/body.json" 2>&1) && { CHECKS+=("$r"); say "$r"; return 0; }
  fi
  CHECKS+=("$r"); say "$r"; return 1
}

# check_and_time TARGET URL: both bodies checked against the reference, then timed
check_and_time() {
  local target=$1 url=$2 ok=1
  check "$url" json || ok=0
  check "$url" binary || ok=0
  if [ $ok = 1 ]; then
    run_wrk "$target" json "$url"
    run_wrk "$target" binary "$url"
  else
    say "$target answer is wrong: not timed"; ANY_INVALID=1
  fi
}

# ---------------------------------------------------------------- FastAPI + ORT
FA_CMD=("$PY" "$HERE/fastapi_ort/app.py" --model "$ONNX" --name model --host 127.0.0.1 --port "$FA_PORT" --workers "$FA_WORKERS" --threads "$FA_THREADS")
if [[ " $TARGETS " == *" fastapi "* ]]; then
  FA_URL="http://127.0.0.1:$FA_PORT/v2/models/model/infer"
  start_server fastapi "${FA_CMD[@]}"
  if wait_ready "http://127.0.0.1:$FA_PORT/v2/health/ready" 60; then
    check_and_time "fastapi-ort (${FA_WORKERS}w x ${FA_THREADS}t)" "$FA_URL"
  else
    cat "$WORK/fastapi.server.log" >&2; ANY_INVALID=1
  fi
  stop_server
  say "cold start fastapi"
  [ "$QUIET_WAIT" != 0 ] && say "quiet: $("$PY" tools/cpu.py quiet "$QUIET_WAIT" "$QUIET_CORES")"
  if r=$("${NICE_CMD[@]}" "$PY" tools/oip.py coldstart --url "$FA_URL" --body "$WORK/body.json" --runs "$COLD_RUNS" -- "${FA_CMD[@]}"); then
    COLD+=("| fastapi-ort (${FA_WORKERS}w x ${FA_THREADS}t) | $(sed -E 's/.*"median_ms": ([0-9.]+).*/\1/' <<<"$r") | $(sed -E 's/.*"runs_ms": \[([^]]*)\].*/\1/' <<<"$r") |")
    say "fastapi cold: $r"
  else
    COLD+=("| fastapi-ort | failed | |"); ANY_INVALID=1
  fi
fi

# ---------------------------------------------------------------- edgeinfer serve
EI_NOTE=""
if [[ " $TARGETS " == *" edgeinfer "* ]]; then
  if [ ! -x "$EDGEINFER" ]; then
    EI_NOTE="edgeinfer serve: not run ($EDGEINFER does not exist yet)"
    say "$EI_NOTE"
  elif ! "$EDGEINFER" serve --help >"$WORK/ei-serve-help.txt" 2>&1; then
    EI_NOTE="edgeinfer serve: not run ($EDGEINFER has no working \`serve --help\`)"
    say "$EI_NOTE"
  else
    # Listen flag: --listen ADDR as specified; adapt if the binary says otherwise.
    if grep -q -- '--listen' "$WORK/ei-serve-help.txt"; then LISTEN=(--listen "127.0.0.1:$EI_PORT")
    elif grep -q -- '--addr' "$WORK/ei-serve-help.txt"; then LISTEN=(--addr "127.0.0.1:$EI_PORT")
    elif grep -q -- '--bind' "$WORK/ei-serve-help.txt"; then LISTEN=(--bind "127.0.0.1:$EI_PORT")
    elif grep -q -- '--port' "$WORK/ei-serve-help.txt"; then LISTEN=(--port "$EI_PORT")
    else LISTEN=(--listen "127.0.0.1:$EI_PORT"); fi
    # Own copy of the component, so a .cwasm we make never sits next to the shared one.
    EI_WASM=$(tools/ei_model.sh "$EDGEINFER" "$ONNX" "$WORK")
    cp -f "$EI_WASM" "$WORK/cls-b1.wasm"; rm -f "$WORK/cls-b1.cwasm"
    # One server per variant (EI_VARIANTS: LABEL=ARGS;...), each timed in this run.
    IFS=';' read -ra VARIANTS <<<"$EI_VARIANTS"
    for variant in "${VARIANTS[@]}"; do
      variant_args=${variant#*=}
      variant_label=""
      [ ${#VARIANTS[@]} -gt 1 ] && variant_label=" (${variant%%=*})"
      # shellcheck disable=SC2206
      # Access log off, as the FastAPI baseline's (uvicorn --no-access-log).
      EI_CMD=(env EDGEINFER_LOG=warn "$EDGEINFER" serve "$WORK/cls-b1.wasm" "${LISTEN[@]}" $EI_SERVE_ARGS $variant_args)
      start_server edgeinfer "${EI_CMD[@]}"
      if wait_ready "http://127.0.0.1:$EI_PORT/v2/health/ready" 180; then
        STEM=$(basename "$EI_WASM" .wasm)
        NAME=$("$PY" tools/oip.py detect-name "http://127.0.0.1:$EI_PORT" ${EI_MODEL_NAME:-} model cls-b1 "$STEM" cls ppocr-cls || true)
        if [ -z "$NAME" ]; then
          say "could not find the model name (set EI_MODEL_NAME)"; ANY_INVALID=1
        else
          EI_URL="http://127.0.0.1:$EI_PORT/v2/models/$NAME/infer"
          check_and_time "edgeinfer serve$variant_label" "$EI_URL"
        fi
      else
        cat "$WORK/edgeinfer.server.log" >&2; ANY_INVALID=1
      fi
      stop_server
    done
    # The cold-start runs below use the plain command.
    # shellcheck disable=SC2206
    EI_CMD=(env EDGEINFER_LOG=warn "$EDGEINFER" serve "$WORK/cls-b1.wasm" "${LISTEN[@]}" $EI_SERVE_ARGS)
    stop_server
    if [ -n "${EI_URL:-}" ]; then
      say "cold start edgeinfer (.wasm, empty compile cache: compiles at start)"
      [ "$QUIET_WAIT" != 0 ] && say "quiet: $("$PY" tools/cpu.py quiet "$QUIET_WAIT" "$QUIET_CORES")"
      if r=$("${NICE_CMD[@]}" "$PY" tools/oip.py coldstart --url "$EI_URL" --body "$WORK/body.json" --runs "$COLD_RUNS" --timeout 180 -- tools/fresh_cache.sh "${EI_CMD[@]}"); then
        COLD+=("| edgeinfer serve, .wasm, empty compile cache (first start on a machine) | $(sed -E 's/.*"median_ms": ([0-9.]+).*/\1/' <<<"$r") | $(sed -E 's/.*"runs_ms": \[([^]]*)\].*/\1/' <<<"$r") |")
        say "edgeinfer cold (.wasm, empty cache): $r"
      else
        COLD+=("| edgeinfer serve, .wasm, empty compile cache | failed | |"); ANY_INVALID=1
      fi
      rm -rf "$WORK/cache-cold"
      say "cold start edgeinfer (.wasm, compile cache warm)"
      [ "$QUIET_WAIT" != 0 ] && say "quiet: $("$PY" tools/cpu.py quiet "$QUIET_WAIT" "$QUIET_CORES")"
      if r=$("${NICE_CMD[@]}" "$PY" tools/oip.py coldstart --url "$EI_URL" --body "$WORK/body.json" --runs "$COLD_RUNS" --timeout 180 -- "${EI_CMD[@]}"); then
        COLD+=("| edgeinfer serve, .wasm, compile cache warm (~/.cache/edgeinfer or EDGEINFER_CACHE_DIR) | $(sed -E 's/.*"median_ms": ([0-9.]+).*/\1/' <<<"$r") | $(sed -E 's/.*"runs_ms": \[([^]]*)\].*/\1/' <<<"$r") |")
        say "edgeinfer cold (.wasm): $r"
      else
        COLD+=("| edgeinfer serve, .wasm, compile cache warm | failed | |"); ANY_INVALID=1
      fi
      if [ "$EI_COLD_CWASM" = 1 ] && "$EDGEINFER" precompile "$WORK/cls-b1.wasm" >>"$LOG" 2>&1; then
        say "cold start edgeinfer (with .cwasm)"
        [ "$QUIET_WAIT" != 0 ] && say "quiet: $("$PY" tools/cpu.py quiet "$QUIET_WAIT" "$QUIET_CORES")"
        if r=$("${NICE_CMD[@]}" "$PY" tools/oip.py coldstart --url "$EI_URL" --body "$WORK/body.json" --runs "$COLD_RUNS" --timeout 180 -- "${EI_CMD[@]}"); then
          COLD+=("| edgeinfer serve, precompiled .cwasm beside it | $(sed -E 's/.*"median_ms": ([0-9.]+).*/\1/' <<<"$r") | $(sed -E 's/.*"runs_ms": \[([^]]*)\].*/\1/' <<<"$r") |")
          say "edgeinfer cold (.cwasm): $r"
        else
          COLD+=("| edgeinfer serve, .cwasm | failed | |"); ANY_INVALID=1
        fi
        rm -f "$WORK/cls-b1.cwasm"
      fi
    fi
  fi
fi

# ---------------------------------------------------------------- report
{
  echo "# serve benchmark — $STAMP (UTC)"
  echo
  echo "PP-OCR text-direction classifier (\`x\` float32 [1,3,48,192] = 27,648 floats), batch 1, OIP v2 \`POST /v2/models/{name}/infer\`."
  echo "Request bodies: JSON $JSON_BYTES bytes; binary tensor extension $BIN_BYTES bytes (header $HLEN)."
  echo
  echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/{print $2}') GiB."
  echo "wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}') runs **on the same 2 cores** as the server (threads = min(2, connections)); it takes CPU from the server, so absolute numbers are lower than on a dedicated box, equally for every target."
  echo "Duration $DURATION per run after a $WARMUP warm-up, HTTP/1.1 keep-alive. \`other cores\` = average cores used during the run by processes other than the server and wrk (/proc/stat busy time minus the server's process group minus wrk's own user+sys): \`server rq wait\` = average number of server threads that were runnable but waiting for a CPU (scheduler run-queue wait, from /proc/*/task/*/schedstat). Other processes on the *idle* core (typical at 1 connection) cost the server nothing; a row is disturbed when both numbers are high, and such runs were repeated (up to $RETRY_BUSY times). Some wait at 8/32 connections is the server's own workers and wrk queueing for 2 cores. The log has server/wrk/other cores per run. Raw wrk output: \`bench/work/serve-$STAMP.log\`."
  echo "FastAPI+ORT: \`${FA_CMD[*]##*/bench/}\` → uvicorn $FA_WORKERS workers (uvloop, httptools), onnxruntime 1.32.0, $FA_THREADS intra-op thread per worker."
  [ -n "$NICE" ] && echo "Servers, wrk and cold-start spawns ran at nice $NICE (other sessions' builds were using the cores)."
  if [ -n "${EI_CMD:-}" ]; then echo "edgeinfer: \`${EI_CMD[*]}\` ($("$EDGEINFER" --version 2>/dev/null || echo '?'))."; fi
  [ -n "$EI_NOTE" ] && echo "$EI_NOTE."
  echo
  echo "## Throughput and latency"
  echo
  echo "| server | body | conns | req/s | p50 ms | p90 ms | p99 ms | RSS MiB | other cores | server rq wait | status |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "## Cold start (new process → first HTTP 200 on infer, median of $COLD_RUNS)"
  echo
  echo "| server | median ms | runs ms |"
  echo "|---|---:|---|"
  [ ${#COLD[@]} -gt 0 ] && printf '%s\n' "${COLD[@]}"
  echo
  echo "## Answer checks (before timing)"
  echo
  printf -- '- %s\n' "${CHECKS[@]}"
  if [ $ANY_INVALID = 1 ]; then echo; echo "**Some runs are invalid or missing; see above and the log.**"; fi
} | tee "$REPORT"
say "report: $REPORT"
