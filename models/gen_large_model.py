#!/usr/bin/env python3
"""Write a large single-MatMul ONNX model, its input and onnxruntime's output: the cheapest
honest reproduction of "a model of N MB" for pack's size limits (never committed).

    gen_large_model.py --mb 150 OUT_DIR

OUT_DIR gets model.onnx (y = x @ W + b, W a KxK float32 matrix of about N MB),
inputs/x.npy ([1, K]) and expected/y.npy. Skips the work when OUT_DIR/model.onnx already
exists for the same size. Deterministic (fixed seed).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, required=True, help="size of the weights, in MB")
    parser.add_argument("out_dir")
    args = parser.parse_args()

    k = int(math.sqrt(args.mb * 1_000_000 / 4))
    stamp = os.path.join(args.out_dir, "stamp.json")
    want = {"mb": args.mb, "k": k, "version": 1}
    if os.path.exists(stamp) and json.load(open(stamp)) == want:
        print(f"gen_large_model: {args.out_dir} is up to date (K={k})", file=sys.stderr)
        return

    os.makedirs(os.path.join(args.out_dir, "inputs"), exist_ok=True)
    os.makedirs(os.path.join(args.out_dir, "expected"), exist_ok=True)
    rng = np.random.default_rng(args.mb)
    # Scaled so y stays O(1): a sum of K products of N(0,1) x N(0, 1/K).
    w = (rng.standard_normal((k, k), dtype=np.float32) / np.float32(math.sqrt(k)))
    b = rng.standard_normal(k, dtype=np.float32)
    x = rng.standard_normal((1, k), dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
        f"matmul_{args.mb}mb",
        inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, k])],
        outputs=[helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, k])],
        initializer=[numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, producer_name="edgeinfer-gen_large_model",
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    del w
    path = os.path.join(args.out_dir, "model.onnx")
    onnx.save_model(model, path)
    del model

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    (y,) = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]).run(None, {"x": x})
    np.save(os.path.join(args.out_dir, "inputs", "x.npy"), x)
    np.save(os.path.join(args.out_dir, "expected", "y.npy"), y)
    json.dump(want, open(stamp, "w"))
    print(f"gen_large_model: {path}: K={k}, {os.path.getsize(path) / 1e6:.0f} MB", file=sys.stderr)


if __name__ == "__main__":
    main()
