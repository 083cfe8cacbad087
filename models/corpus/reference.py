"""ONNX facts, onnxruntime reference outputs and case.json for one corpus case."""
from __future__ import annotations

import collections
import hashlib
import json
import math
import os
import re
import statistics
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

NOTABLE_OPS = {"If", "Loop", "Scan", "LSTM", "GRU", "RNN", "ZipMap", "DynamicQuantizeLinear",
               "MatMulInteger", "ConvInteger", "QLinearConv", "QLinearMatMul", "DequantizeLinear",
               "QuantizeLinear", "NonMaxSuppression", "NonZero", "TopK", "Resize", "ConvTranspose",
               "Einsum", "SequenceConstruct", "SplitToSequence", "TreeEnsembleClassifier",
               "TreeEnsembleRegressor", "TreeEnsemble", "SVMClassifier", "SVMRegressor",
               "LinearClassifier", "LinearRegressor", "OneHotEncoder", "Imputer", "Scaler",
               "Normalizer", "Binarizer", "ArrayFeatureExtractor"}


def log(msg: str) -> None:
    print(f"corpus: {msg}", file=sys.stderr, flush=True)


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------- static facts

def declared_shape(vi) -> list | None:
    t = vi.type
    if not t.HasField("tensor_type"):
        return None
    if not t.tensor_type.HasField("shape"):
        return None  # rank unknown
    out = []
    for d in t.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            out.append(int(d.dim_value))
        elif d.HasField("dim_param") and d.dim_param:
            out.append(d.dim_param)
        else:
            out.append("?")
    return out


def type_string(vi) -> str:
    t = vi.type
    if t.HasField("tensor_type"):
        return onnx.TensorProto.DataType.Name(t.tensor_type.elem_type).lower()
    return t.WhichOneof("value")  # sequence_type, map_type, ...


def tensor_bytes(t: onnx.TensorProto) -> int:
    if t.data_location == onnx.TensorProto.EXTERNAL:
        return int({e.key: e.value for e in t.external_data}.get("length", 0))
    if t.raw_data:
        return len(t.raw_data)
    if t.data_type == onnx.TensorProto.STRING:
        return sum(len(s) for s in t.string_data)
    return int(numpy_helper.to_array(t).nbytes)


def walk_graphs(g):
    yield g
    for n in g.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                yield from walk_graphs(a.g)
            elif a.type == onnx.AttributeProto.GRAPHS:
                for sg in a.graphs:
                    yield from walk_graphs(sg)


def onnx_facts(path: str) -> dict:
    m = onnx.load(path, load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    weight = 0
    external = False
    ops = collections.Counter()
    init_types = collections.Counter()
    const_bytes = 0
    for g in walk_graphs(m.graph):
        for t in g.initializer:
            weight += tensor_bytes(t)
            external |= t.data_location == onnx.TensorProto.EXTERNAL
            init_types[onnx.TensorProto.DataType.Name(t.data_type).lower()] += 1
        for n in g.node:
            ops[(n.domain or "") + ("." if n.domain else "") + n.op_type] += 1
            if n.op_type == "Constant" and not n.domain:
                for a in n.attribute:
                    if a.type == onnx.AttributeProto.TENSOR:
                        weight += tensor_bytes(a.t)
                        const_bytes += tensor_bytes(a.t)
                    elif a.type in (onnx.AttributeProto.FLOAT, onnx.AttributeProto.INT):
                        weight += 4 if a.type == onnx.AttributeProto.FLOAT else 8
                    elif a.type in (onnx.AttributeProto.FLOATS, onnx.AttributeProto.INTS):
                        weight += 4 * len(a.floats) + 8 * len(a.ints)
    return {
        "ir_version": m.ir_version,
        "opset_import": {o.domain or "ai.onnx": o.version for o in m.opset_import},
        "producer": f"{m.producer_name} {m.producer_version}".strip(),
        "inputs": {i.name: (type_string(i), declared_shape(i)) for i in m.graph.input
                   if i.name not in inits},
        "outputs": {o.name: (type_string(o), declared_shape(o)) for o in m.graph.output},
        "weight_bytes": weight,
        "external_data": external,
        "metadata_props": {p.key: len(p.value) for p in m.metadata_props},
        "node_count": sum(ops.values()),
        "top_level_nodes": len(m.graph.node),
        "notable_ops": {k: v for k, v in sorted(ops.items())
                        if k.split(".")[-1] in NOTABLE_OPS or "." in k},
        "initializer_dtypes": dict(init_types),
        "constant_node_bytes": const_bytes,
        "initializers_listed_as_inputs": sum(1 for i in m.graph.input if i.name in inits),
    }


# ---------------------------------------------------------------- onnxruntime

def session(path: str, optimized: bool = True) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    if not optimized:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def time_runs(sess, feeds) -> float:
    """Median warm time in ms: 2 warm-up runs, then >= 10 timed runs (more for fast models)."""
    for _ in range(2):
        sess.run(None, feeds)
    times = []
    deadline = time.perf_counter() + 1.0
    while len(times) < 10 or (len(times) < 50 and time.perf_counter() < deadline):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 3)


def nice_ceil(x: float) -> float:
    """Round up to 1, 2 or 5 times a power of ten."""
    if x <= 0:
        return 0.0
    e = math.floor(math.log10(x))
    for m in (1, 2, 5, 10):
        if m * 10 ** e >= x:
            return float(f"{m * 10 ** e:.0e}")
    return float(f"{10 ** (e + 1):.0e}")


def is_tensor_type(t: str) -> bool:
    return t.startswith("tensor(")


def run_reference(case_dir: str, feeds: dict, atol: float, rtol: float) -> dict:
    """Run onnxruntime, write inputs/expected .npy files; return the case.json I/O part."""
    model = os.path.join(case_dir, "model.onnx")
    sess = session(model)
    in_meta = sess.get_inputs()
    if [i.name for i in in_meta] != list(feeds):
        raise RuntimeError(f"feeds {list(feeds)} do not match the graph inputs "
                           f"{[i.name for i in in_meta]}")
    out_meta = sess.get_outputs()
    outs = sess.run(None, feeds)
    ort_ms = time_runs(sess, feeds)

    # Float noise scale: the same model run without graph optimizations (no fusions, no
    # constant folding) must agree within the tolerance; widen it honestly if it does not.
    plain = session(model, optimized=False).run(None, feeds)
    notes = []
    for meta, a, b in zip(out_meta, plain, outs):
        if not is_tensor_type(meta.type):
            continue
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            raise RuntimeError(f"{meta.name}: shape {a.shape} without optimizations, {b.shape} with")
        if np.issubdtype(b.dtype, np.floating):
            a64, b64 = a.astype(np.float64), b.astype(np.float64)
            d = np.abs(a64 - b64)
            d[np.isnan(a64) & np.isnan(b64)] = 0
            excess = np.nan_to_num(d - rtol * np.abs(b64), nan=np.inf)
            worst = float(excess.max()) if excess.size else 0.0
            if worst > atol:
                new = nice_ceil(2 * worst)
                notes.append(f"atol widened from {atol:g} to {new:g} because onnxruntime with and "
                             f"without graph optimizations differs by up to "
                             f"{float(np.nan_to_num(d, nan=np.inf).max()):.3g} on '{meta.name}'")
                atol = new
        elif not np.array_equal(a, b):
            notes.append(f"WARNING: integer output '{meta.name}' differs between onnxruntime with "
                         f"and without graph optimizations ({int((a != b).sum())} elements)")

    os.makedirs(os.path.join(case_dir, "inputs"), exist_ok=True)
    os.makedirs(os.path.join(case_dir, "expected"), exist_ok=True)
    facts = onnx_facts(model)
    inputs, outputs, non_tensor = [], [], []
    for meta in in_meta:
        f = f"inputs/{safe_name(meta.name)}.npy"
        arr = np.require(feeds[meta.name], requirements="C")  # keeps 0-d scalars 0-d
        np.save(os.path.join(case_dir, f), arr)
        inputs.append({"name": meta.name, "file": f, "dtype": str(arr.dtype),
                       "shape": list(arr.shape), "declared_shape": facts["inputs"][meta.name][1]})
    used = set()
    for meta, val in zip(out_meta, outs):
        declared = facts["outputs"][meta.name][1]
        if not is_tensor_type(meta.type):
            non_tensor.append(meta.name)
            continue
        f = f"expected/{safe_name(meta.name)}.npy"
        if f in used:
            raise RuntimeError(f"two outputs map to the file {f}")
        used.add(f)
        arr = np.require(val, requirements="C")
        if declared is not None and (len(declared) != arr.ndim or any(
                isinstance(dd, int) and dd != n for dd, n in zip(declared, arr.shape))):
            notes.append(f"output '{meta.name}' is declared {declared} but onnxruntime returns "
                         f"shape {list(arr.shape)}")
        np.save(os.path.join(case_dir, f), arr)
        outputs.append({"name": meta.name, "file": f, "dtype": str(arr.dtype),
                        "shape": list(arr.shape), "declared_shape": declared})
    return {"inputs": inputs, "outputs": outputs, "non_tensor_outputs": non_tensor,
            "atol": atol, "rtol": rtol, "ort_ms": ort_ms, "tolerance_notes": notes,
            "facts": facts, "out_map": {m.name: v for m, v in zip(out_meta, outs)}}


def describe_facts(facts: dict) -> list[str]:
    """Sentences for case.json notes about what in the file may matter to an engine."""
    s = []
    if facts["metadata_props"]:
        s.append("metadata_props: " + ", ".join(f"{k} ({v} chars)" for k, v in facts["metadata_props"].items()))
    if facts["notable_ops"]:
        s.append("ops of note: " + ", ".join(f"{k} x{v}" for k, v in facts["notable_ops"].items()))
    if facts["weight_bytes"] and facts["constant_node_bytes"] > facts["weight_bytes"] / 2:
        s.append(f"{facts['constant_node_bytes'] / facts['weight_bytes']:.0%} of the weight bytes are "
                 "in Constant nodes, not initializers")
    if facts["external_data"]:
        s.append("weights stored as external data")
    if facts["initializers_listed_as_inputs"]:
        s.append(f"{facts['initializers_listed_as_inputs']} initializers are also listed as graph inputs")
    return s


def write_json(path: str, obj) -> None:
    with open(path + ".tmp", "w") as fh:
        json.dump(obj, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    os.replace(path + ".tmp", path)
