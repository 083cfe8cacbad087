"""onnxruntime side of bench/batch.sh: the same record I/O as `edgeinfer batch`.

  batch_ort.py make RECS [-n 2000] [--seed 0] [--noise 0.01]
      RECS/<i>.npy, i = 0..n-1: row 0 of the reference input ([1,3,48,192]
      float32) plus N(0, noise) per element, deterministic per seed.
  batch_ort.py run RECS OUT [--threads 1] [--shard K/N]
      one onnxruntime session (intra_op_num_threads=THREADS), then for each
      record in name order (every N-th from K with --shard): np.load, run,
      np.save(OUT/<i>.npy). Prints one JSON line: records, session_s, loop_s,
      loop_rps.
  batch_ort.py verify RECS OUT [--ref REF] [--tol 1e-4]
      every record has an output in OUT (OUT/<i>.npy, OUT/<i>/*.npy or
      OUT/<i>*.npy), with the label and values of REF (default: a fresh
      onnxruntime run) within TOL.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time

import numpy as np

MODEL = os.environ.get("ONNX", "/work/main/models/real/ppocr-cls/model.onnx")
REF_INPUT = "/work/main/models/real/ppocr-cls/inputs/x.npy"
OUTPUT_NAME = "save_infer_model/scale_0.tmp_1"


def records(recs: str) -> list[str]:
    files = [f for f in os.listdir(recs) if f.endswith(".npy")]
    return sorted(files, key=lambda f: (len(f), f))


def session(threads: int):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(MODEL, sess_options=so, providers=["CPUExecutionProvider"])


def cmd_make(a):
    meta = os.path.join(a.recs, ".meta.json")
    want = {"n": a.n, "seed": a.seed, "noise": a.noise}
    if os.path.exists(meta) and json.load(open(meta)) == want:
        print(f"{a.recs}: {a.n} records already there")
        return 0
    os.makedirs(a.recs, exist_ok=True)
    for f in glob.glob(os.path.join(a.recs, "*.npy")):
        os.remove(f)
    x0 = np.load(REF_INPUT)[:1].astype(np.float32)
    rng = np.random.default_rng(a.seed)
    for i in range(a.n):
        x = x0 + rng.normal(0.0, a.noise, size=x0.shape).astype(np.float32)
        np.save(os.path.join(a.recs, f"{i}.npy"), x)
    json.dump(want, open(meta, "w"))
    print(f"{a.recs}: wrote {a.n} records")
    return 0


def cmd_run(a):
    t0 = time.perf_counter()
    sess = session(a.threads)
    in_name = sess.get_inputs()[0].name
    t1 = time.perf_counter()
    files = records(a.recs)
    k, n = (int(v) for v in a.shard.split("/"))
    files = files[k::n]
    os.makedirs(a.out, exist_ok=True)
    for f in files:
        x = np.load(os.path.join(a.recs, f))
        y = sess.run([OUTPUT_NAME], {in_name: x})[0]
        np.save(os.path.join(a.out, f), y)
    t2 = time.perf_counter()
    print(json.dumps({"records": len(files), "threads": a.threads, "shard": a.shard,
                      "session_s": round(t1 - t0, 4), "loop_s": round(t2 - t1, 4),
                      "loop_rps": round(len(files) / (t2 - t1), 1)}))
    return 0


def _find_output(out: str, stem: str):
    for pat in (f"{stem}.npy", f"{stem}/*.npy", f"{stem}.*.npy", f"{stem}_*.npy", f"{stem}-*.npy"):
        hits = sorted(glob.glob(os.path.join(out, pat)))
        if hits:
            return hits[0]
    return None


def cmd_verify(a):
    files = records(a.recs)
    ref_sess = None if a.ref else session(1)
    worst, bad, missing = 0.0, 0, 0
    for f in files:
        stem = f[:-4]
        p = _find_output(a.out, stem)
        if p is None:
            missing += 1
            continue
        got = np.load(p).astype(np.float32)
        if a.ref:
            ref = np.load(os.path.join(a.ref, f))
        else:
            ref = ref_sess.run([OUTPUT_NAME], {"x": np.load(os.path.join(a.recs, f))})[0]
        if got.shape != ref.shape:
            bad += 1
            continue
        d = float(np.max(np.abs(got - ref)))
        worst = max(worst, d)
        if d > a.tol or int(got.argmax(-1)[0]) != int(ref.argmax(-1)[0]):
            bad += 1
    ok = missing == 0 and bad == 0
    print(f"{'OK' if ok else 'FAIL'} {a.out}: {len(files)} records, {missing} missing, "
          f"{bad} wrong (label or > {a.tol}), max |diff| {worst:.3g}")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("make")
    p.add_argument("recs")
    p.add_argument("-n", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--noise", type=float, default=0.01)
    p.set_defaults(fn=cmd_make)
    p = sub.add_parser("run")
    p.add_argument("recs")
    p.add_argument("out")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--shard", default="0/1")
    p.set_defaults(fn=cmd_run)
    p = sub.add_parser("verify")
    p.add_argument("recs")
    p.add_argument("out")
    p.add_argument("--ref")
    p.add_argument("--tol", type=float, default=1e-4)
    p.set_defaults(fn=cmd_verify)
    a = ap.parse_args()
    sys.exit(a.fn(a) or 0)


if __name__ == "__main__":
    main()
