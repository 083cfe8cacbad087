#!/usr/bin/env bash
# Cron wrapper for `edgeinfer batch`: runs one (resumable) batch, appends a log that logrotate
# rotates, and turns the CLI's exit code into what cron and monitoring should do.
#
# Why a wrapper: cron mails whatever a job prints, and knows nothing of exit codes. So this
# script prints NOTHING when all is well (no mail), and one line on stderr (a mail) only when
# a person must act. Everything else goes to $EDGEINFER_LOG_DIR/batch.log.
#
#   CLI exit  meaning                              this script
#   0         all records ok                       log; exit 0; silent
#   1         some records failed, within          log WARN; exit 0; silent (metrics show it)
#             EDGEINFER_MAX_FAILED_PERCENT
#   1         more failed, or aborted after        log + stderr (mail); exit 1. The next run
#             --max-failures                       retries only the records not yet written
#   2         usage or model error                 log + stderr (mail); exit 2. Retrying won't
#                                                  help: fix the model path/config
#   124       killed by EDGEINFER_TIMEOUT          log + stderr (mail); exit 1; resumes next run
#   other     crash                                log + stderr (mail); that exit code
#
# Overlap: the crontab line wraps this in `flock -n`, so a run still going makes the next one
# a silent no-op. Optional monitoring: with EDGEINFER_TEXTFILE_DIR set, writes
# edgeinfer_batch.prom there for node_exporter's textfile collector.
#
# Usage: run-batch.sh [ENV_FILE]   (the file sets the EDGEINFER_* variables below)
set -euo pipefail

if [ $# -ge 1 ]; then
  # shellcheck disable=SC1090
  source "$1"
fi
EDGEINFER="${EDGEINFER:-/usr/local/bin/edgeinfer}"
: "${EDGEINFER_MODEL:?set EDGEINFER_MODEL (the packed .wasm)}"
: "${EDGEINFER_INPUT:?set EDGEINFER_INPUT}"
: "${EDGEINFER_OUTPUT:?set EDGEINFER_OUTPUT}"
log_dir="${EDGEINFER_LOG_DIR:-/var/log/edgeinfer}"
max_failed_percent="${EDGEINFER_MAX_FAILED_PERCENT:-0}"
timeout_s="${EDGEINFER_TIMEOUT:-10800}"

mkdir -p "$log_dir"
exec 3>&2                                   # the original stderr: cron's mail
exec >>"$log_dir/batch.log" 2>&1            # reopened every run, so logrotate's rename is safe
ts() { date -u +%Y-%m-%dT%H:%M:%SZ; }
alert() { echo "$(ts) $*"; echo "edgeinfer batch on $(hostname): $*" >&3; }

report="$log_dir/last.report.json"
run_errors="$(mktemp "$log_dir/.errors.XXXXXX")"
trap 'rm -f "$run_errors"' EXIT

args=(batch "$EDGEINFER_MODEL" "$EDGEINFER_INPUT" -o "$EDGEINFER_OUTPUT"
      --report "$report" --errors "$run_errors" --quiet)
[ -n "${EDGEINFER_JOBS:-}" ] && args+=(-j "$EDGEINFER_JOBS")
[ -n "${EDGEINFER_MAX_FAILURES:-}" ] && args+=(--max-failures "$EDGEINFER_MAX_FAILURES")

echo "$(ts) start: $EDGEINFER ${args[*]}"
rm -f "$report"
set +e
# --kill-after: a batch that ignores SIGTERM is killed 60 s later.
timeout --kill-after=60 "$timeout_s" "$EDGEINFER" "${args[@]}"
rc=$?
set -e
# Keep every run's failed records: the CLI's error file is per run.
cat "$run_errors" >> "$log_dir/errors.jsonl"

# ok failed total aborted from the report (python3 only to read JSON).
read -r ok failed total skipped aborted rps < <(timeout 30 python3 - "$report" <<'PY' 2>/dev/null || echo "0 0 0 0 false 0"
import json, sys
r = json.load(open(sys.argv[1])); c = r["records"]
print(c["ok"], c["failed"], c["total"], c["skipped"], str(bool(r.get("aborted"))).lower(), r.get("records_per_second", 0))
PY
)
summary="$ok ok, $failed failed, $skipped skipped of $total ($rps records/s), exit $rc"
echo "$(ts) end: $summary"

if [ -n "${EDGEINFER_TEXTFILE_DIR:-}" ]; then
  prom="$EDGEINFER_TEXTFILE_DIR/edgeinfer_batch.prom"
  cat > "$prom.tmp" <<PROM
# HELP edgeinfer_batch_last_run_timestamp_seconds End of the last edgeinfer batch run.
# TYPE edgeinfer_batch_last_run_timestamp_seconds gauge
edgeinfer_batch_last_run_timestamp_seconds $(date +%s)
# HELP edgeinfer_batch_exit_code Exit code of the last run (0 ok, 1 records failed, 2 model/usage error).
# TYPE edgeinfer_batch_exit_code gauge
edgeinfer_batch_exit_code $rc
# HELP edgeinfer_batch_records Records of the last run by state.
# TYPE edgeinfer_batch_records gauge
edgeinfer_batch_records{state="ok"} $ok
edgeinfer_batch_records{state="failed"} $failed
edgeinfer_batch_records{state="skipped"} $skipped
# HELP edgeinfer_batch_records_per_second Throughput of the last run.
# TYPE edgeinfer_batch_records_per_second gauge
edgeinfer_batch_records_per_second $rps
PROM
  mv "$prom.tmp" "$prom"
fi

case "$rc" in
  0) exit 0 ;;
  1)
    if [ "$aborted" = false ] && [ "$total" -gt 0 ] && [ $(( failed * 100 )) -le $(( max_failed_percent * total )) ]; then
      echo "$(ts) WARN: $failed of $total records failed, within ${max_failed_percent}%; see $log_dir/errors.jsonl"
      exit 0
    fi
    alert "records failed: $summary; see $log_dir/errors.jsonl"
    exit 1 ;;
  2) alert "usage or model error (exit 2); retrying won't help: fix the configuration; see $log_dir/batch.log"
     exit 2 ;;
  124|137) alert "timed out after ${timeout_s} s; the next run resumes"
     exit 1 ;;
  *) alert "edgeinfer crashed with exit $rc; see $log_dir/batch.log"
     exit "$rc" ;;
esac
