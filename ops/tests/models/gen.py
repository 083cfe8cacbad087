#!/usr/bin/env python3
"""Writes the edgeinfer-ops test cases: tiny ai.onnx.ml models, inputs at two batch sizes,
and onnxruntime's outputs on them (the reference), plus cases.json, the manifest the Rust
tests (ops/tests/ml_ops.rs) read.

Run from anywhere, in the venv that models/corpus/fetch sets up (it pins the exporters in
models/corpus/requirements.txt):
    models/corpus/fetch --only sklearn-logreg && models/.venv/bin/python ops/tests/models/gen.py

Most models are written with onnx.helper so each attribute variant is exercised on purpose;
some come from the real exporters (skl2onnx, onnxmltools with LightGBM) to cover what they
emit. Every model's first input axis is the free dimension "N"; each case runs at batch 5
and batch 2 on one optimized model. Outputs are what onnxruntime computes, whatever the
operator specification says.
"""

import json
import os
import warnings

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto as TP
from onnx import helper as oh
from onnx import numpy_helper

warnings.filterwarnings("ignore")

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = HERE
ML = "ai.onnx.ml"
CASES = []

for stale in os.listdir(OUT):  # a clean slate: the folder holds only what this run writes
    if stale.endswith((".onnx", ".npy")) or stale == "cases.json":
        os.remove(os.path.join(OUT, stale))


def model_of(nodes, inputs, outputs, ml_opset=1, opset=17, initializers=()):
    graph = oh.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    m = oh.make_model(
        graph, opset_imports=[oh.make_opsetid("", opset), oh.make_opsetid(ML, ml_opset)]
    )
    m.ir_version = 8
    m.producer_name = "edgeinfer-ops gen.py"
    return m


def vi(name, elem, shape):
    return oh.make_tensor_value_info(name, elem, shape)


def free_batch(m, fixed=()):
    """Names the first axis of every graph input but `fixed` ones `N` (exporters leave it
    unnamed)."""
    for i in m.graph.input:
        dims = i.type.tensor_type.shape.dim
        if len(dims) >= 1 and i.name not in fixed:
            dims[0].Clear()
            dims[0].dim_param = "N"
    return m


def save_npy(path, a):
    np.save(path, np.ascontiguousarray(a), allow_pickle=False)


def stable_opsets(m):
    """One import per domain, sorted: exporters list them in set order, which varies by run."""
    opsets = dict(sorted((o.domain, o.version) for o in m.opset_import))
    del m.opset_import[:]
    m.opset_import.extend(oh.make_opsetid(d, v) for d, v in sorted(opsets.items()))


def add_case(name, m, feeds_list, atol=1e-5, rtol=1e-5, note="", fixed=()):
    """Runs `m` in onnxruntime on each feeds dict and records the case."""
    free_batch(m, fixed)
    stable_opsets(m)
    onnx.checker.check_model(m)
    path = f"{name}.onnx"
    onnx.save(m, os.path.join(OUT, path))
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    out_names = [o.name for o in sess.get_outputs()]
    runs = []
    for r, feeds in enumerate(feeds_list):
        results = sess.run(None, feeds)
        run = {"inputs": [], "outputs": []}
        for k, v in feeds.items():
            f = f"{name}.{r}.in.{k}.npy"
            save_npy(os.path.join(OUT, f), v)
            run["inputs"].append([k, f])
        for k, v in zip(out_names, results):
            f = f"{name}.{r}.out.{k}.npy"
            save_npy(os.path.join(OUT, f), v)
            run["outputs"].append([k, f])
        runs.append(run)
    CASES.append(
        {"name": name, "model": path, "atol": atol, "rtol": rtol, "runs": runs, "note": note}
    )


def add_refusal(name, m, expect):
    """A model edgeinfer must refuse, with an error containing each string of `expect`."""
    path = f"{name}.onnx"
    onnx.save(m, os.path.join(OUT, path))
    CASES.append({"name": name, "model": path, "refusal": expect, "runs": []})


rng = np.random.default_rng(20261127)


def normal(n, f, dtype=np.float32):
    return rng.normal(size=(n, f)).astype(dtype)


# ------------------------------------------------------------------------------------------
# TreeEnsembleRegressor (hand-written)


def tree_attrs(trees, n_targets, **extra):
    """trees: list of node lists; a node is (id, mode, feature, value, true, false, tracks)
    or (id, "LEAF", [(target, weight), ...])."""
    a = {k: [] for k in ["nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes",
                         "nodes_values", "nodes_truenodeids", "nodes_falsenodeids",
                         "nodes_missing_value_tracks_true", "target_treeids", "target_nodeids",
                         "target_ids", "target_weights"]}
    for t, nodes in enumerate(trees):
        for n in nodes:
            a["nodes_treeids"].append(t)
            a["nodes_nodeids"].append(n[0])
            a["nodes_modes"].append(n[1])
            if n[1] == "LEAF":
                a["nodes_featureids"].append(0)
                a["nodes_values"].append(0.0)
                a["nodes_truenodeids"].append(0)
                a["nodes_falsenodeids"].append(0)
                a["nodes_missing_value_tracks_true"].append(0)
                for target, w in n[2]:
                    a["target_treeids"].append(t)
                    a["target_nodeids"].append(n[0])
                    a["target_ids"].append(target)
                    a["target_weights"].append(w)
            else:
                _, _, feat, val, tr, fa, tracks = n
                a["nodes_featureids"].append(feat)
                a["nodes_values"].append(val)
                a["nodes_truenodeids"].append(tr)
                a["nodes_falsenodeids"].append(fa)
                a["nodes_missing_value_tracks_true"].append(tracks)
    a["n_targets"] = n_targets
    a.update(extra)
    return a


def tree_model(attrs, n_features, n_targets, in_type=TP.FLOAT, ml_opset=1, as_tensor=()):
    attrs = dict(attrs)
    for k in as_tensor:  # opset 3: doubles as tensors instead of the float lists
        attrs[k + "_as_tensor"] = numpy_helper.from_array(np.array(attrs.pop(k), np.float64), k)
    node = oh.make_node("TreeEnsembleRegressor", ["x"], ["y"], domain=ML, **attrs)
    return model_of([node], [vi("x", in_type, ["N", n_features])],
                    [vi("y", TP.FLOAT, ["N", n_targets])], ml_opset=ml_opset)


def L(*w):
    return list(w)


# Two trees, one target, BRANCH_LEQ, NaN tracked both ways, base value.
T2 = [
    [(0, "BRANCH_LEQ", 0, 0.5, 1, 2, 1), (1, "BRANCH_LEQ", 1, -0.25, 3, 4, 0),
     (2, "LEAF", L((0, 1.5))), (3, "LEAF", L((0, -2.0))), (4, "LEAF", L((0, 0.75)))],
    [(0, "BRANCH_LEQ", 2, 0.0, 1, 2, 0), (1, "LEAF", L((0, 0.25))), (2, "LEAF", L((0, -0.5)))],
]


def tree_inputs(n, f, special):
    x = normal(n, f)
    k = min(n, len(special))
    if k:
        x[:k] = np.array(special[:k], np.float32)
    return x


nan = float("nan")
SPECIAL3 = [[nan, nan, nan], [0.5, -0.25, 0.0], [0.6, nan, -1.0], [nan, 1.0, nan]]
for agg in ["SUM", "AVERAGE"]:
    m = tree_model(tree_attrs(T2, 1, aggregate_function=agg, base_values=[0.5],
                              post_transform="NONE"), 3, 1)
    add_case(f"tree_{agg.lower()}_base_nan", m,
             [{"x": tree_inputs(5, 3, SPECIAL3)}, {"x": tree_inputs(2, 3, SPECIAL3[1:])}])

# Every branch mode, thresholds hit exactly, NaN tracked true/false.
MODES = [
    [(0, "BRANCH_LT", 0, 0.5, 1, 2, 0), (1, "LEAF", L((0, 1.0))), (2, "LEAF", L((0, 2.0)))],
    [(0, "BRANCH_GTE", 1, 0.5, 1, 2, 1), (1, "LEAF", L((0, 10.0))), (2, "LEAF", L((0, 20.0)))],
    [(0, "BRANCH_GTE", 0, -0.5, 1, 2, 0), (1, "LEAF", L((0, 100.0))), (2, "LEAF", L((0, 200.0)))],
    [(0, "BRANCH_GT", 1, 0.5, 1, 2, 1), (1, "LEAF", L((0, 1000.0))), (2, "LEAF", L((0, 2000.0)))],
    [(0, "BRANCH_EQ", 2, 1.0, 1, 2, 0), (1, "LEAF", L((0, 1e4))), (2, "LEAF", L((0, 2e4)))],
    [(0, "BRANCH_NEQ", 2, 1.0, 1, 2, 0), (1, "LEAF", L((0, 1e5))), (2, "LEAF", L((0, 2e5)))],
]
SPECIAL_MODES = [[0.5, 0.5, 1.0], [nan, nan, nan], [-0.5, 0.4, 2.0], [0.1, 0.6, nan],
                 [1.0, -1.0, 1.0]]
m = tree_model(tree_attrs(MODES, 1, post_transform="NONE"), 3, 1)
add_case("tree_branch_modes", m,
         [{"x": tree_inputs(5, 3, SPECIAL_MODES)}, {"x": tree_inputs(2, 3, SPECIAL_MODES[3:])}])

# Several targets, leaves holding several weights, base values, post transforms.
MT = [
    [(0, "BRANCH_LEQ", 0, 0.0, 1, 2, 0), (1, "LEAF", L((0, 1.0), (1, -1.0), (2, 0.5))),
     (2, "LEAF", L((0, -1.0), (2, 2.0)))],
    [(0, "BRANCH_LT", 3, 0.3, 1, 2, 1), (1, "BRANCH_LEQ", 1, 0.1, 3, 4, 0),
     (2, "LEAF", L((1, 0.3))), (3, "LEAF", L((0, 0.2), (1, 0.1), (2, -0.4))),
     (4, "LEAF", L((0, 0.0), (1, 0.0), (2, 0.0)))],
]
SPECIAL4 = [[nan, nan, nan, nan], [0.0, 0.1, 0.0, 0.3]]
for post in ["NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO"]:
    for agg in ["SUM", "AVERAGE"] if post == "NONE" else ["SUM"]:
        m = tree_model(tree_attrs(MT, 3, aggregate_function=agg, post_transform=post,
                                  base_values=[0.1, -0.2, 0.0]), 4, 3)
        add_case(f"tree_targets3_{agg.lower()}_{post.lower()}", m,
                 [{"x": tree_inputs(5, 4, SPECIAL4)}, {"x": tree_inputs(2, 4, SPECIAL4[1:])}])

# One target: onnxruntime applies no LOGISTIC/SOFTMAX (only PROBIT).
m = tree_model(tree_attrs(T2, 1, post_transform="LOGISTIC"), 3, 1)
add_case("tree_one_target_logistic_ignored", m,
         [{"x": tree_inputs(5, 3, SPECIAL3)}, {"x": tree_inputs(2, 3, [])}])

# Opset 3 doubles as tensors, and a double input (values away from thresholds).
m = tree_model(tree_attrs(T2, 1, base_values=[0.25], post_transform="NONE"), 3, 1,
               in_type=TP.DOUBLE, ml_opset=3,
               as_tensor=["nodes_values", "target_weights", "base_values"])
add_case("tree_double_input_as_tensor", m,
         [{"x": tree_inputs(5, 3, SPECIAL3).astype(np.float64)},
          {"x": tree_inputs(2, 3, []).astype(np.float64)}])

# Node ids not in order: the root is listed first but numbered 2.
SHUFFLED = [
    [(2, "BRANCH_LEQ", 1, 0.0, 0, 1, 0), (1, "LEAF", L((0, 5.0))), (0, "LEAF", L((0, -5.0)))],
]
m = tree_model(tree_attrs(SHUFFLED, 1), 2, 1)
add_case("tree_sparse_node_ids", m, [{"x": normal(5, 2)}, {"x": normal(2, 2)}])

# TreeEnsembleClassifier (tract-onnx's loader is replaced): onnxruntime's binary rules.


def classifier_model(trees, labels, **extra):
    a = tree_attrs(trees, len(labels), **extra)
    del a["n_targets"]
    for k in ["treeids", "nodeids", "ids", "weights"]:
        a[f"class_{k}"] = a.pop(f"target_{k}")
    a["classlabels_int64s"] = labels
    node = oh.make_node("TreeEnsembleClassifier", ["x"], ["label", "scores"], domain=ML, **a)
    return model_of([node], [vi("x", TP.FLOAT, ["N", 4])],
                    [vi("label", TP.INT64, ["N"]), vi("scores", TP.FLOAT, ["N", len(labels)])])


def only_class(trees, k):
    return [[n if n[1] != "LEAF" else (n[0], "LEAF", [(k, w) for _, w in n[2]]) for n in t]
            for t in trees]


MARGIN = [
    [(0, "BRANCH_LT", 0, 0.1, 1, 2, 1), (1, "LEAF", L((0, 0.8))), (2, "LEAF", L((0, -0.6)))],
    [(0, "BRANCH_LT", 2, -0.3, 1, 2, 0), (1, "LEAF", L((0, -0.25))), (2, "LEAF", L((0, 0.35)))],
]
for name, trees, extra in [
    ("binary_one_base_logistic", MARGIN, dict(base_values=[0.1], post_transform="LOGISTIC")),
    ("binary_two_base_values", MARGIN, dict(base_values=[0.2, -0.3], post_transform="LOGISTIC")),
    ("binary_both_classes", [MARGIN[0], only_class(MARGIN, 1)[1]], dict(post_transform="NONE")),
    ("binary_no_base_softmax", MARGIN, dict(post_transform="SOFTMAX")),
]:
    add_case(f"tree_classifier_{name}", classifier_model(trees, [3, 8], **extra),
             [{"x": tree_inputs(5, 4, SPECIAL4)}, {"x": tree_inputs(2, 4, [])}])
add_case("tree_classifier_3_classes_one_unscored",
         classifier_model([MARGIN[0], only_class(MARGIN, 2)[1]], [0, 1, 2],
                          post_transform="SOFTMAX"),
         [{"x": tree_inputs(5, 4, SPECIAL4)}, {"x": tree_inputs(2, 4, [])}])

# ------------------------------------------------------------------------------------------
# Scaler, Binarizer, Imputer, OneHotEncoder, ArrayFeatureExtractor, FeatureVectorizer


def unary(op, in_type, in_shape, out_type, out_shape, ml_opset=1, **attrs):
    node = oh.make_node(op, ["x"], ["y"], domain=ML, **attrs)
    return model_of([node], [vi("x", in_type, in_shape)], [vi("y", out_type, out_shape)],
                    ml_opset=ml_opset)


m = unary("Scaler", TP.FLOAT, ["N", 4], TP.FLOAT, ["N", 4], offset=[0.5, -1.0, 0.0, 2.0],
          scale=[2.0, 0.5, -1.0, 3.0])
add_case("scaler", m, [{"x": normal(5, 4)}, {"x": normal(2, 4)}])
m = unary("Scaler", TP.FLOAT, ["N", 3], TP.FLOAT, ["N", 3], offset=[0.25], scale=[4.0])
add_case("scaler_scalar", m, [{"x": normal(5, 3)}, {"x": normal(2, 3)}])
m = unary("Scaler", TP.DOUBLE, ["N", 3], TP.FLOAT, ["N", 3], offset=[0.1, 0.2, 0.3],
          scale=[3.0, 1.0 / 3.0, 7.0])
add_case("scaler_double", m, [{"x": normal(5, 3, np.float64)}, {"x": normal(2, 3, np.float64)}])
m = unary("Scaler", TP.INT64, ["N", 2], TP.FLOAT, ["N", 2], offset=[1.5, 0.0], scale=[0.5, 2.0])
add_case("scaler_int64", m, [{"x": rng.integers(-9, 9, (5, 2))}, {"x": rng.integers(-9, 9, (2, 2))}])

m = unary("Binarizer", TP.FLOAT, ["N", 4], TP.FLOAT, ["N", 4], threshold=0.25)
xb = normal(5, 4)
xb[0, 0] = 0.25
add_case("binarizer", m, [{"x": xb}, {"x": normal(2, 4)}], atol=0, rtol=0,
         note="onnxruntime fails on NaN inputs; not tested")


def with_nan(x, p=0.3):
    x = x.copy()
    x[rng.random(x.shape) < p] = np.nan
    return x


m = unary("Imputer", TP.FLOAT, ["N", 3], TP.FLOAT, ["N", 3],
          imputed_value_floats=[1.0, -2.0, 3.5], replaced_value_float=float("nan"))
add_case("imputer_nan", m, [{"x": with_nan(normal(5, 3))}, {"x": with_nan(normal(2, 3))}],
         atol=0, rtol=0)
m = unary("Imputer", TP.FLOAT, ["N", 3], TP.FLOAT, ["N", 3], imputed_value_floats=[9.0],
          replaced_value_float=-1.0)
xi = np.round(normal(5, 3))
xi[0, :] = -1.0
add_case("imputer_value", m, [{"x": xi}, {"x": np.round(normal(2, 3))}], atol=0, rtol=0)
m = unary("Imputer", TP.INT64, ["N", 2], TP.INT64, ["N", 2], imputed_value_int64s=[7, 8],
          replaced_value_int64=0)
add_case("imputer_int64", m,
         [{"x": rng.integers(-2, 3, (5, 2))}, {"x": rng.integers(-2, 3, (2, 2))}])

m = unary("OneHotEncoder", TP.INT64, ["N", 2], TP.FLOAT, ["N", 2, 4], cats_int64s=[3, 1, 7, 0],
          zeros=1)
add_case("ohe_int64", m, [{"x": rng.choice([0, 1, 3, 7, 5], (5, 2))},
                          {"x": rng.choice([0, 1, 3, 7], (2, 2))}], atol=0, rtol=0)
m = unary("OneHotEncoder", TP.FLOAT, ["N", 1], TP.FLOAT, ["N", 1, 3], cats_int64s=[0, 1, 2],
          zeros=1)
add_case("ohe_float_truncates", m,
         [{"x": np.array([[0.0], [1.9], [2.2], [-0.5], [3.0]], np.float32)},
          {"x": np.array([[1.0], [0.7]], np.float32)}], atol=0, rtol=0)

idx = numpy_helper.from_array(np.array([2, 0, 2], np.int64), "idx")
node = oh.make_node("ArrayFeatureExtractor", ["x", "idx"], ["y"], domain=ML)
m = model_of([node], [vi("x", TP.FLOAT, ["N", 4])], [vi("y", TP.FLOAT, ["N", 3])],
             initializers=[idx])
add_case("array_feature_extractor", m, [{"x": normal(5, 4)}, {"x": normal(2, 4)}], atol=0, rtol=0)
node = oh.make_node("ArrayFeatureExtractor", ["x", "idx"], ["y"], domain=ML)
m = model_of([node], [vi("x", TP.INT64, ["N", 3]), vi("idx", TP.INT64, [2])],
             [vi("y", TP.INT64, ["N", 2])])
add_case("array_feature_extractor_dynamic_indices", m,
         [{"x": rng.integers(0, 100, (5, 3)), "idx": np.array([1, 1], np.int64)},
          {"x": rng.integers(0, 100, (2, 3)), "idx": np.array([2, 0], np.int64)}], atol=0, rtol=0,
         fixed=["idx"])

node = oh.make_node("FeatureVectorizer", ["a", "b", "c"], ["y"], domain=ML,
                    inputdimensions=[2, 2, 3])
m = model_of([node], [vi("a", TP.FLOAT, ["N", 2]), vi("b", TP.FLOAT, ["N", 3]),
                      vi("c", TP.FLOAT, ["N", 1])], [vi("y", TP.FLOAT, ["N", 7])])


def fv_feeds(n):
    return {"a": normal(n, 2), "b": normal(n, 3), "c": normal(n, 1)}


add_case("feature_vectorizer", m, [fv_feeds(5), fv_feeds(2)], atol=0, rtol=0,
         note="b is cut to 2 columns, c padded to 3")
node = oh.make_node("FeatureVectorizer", ["a", "b"], ["y"], domain=ML, inputdimensions=[1, 2])
m = model_of([node], [vi("a", TP.INT64, ["N", 1]), vi("b", TP.INT64, ["N", 2])],
             [vi("y", TP.FLOAT, ["N", 3])])
add_case("feature_vectorizer_int64", m,
         [{"a": rng.integers(-9, 9, (n, 1)), "b": rng.integers(-9, 9, (n, 2))} for n in (5, 2)],
         atol=0, rtol=0)

# ------------------------------------------------------------------------------------------
# LabelEncoder


def label_encoder(in_type, out_type, ml_opset, **attrs):
    return unary("LabelEncoder", in_type, ["N"], out_type, ["N"], ml_opset=ml_opset, **attrs)


m = label_encoder(TP.INT64, TP.INT64, 2, keys_int64s=[3, 7, 9, 3], values_int64s=[0, 1, 2, 5],
                  default_int64=-7)
add_case("label_encoder_int_int", m, [{"x": np.array([3, 7, 9, 4, 3], np.int64)},
                                      {"x": np.array([9, -1], np.int64)}], atol=0, rtol=0)
m = label_encoder(TP.FLOAT, TP.INT64, 2, keys_floats=[0.0, 1.5, float("nan")],
                  values_int64s=[10, 20, 30])
XF = np.array([-0.0, 1.5, np.nan, 2.0, 0.0], np.float32)
add_case("label_encoder_float_int_opset2", m, [{"x": XF}, {"x": XF[2:4]}], atol=0, rtol=0)
m = label_encoder(TP.FLOAT, TP.INT64, 4, keys_floats=[0.0, 1.5, float("nan")],
                  values_int64s=[10, 20, 30])
add_case("label_encoder_float_int_opset4_nan", m, [{"x": XF}, {"x": XF[2:4]}], atol=0, rtol=0)
m = label_encoder(TP.INT64, TP.FLOAT, 2, keys_int64s=[1, 2], values_floats=[0.5, -1.5],
                  default_float=42.0)
add_case("label_encoder_int_float", m, [{"x": np.array([1, 2, 3, 2, 1], np.int64)},
                                        {"x": np.array([0, 2], np.int64)}], atol=0, rtol=0)
m = label_encoder(TP.DOUBLE, TP.INT64, 4,
                  keys_tensor=numpy_helper.from_array(np.array([0.1, 0.2], np.float64)),
                  values_tensor=numpy_helper.from_array(np.array([1, 2], np.int64)),
                  default_tensor=numpy_helper.from_array(np.array([-9], np.int64)))
add_case("label_encoder_double_tensors", m, [{"x": np.array([0.1, 0.2, 0.3, 0.2, 0.1])},
                                             {"x": np.array([0.2, 0.25])}], atol=0, rtol=0)

# refused: strings
add_refusal("refuse_label_encoder_strings",
            label_encoder(TP.STRING, TP.INT64, 2, keys_strings=["a", "b"], values_int64s=[1, 2]),
            ["LabelEncoder", "string"])
add_refusal("refuse_label_encoder_v1",
            label_encoder(TP.STRING, TP.INT64, 1, classes_strings=["a", "b"], default_int64=-1),
            ["LabelEncoder", "string"])
add_refusal("refuse_one_hot_encoder_strings",
            unary("OneHotEncoder", TP.STRING, ["N", 1], TP.FLOAT, ["N", 1, 2],
                  cats_strings=["a", "b"]), ["OneHotEncoder", "string"])
add_refusal("refuse_tree_classifier_class1_two_base_values",
            classifier_model(only_class(MARGIN, 1), [3, 8], base_values=[0.2, -0.3]),
            ["TreeEnsembleClassifier", "base_values"])
add_refusal("refuse_tree_classifier_strings",
            oh.make_model(oh.make_graph([oh.make_node(
                "TreeEnsembleClassifier", ["x"], ["label", "scores"], domain=ML,
                classlabels_strings=["a", "b"], nodes_treeids=[0], nodes_nodeids=[0],
                nodes_featureids=[0], nodes_modes=["LEAF"], nodes_values=[0.0],
                nodes_truenodeids=[0], nodes_falsenodeids=[0], class_treeids=[0],
                class_nodeids=[0], class_ids=[0], class_weights=[1.0])], "g",
                [vi("x", TP.FLOAT, ["N", 1])],
                [vi("label", TP.STRING, ["N"]), vi("scores", TP.FLOAT, ["N", 2])]),
                opset_imports=[oh.make_opsetid("", 17), oh.make_opsetid(ML, 1)]),
            ["TreeEnsembleClassifier", "string"])
add_refusal("refuse_tree_min",
            tree_model(tree_attrs(T2, 1, aggregate_function="MIN"), 3, 1),
            ["TreeEnsembleRegressor", "MIN"])

# ------------------------------------------------------------------------------------------
# SVM, hand-written variants onnxruntime computes in its own way

X4 = normal(40, 4)
sv = X4[:6]
node = oh.make_node("SVMClassifier", ["x"], ["label", "scores"], domain=ML,
                    classlabels_ints=[4, 5, 6], vectors_per_class=[2, 3, 1],
                    support_vectors=sv.ravel().tolist(), kernel_type="RBF",
                    kernel_params=[0.3, 0.0, 3.0],
                    coefficients=rng.normal(size=12).round(3).tolist(),
                    rho=[0.1, -0.2, 0.3], post_transform="SOFTMAX")
m = model_of([node], [vi("x", TP.FLOAT, ["N", 4])],
             [vi("label", TP.INT64, ["N"]), vi("scores", TP.FLOAT, ["N", 3])])
add_case("svc_handmade_softmax", m, [{"x": normal(5, 4)}, {"x": normal(2, 4)}], atol=1e-5)
svc_binary_coefs = rng.normal(size=6).round(3).tolist()
for post in ["NONE", "LOGISTIC", "SOFTMAX"]:
    node = oh.make_node("SVMClassifier", ["x"], ["label", "scores"], domain=ML,
                        classlabels_ints=[0, 1], vectors_per_class=[3, 3],
                        support_vectors=sv.ravel().tolist(), kernel_type="SIGMOID",
                        kernel_params=[0.2, 0.5, 0.0], coefficients=svc_binary_coefs,
                        rho=[0.05], post_transform=post)
    m = model_of([node], [vi("x", TP.FLOAT, ["N", 4])],
                 [vi("label", TP.INT64, ["N"]), vi("scores", TP.FLOAT, ["N", 2])])
    add_case(f"svc_handmade_binary_{post.lower()}", m, [{"x": normal(5, 4)}, {"x": normal(2, 4)}],
             atol=1e-5, note="onnxruntime writes [-d, d], [sigmoid(-d), sigmoid(d)], [1-d, d]")
node = oh.make_node("SVMRegressor", ["x"], ["y"], domain=ML, n_supports=0,
                    coefficients=[0.5, -1.0, 2.0, 0.25], rho=[0.75], kernel_type="RBF",
                    kernel_params=[0.1, 0.0, 3.0])
m = model_of([node], [vi("x", TP.FLOAT, ["N", 4])], [vi("y", TP.FLOAT, ["N", 1])])
add_case("svr_handmade_linear_form", m, [{"x": normal(5, 4)}, {"x": normal(2, 4)}])

# ------------------------------------------------------------------------------------------
# Real exporters: skl2onnx 1.20 (scikit-learn 1.9) and onnxmltools 1.16 (LightGBM 4.7)

from sklearn import compose, ensemble, impute, pipeline, preprocessing, svm, tree  # noqa: E402
from skl2onnx import to_onnx  # noqa: E402

Xtr = normal(80, 4)
ytr = Xtr[:, 0] + 2 * Xtr[:, 1] - Xtr[:, 2] * Xtr[:, 3]
y2 = (ytr > 0).astype(np.int64)
y3 = np.digitize(ytr, [-1.0, 1.0]).astype(np.int64)


def skl(name, est, x_fit, feeds, atol=1e-5, rtol=1e-5, options=None, note=""):
    m = to_onnx(est, x_fit[:1], options=options)
    m.producer_name = "skl2onnx (edgeinfer-ops gen.py)"
    add_case(name, m, feeds, atol=atol, rtol=rtol, note=note)


def feeds_x(n, f=4, nan_p=0.0):
    x = normal(n, f)
    return {"X": with_nan(x, nan_p) if nan_p else x}


skl("skl_random_forest_regressor",
    ensemble.RandomForestRegressor(n_estimators=4, max_depth=4, random_state=0).fit(Xtr, ytr),
    Xtr, [feeds_x(5), feeds_x(2)])
skl("skl_random_forest_regressor_2_targets",
    ensemble.RandomForestRegressor(n_estimators=3, max_depth=3, random_state=0).fit(
        Xtr, np.stack([ytr, -ytr], 1)), Xtr, [feeds_x(5), feeds_x(2)])
skl("skl_gradient_boosting_regressor",
    ensemble.GradientBoostingRegressor(n_estimators=5, max_depth=3, random_state=0).fit(Xtr, ytr),
    Xtr, [feeds_x(5), feeds_x(2)])
for classes, yy in [(2, y2), (3, y3)]:
    skl(f"skl_random_forest_classifier_{classes}",
        ensemble.RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(Xtr, yy),
        Xtr, [feeds_x(5), feeds_x(2)], options={"zipmap": False})
    skl(f"skl_gradient_boosting_classifier_{classes}",
        ensemble.GradientBoostingClassifier(n_estimators=3, max_depth=2, random_state=0).fit(
            Xtr, yy), Xtr, [feeds_x(5), feeds_x(2)], options={"zipmap": False})
skl("skl_decision_tree_classifier_2",
    tree.DecisionTreeClassifier(max_depth=3, random_state=0).fit(Xtr, y2), Xtr,
    [feeds_x(5), feeds_x(2)], options={"zipmap": False})
skl("skl_svr_rbf", svm.SVR(C=2.0).fit(Xtr, ytr), Xtr, [feeds_x(5), feeds_x(2)], atol=1e-4,
    rtol=1e-4)
for kernel in ["linear", "poly", "sigmoid"]:
    skl(f"skl_svr_{kernel}", svm.SVR(kernel=kernel, degree=3, coef0=0.5, C=0.5).fit(Xtr, ytr),
        Xtr, [feeds_x(5), feeds_x(2)], atol=1e-4, rtol=1e-4)
skl("skl_one_class_svm", svm.OneClassSVM(nu=0.3).fit(Xtr), Xtr, [feeds_x(5), feeds_x(2)],
    atol=1e-5, rtol=1e-5)
skl("skl_svc_binary", svm.SVC().fit(Xtr, y2), Xtr, [feeds_x(5), feeds_x(2)], atol=1e-4,
    rtol=1e-4, options={"zipmap": False})
skl("skl_svc_3_classes_poly", svm.SVC(kernel="poly", degree=2).fit(Xtr, y3), Xtr,
    [feeds_x(5), feeds_x(2)], atol=1e-4, rtol=1e-4, options={"zipmap": False})
skl("skl_svc_3_classes_probability", svm.SVC(probability=True, random_state=0).fit(Xtr, y3),
    Xtr, [feeds_x(5), feeds_x(2)], atol=1e-4, rtol=1e-4, options={"zipmap": False})
skl("skl_svc_binary_probability", svm.SVC(probability=True, random_state=0).fit(Xtr, y2),
    Xtr, [feeds_x(5), feeds_x(2)], atol=1e-4, rtol=1e-4, options={"zipmap": False})
skl("skl_scaler_svr_pipeline",
    pipeline.make_pipeline(preprocessing.StandardScaler(), svm.SVR()).fit(Xtr, ytr), Xtr,
    [feeds_x(5), feeds_x(2)], atol=1e-4, rtol=1e-4)
skl("skl_imputer_scaler",
    pipeline.make_pipeline(impute.SimpleImputer(), preprocessing.StandardScaler()).fit(
        with_nan(Xtr, 0.1)), Xtr, [feeds_x(5, nan_p=0.3), feeds_x(2, nan_p=0.3)])
skl("skl_column_transformer",
    compose.ColumnTransformer([("scaled", preprocessing.StandardScaler(), [0, 2]),
                               ("bin", preprocessing.Binarizer(threshold=0.1), [3])]).fit(Xtr),
    Xtr, [feeds_x(5), feeds_x(2)])
Xcat = rng.integers(0, 4, (60, 2)).astype(np.int64)
m = to_onnx(preprocessing.OneHotEncoder(handle_unknown="ignore").fit(Xcat), Xcat[:1])
add_case("skl_one_hot_encoder", m, [{"X": rng.integers(0, 5, (5, 2)).astype(np.int64)},
                                    {"X": rng.integers(0, 4, (2, 2)).astype(np.int64)}],
         atol=0, rtol=0)

add_refusal("refuse_zipmap",
            to_onnx(tree.DecisionTreeClassifier(max_depth=2, random_state=0).fit(Xtr, y2), Xtr[:1]),
            ["ZipMap", "zipmap"])

import lightgbm  # noqa: E402
from onnxmltools import convert_lightgbm  # noqa: E402
from onnxmltools.convert.common.data_types import FloatTensorType  # noqa: E402

Xl = with_nan(normal(200, 4), 0.05)
yl = np.nan_to_num(Xl[:, 0]) + 2 * np.nan_to_num(Xl[:, 1])


def lgb(name, est, y, feeds, atol=1e-5, rtol=1e-5, note=""):
    est.fit(Xl, y)
    m = convert_lightgbm(est, initial_types=[("input", FloatTensorType([None, 4]))],
                         zipmap=False, target_opset=15)
    m.graph.name = name  # onnxmltools names the graph with a random uuid
    add_case(name, m, feeds, atol=atol, rtol=rtol, note=note)


def feeds_l(n):
    return {"input": with_nan(normal(n, 4), 0.2)}


lgb("lgbm_regressor", lightgbm.LGBMRegressor(n_estimators=8, num_leaves=7, verbose=-1), yl,
    [feeds_l(5), feeds_l(2)])
lgb("lgbm_classifier_binary", lightgbm.LGBMClassifier(n_estimators=6, num_leaves=5, verbose=-1),
    (yl > 0).astype(np.int64), [feeds_l(5), feeds_l(2)],
    note="label is Cast(to=INT64): tract reads that as TDim")
lgb("lgbm_classifier_3_classes",
    lightgbm.LGBMClassifier(n_estimators=4, num_leaves=5, verbose=-1),
    np.digitize(yl, [-1.0, 1.0]).astype(np.int64), [feeds_l(5), feeds_l(2)],
    note="label is Cast(to=INT64): tract reads that as TDim")

# ------------------------------------------------------------------------------------------
# tract-core ops edgeinfer-ops gives an NNEF form (src/core_forms.rs): default-domain graphs
# whose decluttered form holds them. (Last, so the random draws above stay as they were.)

def gelu_inputs(n):
    x = normal(n, 16) * 3
    x[0, :6] = [0.0, -0.0, 1e-3, -8.0, 8.0, -30.0]
    return x


F16 = ["N", 16]
# 0.5 * x * (1 + erf(x / sqrt 2)), with the scale as a product (tract-onnx's own Gelu form)
m = model_of(
    [oh.make_node("Mul", ["x", "inv_sqrt2"], ["scaled"]),
     oh.make_node("Erf", ["scaled"], ["erf"]),
     oh.make_node("Add", ["erf", "one"], ["one_plus"]),
     oh.make_node("Mul", ["x", "half"], ["half_x"]),
     oh.make_node("Mul", ["half_x", "one_plus"], ["y"])],
    [vi("x", TP.FLOAT, F16)], [vi("y", TP.FLOAT, F16)],
    initializers=[numpy_helper.from_array(np.array(1 / np.sqrt(2), np.float32), "inv_sqrt2"),
                  numpy_helper.from_array(np.array(1.0, np.float32), "one"),
                  numpy_helper.from_array(np.array(0.5, np.float32), "half")])
add_case("gelu_erf", m, [{"x": gelu_inputs(5)}, {"x": gelu_inputs(2)}],
         note="tract's declutter fuses the chain into GeluExact")
# x * (1 + erf(x / 1.4142135)) * 0.5: PyTorch's nn.GELU() export, as PP-OCR and MiniLM hold it
m = model_of(
    [oh.make_node("Div", ["x", "sqrt2"], ["scaled"]),
     oh.make_node("Erf", ["scaled"], ["erf"]),
     oh.make_node("Add", ["erf", "one"], ["one_plus"]),
     oh.make_node("Mul", ["x", "one_plus"], ["x_one_plus"]),
     oh.make_node("Mul", ["x_one_plus", "half"], ["y"])],
    [vi("x", TP.FLOAT, F16)], [vi("y", TP.FLOAT, F16)],
    initializers=[numpy_helper.from_array(np.array(np.sqrt(2), np.float32), "sqrt2"),
                  numpy_helper.from_array(np.array(1.0, np.float32), "one"),
                  numpy_helper.from_array(np.array(0.5, np.float32), "half")])
add_case("gelu_erf_torch", m, [{"x": gelu_inputs(5)}, {"x": gelu_inputs(2)}],
         note="tract's declutter fuses the chain into GeluExact")
# the Gelu operator (opset 20), which tract-onnx expands into the same chain
m = model_of([oh.make_node("Gelu", ["x"], ["y"])], [vi("x", TP.FLOAT, F16)],
             [vi("y", TP.FLOAT, F16)], opset=20)
m.ir_version = 9
add_case("gelu_op", m, [{"x": gelu_inputs(5)}, {"x": gelu_inputs(2)}],
         note="tract-onnx expands Gelu, declutter fuses it into GeluExact")
# Mod: tract-core's Rem (fmod=1 directly; fmod=0 with the sign fix-up around it)
m = model_of([oh.make_node("Mod", ["x", "d"], ["y"], fmod=1)], [vi("x", TP.FLOAT, ["N", 6])],
             [vi("y", TP.FLOAT, ["N", 6])],
             initializers=[numpy_helper.from_array(
                 np.array([2.5, -2.5, 0.75, 3.0, -0.5, 7.0], np.float32), "d")])
add_case("mod_fmod_float", m, [{"x": normal(5, 6) * 5}, {"x": normal(2, 6) * 5}])
m = model_of([oh.make_node("Mod", ["x", "d"], ["y"])], [vi("x", TP.INT64, ["N", 6])],
             [vi("y", TP.INT64, ["N", 6])],
             initializers=[numpy_helper.from_array(np.array([3, -3, 7, -7, 1, 10], np.int64),
                                                   "d")])
add_case("mod_int64", m, [{"x": rng.integers(-20, 20, size=(5, 6)).astype(np.int64)},
                          {"x": rng.integers(-20, 20, size=(2, 6)).astype(np.int64)}])

# QuantizeLinear -> DequantizeLinear on an activation (a QDQ model's edges): tract keeps
# QuantizeLinearU8/I8 and DequantizeLinearF32
for qname, zdt, zp in [("u8", np.uint8, 118), ("i8", np.int8, -5)]:
    qelem = TP.UINT8 if zdt == np.uint8 else TP.INT8
    m = model_of(
        [oh.make_node("QuantizeLinear", ["x", "scale", "zero_point"], ["q"]),
         oh.make_node("DequantizeLinear", ["q", "scale", "zero_point"], ["dq"]),
         oh.make_node("Relu", ["dq"], ["y"])],
        [vi("x", TP.FLOAT, ["N", 8])],
        [vi("q", qelem, ["N", 8]), vi("y", TP.FLOAT, ["N", 8])],
        initializers=[numpy_helper.from_array(np.array(0.0625, np.float32), "scale"),
                      numpy_helper.from_array(np.array(zp, zdt), "zero_point")])
    # scale a power of two: x / s and x * (1 / s) (tract's form) are the same number
    add_case(f"quantize_dequantize_{qname}", m, [{"x": normal(5, 8) * 6}, {"x": normal(2, 8) * 6}],
             note="values beyond the range saturate")

# skl2onnx's nearest neighbours: a Scan over the training data (a constant), which tract-nnef
# 0.23.9 reloads with the constant in the body's input fact (edgeinfer_ops::repair_reloaded)
from sklearn import neighbors  # noqa: E402

Xk = normal(30, 4)
skl("skl_knn_classifier",
    neighbors.KNeighborsClassifier(n_neighbors=3).fit(Xk, np.digitize(Xk[:, 0], [-0.5, 0.5])),
    Xk, [{"X": normal(5, 4)}, {"X": normal(2, 4)}], options={"zipmap": False})

# ------------------------------------------------------------------------------------------
# If (src/onnx/if_then_else.rs, src/core_forms/if_then_else.rs). (After the cases above, so
# their random draws stay as they were.)


def branch(nodes, outputs, initializers=()):
    """An If branch: no inputs of its own (it reads outer names); outputs (name, shape)."""
    return oh.make_graph(nodes, "branch", [], [vi(o, TP.FLOAT, shape) for o, shape in outputs],
                         initializer=list(initializers))


def scalar(name, value, dtype):
    return numpy_helper.from_array(np.array(value, dtype), name)


# The condition is a dim of a fixed input axis (silero-vad's decoder): Equal(Shape(x)[1], k).
# The branches give different ranks ([N] vs [N, 1]), so tract-onnx's If (IfThenElse, which
# wants both alike) fails; ours inlines the branch the fixed dim takes.
for k, taken in [(6, "then"), (5, "else")]:
    m = model_of(
        [oh.make_node("Shape", ["x"], ["shape"]),
         oh.make_node("Gather", ["shape", "one"], ["dim1"], axis=0),
         oh.make_node("Equal", ["dim1", "k"], ["cond"]),
         oh.make_node("If", ["cond"], ["picked"],
                      then_branch=branch([oh.make_node("ReduceSum", ["x", "axis1"], ["sum"],
                                                       keepdims=0)], [("sum", ["N"])]),
                      else_branch=branch([oh.make_node("ReduceSum", ["x", "axis1"], ["sum_k"],
                                                       keepdims=1)], [("sum_k", ["N", 1])])),
         oh.make_node("Mul", ["picked", "two"], ["y"])],
        [vi("x", TP.FLOAT, ["N", 6])], [vi("y", TP.FLOAT, ["N"] if k == 6 else ["N", 1])],
        initializers=[scalar("one", 1, np.int64), scalar("k", k, np.int64),
                      numpy_helper.from_array(np.array([1], np.int64), "axis1"),
                      scalar("two", 2.0, np.float32)])
    add_case(f"if_shape_{taken}", m, [{"x": normal(5, 6)}, {"x": normal(2, 6)}],
             note=f"Equal(Shape(x)[1], {k}) folds: the {taken} branch is inlined")

# The condition is a configuration value (silero-vad's sample rate, baked in as an
# initializer): Equal(sr, 16000). The taken branch holds an If on a dim (nested), the other
# gives another rank.
m = model_of(
    [oh.make_node("Equal", ["sr", "sr16k"], ["is16k"]),
     oh.make_node("If", ["is16k"], ["picked"],
                  then_branch=branch(
                      [oh.make_node("Shape", ["x"], ["shape"]),
                       oh.make_node("Gather", ["shape", "one"], ["dim1"], axis=0),
                       oh.make_node("Equal", ["dim1", "four"], ["cond"]),
                       oh.make_node("If", ["cond"], ["inner"],
                                    then_branch=branch([oh.make_node("Mul", ["x", "w"], ["xw"])],
                                                       [("xw", ["N", 4])]),
                                    else_branch=branch([oh.make_node("Neg", ["x"], ["neg"])],
                                                       [("neg", ["N", 4])]))],
                      [("inner", ["N", 4])],
                      initializers=[scalar("four", 4, np.int64)]),
                  else_branch=branch([oh.make_node("ReduceMean", ["x"], ["mean"], axes=[1],
                                                   keepdims=0)], [("mean", ["N"])])),
     oh.make_node("Add", ["picked", "bias"], ["y"])],
    [vi("x", TP.FLOAT, ["N", 4])], [vi("y", TP.FLOAT, ["N", 4])],
    initializers=[scalar("sr", 16000, np.int64), scalar("sr16k", 16000, np.int64),
                  scalar("one", 1, np.int64),
                  numpy_helper.from_array(np.array([0.5, -1.0, 2.0, 0.25], np.float32), "w"),
                  scalar("bias", 0.125, np.float32)])
add_case("if_config_nested", m, [{"x": normal(5, 4)}, {"x": normal(2, 4)}],
         note="Equal(sr, 16000) with sr an initializer folds; so does the If in its branch")

# The condition depends on the data (openWakeWord's verifier gate): sum(x) >= 0. Both branches
# give [N, 16]; the then branch reads an outer initializer and holds a constant of its own
# (written as an NNEF variable); IfThenElse picks one at run time.
W16 = rng.normal(size=(16,)).astype(np.float32)
m = model_of(
    [oh.make_node("ReduceSum", ["x"], ["total"], keepdims=0),
     oh.make_node("GreaterOrEqual", ["total", "zero"], ["cond"]),
     oh.make_node("If", ["cond"], ["y"],
                  then_branch=branch(
                      [oh.make_node("Constant", [], ["b16"], value=numpy_helper.from_array(
                          np.linspace(-1, 1, 16).astype(np.float32), "b16")),
                       oh.make_node("Mul", ["x", "w16"], ["xw"]),
                       oh.make_node("Add", ["xw", "b16"], ["then_y"])],
                      [("then_y", ["N", 16])]),
                  else_branch=branch([oh.make_node("Sigmoid", ["x"], ["else_y"])],
                                     [("else_y", ["N", 16])]))],
    [vi("x", TP.FLOAT, ["N", 16])], [vi("y", TP.FLOAT, ["N", 16])],
    initializers=[scalar("zero", 0.0, np.float32), numpy_helper.from_array(W16, "w16")])
add_case("if_data", m, [{"x": np.abs(normal(5, 16))}, {"x": -np.abs(normal(2, 16))}],
         note="run 0 takes the then branch, run 1 the else branch")

# Data-dependent Ifs nested: sum(x) >= 0 ? 2x : (max(x) >= -0.5 ? x + 1 : -x).
m = model_of(
    [oh.make_node("ReduceSum", ["x"], ["total"], keepdims=0),
     oh.make_node("GreaterOrEqual", ["total", "zero"], ["cond"]),
     oh.make_node("If", ["cond"], ["y"],
                  then_branch=branch([oh.make_node("Mul", ["x", "two"], ["twice"])],
                                     [("twice", ["N", 4])]),
                  else_branch=branch(
                      [oh.make_node("ReduceMax", ["x"], ["top"], keepdims=0),
                       oh.make_node("GreaterOrEqual", ["top", "minus_half"], ["near"]),
                       oh.make_node("If", ["near"], ["inner"],
                                    then_branch=branch(
                                        [oh.make_node("Add", ["x", "one_f"], ["plus1"])],
                                        [("plus1", ["N", 4])]),
                                    else_branch=branch([oh.make_node("Neg", ["x"], ["neg"])],
                                                       [("neg", ["N", 4])]))],
                      [("inner", ["N", 4])],
                      initializers=[scalar("minus_half", -0.5, np.float32)]))],
    [vi("x", TP.FLOAT, ["N", 4])], [vi("y", TP.FLOAT, ["N", 4])],
    initializers=[scalar("zero", 0.0, np.float32), scalar("two", 2.0, np.float32),
                  scalar("one_f", 1.0, np.float32)])
add_case("if_data_nested", m,
         [{"x": np.abs(normal(5, 4))},
          {"x": -np.abs(normal(2, 4)) * 0.2},
          {"x": -np.abs(normal(3, 4)) - 1.0}],
         note="runs take then, else/then, else/else")

# A data-dependent If with a constant branch: tract's IfThenElse takes its output facts from
# the then branch, value included, so unless that value is dropped the graph after it folds
# as if the then branch were always taken.
m = model_of(
    [oh.make_node("ReduceSum", ["x"], ["total"], keepdims=0),
     oh.make_node("GreaterOrEqual", ["total", "zero"], ["cond"]),
     oh.make_node("If", ["cond"], ["picked"],
                  then_branch=branch(
                      [oh.make_node("Constant", [], ["fixed"], value=numpy_helper.from_array(
                          np.array([1.0, 2.0, 3.0, 4.0], np.float32), "fixed"))],
                      [("fixed", [4])]),
                  else_branch=branch([oh.make_node("ReduceMean", ["x"], ["mean0"], axes=[0],
                                                   keepdims=0)], [("mean0", [4])])),
     oh.make_node("Mul", ["picked", "two"], ["y"])],
    [vi("x", TP.FLOAT, ["N", 4])], [vi("y", TP.FLOAT, [4])],
    initializers=[scalar("zero", 0.0, np.float32), scalar("two", 2.0, np.float32)])
add_case("if_data_constant_branch", m,
         [{"x": np.abs(normal(5, 4))}, {"x": -np.abs(normal(2, 4))}],
         note="run 0 takes the constant then branch, run 1 the else branch")

with open(os.path.join(OUT, "cases.json"), "w") as f:
    json.dump({"generated_by": "ops/tests/models/gen.py", "cases": CASES}, f, indent=1)
    f.write("\n")
total = sum(os.path.getsize(os.path.join(OUT, p)) for p in os.listdir(OUT))
print(f"{len(CASES)} cases, {total / 1024:.0f} KiB in {OUT}")
