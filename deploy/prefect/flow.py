"""Prefect 3: run one edgeinfer batch as a flow with one task.

Why: Prefect schedules, retries and records the run; edgeinfer does the inference. The task
returns the run report (so callers and result persistence get it) and publishes it as a table
artifact (`edgeinfer-batch-report`) plus a markdown summary, visible in the Prefect UI.

Exit codes (policy in deploy/edgeinfer_batch.py): 2 (usage or model error) fails the task
without retries; 1 (some records failed) fails when the failed fraction is above
`max_failed_fraction` (default 0), else logs a warning and the flow completes. A timed-out
run is retried once: the CLI resumes and skips the records already written.

Run:  python deploy/prefect/flow.py MODEL.wasm INPUT OUTPUT [--backend cli|embed]
Without PREFECT_API_URL, Prefect 3 starts a temporary local API server for the run
(SQLite under PREFECT_HOME, default ~/.prefect); deploy/test.sh points PREFECT_HOME at a
temporary directory.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from edgeinfer_batch import BatchError, judge, run_batch, summary  # noqa: E402


def _retry_unless_model_error(task, task_run, state) -> bool:
    """Retry a timeout; never retry a usage/model error (exit 2) or a failed-records verdict."""
    try:
        state.result()
    except BatchError as e:
        return e.exit_code is None
    except Exception:  # noqa: BLE001
        return False
    return False


@task(name="edgeinfer-batch", retries=1, retry_delay_seconds=10,
      retry_condition_fn=_retry_unless_model_error)
def edgeinfer_batch(model: str, input: str, output: str, backend: str = "cli",
                    edgeinfer: str | None = None, jobs: int | None = None,
                    max_failures: int | None = None, max_failed_fraction: float = 0.0,
                    timeout_seconds: float = 3600) -> dict:
    log = get_run_logger()
    report = run_batch(model, input, output, backend=backend, edgeinfer=edgeinfer, jobs=jobs,
                       max_failures=max_failures, timeout=timeout_seconds)
    s = summary(report)
    # Publish before judging, so a failed run still shows its numbers.
    create_table_artifact(key="edgeinfer-batch-report",
                          table=[{"metric": k, "value": str(v)} for k, v in s.items()],
                          description=f"edgeinfer batch {input} -> {output}")
    create_markdown_artifact(
        key="edgeinfer-batch-summary",
        markdown=(f"**{s['records_ok']}** ok, **{s['records_failed']}** failed, "
                  f"{s['records_skipped']} skipped of {s['records_total']} in {s['seconds']:.1f} s "
                  f"({s['records_per_second']:.1f} records/s); model `{s['model_name']}` "
                  f"v{s['model_version']} sha256 `{s['model_sha256']}`; exit {s['exit_code']}. "
                  f"Errors: `{report['errors_path']}`"))
    for w in judge(report, max_failed_fraction):
        log.warning(w)
    log.info("%d ok, %d failed, %d skipped, %.1f records/s", s["records_ok"],
             s["records_failed"], s["records_skipped"], s["records_per_second"])
    return report


@flow(name="edgeinfer-batch")
def edgeinfer_batch_flow(model: str, input: str, output: str, backend: str = "cli",
                         edgeinfer: str | None = None, jobs: int | None = None,
                         max_failures: int | None = None, max_failed_fraction: float = 0.0,
                         timeout_seconds: float = 3600) -> dict:
    return edgeinfer_batch(model, input, output, backend=backend, edgeinfer=edgeinfer, jobs=jobs,
                           max_failures=max_failures, max_failed_fraction=max_failed_fraction,
                           timeout_seconds=timeout_seconds)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="Run one edgeinfer batch as a Prefect flow")
    ap.add_argument("model")
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--backend", default="cli", choices=["cli", "embed"])
    ap.add_argument("--max-failed-fraction", type=float, default=0.0)
    a = ap.parse_args()
    r = edgeinfer_batch_flow(a.model, a.input, a.output, backend=a.backend,
                             max_failed_fraction=a.max_failed_fraction)
    print(summary(r))
