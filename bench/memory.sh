#!/usr/bin/env bash
# Issue 12 goal 4: resident memory of `edgeinfer serve` under load, on the panel, against what
# one instance of the model needs (its linear memory after a call: snapshot + heap peak).
# Each model is served with every VARIANTS entry in turn, loaded by wrk with one-row JSON
# requests at CONNS connections.
#
#   bench/memory.sh                 (the corpus must be fetched: models/corpus/fetch)
#   MODELS="sklearn-mlp-reg" CONNS=16 DURATION=5s bench/memory.sh
#
# Columns: `base` is the server's RSS once loaded, before any request; `peak` its high-water
# mark (VmHWM) over the run; `after` its RSS once the load stopped; `per request` is
# (peak - base) / CONNS; `bound` is the issue's goal, 4 x instance memory x CONNS + base.
# Environment: MODELS, CONNS [16], DURATION [10s], VARIANTS (LABEL=serve flags, `;`-separated;
#   default: the shipped defaults, --keep-resident-mib 0, --reuse-instances, and both of the
#   last with --max-concurrency CONNS instead of the default, the number of cores).
# Needs wrk (apt-get install -y wrk) and bench/.venv (bench/serve.sh creates it).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE/.."
# shellcheck source=tools/panel.sh
. bench/tools/panel.sh
MODELS=${MODELS:-$PANEL}
CONNS=${CONNS:-16}
DURATION=${DURATION:-10s}
VARIANTS=${VARIANTS:-"default=;kr0=--keep-resident-mib 0;reuse=--reuse-instances;c$CONNS=--max-concurrency $CONNS;c$CONNS-reuse=--max-concurrency $CONNS --reuse-instances"}
PORT=18012
WORK=bench/work/memory
# shellcheck source=tools/corpus_serve.sh
. bench/tools/corpus_serve.sh

kib() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$PID/status"; }

# instance_mib NAME: the instance's linear memory after a call on the first reference row
# (snapshot + heap peak), from `edgeinfer bench`.
instance_mib() {
  local args=()
  while read -r spec; do args+=(-i "$spec"); done < <("$PY" - "models/corpus/$1" "$WORK" <<'EOF'
import json, sys
from pathlib import Path
import numpy as np
case_dir, work = Path(sys.argv[1]), Path(sys.argv[2])
for spec in json.loads((case_dir / "case.json").read_text())["inputs"]:
    out = work / f"{case_dir.name}-{spec['name'].replace('/', '_')}.npy"
    np.save(out, np.load(case_dir / spec["file"])[:1])
    print(f"{spec['name']}={out}")
EOF
)
  "$EDGEINFER" bench "$WORK/$1.wasm" "${args[@]}" --runs 3 --json |
    python3 -c "import json,sys; print('%.1f' % (json.load(sys.stdin)['memory_peak_bytes'] / 2**20))"
}

IFS=';' read -r -a VARS <<<"$VARIANTS"
echo "| model | instance MiB | serve | req/s | p50 ms | p99 ms | base MiB | peak MiB | after MiB | per request MiB | per request / instance | bound MiB (peak within) |"
echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
for name in $MODELS; do
  [ -f "models/corpus/$name/model.onnx" ] || { echo "| $name | not fetched |"; continue; }
  pack_corpus_model "$name" "${PANEL_FLAGS[$name]:-}" || { echo "| $name | pack failed |"; continue; }
  inst=$(instance_mib "$name")
  for v in "${VARS[@]}"; do
    # shellcheck disable=SC2086
    "$EDGEINFER" serve "$WORK/$name.wasm" --listen 127.0.0.1:$PORT --reload-interval 0 \
      ${v#*=} >"$WORK/serve.log" 2>&1 &
    PID=$!
    ready && base=$(kib VmRSS)
    if ! curl -fsS -o /dev/null -H 'content-type: application/json' \
        --data-binary @"$WORK/$name.json" "http://127.0.0.1:$PORT/v2/models/model/infer"; then
      echo "| $name | $inst | ${v%%=*} | failed |"; stop; continue
    fi
    line=$(wrk_load "$WORK/$name.json" "$CONNS" "$DURATION")
    sleep 1
    peak=$(kib VmHWM); after=$(kib VmRSS)
    stop
    python3 - "$name" "$inst" "${v%%=*}" "$(result_kv "$line" rps)" "$base" "$peak" "$after" \
      "$CONNS" "$(result_bad "$line")" "$(result_kv "$line" p50_ms)" "$(result_kv "$line" p99_ms)" <<'EOF'
import sys
name, inst, label, rps, base, peak, after, conns, bad, p50, p99 = sys.argv[1:]
inst, conns = float(inst), int(conns)
base, peak, after = (int(k) / 1024 for k in (base, peak, after))
per = (peak - base) / conns
bound = 4 * inst * conns + base
errs = "" if bad == "0" else f" **{bad} errors**"
print(f"| {name} | {inst:.1f} | {label} | {float(rps):.0f}{errs} | {float(p50):.1f} | {float(p99):.1f} | {base:.0f} | {peak:.0f} | "
      f"{after:.0f} | {per:.1f} | {per / inst:.2f}x | {bound:.0f} ({'yes' if peak <= bound else '**no**'}) |")
EOF
  done
done
