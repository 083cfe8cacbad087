"""onnxruntime's per-operator profile of a model, one thread, the same input as
bench/op_profile.sh gives edgeinfer: time per op type in one warm run, median of RUNS.

    models/.venv/bin/python bench/tools/ort_op_profile.py MODEL.onnx NAME=D0,D1,.. [RUNS]

Inputs are the first row of the corpus case's inputs when they exist beside the model
(inputs/NAME.npy), else uniform [0, 1) floats of the given shape.
"""
import collections
import json
import os
import statistics
import sys
import tempfile

import numpy as np
import onnxruntime as ort


def main():
    onnx, spec = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    name, dims = spec.split("=")
    shape = [int(d) for d in dims.split(",")]
    npy = os.path.join(os.path.dirname(onnx), "inputs", name + ".npy")
    if os.path.exists(npy):
        x = np.load(npy)[:1].reshape(shape)
    else:
        x = np.random.default_rng(0).random(shape, dtype=np.float32)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.enable_profiling = True
    opts.profile_file_prefix = os.path.join(tempfile.mkdtemp(), "ort")
    session = ort.InferenceSession(onnx, opts, providers=["CPUExecutionProvider"])
    for _ in range(5):
        session.run(None, {name: x})
    first_timed = 5
    for _ in range(runs):
        session.run(None, {name: x})
    with open(session.end_profiling()) as f:
        events = json.load(f)
    # One "model_run" event per run; kernel events carry their op type.
    run_starts = sorted(e["ts"] for e in events if e.get("name") == "model_run")
    per_run = [collections.Counter() for _ in run_starts]
    nodes = collections.Counter()
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        i = max(j for j, t in enumerate(run_starts) if t <= e["ts"])
        per_run[i][e["args"]["op_name"]] += e["dur"]
        if i == first_timed:
            nodes[e["args"]["op_name"]] += 1
    timed = per_run[first_timed:]
    totals = statistics.median(sum(r.values()) for r in timed) / 1e3
    print(f"onnxruntime {ort.__version__}, 1 thread: time per op type in one warm run, median of {runs}")
    print("| op type | nodes | ms | share |")
    print("|---|---:|---:|---:|")
    for op in sorted(nodes, key=lambda o: -statistics.median(r[o] for r in timed)):
        ms = statistics.median(r[op] for r in timed) / 1e3
        print(f"| {op} | {nodes[op]} | {ms:.3f} | {100 * ms / totals:.1f}% |")
    print(f"| sum | | {totals:.3f} | |")


if __name__ == "__main__":
    main()
