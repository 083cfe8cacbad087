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


def make_tabular(rng: np.random.Generator):
    """What skl2onnx exports: an input [None, 8] whose batch dim has neither value nor name,
    class probabilities and an int64 label; and metadata_props that NNEF's string syntax
    cannot hold as they are (quotes, backslashes, newlines, non-ASCII), as PaddleOCR's
    character dictionaries."""
    f32 = np.float32
    w = (rng.standard_normal((8, 3)) * 0.7).astype(f32)
    b = (rng.standard_normal(3) * 0.1).astype(f32)
    nodes = [
        helper.make_node("Gemm", ["X", "coef", "intercept"], ["scores"], name="linear"),
        helper.make_node("Softmax", ["scores"], ["probabilities"], axis=1, name="softmax"),
        helper.make_node("ArgMax", ["scores"], ["label"], axis=1, keepdims=0, name="argmax"),
    ]
    graph = helper.make_graph(
        nodes, "tabular",
        inputs=[helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 8])],
        outputs=[helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
                 helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 3])],
        initializer=[_init("coef", w), _init("intercept", b)],
    )
    model = _finish(graph)
    helper.set_model_props(model, {
        "labels": "setosa\nversicolor\nvirginica",
        "character_dict": "a\\b\"c\"\n{x}\n'\u00e9\u4e2d\u6587\n\t;",
    })
    inputs = {"X": rng.standard_normal((64, 8)).astype(f32)}
    return model, inputs


def make_dynaxes(rng: np.random.Generator):
    """A YOLO/FPN-style export: `images [batch,3,height,width]`, a stride-2 conv whose output
    is upsampled x2 and concatenated with the input (tract cannot prove (height+1)/2*2 ==
    height symbolically, fair), and value_info / outputs declared with symbols of their own
    (`DynamicDimension.1`), which contradict fixed inputs unless pack ignores them."""
    f32 = np.float32
    w = (rng.standard_normal((3, 3, 3, 3)) * 0.3).astype(f32)
    scales = np.array([1, 1, 2, 2], dtype=f32)
    nodes = [
        helper.make_node("Conv", ["images", "w"], ["down"], kernel_shape=[3, 3],
                         strides=[2, 2], pads=[1, 1, 1, 1], name="down"),
        helper.make_node("Resize", ["down", "", "scales"], ["up"], mode="nearest", name="up"),
        helper.make_node("Concat", ["images", "up"], ["cat"], axis=1, name="skip"),
        helper.make_node("Sigmoid", ["cat"], ["output0"], name="head"),
    ]
    graph = helper.make_graph(
        nodes, "dynaxes",
        inputs=[helper.make_tensor_value_info(
            "images", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
        outputs=[helper.make_tensor_value_info(
            "output0", TensorProto.FLOAT, ["batch", 6, "DynamicDimension.1", "DynamicDimension.2"])],
        initializer=[_init("w", w), _init("scales", scales)],
        value_info=[helper.make_tensor_value_info(
            "up", TensorProto.FLOAT, ["batch", 3, "Resizeup_dim_2", "Resizeup_dim_3"])],
    )
    inputs = {"images": rng.random((1, 3, 64, 96), dtype=np.float32)}
    return _finish(graph), inputs


def make_shape_out(rng: np.random.Generator):
    """An output computed from shapes (Shape -> Gather), which tract types as TDim."""
    f32 = np.float32
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"], name="shape"),
        helper.make_node("Gather", ["shape", "zero"], ["rows"], axis=0, name="rows"),
        helper.make_node("Mul", ["x", "two"], ["doubled"], name="double"),
    ]
    graph = helper.make_graph(
        nodes, "shape_out",
        inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        outputs=[helper.make_tensor_value_info("doubled", TensorProto.FLOAT, ["N", 4]),
                 helper.make_tensor_value_info("rows", TensorProto.INT64, [])],
        initializer=[_init("zero", np.array(0, dtype=np.int64)), _init("two", np.array(2, dtype=f32))],
    )
    inputs = {"x": rng.standard_normal((5, 4)).astype(f32)}
    return _finish(graph), inputs


def make_passthrough(rng: np.random.Generator):
    """y = 2x over [N, 1024] floats: the smallest model that moves tensors of any size (the
    tests push more than wasmtime's default 128 MiB per call through it)."""
    nodes = [helper.make_node("Mul", ["x", "two"], ["y"], name="double")]
    graph = helper.make_graph(
        nodes, "passthrough",
        inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1024])],
        outputs=[helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1024])],
        initializer=[_init("two", np.array(2, dtype=np.float32))],
    )
    inputs = {"x": rng.standard_normal((2, 1024)).astype(np.float32)}
    return _finish(graph), inputs


def make_zipmap(rng: np.random.Generator):
    """skl2onnx's default classifier export: probabilities as a ZipMap (a sequence of maps),
    which no tensor interface carries. onnxruntime runs it; pack must refuse it by name."""
    f32 = np.float32
    w = rng.standard_normal((4, 2)).astype(f32)
    nodes = [
        helper.make_node("MatMul", ["float_input", "w"], ["scores"], name="linear"),
        helper.make_node("Softmax", ["scores"], ["probabilities"], axis=1, name="softmax"),
        helper.make_node("ArgMax", ["scores"], ["output_label"], axis=1, keepdims=0, name="argmax"),
        helper.make_node("ZipMap", ["probabilities"], ["output_probability"],
                         classlabels_int64s=[0, 1], domain="ai.onnx.ml", name="ZipMap"),
    ]
    seq_of_maps = helper.make_sequence_type_proto(
        helper.make_map_type_proto(TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, [])))
    graph = helper.make_graph(
        nodes, "zipmap",
        inputs=[helper.make_tensor_value_info("float_input", TensorProto.FLOAT, [None, 4])],
        outputs=[helper.make_tensor_value_info("output_label", TensorProto.INT64, [None]),
                 helper.make_value_info("output_probability", seq_of_maps)],
        initializer=[_init("w", w)],
    )
    model = helper.make_model(
        graph, producer_name="edgeinfer-gen_test_models",
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", 1)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    inputs = {"float_input": rng.standard_normal((3, 4)).astype(f32)}
    return model, inputs


def make_huge_const(rng: np.random.Generator):
    """Hostile: a constant of 10^12 floats (4 TB) made by ConstantOfShape, which an engine
    that folds constants at load time would try to allocate."""
    nodes = [
        helper.make_node("ConstantOfShape", ["shape"], ["big"],
                         value=numpy_helper.from_array(np.array([1.0], dtype=np.float32)), name="big"),
        helper.make_node("ReduceSum", ["big"], ["total"], keepdims=0, name="sum"),
        helper.make_node("Add", ["x", "total"], ["y"], name="add"),
    ]
    graph = helper.make_graph(
        nodes, "huge_const",
        inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        outputs=[helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        initializer=[_init("shape", np.array([1_000_000, 1_000_000], dtype=np.int64))],
    )
    return _finish(graph), None


def make_huge_input(rng: np.random.Generator):
    """Hostile: an input declared [1000000, 1000000] (10^12 floats)."""
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu")]
    graph = helper.make_graph(
        nodes, "huge_input",
        inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, [1_000_000, 1_000_000])],
        outputs=[helper.make_tensor_value_info("y", TensorProto.FLOAT, [1_000_000, 1_000_000])],
    )
    return _finish(graph), None


def make_slow(rng: np.random.Generator):
    """Work that grows with a free dim: 300 x (MatMul by one 128x128 weight, Tanh) over
    [N, 128]. A few ms at N=1, seconds at N=2048: the soak's model that now and then runs
    past its deadline."""
    f32 = np.float32
    w = (rng.standard_normal((128, 128)) / np.sqrt(128)).astype(f32)
    nodes, prev = [], "x"
    for i in range(300):
        nodes.append(helper.make_node("MatMul", [prev, "w"], [f"m{i}"], name=f"matmul{i}"))
        nodes.append(helper.make_node("Tanh", [f"m{i}"], [f"t{i}"], name=f"tanh{i}"))
        prev = f"t{i}"
    nodes.append(helper.make_node("Identity", [prev], ["y"], name="out"))
    graph = helper.make_graph(
        nodes, "slow",
        inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 128])],
        outputs=[helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 128])],
        initializer=[_init("w", w)],
    )
    inputs = {"x": rng.standard_normal((4, 128)).astype(f32)}
    return _finish(graph), inputs


def make_gemm_tiles(rng: np.random.Generator):
    """Matrix products on which the guest's own 4x8 GEMM kernel runs (engine/src/wasm_gemm.rs:
    k >= 64, more than one column), with every step tract fuses into it: per-channel scale and
    bias (batch norm), Clip, a residual Add, LeakyRelu; partial tiles (21 and 13 rows, 99
    columns) and odd k (189, 67) for the kernel's tail step."""
    f32 = np.float32
    w_a = (rng.standard_normal((21, 8, 3, 3)) * 0.2).astype(f32)  # k = 72
    b_a = (rng.standard_normal(21) * 0.1).astype(f32)
    bn = [(rng.random(21) + 0.5).astype(f32), (rng.standard_normal(21) * 0.1).astype(f32),
          (rng.standard_normal(21) * 0.1).astype(f32), (rng.random(21) + 0.5).astype(f32)]
    w_b = (rng.standard_normal((13, 21, 3, 3)) * 0.1).astype(f32)  # k = 189
    b_b = (rng.standard_normal(13) * 0.1).astype(f32)
    w_skip = (rng.standard_normal((13, 8, 1, 1)) * 0.3).astype(f32)
    w_z = (rng.standard_normal((67, 19)) * 0.15).astype(f32)  # k = 67
    b_z = (rng.standard_normal(19) * 0.1).astype(f32)
    nodes = [
        helper.make_node("Conv", ["x", "w_a", "b_a"], ["a"], kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1], name="conv_a"),
        helper.make_node("BatchNormalization", ["a", "bn_scale", "bn_bias", "bn_mean", "bn_var"],
                         ["a_bn"], name="bn_a"),
        helper.make_node("Clip", ["a_bn", "zero", "six"], ["a6"], name="relu6_a"),
        helper.make_node("Conv", ["a6", "w_b", "b_b"], ["b"], kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1], name="conv_b"),
        helper.make_node("Conv", ["x", "w_skip"], ["skip"], kernel_shape=[1, 1], name="conv_skip"),
        helper.make_node("Add", ["b", "skip"], ["res"], name="residual"),
        helper.make_node("LeakyRelu", ["res"], ["y"], alpha=0.1, name="leaky"),
        helper.make_node("MatMul", ["rows", "w_z"], ["z_mm"], name="mm_z"),
        helper.make_node("Add", ["z_mm", "b_z"], ["z_add"], name="add_z"),
        helper.make_node("Relu", ["z_add"], ["z"], name="relu_z"),
    ]
    graph = helper.make_graph(
        nodes, "gemm_tiles",
        inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 9, 11]),
                helper.make_tensor_value_info("rows", TensorProto.FLOAT, [1, 13, 67])],
        outputs=[helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 13, 9, 11]),
                 helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 13, 19])],
        initializer=[_init("w_a", w_a), _init("b_a", b_a), _init("bn_scale", bn[0]),
                     _init("bn_bias", bn[1]), _init("bn_mean", bn[2]), _init("bn_var", bn[3]),
                     _init("zero", np.array(0, dtype=f32)), _init("six", np.array(6, dtype=f32)),
                     _init("w_b", w_b), _init("b_b", b_b), _init("w_skip", w_skip),
                     _init("w_z", w_z), _init("b_z", b_z)],
    )
    inputs = {"x": rng.random((1, 8, 9, 11), dtype=np.float32),
              "rows": rng.standard_normal((1, 13, 67)).astype(f32)}
    return _finish(graph), inputs


MODELS = {"cnn": make_cnn, "mlp": make_mlp, "int64": make_int64, "tabular": make_tabular,
          "dynaxes": make_dynaxes, "shape_out": make_shape_out, "passthrough": make_passthrough,
          "zipmap": make_zipmap, "huge_const": make_huge_const, "huge_input": make_huge_input,
          "slow": make_slow, "gemm_tiles": make_gemm_tiles}


def write_case(name: str, model: onnx.ModelProto, inputs: dict[str, np.ndarray]) -> None:
    d = os.path.join(OUT_ROOT, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(os.path.join(d, "inputs"))
    os.makedirs(os.path.join(d, "expected"))
    path = os.path.join(d, "model.onnx")
    onnx.save_model(model, path)
    if inputs is None:  # hostile models: nothing to run them on
        shutil.rmtree(os.path.join(d, "inputs"))
        shutil.rmtree(os.path.join(d, "expected"))
        print(f"gen_test_models: {name}: model.onnx {os.path.getsize(path)} B (no inputs)", file=sys.stderr)
        return

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
        if not isinstance(v, np.ndarray):  # zipmap: a list of dicts, no tensor to compare
            summary.append(f"{meta.name}:{meta.type}")
            continue
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
