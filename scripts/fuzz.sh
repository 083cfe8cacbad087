#!/usr/bin/env bash
# Coverage-guided fuzzing of edgeinfer's input parsers with libFuzzer (cargo fuzz, on the
# machine's stable Rust: `-s none` turns the sanitizer off, which is what needs nightly).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default: 180 s each, every target
#
# Each target grows fuzz/corpus/<target>/ (minimized at the end to the fewest inputs covering the same edges), and a
# crash lands in fuzz/libfuzzer/artifacts/<target>/: copy it to fuzz/regressions/<target>/
# once fixed, and `cargo test -p edgeinfer-fuzz` replays it forever. Prints one line per
# target: runs, seconds, coverage (libFuzzer's `cov`), corpus size.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-180}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(oip_request npy_file pack_payload engine_infer engine_http onnx_model)
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz@0.13.2
dir=(--fuzz-dir "$PWD/fuzz/libfuzzer")
cargo fuzz build "${dir[@]}" -s none
bin=fuzz/libfuzzer/target/x86_64-unknown-linux-gnu/release
mkdir -p target/fuzz-logs
for t in "${targets[@]}"; do
  log=target/fuzz-logs/$t.log
  # 2 GiB RSS and 10 s per input: more is a finding (a hostile input must not exhaust either).
  cargo fuzz run "${dir[@]}" -s none "$t" "$PWD/fuzz/corpus/$t" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 >"$log" 2>&1 || { echo "$t: FOUND A CRASH (see $log)"; tail -30 "$log"; exit 1; }
  # Keep a small corpus: the fewest inputs that cover the same edges (hit counts ignored).
  kept=$(mktemp -d)
  "$bin/$t" -set_cover_merge=1 -use_counters=0 "$kept" fuzz/corpus/"$t" >>"$log" 2>&1
  rm -rf fuzz/corpus/"$t" && mv "$kept" fuzz/corpus/"$t" && chmod 755 fuzz/corpus/"$t"
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  echo "$t: $runs runs in ${seconds} s, $cov, corpus $(ls fuzz/corpus/"$t" | wc -l) files"
done
