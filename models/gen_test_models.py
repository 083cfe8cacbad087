#!/usr/bin/env python3
"""Generate the tiny, deterministic test models under models/test/<name>/.

Each model directory gets:
    model.onnx                 opset 13, ir_version 8
    inputs/<input_name>.npy    deterministic random input data
    expected/<output>.npy      outputs computed with onnxruntime (CPUExecutionProvider)

Run with the venv python:  models/.venv/bin/python models/gen_test_models.py
Re-running produces byte-identical files.
"""
from __future__ import annotations

import os
import shutil
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
IR_VERSION = 8
HERE = os.path.dirname(os.path.abspath(__file__))
OUT_ROOT = os.path.join(HERE, "test")


def _init(name: str, arr: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(arr, name=name)


def _finish(graph: onnx.GraphProto) -> onnx.ModelProto:
    model = helper.make_model(
        graph,
        producer_name="edgeinfer-gen_test_models",
        opset_imports=[helper.make_opsetid("", OPSET)],
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def make_cnn(rng: np.random.Generator):
    f32 = np.float32
    w1 = (rng.standard_normal((8, 1, 3, 3)) * 0.3).astype(f32)
    b1 = (rng.standard_normal(8) * 0.1).astype(f32)
    w2 = (rng.standard_normal((16, 8, 3, 3)) * 0.2).astype(f32)
    b2 = (rng.standard_normal(16) * 0.1).astype(f32)
    wf = (rng.standard_normal((16, 10)) * 0.5).astype(f32)
    bf = (rng.standard_normal(10) * 0.1).astype(f32)
    nodes = [
        helper.make_node("Conv", ["input", "conv1_w", "conv1_b"], ["conv1"],
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("Relu", ["conv1"], ["relu1"], name="relu1"),
        helper.make_node("MaxPool", ["relu1"], ["pool1"],
                         kernel_shape=[2, 2], strides=[2, 2], name="pool1"),
        helper.make_node("Conv", ["pool1", "conv2_w", "conv2_b"], ["conv2"],
                         kernel_shape=[3, 3], name="conv2"),
        helper.make_node("Relu", ["conv2"], ["relu2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["relu2"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], axis=1, name="flatten"),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], name="fc"),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1, name="softmax"),
    ]
    graph = helper.make_graph(
        nodes, "cnn",
        inputs=[helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 28, 28])],
        outputs=[helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 10])],
        initializer=[_init("conv1_w", w1), _init("conv1_b", b1), _init("conv2_w", w2),
                     _init("conv2_b", b2), _init("fc_w", wf), _init("fc_b", bf)],
    )
    inputs = {"input": rng.random((1, 1, 28, 28), dtype=np.float32)}
    return _finish(graph), inputs


def make_mlp(rng: np.random.Generator):
    f32 = np.float32
    w1 = (rng.standard_normal((16, 32)) * 0.25).astype(f32)
    b1 = (rng.standard_normal(32) * 0.1).astype(f32)
    w2 = (rng.standard_normal((32, 4)) * 0.25).astype(f32)
    b2 = (rng.standard_normal(4) * 0.1).astype(f32)
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h_mm"], name="mm1"),
        helper.make_node("Add", ["h_mm", "b1"], ["h_add"], name="add1"),
        helper.make_node("Relu", ["h_add"], ["h"], name="relu"),
        helper.make_node("MatMul", ["h", "w2"], ["y_mm"], name="mm2"),
        helper.make_node("Add", ["y_mm", "b2"], ["y"], name="add2"),
    ]
    graph = helper.make_graph(
        nodes, "mlp",
        inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 16])],
        outputs=[helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        initializer=[_init("w1", w1), _init("b1", b1), _init("w2", w2), _init("b2", b2)],
    )
    inputs = {"x": rng.standard_normal((3, 16)).astype(f32)}
    return _finish(graph), inputs


def make_int64(rng: np.random.Generator):
    table = rng.standard_normal((50, 4)).astype(np.float32)
    axes = np.array([1], dtype=np.int64)
    nodes = [
        helper.make_node("Gather", ["embedding", "ids"], ["gathered"], axis=0, name="gather"),
        # opset 13: ReduceSum takes axes as an input
        helper.make_node("ReduceSum", ["gathered", "axes"], ["emb"], keepdims=0, name="reduce_sum"),
        helper.make_node("ArgMax", ["emb"], ["argmax"], axis=1, keepdims=0, name="argmax"),
    ]
    graph = helper.make_graph(
        nodes, "int64",
        inputs=[helper.make_tensor_value_info("ids", TensorProto.INT64, [1, 8])],
        outputs=[helper.make_tensor_value_info("emb", TensorProto.FLOAT, [1, 4]),
                 helper.make_tensor_value_info("argmax", TensorProto.INT64, [1])],
        initializer=[_init("embedding", table), _init("axes", axes)],
    )
    inputs = {"ids": rng.integers(0, 50, size=(1, 8), dtype=np.int64)}
    return _finish(graph), inputs


MODELS = {"cnn": make_cnn, "mlp": make_mlp, "int64": make_int64}


def write_case(name: str, model: onnx.ModelProto, inputs: dict[str, np.ndarray]) -> None:
    d = os.path.join(OUT_ROOT, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(os.path.join(d, "inputs"))
    os.makedirs(os.path.join(d, "expected"))
    path = os.path.join(d, "model.onnx")
    onnx.save_model(model, path)

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == list(inputs), (name, sess.get_inputs())
    outs = sess.run(None, inputs)
    for k, v in inputs.items():
        np.save(os.path.join(d, "inputs", f"{k}.npy"), v)
    summary = []
    for meta, v in zip(sess.get_outputs(), outs):
        np.save(os.path.join(d, "expected", f"{meta.name}.npy"), v)
        summary.append(f"{meta.name}{list(v.shape)}:{v.dtype}")
    size = os.path.getsize(path)
    assert size < 200 * 1024, f"{name} is too big: {size} bytes"
    print(f"gen_test_models: {name}: model.onnx {size} B, inputs "
          + ", ".join(f"{k}{list(v.shape)}:{v.dtype}" for k, v in inputs.items())
          + " -> " + ", ".join(summary), file=sys.stderr)


def main() -> None:
    os.makedirs(OUT_ROOT, exist_ok=True)
    for i, (name, fn) in enumerate(MODELS.items()):
        # one independent fixed seed per model so adding a model never changes the others
        rng = np.random.default_rng(20260 + i)
        model, inputs = fn(rng)
        write_case(name, model, inputs)


if __name__ == "__main__":
    main()
