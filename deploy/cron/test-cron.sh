#!/usr/bin/env bash
# Checks run-batch.sh (called by deploy/test.sh): the exit-code mapping with a stand-in CLI
# that exits 0/1/2 and writes a report as `edgeinfer batch` does, the metrics file, that
# `flock -n` skips an overlapping run, that logrotate accepts and applies logrotate.conf
# (when logrotate is installed), and a real run when EDGEINFER has `batch`.
# Usage: test-cron.sh WORK_DIR EDGEINFER MODEL.wasm RECORDS_DIR
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$1" edgeinfer="$2" model="$3" records="$4"
mkdir -p "$work"
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "PASS cron: $*"; }
bad() { failed=$((failed + 1)); echo "FAIL cron: $*"; }

# Stand-in CLI: FAKE_RC exit code, FAKE_FAILED failed records of 100, writes --report.
cat > "$work/fake-edgeinfer" <<'FAKE'
#!/usr/bin/env bash
report=""; errors=""
while [ $# -gt 0 ]; do case "$1" in --report) report="$2"; shift ;; --errors) errors="$2"; shift ;; esac; shift; done
f="${FAKE_FAILED:-0}"
[ "$FAKE_RC" = 2 ] && { echo "error: cannot load model" >&2; exit 2; }
for ((i = 0; i < f; i++)); do echo "{\"record\": \"r$i\", \"error\": \"bad shape\"}" >> "$errors"; done
printf '{"records": {"total": 100, "ok": %d, "skipped": 0, "failed": %d}, "records_per_second": 50.0, "exit_code": %d, "aborted": %s}\n' \
  $((100 - f)) "$f" "$FAKE_RC" "${FAKE_ABORTED:-false}" > "$report"
exit "$FAKE_RC"
FAKE
chmod +x "$work/fake-edgeinfer"

# case NAME FAKE_RC FAKE_FAILED FAKE_ABORTED WANT_EXIT WANT_MAIL(0/1)
case_() {
  local name="$1" rc="$2" f="$3" ab="$4" want="$5" mail="$6" got err
  set +e
  err="$(FAKE_RC=$rc FAKE_FAILED=$f FAKE_ABORTED=$ab EDGEINFER="$work/fake-edgeinfer" \
    EDGEINFER_MODEL=m.wasm EDGEINFER_INPUT=in EDGEINFER_OUTPUT=out EDGEINFER_LOG_DIR="$work/log" \
    EDGEINFER_MAX_FAILED_PERCENT=5 EDGEINFER_TEXTFILE_DIR="$work" \
    timeout 60 "$here/run-batch.sh" 2>&1 >/dev/null)"
  got=$?
  set -e
  local mailed=0
  [ -n "$err" ] && mailed=1
  if [ "$got" = "$want" ] && [ "$mailed" = "$mail" ]; then
    ok "$name -> exit $got${err:+, mails: $err}"
  else
    bad "$name: exit $got (want $want), stderr '$err' (want mail=$mail)"
  fi
}
case_ "all ok" 0 0 false 0 0
case_ "2 of 100 failed, within 5%" 1 2 false 0 0
case_ "10 of 100 failed, above 5%" 1 10 false 1 1
case_ "aborted after --max-failures" 1 3 true 1 1
case_ "model error" 2 0 false 2 1
if grep -q 'edgeinfer_batch_exit_code 2' "$work/edgeinfer_batch.prom" && [ "$(wc -l < "$work/log/errors.jsonl")" = 15 ]; then
  ok "metrics file and the errors of every run kept (15 lines)"
else
  bad "metrics or errors.jsonl: $(cat "$work/edgeinfer_batch.prom"; wc -l "$work/log/errors.jsonl")"
fi
grep -q 'WARN: 2 of 100 records failed' "$work/log/batch.log" && ok "WARN logged within threshold" || bad "no WARN in batch.log"

# flock -n: a second run while the lock is held exits at once and runs nothing.
lock="$work/batch.lock"
flock "$lock" sleep 5 &
holder=$!
sleep 0.5
before="$(wc -l < "$work/log/batch.log")"
set +e
FAKE_RC=0 EDGEINFER="$work/fake-edgeinfer" EDGEINFER_MODEL=m EDGEINFER_INPUT=i EDGEINFER_OUTPUT=o \
  EDGEINFER_LOG_DIR="$work/log" timeout 10 flock -n "$lock" "$here/run-batch.sh"
rc=$?
set -e
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true
if [ "$rc" = 1 ] && [ "$(wc -l < "$work/log/batch.log")" = "$before" ]; then
  ok "flock -n skips an overlapping run"
else
  bad "flock -n: exit $rc, log grew"
fi

# logrotate: the shipped config, pointed at the test's log directory and user.
if command -v logrotate >/dev/null; then
  sed -e "s#/var/log/edgeinfer#$work/log#g" -e "s#edgeinfer edgeinfer#$(id -un) $(id -gn)#g" \
    "$here/logrotate.conf" > "$work/logrotate.conf"
  if timeout 30 logrotate -f -s "$work/logrotate.state" "$work/logrotate.conf" && [ -f "$work/log/batch.log.1" ]; then
    ok "logrotate rotates batch.log with logrotate.conf"
  else
    bad "logrotate failed"
  fi
else
  echo "SKIP cron: logrotate is not installed (apt-get install logrotate)"
fi

# A real run through the wrapper when the CLI has `batch`.
if timeout 30 "$edgeinfer" batch --help >/dev/null 2>&1; then
  set +e
  EDGEINFER="$edgeinfer" EDGEINFER_MODEL="$model" EDGEINFER_INPUT="$records" \
    EDGEINFER_OUTPUT="$work/out" EDGEINFER_LOG_DIR="$work/log-real" timeout 300 "$here/run-batch.sh"
  rc=$?
  set -e
  n_in="$(find "$records" -name '*.npy' | wc -l)"
  n_out="$(find "$work/out" -mindepth 1 -maxdepth 1 -type d | wc -l)"
  if [ "$rc" = 0 ] && [ "$n_in" = "$n_out" ]; then
    ok "real edgeinfer batch via run-batch.sh: $n_out records"
  else
    bad "real run: exit $rc, $n_out of $n_in records; $(tail -3 "$work/log-real/batch.log")"
  fi
else
  echo "SKIP cron: $edgeinfer has no 'batch' subcommand"
fi

echo "cron: $passed passed, $failed failed"
[ "$failed" = 0 ]
