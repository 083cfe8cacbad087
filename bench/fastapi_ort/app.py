"""FastAPI + uvicorn + onnxruntime: the baseline server for `edgeinfer serve`.

Implements the Open Inference Protocol v2 (KServe v2) REST subset that
`edgeinfer serve` implements, for one ONNX model:

  GET  /v2/health/live, /v2/health/ready
  GET  /v2/models/{name}, /v2/models/{name}/ready
  POST /v2/models/{name}/infer      JSON tensors, or the binary tensor
                                    extension (Inference-Header-Content-Length)

Run (from bench/):
  .venv/bin/python fastapi_ort/app.py --model /path/model.onnx --port 8001

Configuration (flags, or the environment variables in brackets):
  --model      [EI_ONNX]         ONNX file (default: the PP-OCR cls model)
  --name       [EI_MODEL_NAME]   model name in the URL (default "model", the
                                 name the packed component reports)
  --workers    [WORKERS]         uvicorn worker processes (default 2)
  --threads    [ORT_THREADS]     onnxruntime intra_op_num_threads per worker
                                 (default 1)
  --host/--port

Why these defaults ("sensible production settings" on a 2-core box):
  * 2 worker processes x 1 intra-op thread = one inference stream per core.
    A single request of this model is ~1.5 ms of compute; splitting it over
    two threads gains little and makes two workers fight for the same cores,
    while two processes also parallelise the JSON parsing, which is Python
    work under a GIL and costs as much as the inference itself here.
  * inter_op_num_threads=1, sequential execution, graph optimisation ALL,
    onnxruntime's spinning disabled so an idle worker doesn't burn the core
    the other worker (or the load generator) needs.
  * uvloop + httptools (what `uvicorn[standard]` uses), access log off.
  * The request body is parsed with orjson straight from bytes, not through
    pydantic models: a 27,648-float tensor through pydantic validation is
    several times slower and nobody serious would ship that. The handler is
    `async def` and runs the session inline: with one intra-op thread the
    worker is CPU-bound anyway, and a threadpool hop adds latency without
    adding throughput (parallelism comes from the worker processes).
"""
from __future__ import annotations

import argparse
import os
import sys

DEFAULT_ONNX = "/work/main/models/real/ppocr-cls/model.onnx"


def _env_int(name: str, default: int) -> int:
    v = os.environ.get(name)
    return int(v) if v else default


def main(argv=None):
    ap = argparse.ArgumentParser(description="FastAPI + onnxruntime OIP v2 server")
    ap.add_argument("--model", default=os.environ.get("EI_ONNX", DEFAULT_ONNX))
    ap.add_argument("--name", default=os.environ.get("EI_MODEL_NAME", "model"))
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8001)
    ap.add_argument("--workers", type=int, default=_env_int("WORKERS", 2))
    ap.add_argument("--threads", type=int, default=_env_int("ORT_THREADS", 1))
    a = ap.parse_args(argv)
    # Worker processes import this module afresh: hand the settings over in
    # the environment they inherit.
    os.environ["EI_ONNX"] = a.model
    os.environ["EI_MODEL_NAME"] = a.name
    os.environ["ORT_THREADS"] = str(a.threads)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import uvicorn
    uvicorn.run("app:app", host=a.host, port=a.port, workers=a.workers,
                loop="uvloop", http="httptools", access_log=False, log_level="warning",
                backlog=1024)



# `python app.py ...` is the supervisor: it only needs uvicorn, so it starts
# the workers before paying for numpy/onnxruntime/fastapi imports (the
# workers import this module as `app` and build the session themselves).
if __name__ == "__main__":
    main()
    sys.exit(0)


import numpy as np
import onnxruntime as ort
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

# OIP v2 datatype <-> numpy
DT2NP = {
    "FP32": np.float32, "FP64": np.float64, "FP16": np.float16,
    "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64,
    "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
    "BOOL": np.bool_,
}
NP2DT = {np.dtype(v): k for k, v in DT2NP.items()}
ORT2DT = {
    "tensor(float)": "FP32", "tensor(double)": "FP64", "tensor(float16)": "FP16",
    "tensor(int8)": "INT8", "tensor(int16)": "INT16", "tensor(int32)": "INT32",
    "tensor(int64)": "INT64", "tensor(uint8)": "UINT8", "tensor(bool)": "BOOL",
}


MODEL_PATH = os.environ.get("EI_ONNX", DEFAULT_ONNX)
MODEL_NAME = os.environ.get("EI_MODEL_NAME", "model")
ORT_THREADS = _env_int("ORT_THREADS", 1)


def make_session(path: str, threads: int) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Don't busy-wait between ops/requests: the other worker needs the core.
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])


SESSION = make_session(MODEL_PATH, ORT_THREADS)
INPUTS = {i.name: i for i in SESSION.get_inputs()}
OUTPUT_NAMES = [o.name for o in SESSION.get_outputs()]

app = FastAPI(title="fastapi-ort OIP v2", docs_url=None, redoc_url=None, openapi_url=None)


def _json(obj, status: int = 200, headers: dict | None = None) -> Response:
    return Response(orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status,
                    media_type="application/json", headers=headers)


def _error(msg: str, status: int = 400) -> Response:
    return _json({"error": msg}, status)


@app.get("/v2/health/live")
async def live():
    return _json({"live": True})


@app.get("/v2/health/ready")
async def ready():
    return _json({"ready": True})


@app.get("/v2/models/{name}/ready")
async def model_ready(name: str):
    if name != MODEL_NAME:
        return _error(f"unknown model {name!r}", 404)
    return _json({"name": name, "ready": True})


@app.get("/v2/models/{name}")
async def metadata(name: str):
    if name != MODEL_NAME:
        return _error(f"unknown model {name!r}", 404)
    return _json({
        "name": MODEL_NAME, "versions": ["1"], "platform": "onnxruntime",
        "inputs": [{"name": i.name, "datatype": ORT2DT.get(i.type, i.type),
                    "shape": [d if isinstance(d, int) else -1 for d in i.shape]}
                   for i in SESSION.get_inputs()],
        "outputs": [{"name": o.name, "datatype": ORT2DT.get(o.type, o.type),
                     "shape": [d if isinstance(d, int) else -1 for d in o.shape]}
                    for o in SESSION.get_outputs()],
    })


@app.post("/v2/models/{name}/infer")
async def infer(name: str, request: Request):
    if name != MODEL_NAME:
        return _error(f"unknown model {name!r}", 404)
    body = await request.body()
    hlen = request.headers.get("inference-header-content-length")
    try:
        if hlen is not None:
            n = int(hlen)
            header = orjson.loads(body[:n])
            blob = memoryview(body)[n:]
        else:
            header = orjson.loads(body)
            blob = None
        feeds = {}
        off = 0
        for t in header["inputs"]:
            tname, shape, dt = t["name"], t["shape"], t["datatype"]
            if tname not in INPUTS:
                return _error(f"unknown input {tname!r}")
            npdt = DT2NP.get(dt)
            if npdt is None:
                return _error(f"unsupported datatype {dt!r}")
            size = (t.get("parameters") or {}).get("binary_data_size")
            if size is not None:
                if blob is None:
                    return _error("binary_data_size without Inference-Header-Content-Length")
                arr = np.frombuffer(blob[off:off + size], dtype=npdt)
                off += size
            else:
                arr = np.asarray(t["data"], dtype=npdt)
            arr = arr.reshape(shape)
            feeds[tname] = arr
        missing = set(INPUTS) - set(feeds)
        if missing:
            return _error(f"missing inputs {sorted(missing)}")
    except (KeyError, TypeError, ValueError, orjson.JSONDecodeError) as e:
        return _error(f"bad request: {e}")

    try:
        results = SESSION.run(OUTPUT_NAMES, feeds)
    except Exception as e:  # onnxruntime raises its own exception types
        return _error(f"inference failed: {e}", 500)

    # Requested outputs / binary outputs (OIP binary extension).
    wanted = header.get("outputs")
    want_names = [o["name"] for o in wanted] if wanted else OUTPUT_NAMES
    want_bin = {o["name"] for o in (wanted or []) if (o.get("parameters") or {}).get("binary_data")}
    if (header.get("parameters") or {}).get("binary_data_output"):
        want_bin = set(want_names)
    by_name = dict(zip(OUTPUT_NAMES, results))
    outs, blobs = [], []
    for oname in want_names:
        if oname not in by_name:
            return _error(f"unknown output {oname!r}")
        a = np.ascontiguousarray(by_name[oname])
        o = {"name": oname, "shape": list(a.shape), "datatype": NP2DT[a.dtype]}
        if oname in want_bin:
            b = a.tobytes()
            o["parameters"] = {"binary_data_size": len(b)}
            blobs.append(b)
        else:
            o["data"] = a.reshape(-1)
        outs.append(o)
    resp = {"model_name": MODEL_NAME, "model_version": "1", "outputs": outs}
    if "id" in header:
        resp["id"] = header["id"]
    else:
        resp["id"] = ""
    if not blobs:
        return _json(resp)
    head = orjson.dumps(resp, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(head + b"".join(blobs), media_type="application/octet-stream",
                    headers={"Inference-Header-Content-Length": str(len(head))})


