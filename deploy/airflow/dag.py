"""Airflow 3: a daily edgeinfer batch as a DAG with one TaskFlow task.

Why: where Airflow already schedules the data pipeline, the batch runs as one more task and
its run report travels downstream as the task's return value (XCom `return_value`), so a
following task can read records ok/failed, throughput and the model sha256 without parsing
files.

Exit codes (policy in deploy/edgeinfer_batch.py): 2 (usage or model error) raises
AirflowFailException: the task fails at once, no retries. 1 (some records failed) fails the
task (normal AirflowException, so retries apply; the CLI resumes and only re-tries the failed
records) when the failed fraction is above `max_failed_fraction`, else logs a warning and
succeeds. A timeout retries too.

Configure with DAG params (UI "Trigger DAG w/ config") or the EDGEINFER_* environment
variables below. The DAG file must sit in the dags folder next to (or with PYTHONPATH
pointing at) deploy/edgeinfer_batch.py, and the embed backend needs examples/python too.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import sys
from pathlib import Path

from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowException, AirflowFailException

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from edgeinfer_batch import BatchError, judge, run_batch, summary  # noqa: E402

log = logging.getLogger(__name__)


@dag(
    dag_id="edgeinfer_batch",
    schedule="@daily",
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,  # two runs would write the same output directory
    default_args={"retries": 1, "retry_delay": dt.timedelta(minutes=5)},
    params={
        "model": Param(os.environ.get("EDGEINFER_MODEL", "/srv/edgeinfer/model.wasm"), type="string"),
        "input": Param(os.environ.get("EDGEINFER_INPUT", "/srv/edgeinfer/in"), type="string"),
        "output": Param(os.environ.get("EDGEINFER_OUTPUT", "/srv/edgeinfer/out"), type="string"),
        "backend": Param("cli", enum=["cli", "embed"]),
        "max_failed_fraction": Param(0.0, type="number", minimum=0, maximum=1),
    },
    tags=["edgeinfer"],
)
def edgeinfer_batch():
    @task(execution_timeout=dt.timedelta(hours=2))
    def run() -> dict:
        p = get_current_context()["params"]
        try:
            report = run_batch(p["model"], p["input"], p["output"], backend=p["backend"],
                               timeout=3600)
            for w in judge(report, p["max_failed_fraction"]):
                log.warning(w)
        except BatchError as e:
            if e.exit_code == 2:
                raise AirflowFailException(str(e)) from e
            raise AirflowException(str(e)) from e
        log.info("edgeinfer batch: %s", summary(report))
        return report  # -> XCom return_value

    run()


edgeinfer_batch()
