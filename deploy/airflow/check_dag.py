"""deploy/test.sh's Airflow check: the DAG parses with no import errors, and one real run of
it (`dag.test()`, in-process, on a throwaway SQLite DB under $AIRFLOW_HOME) batches the
records and returns the run report as the task's XCom.

Usage: AIRFLOW_HOME=tmp python check_dag.py MODEL.wasm RECORDS_DIR OUTPUT_DIR [BACKEND]
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    model, records, output = sys.argv[1:4]
    backend = sys.argv[4] if len(sys.argv) > 4 else "embed"
    assert os.environ.get("AIRFLOW_HOME"), "set AIRFLOW_HOME to a throwaway directory"
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(HERE))
    t = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"], check=True,
                   timeout=240, capture_output=True)
    print(f"airflow: db migrate {time.perf_counter() - t:.1f} s")

    from airflow.dag_processing.dagbag import DagBag  # noqa: PLC0415

    bag = DagBag(dag_folder=str(HERE / "dag.py"))
    results = []
    ok = not bag.import_errors and "edgeinfer_batch" in bag.dags
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} airflow: dag.py imports cleanly "
          f"(errors {bag.import_errors}, dags {list(bag.dags)})")
    if not ok:
        return 1
    dag = bag.dags["edgeinfer_batch"]
    for task in dag.tasks:  # a failure here should fail now, not after the 5-minute retry delay
        task.retries = 0

    t = time.perf_counter()
    dr = dag.test(run_conf={"model": model, "input": records, "output": output,
                            "backend": backend})
    n_in = len(list(Path(records).glob("*.npy")))
    n_out = len([p for p in Path(output).iterdir() if p.is_dir()]) if Path(output).exists() else 0
    xcom = None
    try:
        from airflow.models.xcom import XComModel  # noqa: PLC0415
        from airflow.utils.session import create_session  # noqa: PLC0415
        with create_session() as session:
            row = session.query(XComModel).filter_by(dag_id=dag.dag_id, run_id=dr.run_id,
                                                     task_id="run", key="return_value").one()
            xcom = row.value if isinstance(row.value, dict) else json.loads(row.value)
    except Exception as e:  # noqa: BLE001
        print(f"airflow: could not read the XCom: {e!r}")
    ok = (str(dr.state) in ("success", "DagRunState.SUCCESS") and n_out == n_in
          and xcom is not None and xcom["records"]["ok"] == n_in)
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} airflow: dag.test() {backend}: state {dr.state}, "
          f"{n_out} of {n_in} records written, XCom records {xcom and xcom['records']} "
          f"({time.perf_counter() - t:.1f} s)")
    print(f"airflow: {sum(results)} passed, {len(results) - sum(results)} failed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
