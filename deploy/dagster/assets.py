"""Dagster: the predictions of a packed edgeinfer model over a batch of records, as an asset.

Why an asset: the output directory *is* data that downstream assets read, and its lineage is
the model's sha256, which the materialization records. Each materialization carries the run
report as metadata (records ok/failed/skipped, throughput, model sha256, the whole report), so
the Dagster UI shows the history of every batch without opening a file.

Exit codes (policy in deploy/edgeinfer_batch.py): 2 (usage or model error) raises
`dagster.Failure` and the run fails; 1 (some records failed) fails when the failed fraction is
above `max_failed_fraction` (default 0), else materializes with a warning in the log and
`records_failed` > 0 in the metadata.

Run in-process (deploy/test.sh does):
    dagster.materialize([edgeinfer_predictions], run_config={"ops": {"edgeinfer_predictions":
        {"config": {"model": "m.wasm", "input": "records/", "output": "out/"}}}})
or `dagster dev -f deploy/dagster/assets.py` for the UI.
"""
# No `from __future__ import annotations`: Dagster resolves the config class from the
# runtime annotation.
import sys
from pathlib import Path

import dagster as dg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from edgeinfer_batch import BatchError, judge, run_batch, summary  # noqa: E402


class BatchConfig(dg.Config):
    model: str  # packed model component (.wasm)
    input: str  # directory of .npy / per-record folders, .jsonl or .csv
    output: str  # output directory (or .jsonl / .csv, matching the input)
    backend: str = "cli"  # "cli" (edgeinfer batch) or "embed" (wasmtime-py in-process)
    edgeinfer: str | None = None  # CLI path; default $EDGEINFER or target/release/edgeinfer
    jobs: int | None = None
    max_failures: int | None = None
    max_failed_fraction: float = 0.0
    timeout_seconds: float = 3600


@dg.asset(description="Model outputs for every record of the batch input, one folder a record.")
def edgeinfer_predictions(context: dg.AssetExecutionContext, config: BatchConfig) -> dg.MaterializeResult:
    try:
        report = run_batch(config.model, config.input, config.output, backend=config.backend,
                           edgeinfer=config.edgeinfer, jobs=config.jobs,
                           max_failures=config.max_failures, timeout=config.timeout_seconds)
        warnings = judge(report, config.max_failed_fraction)
    except BatchError as e:
        meta = {"report": dg.MetadataValue.json(e.report)} if e.report else {}
        # allow_retries=False: a model error (exit 2) does not heal by retrying.
        raise dg.Failure(description=str(e), metadata=meta, allow_retries=e.exit_code != 2) from e
    for w in warnings:
        context.log.warning(w)
    s = summary(report)
    context.log.info(f"{s['records_ok']} ok, {s['records_failed']} failed, {s['records_skipped']} "
                     f"skipped in {s['seconds']:.1f} s ({s['records_per_second']:.1f} records/s)")
    return dg.MaterializeResult(metadata={
        "records_total": dg.MetadataValue.int(s["records_total"]),
        "records_ok": dg.MetadataValue.int(s["records_ok"]),
        "records_failed": dg.MetadataValue.int(s["records_failed"]),
        "records_skipped": dg.MetadataValue.int(s["records_skipped"]),
        "records_per_second": dg.MetadataValue.float(s["records_per_second"]),
        "seconds": dg.MetadataValue.float(s["seconds"]),
        "model_sha256": dg.MetadataValue.text(s["model_sha256"]),
        "model": dg.MetadataValue.text(f"{s['model_name']} v{s['model_version']}"),
        "exit_code": dg.MetadataValue.int(s["exit_code"]),
        "output": dg.MetadataValue.path(config.output),
        "errors": dg.MetadataValue.path(report["errors_path"]),
        "report": dg.MetadataValue.json(report),
    })


defs = dg.Definitions(assets=[edgeinfer_predictions])
