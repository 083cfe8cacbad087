#!/usr/bin/env bash
# Issue 12 goal 1: a fresh instance's first answer against a warm one, on the panel
# (tools/panel.sh). Each model is packed as bench/memory.sh serves it and timed by
# `edgeinfer bench` twice in a row: with its memory reset by madvise (--keep-resident-mib 0,
# what a serverless host gives a fresh instance) and by memset (64, `edgeinfer serve`'s
# default). Every clock stops at the answer; the teardown (resetting the slot for the next
# instance) is timed on its own.
#
#   bench/coldwarm.sh [RUNS=20]            (the corpus must be fetched: models/corpus/fetch)
#
# Prints a Markdown table.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNS=${1:-20}
EDGEINFER=${EDGEINFER:-target/release/edgeinfer}
WORK=bench/work/coldwarm
mkdir -p "$WORK"

# shellcheck source=tools/panel.sh
. bench/tools/panel.sh

echo "| model | reset | instantiate ms | cold ms | warm ms | cold / warm (goal <= 1.1) | page faults in a cold run | teardown ms (after the answer) |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for name in $PANEL; do
  flags=${PANEL_FLAGS[$name]:-}
  wasm="$WORK/$name.wasm"
  # shellcheck disable=SC2086
  "$EDGEINFER" pack "models/corpus/$name/model.onnx" -o "$wasm" $flags >"$WORK/pack.log" 2>&1 ||
    { echo "| $name | pack failed: $(tail -1 "$WORK/pack.log") |"; continue; }
  for keep in 0 64; do
    "$EDGEINFER" bench "$wasm" --runs "$RUNS" --keep-resident-mib "$keep" --json >"$WORK/$name-$keep.json"
    python3 - "$WORK/$name-$keep.json" "$name" "$keep" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
reset = "madvise (serverless)" if sys.argv[3] == "0" else "memset 64 MiB (serve)"
ms = lambda k: "%.3f" % r[k]["median_ms"]
print(f"| {sys.argv[2]} | {reset} | {ms('instantiate')} | {ms('cold')} | {ms('warm')} | "
      f"{r['cold_over_warm']:.2f}x | {r['cold_page_faults']} | {ms('teardown')} |")
EOF
  done
done
