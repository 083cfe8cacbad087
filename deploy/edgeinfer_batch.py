"""One batch run of a packed edgeinfer model, shared by the Prefect, Dagster and Airflow wrappers.

Why a shared module: the three orchestrators should run the *same* batch and judge it by the
*same* rules, so each wrapper only adapts the result to its own metadata API.

Two backends, same result (the run report of `edgeinfer batch`, see deploy/README.md):

- ``cli``: ``edgeinfer batch MODEL INPUT -o OUTPUT ...`` in a subprocess with a timeout. All
  input forms (.npy directory, per-record folders, .jsonl, .csv), parallel workers (-j),
  resumable. The production path.
- ``embed``: in-process through the Python embedding (examples/python/embed.py, wasmtime-py).
  Only the directory forms (a directory of .npy files, or of per-record folders of
  ``<input>.npy``) and one worker; same output layout, report, error log and resume rule.
  Useful where shipping the edgeinfer binary is not wanted.

Exit-code policy (``judge``): 2 (usage or model error) always fails: retrying won't help, a
person must look. 1 (some records failed, or aborted after --max-failures) fails when aborted
or when the failed fraction is above ``max_failed_fraction``, else it is a warning.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


class BatchError(Exception):
    """The batch did not run or failed by policy. ``report`` is the run report, if any."""

    def __init__(self, message: str, report: dict | None = None, exit_code: int | None = None):
        super().__init__(message)
        self.report, self.exit_code = report, exit_code


def default_edgeinfer() -> str:
    return os.environ.get("EDGEINFER", str(REPO / "target/release/edgeinfer"))


def default_paths(output: str | Path) -> tuple[Path, Path]:
    """The CLI's defaults: OUTPUT + '.report.json' and OUTPUT + '.errors.jsonl' (out/ -> out.report.json)."""
    base = str(output).rstrip("/")
    return Path(base + ".report.json"), Path(base + ".errors.jsonl")


def run_batch(model: str | Path, input: str | Path, output: str | Path, *, backend: str = "cli",
              edgeinfer: str | None = None, jobs: int | None = None,
              batch_size: int | None = None, input_name: str | None = None,
              max_failures: int | None = None, report: str | Path | None = None,
              errors: str | Path | None = None, timeout: float = 3600) -> dict:
    """Run the batch; return its report (dict, plus ``report_path``/``errors_path``).

    Raises BatchError only when no report was produced (the CLI could not start, timed out,
    or exited 2 before writing one). The exit code is in ``report['exit_code']``; apply
    ``judge`` to turn it into pass / warn / fail.
    """
    rep_default, err_default = default_paths(output)
    report = Path(report) if report else rep_default
    errors = Path(errors) if errors else err_default
    if backend == "cli":
        result = _run_cli(model, input, output, edgeinfer or default_edgeinfer(), jobs,
                          batch_size, input_name, max_failures, report, errors, timeout)
    elif backend == "embed":
        result = _run_embed(model, input, output, input_name, max_failures, report, errors)
    else:
        raise BatchError(f"unknown backend {backend!r} (cli or embed)", exit_code=2)
    result["report_path"], result["errors_path"] = str(report), str(errors)
    return result


def judge(report: dict, max_failed_fraction: float = 0.0) -> list[str]:
    """Apply the exit-code policy. Returns warnings; raises BatchError on failure."""
    code = report.get("exit_code")
    rec = report.get("records", {})
    failed, total = rec.get("failed", 0), rec.get("total", 0)
    if code == 0:
        return []
    if code == 1:
        if report.get("aborted"):
            raise BatchError(f"batch aborted after {failed} failed records (--max-failures); "
                             f"see {report.get('errors_path')}", report, code)
        fraction = failed / total if total else 1.0
        msg = (f"{failed} of {total} records failed ({fraction:.1%}); "
               f"see {report.get('errors_path')}")
        if fraction > max_failed_fraction:
            raise BatchError(msg + f" - above the threshold {max_failed_fraction:.1%}", report, code)
        return [msg + f" - within the threshold {max_failed_fraction:.1%}"]
    raise BatchError(f"batch exited {code}: usage or model error: {report.get('error', '')}",
                     report, code)


def summary(report: dict) -> dict:
    """The few numbers every orchestrator shows."""
    rec = report.get("records", {})
    return {
        "records_total": rec.get("total", 0), "records_ok": rec.get("ok", 0),
        "records_skipped": rec.get("skipped", 0), "records_failed": rec.get("failed", 0),
        "records_per_second": float(report.get("records_per_second") or 0.0),
        "seconds": float(report.get("seconds") or 0.0),
        "model_name": report.get("model", {}).get("name", ""),
        "model_version": report.get("model", {}).get("version", ""),
        "model_sha256": report.get("model", {}).get("sha256", ""),
        "exit_code": report.get("exit_code"), "aborted": bool(report.get("aborted")),
    }


# ---- cli backend ---------------------------------------------------------------------------

def _run_cli(model, input, output, edgeinfer, jobs, batch_size, input_name, max_failures,
             report: Path, errors: Path, timeout) -> dict:
    cmd = [edgeinfer, "batch", str(model), str(input), "-o", str(output),
           "--report", str(report), "--errors", str(errors), "--quiet"]
    for flag, value in (("-j", jobs), ("--batch-size", batch_size), ("--input-name", input_name),
                        ("--max-failures", max_failures)):
        if value is not None:
            cmd += [flag, str(value)]
    # A stale report from an earlier run must not pass for this run's.
    report.unlink(missing_ok=True)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as e:
        raise BatchError(f"edgeinfer not found: {e}", exit_code=2) from e
    except subprocess.TimeoutExpired as e:
        # subprocess.run kills the child on timeout; the next run resumes where this stopped.
        raise BatchError(f"edgeinfer batch timed out after {timeout} s; re-run to resume") from e
    if proc.stderr:
        sys.stderr.write(proc.stderr)
    if not report.exists():
        raise BatchError(f"edgeinfer batch exited {proc.returncode} without a report: "
                         f"{proc.stderr.strip()[-2000:]}", exit_code=proc.returncode)
    result = json.loads(report.read_text())
    if result.get("exit_code") != proc.returncode:
        # Trust the process: the report may predate a crash on the way out.
        result["exit_code"] = proc.returncode
    if proc.returncode == 2:
        result.setdefault("error", proc.stderr.strip()[-2000:])
    return result


# ---- embed backend -------------------------------------------------------------------------

def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _load_embed():
    sys.path.insert(0, os.environ.get("EDGEINFER_EMBED_PY", str(REPO / "examples/python")))
    try:
        import embed  # noqa: PLC0415
    finally:
        sys.path.pop(0)
    return embed


def _run_embed(model, input, output, input_name, max_failures, report: Path, errors: Path) -> dict:
    import numpy as np  # noqa: PLC0415

    started, t0 = _now(), time.perf_counter()
    model, input, output = Path(model), Path(input), Path(output)
    result = {"started": started, "input": str(input), "output": str(output),
              "records": {"total": 0, "ok": 0, "skipped": 0, "failed": 0}, "aborted": False,
              "model": {"path": str(model), "name": "", "version": "",
                        "sha256": hashlib.sha256(model.read_bytes()).hexdigest()
                        if model.is_file() else ""}}

    def finish(code: int, error: str | None = None) -> dict:
        secs = time.perf_counter() - t0
        done = result["records"]["ok"] + result["records"]["failed"]
        result.update(finished=_now(), seconds=round(secs, 3),
                      records_per_second=round(done / secs, 3) if secs > 0 else 0.0,
                      exit_code=code)
        if error:
            result["error"] = error
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(result, indent=2) + "\n")
        return result

    if not input.is_dir():
        return finish(2, f"{input}: the embed backend reads only directory inputs; use backend='cli'")
    embed = _load_embed()
    try:
        m = embed.Model(model)
        meta = m.metadata()
    except Exception as e:  # noqa: BLE001 - any load failure is a model error (exit 2)
        return finish(2, f"{model}: {e}")
    result["model"].update(name=meta["name"], version=meta["version"])
    inputs = meta["inputs"]

    # Records: <id>.npy (one-input model) or <id>/<input>.npy.
    records = []
    for p in sorted(input.iterdir()):
        if p.is_file() and p.suffix == ".npy":
            if len(inputs) != 1 and input_name is None:
                return finish(2, f"{p}: bare .npy records need a one-input model or --input-name")
            records.append((p.stem, {input_name or inputs[0]["name"]: p}))
        elif p.is_dir():
            records.append((p.name, {t["name"]: p / f"{embed.sanitise(t['name'])}.npy"
                                     for t in inputs}))
    result["records"]["total"] = len(records)

    output.mkdir(parents=True, exist_ok=True)
    errors.parent.mkdir(parents=True, exist_ok=True)
    out_names = [embed.sanitise(t["name"]) for t in meta["outputs"]]
    with errors.open("w") as errlog:
        for rid, files in records:
            dest = output / rid
            if dest.is_dir() and all((dest / f"{n}.npy").exists() for n in out_names):
                result["records"]["skipped"] += 1
                continue
            try:
                arrays = {}
                for name, f in files.items():
                    a = np.load(f)
                    rank = len(next(t for t in inputs if t["name"] == name)["shape"])
                    arrays[name] = a[None] if a.ndim == rank - 1 else a  # add a batch axis
                outs = m.infer(arrays)
                tmp = output / f".{rid}.tmp"
                tmp.mkdir(exist_ok=True)
                for name, y in outs.items():
                    np.save(tmp / f"{embed.sanitise(name)}.npy", y)
                if dest.exists():  # a partial record from an older run
                    shutil.rmtree(dest)
                tmp.rename(dest)  # a record appears whole or not at all
                result["records"]["ok"] += 1
            except Exception as e:  # noqa: BLE001 - one bad record must not stop the batch
                result["records"]["failed"] += 1
                errlog.write(json.dumps({"record": rid, "error": str(e)}) + "\n")
                if max_failures is not None and result["records"]["failed"] > max_failures:
                    result["aborted"] = True
                    break
    return finish(1 if result["records"]["failed"] else 0)
