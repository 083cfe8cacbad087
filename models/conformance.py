#!/usr/bin/env python3
"""Convert the ONNX backend test cases shipped in the installed `onnx` wheel to .npy.

Source: <site-packages>/onnx/backend/test/data/{simple,pytorch-converted,pytorch-operator}/
        <case>/model.onnx and <case>/test_data_set_0/{input,output}_<i>.pb (onnx.TensorProto)
Output: models/conformance/<suite>/<case>/
            model.onnx                 copied unchanged
            inputs/<input_name>.npy    graph inputs (initializers excluded), in graph order
            expected/<output_name>.npy graph outputs, in graph order
            order.json                 {"inputs": [...], "outputs": [...], "files": {...}, ...}
        models/conformance/summary.json  counts per suite and skipped cases with reasons

Cases whose inputs/outputs are not plain numeric tensors (sequence, map, optional,
string, bfloat16/float8/int4/complex, ...) are skipped and listed in the summary.
A name with characters outside [A-Za-z0-9._-] is stored under a sanitised file name;
order.json's "files" maps each tensor name to its file.

Idempotent: a case whose order.json records the same source fingerprint is left alone.

Usage: conformance.py [--force] [--check-ort]
  --check-ort  also run every converted case with onnxruntime and report mismatches
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_ROOT = os.path.join(HERE, "conformance")
SUITES = ["simple", "pytorch-converted", "pytorch-operator"]
SRC_ROOT = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")

PLAIN_ELEM_TYPES = {
    TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16,
    TensorProto.INT8, TensorProto.INT16, TensorProto.INT32, TensorProto.INT64,
    TensorProto.UINT8, TensorProto.UINT16, TensorProto.UINT32, TensorProto.UINT64,
    TensorProto.BOOL,
}


class Skip(Exception):
    pass


def log(msg: str) -> None:
    print(f"conformance: {msg}", file=sys.stderr)


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def check_type(vi: onnx.ValueInfoProto, what: str) -> None:
    kind = vi.type.WhichOneof("value")
    if kind != "tensor_type":
        raise Skip(f"{what} {vi.name!r} is a {kind}")
    et = vi.type.tensor_type.elem_type
    if et not in PLAIN_ELEM_TYPES:
        raise Skip(f"{what} {vi.name!r} has element type {TensorProto.DataType.Name(et)}")


def load_tensor(path: str, vi: onnx.ValueInfoProto) -> np.ndarray:
    t = TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    if t.data_type not in PLAIN_ELEM_TYPES:
        raise Skip(f"{os.path.basename(path)} has element type {TensorProto.DataType.Name(t.data_type)}")
    if t.data_type != vi.type.tensor_type.elem_type:
        raise Skip(f"{os.path.basename(path)} element type differs from graph {vi.name!r}")
    arr = numpy_helper.to_array(t)
    if arr.dtype.kind not in "biuf":
        raise Skip(f"{os.path.basename(path)} converts to numpy dtype {arr.dtype}")
    return np.ascontiguousarray(arr)


def fingerprint(case_dir: str) -> str:
    h = hashlib.sha256(onnx.__version__.encode())
    h.update(open(__file__, "rb").read())
    for root, _, files in sorted(os.walk(case_dir)):
        for fn in sorted(files):
            p = os.path.join(root, fn)
            h.update(os.path.relpath(p, case_dir).encode())
            h.update(open(p, "rb").read())
    return h.hexdigest()


def convert_case(suite: str, case: str, force: bool) -> str:
    """Returns "converted" or "unchanged"; raises Skip."""
    src = os.path.join(SRC_ROOT, suite, case)
    dst = os.path.join(OUT_ROOT, suite, case)
    fp = fingerprint(src)
    order_path = os.path.join(dst, "order.json")
    if not force and os.path.exists(order_path):
        try:
            with open(order_path) as f:
                if json.load(f).get("source_fingerprint") == fp:
                    return "unchanged"
        except (OSError, ValueError):
            pass

    model = onnx.load(os.path.join(src, "model.onnx"), load_external_data=False)
    inits = {i.name for i in model.graph.initializer} | {i.name for i in model.graph.sparse_initializer}
    g_inputs = [vi for vi in model.graph.input if vi.name not in inits]
    g_outputs = list(model.graph.output)
    for vi in g_inputs:
        check_type(vi, "input")
    for vi in g_outputs:
        check_type(vi, "output")

    data = os.path.join(src, "test_data_set_0")
    if not os.path.isdir(data):
        raise Skip("no test_data_set_0")
    n_in = len([f for f in os.listdir(data) if re.fullmatch(r"input_\d+\.pb", f)])
    n_out = len([f for f in os.listdir(data) if re.fullmatch(r"output_\d+\.pb", f)])
    if n_in != len(g_inputs) or n_out != len(g_outputs):
        raise Skip(f"{n_in} input / {n_out} output .pb files for {len(g_inputs)} graph inputs "
                   f"/ {len(g_outputs)} outputs")

    ins = [load_tensor(os.path.join(data, f"input_{i}.pb"), vi) for i, vi in enumerate(g_inputs)]
    outs = [load_tensor(os.path.join(data, f"output_{i}.pb"), vi) for i, vi in enumerate(g_outputs)]

    files = {}
    for sub, vis in (("inputs", g_inputs), ("expected", g_outputs)):
        seen = set()
        for vi in vis:
            f = f"{sub}/{safe_name(vi.name)}.npy"
            if f in seen:
                raise Skip(f"file name clash for {vi.name!r}")
            seen.add(f)
            files[f"{sub}:{vi.name}"] = f

    tmp = dst + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, "inputs"))
    os.makedirs(os.path.join(tmp, "expected"))
    shutil.copyfile(os.path.join(src, "model.onnx"), os.path.join(tmp, "model.onnx"))
    for vi, arr in zip(g_inputs, ins):
        np.save(os.path.join(tmp, files[f"inputs:{vi.name}"]), arr)
    for vi, arr in zip(g_outputs, outs):
        np.save(os.path.join(tmp, files[f"expected:{vi.name}"]), arr)
    order = {
        "inputs": [vi.name for vi in g_inputs],
        "outputs": [vi.name for vi in g_outputs],
        "files": {
            "inputs": {vi.name: files[f"inputs:{vi.name}"] for vi in g_inputs},
            "expected": {vi.name: files[f"expected:{vi.name}"] for vi in g_outputs},
        },
        "ir_version": model.ir_version,
        "opset_import": {o.domain or "ai.onnx": o.version for o in model.opset_import},
        "source": f"onnx=={onnx.__version__}: onnx/backend/test/data/{suite}/{case}",
        "source_fingerprint": fp,
    }
    with open(os.path.join(tmp, "order.json"), "w") as f:
        json.dump(order, f, indent=2)
        f.write("\n")
    shutil.rmtree(dst, ignore_errors=True)
    os.replace(tmp, dst)
    return "converted"


def check_ort(suite: str, case: str) -> str | None:
    import onnxruntime as ort
    d = os.path.join(OUT_ROOT, suite, case)
    order = json.load(open(os.path.join(d, "order.json")))
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3  # errors only: old-opset warnings are noise here
    try:
        sess = ort.InferenceSession(os.path.join(d, "model.onnx"), so, providers=["CPUExecutionProvider"])
        feeds = {n: np.load(os.path.join(d, order["files"]["inputs"][n])) for n in order["inputs"]}
        got = sess.run(order["outputs"], feeds)
    except Exception as e:  # noqa: BLE001
        return f"onnxruntime error: {str(e).splitlines()[0][:160]}"
    for n, g in zip(order["outputs"], got):
        want = np.load(os.path.join(d, order["files"]["expected"][n]))
        if g.shape != want.shape or not np.allclose(g, want, rtol=1e-3, atol=1e-5, equal_nan=True):
            return f"output {n!r} differs"
    return None


def main(argv: list[str]) -> None:
    force = "--force" in argv
    ort_check = "--check-ort" in argv
    summary = {"onnx": onnx.__version__, "suites": {}}
    total_conv = total_skip = 0
    for suite in SUITES:
        sdir = os.path.join(SRC_ROOT, suite)
        cases = sorted(c for c in os.listdir(sdir) if os.path.isfile(os.path.join(sdir, c, "model.onnx")))
        converted, skipped, counts = [], {}, {"converted": 0, "unchanged": 0}
        for case in cases:
            try:
                counts[convert_case(suite, case, force)] += 1
                converted.append(case)
            except Skip as e:
                skipped[case] = str(e)
                shutil.rmtree(os.path.join(OUT_ROOT, suite, case), ignore_errors=True)
        # prune cases that no longer exist in the installed onnx
        out_suite = os.path.join(OUT_ROOT, suite)
        for stale in set(os.listdir(out_suite)) - set(converted):
            shutil.rmtree(os.path.join(out_suite, stale), ignore_errors=True)
        entry = {"cases": len(converted), "skipped": skipped}
        if ort_check:
            fails = {c: r for c in converted if (r := check_ort(suite, c))}
            entry["onnxruntime_failures"] = fails
        summary["suites"][suite] = entry
        total_conv += len(converted)
        total_skip += len(skipped)
        log(f"{suite}: {len(converted)} cases ({counts['converted']} written, "
            f"{counts['unchanged']} unchanged), {len(skipped)} skipped")
        for case, why in skipped.items():
            log(f"  skipped {suite}/{case}: {why}")
        if ort_check:
            log(f"  onnxruntime: {len(converted) - len(entry['onnxruntime_failures'])}/{len(converted)} pass")
            for case, why in entry["onnxruntime_failures"].items():
                log(f"  onnxruntime fails {suite}/{case}: {why}")
    with open(os.path.join(OUT_ROOT, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    log(f"total: {total_conv} cases converted, {total_skip} skipped (summary.json)")


if __name__ == "__main__":
    os.makedirs(OUT_ROOT, exist_ok=True)
    for s in SUITES:
        os.makedirs(os.path.join(OUT_ROOT, s), exist_ok=True)
    main(sys.argv[1:])
