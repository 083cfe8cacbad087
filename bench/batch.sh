#!/usr/bin/env bash
# Batch throughput: records/s over N .npy records of the PP-OCR cls model at
# batch 1, each record read from its own .npy and each output written to its
# own .npy.
#
#   bench/batch.sh                 # N=2000, every variant that can run
#   N=500 RUNS=1 bench/batch.sh
#
# Variants (wall clock of the whole process, median of RUNS; records/s = N / wall):
#   ort 1 thread        batch_ort.py run, onnxruntime intra_op_num_threads=1
#   ort 2 threads       same, intra_op_num_threads=2
#   ort 2 procs x 1t    two batch_ort.py processes on alternate records (the
#                       analogue of `-j 2`)
#   edgeinfer batch -j 1 / -j 2   `$EDGEINFER batch cls.wasm recs/ -o out/ -j J`
#                       with a precompiled .cwasm beside the .wasm (steady state),
#                       plus one -j 2 run from the .wasm alone (compile included),
#                       and -j 1 / -j 2 with --deadline 0 (no epoch checks; its own .cwasm)
#   native tract        compute-only, from `edgeinfer bench --onnx` (1 thread, no
#                       file I/O): an upper bound, the "native" of the ratios.
#                       Hook: if bench/native_hook.sh is executable it is run as
#                       `native_hook.sh RECS OUT` and timed like the others
#                       (e.g. a native-tract batch mode); its row replaces the
#                       bound as the ratio base.
#
# Environment: N [2000], RUNS [3], EDGEINFER [target/release/edgeinfer],
#   EDGEINFER_BENCH [$EDGEINFER] (has `bench`),
#   EI_WASM [packed once by $EDGEINFER into bench/work/, tools/ei_model.sh], QUIET_WAIT [60], QUIET_CORES [0.15],
#   NICE [] (e.g. -10: run the timed commands at that nice level, so another
#   session's build on the same cores takes less from them),
#   BUSY_MAX [0.25], RETRY_BUSY [2] (a run during which other processes used
#   more than BUSY_MAX cores is repeated, up to RETRY_BUSY times),
#   VARIANTS ["ort1 ort2 ort2p ei native"]
# Writes the Markdown report to stdout and bench/results/batch-<date>.md.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"
# With NICE: a session (scheduler autogroup) of our own whose weight we set,
# since with autogroups plain `nice` only counts within one session.
if [ -n "${NICE:-}" ] && [ -z "${_EI_BENCH_SESSION:-}" ]; then
  exec setsid -w env _EI_BENCH_SESSION=1 bash "$HERE/batch.sh" "$@"
fi
if [ -n "${NICE:-}" ]; then
  echo "$NICE" >/proc/$$/autogroup 2>/dev/null || echo "[batch.sh] could not set the autogroup nice" >&2
fi

N=${N:-2000}
RUNS=${RUNS:-3}
EDGEINFER=${EDGEINFER:-$HERE/../target/release/edgeinfer}
EI_WASM=${EI_WASM:-}
ONNX=${ONNX:-$HERE/../models/real/ppocr-cls/model.onnx}
QUIET_WAIT=${QUIET_WAIT:-60}
QUIET_CORES=${QUIET_CORES:-0.15}
NICE=${NICE:-}
BUSY_MAX=${BUSY_MAX:-0.25}
RETRY_BUSY=${RETRY_BUSY:-2}
VARIANTS=${VARIANTS:-"ort1 ort2 ort2p ei native"}
if [ -z "${EDGEINFER_BENCH:-}" ]; then
  if [ -x "$EDGEINFER" ]; then EDGEINFER_BENCH=$EDGEINFER; else EDGEINFER_BENCH=$EDGEINFER; fi
fi

WORK="$HERE/work"
RECS="$WORK/recs"
mkdir -p "$WORK" "$HERE/results"
STAMP=$(date -u +%Y-%m-%d-%H%M)
REPORT="$HERE/results/batch-$STAMP.md"
LOG="$WORK/batch-$STAMP.log"
: >"$LOG"
say() { echo "[batch.sh] $*" >&2; echo "[batch.sh] $*" >>"$LOG"; }

if [ ! -x "$HERE/.venv/bin/python" ]; then
  say "creating bench/.venv"
  python3 -m venv "$HERE/.venv"
  "$HERE/.venv/bin/pip" install -q -r "$HERE/requirements.txt"
fi
PY="$HERE/.venv/bin/python"

say "$("$PY" batch_ort.py make "$RECS" -n "$N")"
# Warm the page cache so the first variant doesn't pay for cold reads.
cat "$RECS"/*.npy >/dev/null

now() { date +%s.%N; }
NICE_CMD=()
[ -n "$NICE" ] && NICE_CMD=(nice -n "$NICE")
quiet() { [ "$QUIET_WAIT" = 0 ] || say "quiet check: $("$PY" tools/cpu.py quiet "$QUIET_WAIT" "$QUIET_CORES")"; }

declare -A WALL STEADY NOTE OTHERS
ORDER=()

# timed NAME OUTDIR CMD... : RUNS runs, median wall seconds into WALL[NAME];
# the output of the first run is verified against onnxruntime.
timed() {
  local name=$1 out=$2; shift 2
  local i t0 t1 walls=() rc
  ORDER+=("$name")
  quiet
  for i in $(seq "$RUNS"); do
    local attempt cpu others cmdcpu
    for attempt in $(seq $((RETRY_BUSY + 1))); do
      rm -rf "$out" "$out.report.json" "$out.errors.jsonl"
      "$PY" tools/cpu.py snap 0 >"$WORK/cpu.snap"
      t0=$(now)
      rc=0
      /usr/bin/time -f 'CMDCPU %U %S' -o "$WORK/cmd.time" "${NICE_CMD[@]}" "$@" >"$WORK/last.out" 2>&1 || rc=$?
      t1=$(now)
      { echo "=== $name run $i attempt $attempt: $*"; cat "$WORK/last.out"; } >>"$LOG"
      if [ $rc != 0 ]; then
        say "$name failed (exit $rc): $(tail -3 "$WORK/last.out")"; NOTE[$name]="failed (exit $rc)"; return 1
      fi
      cmdcpu=$(awk '/^CMDCPU/{print $2+$3}' "$WORK/cmd.time")
      cpu=$("$PY" tools/cpu.py diff "$WORK/cpu.snap" 0 "${cmdcpu:-0}")
      others=$(sed -n 's/.*others=\([0-9.]*\).*/\1/p' <<<"$cpu")
      # Without NICE, other processes busy during the run = disturbed. With
      # NICE our autogroup has precedence and others mostly get the spare
      # core, so the column is informational only.
      if [ -z "$NICE" ] && awk -v o="$others" -v m="$BUSY_MAX" 'BEGIN{exit !(o > m)}' && [ "$attempt" -le "$RETRY_BUSY" ]; then
        say "$name run $i: other processes used $others cores (> $BUSY_MAX): again"; quiet; continue
      fi
      break
    done
    OTHERS[$name]="${OTHERS[$name]:-}${OTHERS[$name]:+ }$others"
    walls+=("$(echo "$t1 - $t0" | bc -l)")
    say "$name run $i: $(printf '%.3f' "${walls[-1]}") s; cores used by it ${cmdcpu:-?} s CPU, other processes $others cores"
    if [ "$i" = 1 ]; then
      local v; v=$("$PY" batch_ort.py verify "$RECS" "$out" --ref "$WORK/ref-out" 2>&1) || { say "$v"; NOTE[$name]="WRONG OUTPUT: $v"; return 1; }
      say "$v"
    fi
  done
  WALL[$name]=$(printf '%s\n' "${walls[@]}" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
}

# Reference outputs (onnxruntime, 1 thread) for verification: made once.
if [ ! -f "$WORK/ref-out/.n-$N" ]; then
  rm -rf "$WORK/ref-out"
  "$PY" batch_ort.py run "$RECS" "$WORK/ref-out" --threads 1 >/dev/null
  touch "$WORK/ref-out/.n-$N"
fi

steady_from_json() { # NAME FILES... : records / max(loop_s) of batch_ort.py JSON lines
  local name=$1; shift
  STEADY[$name]=$(cat "$@" | "$PY" -c 'import sys,json; r=[json.loads(l) for l in sys.stdin if l.startswith("{")]; print(round(sum(x["records"] for x in r)/max(x["loop_s"] for x in r),1))')
}

for v in $VARIANTS; do
  case $v in
    ort1)
      timed "onnxruntime, 1 thread" "$WORK/out" "$PY" batch_ort.py run "$RECS" "$WORK/out" --threads 1 &&
        steady_from_json "onnxruntime, 1 thread" "$WORK/last.out" ;;
    ort2)
      timed "onnxruntime, 2 threads" "$WORK/out" "$PY" batch_ort.py run "$RECS" "$WORK/out" --threads 2 &&
        steady_from_json "onnxruntime, 2 threads" "$WORK/last.out" ;;
    ort2p)
      cat >"$WORK/ort2p.sh" <<EOF
#!/usr/bin/env bash
set -e
"$PY" "$HERE/batch_ort.py" run "$RECS" "\$1" --threads 1 --shard 0/2 >"$WORK/ort2p.0" &
a=\$!
"$PY" "$HERE/batch_ort.py" run "$RECS" "\$1" --threads 1 --shard 1/2 >"$WORK/ort2p.1" &
b=\$!
wait \$a; wait \$b
cat "$WORK/ort2p.0" "$WORK/ort2p.1"
EOF
      chmod +x "$WORK/ort2p.sh"
      timed "onnxruntime, 2 procs x 1 thread" "$WORK/out" "$WORK/ort2p.sh" "$WORK/out" &&
        steady_from_json "onnxruntime, 2 procs x 1 thread" "$WORK/ort2p.0" "$WORK/ort2p.1" ;;
    ei)
      if [ ! -x "$EDGEINFER" ]; then
        NOTE["edgeinfer batch"]="not run: $EDGEINFER does not exist yet"; ORDER+=("edgeinfer batch"); say "${NOTE["edgeinfer batch"]}"; continue
      fi
      if ! "$EDGEINFER" batch --help >"$WORK/ei-batch-help.txt" 2>&1; then
        NOTE["edgeinfer batch"]="not run: $EDGEINFER has no \`batch\`"; ORDER+=("edgeinfer batch"); say "${NOTE["edgeinfer batch"]}"; continue
      fi
      OUTFLAG=(-o); grep -q -- '--output-dir' "$WORK/ei-batch-help.txt" && ! grep -qE -- '-o[, ]' "$WORK/ei-batch-help.txt" && OUTFLAG=(--output-dir)
      JFLAG=-j; grep -qE -- '(^|[ ,])-j' "$WORK/ei-batch-help.txt" || { grep -q -- '--jobs' "$WORK/ei-batch-help.txt" && JFLAG=--jobs; }
      EI_WASM=$(tools/ei_model.sh "$EDGEINFER" "$ONNX" "$WORK")
      cp -f "$EI_WASM" "$WORK/cls.wasm"; rm -f "$WORK/cls.cwasm"
      # One run from the bare .wasm with an empty compile cache: what the first
      # `edgeinfer batch` on a machine costs (compile included).
      R0=$RUNS; RUNS=1
      timed "edgeinfer batch -j 2, .wasm, empty compile cache" "$WORK/out" tools/fresh_cache.sh "$EDGEINFER" batch -q "$WORK/cls.wasm" "$RECS" "${OUTFLAG[@]}" "$WORK/out" "$JFLAG" 2 || true
      RUNS=$R0
      rm -rf "$WORK/cache-cold"
      "$EDGEINFER" precompile "$WORK/cls.wasm" >>"$LOG" 2>&1 || say "precompile failed; the runs below compile too"
      timed "edgeinfer batch -j 1" "$WORK/out" "$EDGEINFER" batch -q "$WORK/cls.wasm" "$RECS" "${OUTFLAG[@]}" "$WORK/out" "$JFLAG" 1 || true
      timed "edgeinfer batch -j 2" "$WORK/out" "$EDGEINFER" batch -q "$WORK/cls.wasm" "$RECS" "${OUTFLAG[@]}" "$WORK/out" "$JFLAG" 2 || true
      # Without a deadline (code without the epoch checks), for trusted jobs; its own .cwasm.
      if grep -q -- '--deadline' "$WORK/ei-batch-help.txt"; then
        cp -f "$WORK/cls.wasm" "$WORK/cls-nodeadline.wasm"
        "$EDGEINFER" precompile "$WORK/cls-nodeadline.wasm" --deadline 0 >>"$LOG" 2>&1 || say "precompile --deadline 0 failed; the runs below compile too"
        timed "edgeinfer batch -j 1 --deadline 0" "$WORK/out" "$EDGEINFER" batch -q "$WORK/cls-nodeadline.wasm" "$RECS" "${OUTFLAG[@]}" "$WORK/out" "$JFLAG" 1 --deadline 0 || true
        timed "edgeinfer batch -j 2 --deadline 0" "$WORK/out" "$EDGEINFER" batch -q "$WORK/cls-nodeadline.wasm" "$RECS" "${OUTFLAG[@]}" "$WORK/out" "$JFLAG" 2 --deadline 0 || true
      fi
      ;;
    native)
      if [ -x "$HERE/native_hook.sh" ]; then
        timed "native tract (native_hook.sh)" "$WORK/out" "$HERE/native_hook.sh" "$RECS" "$WORK/out" || true
      fi
      # Compute-only bound from `edgeinfer bench` (1 thread, no I/O, no process start).
      "$PY" -c 'import numpy as np; np.save("'"$WORK"'/x1.npy", np.load("'"$RECS"'/0.npy"))'
      quiet
      BENCH_WASM=${EI_WASM:-}
      [ -n "$BENCH_WASM" ] || { [ "$EDGEINFER_BENCH" = "$EDGEINFER" ] && BENCH_WASM=$(tools/ei_model.sh "$EDGEINFER" "$ONNX" "$WORK"); } || true
            if "${NICE_CMD[@]}" "$EDGEINFER_BENCH" bench "$BENCH_WASM" --onnx "$ONNX" --input-shape x=1,3,48,192 -i x="$WORK/x1.npy" --runs 200 --json >"$WORK/ei-bench.json" 2>>"$LOG"; then
        cat "$WORK/ei-bench.json" >>"$LOG"
        NATIVE_MS=$("$PY" -c 'import json; print(json.load(open("'"$WORK"'/ei-bench.json"))["native"]["median_ms"])')
        WASM_MS=$("$PY" -c 'import json; print(json.load(open("'"$WORK"'/ei-bench.json"))["warm"]["median_ms"])')
        say "edgeinfer bench: native tract $NATIVE_MS ms, wasm warm $WASM_MS ms per inference"
      else
        say "edgeinfer bench failed"
      fi ;;
  esac
done

# ------------------------------------------------------------------ report
rps() { echo "$N / $1" | bc -l; }
BASE_NATIVE=""
if [ -n "${WALL["native tract (native_hook.sh)"]:-}" ]; then BASE_NATIVE=$(rps "${WALL["native tract (native_hook.sh)"]}"); BASE_KIND="native_hook.sh, wall"
elif [ -n "${NATIVE_MS:-}" ]; then BASE_NATIVE=$(echo "1000 / $NATIVE_MS" | bc -l); BASE_KIND="compute-only bound"; fi
BASE_ORT=""; [ -n "${WALL["onnxruntime, 1 thread"]:-}" ] && BASE_ORT=$(rps "${WALL["onnxruntime, 1 thread"]}")
ratio() { if [ -n "$2" ]; then printf '%.2f' "$(echo "$1 / $2" | bc -l)"; else echo "—"; fi; }

{
  echo "# batch benchmark — $STAMP (UTC)"
  echo
  echo "PP-OCR cls, $N records \`recs/<i>.npy\` ([1,3,48,192] float32: reference row 0 + N(0, 0.01), seed 0), batch 1; each output written to its own .npy."
  echo "Wall clock of the whole process (start-up, model load, all I/O), median of $RUNS runs; records/s = $N / wall. \"steady\" = the record loop alone where the tool reports it."
  echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/{print $2}') GiB; records in the page cache. Each run waited (≤ ${QUIET_WAIT}s) for a quiet machine; \"other cores\" = average cores used by other processes during each counted run (/proc/stat busy minus the variant's own user+sys); $([ -z "$NICE" ] && echo "runs above ${BUSY_MAX} were repeated" || echo "informational under NICE (others then mostly get what the variant leaves idle)")."
  [ -n "$NICE" ] && echo "Timed commands ran at nice $NICE (other sessions' builds were using the cores)."
  echo "onnxruntime 1.32.0 (CPU EP, graph optimisation ALL, inter-op 1). Every output set was checked against onnxruntime (label equal, |diff| ≤ 1e-4) on its first run."
  echo
  echo "| variant | wall s | records/s | steady rec/s | vs ORT 1 thread | vs native tract | other cores per run |"
  echo "|---|---:|---:|---:|---:|---:|---|"
  for name in "${ORDER[@]}"; do
    if [ -n "${WALL[$name]:-}" ]; then
      r=$(rps "${WALL[$name]}")
      printf '| %s | %.2f | %.0f | %s | %s | %s | %s |\n' "$name" "${WALL[$name]}" "$r" "${STEADY[$name]:-—}" "$(ratio "$r" "$BASE_ORT")" "$(ratio "$r" "$BASE_NATIVE")" "${OTHERS[$name]:-}"
    else
      printf '| %s | — | — | — | — | — | %s |\n' "$name" "${NOTE[$name]:-not run}"
    fi
  done
  if [ -n "${NATIVE_MS:-}" ]; then
    printf '| native tract, compute only (edgeinfer bench, median of 200) | — | %.0f | %.0f | %s | %s | |\n' "$(echo "1000 / $NATIVE_MS" | bc -l)" "$(echo "1000 / $NATIVE_MS" | bc -l)" "$(ratio "$(echo "1000 / $NATIVE_MS" | bc -l)" "$BASE_ORT")" "$(ratio "$(echo "1000 / $NATIVE_MS" | bc -l)" "$BASE_NATIVE")"
    printf '| edgeinfer wasm warm, compute only (edgeinfer bench) | — | %.0f | %.0f | %s | %s | |\n' "$(echo "1000 / $WASM_MS" | bc -l)" "$(echo "1000 / $WASM_MS" | bc -l)" "$(ratio "$(echo "1000 / $WASM_MS" | bc -l)" "$BASE_ORT")" "$(ratio "$(echo "1000 / $WASM_MS" | bc -l)" "$BASE_NATIVE")"
  fi
  echo
  [ -n "$BASE_NATIVE" ] && echo "\"vs native tract\" divides by the native tract rate ($BASE_KIND: $(printf '%.0f' "$BASE_NATIVE") records/s, 1 thread); the compute-only bound leaves out file I/O, process start and model load, so a wall-clock row of the same engine falls below it by construction (onnxruntime can still beat it: it is a faster engine on this model)."
} | tee "$REPORT"
say "report: $REPORT"
