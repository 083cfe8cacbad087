"""deploy/test.sh's checks of the Dagster asset and the Prefect flow, run for real in-process.

Why: the orchestrator wrappers are only worth shipping if a real materialization / flow run
gives the right numbers. For each backend (cli = `edgeinfer batch`, embed = wasmtime-py) it
asserts that the batch of records gives all ok, the metadata carries the report (records,
throughput, model sha256), the outputs equal ONE `edgeinfer infer` call on all records
stacked (a batch-N model), a re-run skips everything (resume), a bad record fails by
threshold or warns within it, and a missing model fails without retries.

Prints 'N passed, N failed' last; exits 1 on any failure.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
OUT = "save_infer_model_scale_0.tmp_1.npy"

results: list[tuple[str, bool, float]] = []


def load(path: Path, name: str):
    """Import a wrapper by path: deploy/dagster/ and deploy/prefect/ would shadow the packages."""
    import importlib.util  # noqa: PLC0415
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def check(name):
    def wrap(fn):
        t = time.perf_counter()
        try:
            fn()
            ok = True
        except Exception:  # noqa: BLE001
            traceback.print_exc()
            ok = False
        secs = time.perf_counter() - t
        results.append((name, ok, secs))
        print(f"{'PASS' if ok else 'FAIL'} {name} ({secs:.1f} s)", flush=True)
        return fn
    return wrap


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--edgeinfer", required=True)
    ap.add_argument("--model", required=True, help="packed with the records' shape (batch 1)")
    ap.add_argument("--model-n", required=True, help="packed with batch N = number of records")
    ap.add_argument("--records", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--backends", default="embed,cli")
    ap.add_argument("--skip-prefect", action="store_true")
    a = ap.parse_args()
    work, records = Path(a.work), Path(a.records)
    backends = [b for b in a.backends.split(",") if b]
    sha = hashlib.sha256(Path(a.model).read_bytes()).hexdigest()
    ids = sorted(p.stem for p in records.glob("*.npy"))
    n = len(ids)

    # The reference: one `edgeinfer infer` on all records stacked.
    stacked = np.concatenate([np.load(records / f"{i}.npy") for i in ids])
    np.save(work / "stacked.npy", stacked)
    subprocess.run([a.edgeinfer, "infer", a.model_n, "-i", f"x={work / 'stacked.npy'}",
                    "-o", str(work / "ref")], check=True, timeout=300, capture_output=True)
    ref = np.load(work / "ref" / OUT)
    assert ref.shape == (n, 2), ref.shape

    def assert_outputs(out: Path):
        for k, i in enumerate(ids):
            y = np.load(out / i / OUT)
            diff = float(np.abs(y.reshape(-1) - ref[k]).max())
            assert diff <= 1e-5, f"record {i}: max|diff| {diff} vs the single infer call"
        labels = [int(np.argmax(np.load(out / i / OUT))) for i in ids]
        assert labels == [k % 2 for k in range(n)], f"predicted classes {labels}"

    def assert_report(s: dict, ok: int, failed: int = 0, skipped: int = 0):
        got = (s["records_total"], s["records_ok"], s["records_failed"], s["records_skipped"])
        assert got == (ok + failed + skipped, ok, failed, skipped), f"total/ok/failed/skipped {got}"
        assert s["model_sha256"] == sha, (s["model_sha256"], sha)
        if ok:
            assert s["records_per_second"] > 0, s

    # A copy of the records plus one of the wrong shape.
    bad_records = work / "records-bad"
    shutil.copytree(records, bad_records)
    np.save(bad_records / "zz-bad.npy", np.zeros((1, 3, 48, 100), np.float32))

    # ---- Dagster ------------------------------------------------------------------------
    import dagster as dg  # noqa: PLC0415
    edgeinfer_predictions = load(HERE / "dagster" / "assets.py", "edgeinfer_dagster_assets").edgeinfer_predictions

    def materialize(**config):
        config.setdefault("model", a.model)
        config.setdefault("edgeinfer", a.edgeinfer)
        config.setdefault("timeout_seconds", 300)
        r = dg.materialize([edgeinfer_predictions], raise_on_error=False, run_config={
            "ops": {"edgeinfer_predictions": {"config": config}}})
        if not r.success:
            return r, None
        mats = r.asset_materializations_for_node("edgeinfer_predictions")
        meta = {k: v.value for k, v in mats[0].metadata.items()}
        return r, meta

    def dagster_summary(meta):
        return {k: meta[k] for k in ("records_total", "records_ok", "records_failed",
                                     "records_skipped", "records_per_second", "model_sha256")}

    for backend in backends:
        out = work / f"dagster-{backend}"

        @check(f"dagster {backend}: {n} records all ok, metadata, outputs = one infer call")
        def _():
            r, meta = materialize(input=str(records), output=str(out), backend=backend)
            assert r.success, "materialization failed"
            assert_report(dagster_summary(meta), ok=n)
            assert meta["exit_code"] == 0 and meta["report"]["aborted"] is False, meta
            assert Path(str(out) + ".report.json").exists()
            assert_outputs(out)
            print("  metadata:", json.dumps({k: v for k, v in dagster_summary(meta).items()}))

        @check(f"dagster {backend}: re-run skips the {n} records written")
        def _():
            r, meta = materialize(input=str(records), output=str(out), backend=backend)
            assert r.success
            assert_report(dagster_summary(meta), ok=0, skipped=n)

        @check(f"dagster {backend}: 1 bad record fails at threshold 0, warns at 0.1")
        def _():
            r, _ = materialize(input=str(bad_records), output=str(work / f"bad0-{backend}"),
                               backend=backend)
            assert not r.success, "a failed record at max_failed_fraction 0 must fail the asset"
            errs = Path(str(work / f"bad0-{backend}") + ".errors.jsonl").read_text().splitlines()
            assert len(errs) == 1 and json.loads(errs[0])["record"] == "zz-bad", errs
            r, meta = materialize(input=str(bad_records), output=str(work / f"bad1-{backend}"),
                                  backend=backend, max_failed_fraction=0.1)
            assert r.success
            assert_report(dagster_summary(meta), ok=n, failed=1)
            assert meta["exit_code"] == 1, meta["exit_code"]

        @check(f"dagster {backend}: a missing model fails (exit 2)")
        def _():
            r, _ = materialize(input=str(records), output=str(work / f"nomodel-{backend}"),
                               backend=backend, model=str(work / "missing.wasm"))
            assert not r.success
            failure = [e for e in r.all_events if e.event_type_value == "STEP_FAILURE"]
            assert failure, "no step failure event"
            text = str(failure[0].event_specific_data.error)
            assert "exit" in text or "missing.wasm" in text, text

    # ---- Prefect ------------------------------------------------------------------------
    if not a.skip_prefect:
        edgeinfer_batch_flow = load(HERE / "prefect" / "flow.py", "edgeinfer_prefect_flow").edgeinfer_batch_flow
        from edgeinfer_batch import summary  # noqa: PLC0415

        for backend in backends:
            out = work / f"prefect-{backend}"

            @check(f"prefect {backend}: flow returns the report, {n} records ok, outputs = one infer call")
            def _():
                report = edgeinfer_batch_flow(a.model, str(records), str(out), backend=backend,
                                              edgeinfer=a.edgeinfer, timeout_seconds=300)
                assert_report(summary(report), ok=n)
                assert_outputs(out)

            @check(f"prefect {backend}: 1 bad record fails the flow at threshold 0")
            def _():
                try:
                    edgeinfer_batch_flow(a.model, str(bad_records), str(work / f"pbad-{backend}"),
                                         backend=backend, edgeinfer=a.edgeinfer, timeout_seconds=300)
                except Exception as e:  # noqa: BLE001
                    assert "1 of" in str(e) and "failed" in str(e), e
                else:
                    raise AssertionError("the flow should have failed")

        @check("prefect: the report table artifact is stored")
        def _():
            from prefect.artifacts import Artifact  # noqa: PLC0415
            art = Artifact.get("edgeinfer-batch-report")
            assert art is not None and "records_ok" in str(art.data), art

    passed = sum(ok for _, ok, _ in results)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
