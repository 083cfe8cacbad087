"""Tabular models of the corpus: trained here on synthetic data, exported to ONNX.

Data come from sklearn's make_classification / make_regression with fixed seeds (float32).
The first 1000 rows train the model; the last 64 rows (same distribution, never seen in
training) are the test input. Every estimator uses a fixed random_state and n_jobs=1, so
re-running gives the same model (checked: same ONNX bytes on re-export on one machine).

Exports use skl2onnx (scikit-learn) with target_opset {'': 17, 'ai.onnx.ml': 3} (a cap:
ONNX-ML <= 3 keeps the classic TreeEnsembleClassifier/Regressor operators, opset 5 replaces
them with TreeEnsemble; the files end up declaring ai.onnx.ml 1, the lowest the operators
need) and onnxmltools (LightGBM, XGBoost) with target_opset 15, the highest it accepts
(the LightGBM files declare opset 8/9, the XGBoost files import only ai.onnx.ml).
The input is one float32 tensor named "input" of shape [None, n_features] as the
converters declare it: the batch dim has neither a value nor a name.
Classifiers are exported without ZipMap (outputs: label int64 [N], probabilities float32
[N, classes]) except sklearn-logreg-zipmap, which keeps the converter default on purpose.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
ONNXMLTOOLS_OPSET = 15  # highest main opset onnxmltools 1.16 accepts
N_TRAIN, N_TEST = 1000, 64


@dataclass(frozen=True)
class TabCase:
    name: str
    subset: str
    task: str                   # "clf" (multi-class), "clf2" (binary), "reg"
    n_features: int
    build: Callable             # () -> unfitted estimator
    converter: str = "skl2onnx"  # or "lightgbm", "xgboost"
    zipmap: bool = False
    nan: bool = False           # 5 % missing values (train and test)
    categorical: tuple = ()     # columns replaced by integer codes (stored as float)
    atol: float = 1e-5
    rtol: float = 1e-4
    notes: str = ""
    seed: int = 0
    category: str = "tabular"
    license: str = "generated here (synthetic data), no licence restrictions"
    extra: dict = field(default_factory=dict)


def data(case: TabCase) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, y_train, X_test), float32 features."""
    from sklearn.datasets import make_classification, make_regression
    n = N_TRAIN + N_TEST
    f = case.n_features
    if case.task == "reg":
        X, y = make_regression(n_samples=n, n_features=f, n_informative=min(6, f), noise=10.0,
                               random_state=case.seed)
    else:
        X, y = make_classification(n_samples=n, n_features=f, n_informative=min(6, f),
                                   n_redundant=min(2, f - min(6, f)),
                                   n_classes=3 if case.task == "clf" else 2,
                                   random_state=case.seed)
    rng = np.random.default_rng(case.seed + 1)
    for col in case.categorical:  # integer codes derived from quantiles: they carry signal
        k = 3 + col % 3
        edges = np.quantile(X[:, col], np.linspace(0, 1, k + 1)[1:-1])
        X[:, col] = np.searchsorted(edges, X[:, col])
    if case.nan:
        X[rng.random(X.shape) < 0.05] = np.nan
    X = X.astype(np.float32)
    return X[:N_TRAIN], y[:N_TRAIN], X[N_TRAIN:]


# ---------------------------------------------------------------- estimators

def _sk():
    import sklearn.compose as compose
    import sklearn.ensemble as ens
    import sklearn.impute as impute
    import sklearn.linear_model as lin
    import sklearn.naive_bayes as nb
    import sklearn.neighbors as nbr
    import sklearn.neural_network as nn
    import sklearn.pipeline as pipe
    import sklearn.preprocessing as pre
    import sklearn.svm as svm
    import sklearn.tree as tree
    import sklearn.decomposition as dec
    return locals()


def logreg():
    m = _sk()
    return m["lin"].LogisticRegression(max_iter=1000, random_state=0)


def scaler_logreg():
    m = _sk()
    return m["pipe"].Pipeline([("scale", m["pre"].StandardScaler()),
                               ("model", m["lin"].LogisticRegression(max_iter=1000, random_state=0))])


def scaler_mlp_clf():
    m = _sk()
    return m["pipe"].Pipeline([("scale", m["pre"].StandardScaler()),
                               ("model", m["nn"].MLPClassifier(hidden_layer_sizes=(32, 16), max_iter=400, random_state=0))])


def mlp_reg():
    m = _sk()
    return m["pipe"].Pipeline([("scale", m["pre"].StandardScaler()),
                               ("model", m["nn"].MLPRegressor(hidden_layer_sizes=(32,), max_iter=800, random_state=0))])


def rf_clf():
    return _sk()["ens"].RandomForestClassifier(n_estimators=50, max_depth=8, n_jobs=1, random_state=0)


def rf_reg():
    return _sk()["ens"].RandomForestRegressor(n_estimators=50, max_depth=8, n_jobs=1, random_state=0)


def gb_reg():
    return _sk()["ens"].GradientBoostingRegressor(n_estimators=100, max_depth=3, random_state=0)


def gb_clf():
    return _sk()["ens"].GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0)


def hgb_reg():
    return _sk()["ens"].HistGradientBoostingRegressor(max_iter=100, random_state=0)


def dt_reg():
    return _sk()["tree"].DecisionTreeRegressor(max_depth=10, random_state=0)


def ridge():
    return _sk()["lin"].Ridge(alpha=1.0)


def linreg():
    return _sk()["lin"].LinearRegression()


def svc():
    m = _sk()
    return m["pipe"].Pipeline([("scale", m["pre"].StandardScaler()),
                               ("model", m["svm"].SVC(C=1.0, probability=True, random_state=0))])


def svr():
    m = _sk()
    return m["pipe"].Pipeline([("scale", m["pre"].StandardScaler()),
                               ("model", m["svm"].SVR(C=50.0, epsilon=1.0))])


def knn():
    return _sk()["nbr"].KNeighborsClassifier(n_neighbors=5, n_jobs=1)


def imputer_pipeline():
    m = _sk()
    return m["pipe"].Pipeline([("impute", m["impute"].SimpleImputer(strategy="median")),
                               ("scale", m["pre"].StandardScaler()),
                               ("model", m["lin"].LogisticRegression(max_iter=1000, random_state=0))])


def column_onehot():
    m = _sk()
    ct = m["compose"].ColumnTransformer([
        ("num", m["pre"].StandardScaler(), [0, 1, 2, 3, 4, 5]),
        ("cat", m["pre"].OneHotEncoder(handle_unknown="ignore", sparse_output=False), [6, 7]),
    ])
    return m["pipe"].Pipeline([("columns", ct), ("model", m["lin"].Ridge(alpha=1.0))])


def normalizer_pca():
    m = _sk()
    return m["pipe"].Pipeline([("norm", m["pre"].Normalizer()),
                               ("pca", m["dec"].PCA(n_components=6, random_state=0)),
                               ("model", m["lin"].LogisticRegression(max_iter=1000, random_state=0))])


def binarizer_nb():
    m = _sk()
    return m["pipe"].Pipeline([("bin", m["pre"].Binarizer(threshold=0.0)),
                               ("model", m["nb"].BernoulliNB())])


def lgbm_clf():
    import lightgbm
    return lightgbm.LGBMClassifier(n_estimators=60, num_leaves=15, random_state=0, n_jobs=1,
                                   deterministic=True, verbose=-1)


def lgbm_reg():
    import lightgbm
    return lightgbm.LGBMRegressor(n_estimators=60, num_leaves=15, random_state=0, n_jobs=1,
                                  deterministic=True, verbose=-1)


def xgb_clf():
    import xgboost
    return xgboost.XGBClassifier(n_estimators=60, max_depth=4, random_state=0, n_jobs=1,
                                 tree_method="hist")


def xgb_reg():
    import xgboost
    return xgboost.XGBRegressor(n_estimators=60, max_depth=4, random_state=0, n_jobs=1,
                                tree_method="hist")


TREE = dict(atol=1e-5, rtol=1e-5)

CASES = [
    TabCase("sklearn-logreg", "ci", "clf", 10, logreg, seed=1,
            notes="LogisticRegression, 3 classes, 10 features"),
    TabCase("sklearn-logreg-zipmap", "ci", "clf", 10, logreg, zipmap=True, seed=1,
            notes="The same LogisticRegression exported WITH skl2onnx's default ZipMap: "
                  "output_probability is a sequence of maps (int64 -> float), not a tensor. "
                  "Kept to check that pack refuses it with a clear message."),
    TabCase("sklearn-scaler-logreg", "full", "clf", 12, scaler_logreg, seed=2,
            notes="Pipeline StandardScaler -> LogisticRegression (3 classes)"),
    TabCase("sklearn-scaler-mlp-clf", "ci", "clf", 12, scaler_mlp_clf, seed=3,
            notes="Pipeline StandardScaler -> MLPClassifier(32,16), 3 classes"),
    TabCase("sklearn-mlp-reg", "full", "reg", 8, mlp_reg, seed=4, atol=1e-4, rtol=1e-4,
            notes="Pipeline StandardScaler -> MLPRegressor(32)"),
    TabCase("sklearn-rf-clf", "full", "clf", 10, rf_clf, seed=5, **TREE,
            notes="RandomForestClassifier(50 trees, depth 8), 3 classes: TreeEnsembleClassifier"),
    TabCase("sklearn-rf-reg", "full", "reg", 10, rf_reg, seed=6, **TREE,
            notes="RandomForestRegressor(50 trees, depth 8): TreeEnsembleRegressor"),
    TabCase("sklearn-gb-reg", "full", "reg", 10, gb_reg, seed=7, **TREE,
            notes="GradientBoostingRegressor(100 trees, depth 3)"),
    TabCase("sklearn-gb-clf", "full", "clf2", 10, gb_clf, seed=8, **TREE,
            notes="GradientBoostingClassifier(100 trees), binary"),
    TabCase("sklearn-hgb-reg", "full", "reg", 10, hgb_reg, seed=9, **TREE,
            notes="HistGradientBoostingRegressor(100 iterations)"),
    TabCase("sklearn-dt-reg", "full", "reg", 10, dt_reg, seed=10, **TREE,
            notes="DecisionTreeRegressor(depth 10)"),
    TabCase("sklearn-ridge", "full", "reg", 10, ridge, seed=11,
            notes="Ridge(alpha=1): a single LinearRegressor op"),
    TabCase("sklearn-linreg", "full", "reg", 6, linreg, seed=12,
            notes="LinearRegression"),
    TabCase("sklearn-svc", "full", "clf", 8, svc, seed=13, atol=1e-4, rtol=1e-4,
            notes="Pipeline StandardScaler -> SVC(rbf, probability=True), 3 classes: "
                  "SVMClassifier with Platt scaling"),
    TabCase("sklearn-svr", "full", "reg", 8, svr, seed=14, atol=1e-4, rtol=1e-4,
            notes="Pipeline StandardScaler -> SVR(rbf, C=50): SVMRegressor"),
    TabCase("sklearn-knn-clf", "full", "clf", 6, knn, seed=15, atol=1e-6, rtol=1e-6,
            notes="KNeighborsClassifier(5): the converter builds distances (a Scan) + TopK + "
                  "ArrayFeatureExtractor/voting; the 1000 training rows are an initializer. "
                  "Some rows have tied votes (e.g. 2-2-1): probabilities are exact vote "
                  "fractions and the label is ArgMax's first maximum"),
    TabCase("sklearn-imputer-pipeline", "full", "clf", 10, imputer_pipeline, nan=True, seed=16,
            notes="Pipeline SimpleImputer(median) -> StandardScaler -> LogisticRegression; 5 % "
                  "of the values (train and test) are NaN, so the test input contains NaN"),
    TabCase("sklearn-column-onehot", "full", "reg", 8, column_onehot, categorical=(6, 7), seed=17,
            notes="ColumnTransformer(StandardScaler on columns 0-5, OneHotEncoder on columns "
                  "6-7) -> Ridge. Columns 6 and 7 hold integer category codes (0..2 / 0..3) "
                  "stored as float32 in the single numeric input; no string tensors"),
    TabCase("sklearn-normalizer-pca", "full", "clf", 10, normalizer_pca, seed=18,
            notes="Pipeline Normalizer(l2) -> PCA(6) -> LogisticRegression"),
    TabCase("sklearn-binarizer-nb", "full", "clf2", 10, binarizer_nb, seed=19, atol=1e-5, rtol=1e-4,
            notes="Pipeline Binarizer(0) -> BernoulliNB"),
    TabCase("lgbm-clf", "ci", "clf", 10, lgbm_clf, converter="lightgbm", seed=20, **TREE,
            notes="LGBMClassifier(60 trees, 15 leaves), 3 classes, onnxmltools zipmap=False"),
    TabCase("lgbm-reg", "ci", "reg", 10, lgbm_reg, converter="lightgbm", seed=21, **TREE,
            notes="LGBMRegressor(60 trees, 15 leaves)"),
    TabCase("xgb-clf", "full", "clf2", 10, xgb_clf, converter="xgboost", seed=22, **TREE,
            notes="XGBClassifier(60 trees, depth 4, hist), binary"),
    TabCase("xgb-reg", "full", "reg", 10, xgb_reg, converter="xgboost", seed=23, **TREE,
            notes="XGBRegressor(60 trees, depth 4, hist)"),
]


def source(case: TabCase) -> str:
    import sklearn
    lib = {"skl2onnx": "scikit-learn==%s + skl2onnx==%s",
           "lightgbm": "lightgbm==%s + onnxmltools==%s",
           "xgboost": "xgboost-cpu==%s + onnxmltools==%s"}[case.converter]
    if case.converter == "skl2onnx":
        import skl2onnx
        v = (sklearn.__version__, skl2onnx.__version__)
    else:
        import onnxmltools
        mod = __import__(case.converter)
        v = (mod.__version__, onnxmltools.__version__)
    return "trained here: " + lib % v + f" on synthetic {'make_regression' if case.task == 'reg' else 'make_classification'} data (seed {case.seed})"


_PATCHED = False


def _patch_skl2onnx_bool_attributes() -> None:
    """skl2onnx 1.20 passes the HistGradientBoosting trees' per-node missing-value flags as
    numpy uint8 / bool scalars, which onnx 1.23's make_attribute rejects for an INTS attribute
    ("Expected an int, got a boolean"). Cast such lists to Python ints before the node is made;
    the values and the resulting ONNX are those the converter meant."""
    global _PATCHED
    if _PATCHED:
        return
    from skl2onnx.common._container import ModelComponentContainer
    orig = ModelComponentContainer.add_node

    def add_node(self, op_type, inputs, outputs, *args, **attrs):
        for k, v in list(attrs.items()):
            if (isinstance(v, (list, tuple)) and v
                    and all(isinstance(e, (bool, np.bool_, np.integer)) for e in v)):
                attrs[k] = [int(e) for e in v]
        return orig(self, op_type, inputs, outputs, *args, **attrs)

    ModelComponentContainer.add_node = add_node
    _PATCHED = True


def train_and_export(case: TabCase):
    """Fit the estimator and return (onnx ModelProto, X_test)."""
    import warnings
    from sklearn.exceptions import ConvergenceWarning
    with warnings.catch_warnings():
        # a not fully converged MLP/LogisticRegression is still a fixed, valid model
        warnings.simplefilter("ignore", ConvergenceWarning)
        # SVC(probability=True) is deprecated in scikit-learn 1.9 but skl2onnx exports it
        warnings.simplefilter("ignore", FutureWarning)
        return _train_and_export(case)


def _train_and_export(case: TabCase):
    X, y, X_test = data(case)
    est = case.build()
    est.fit(X, y)
    f = case.n_features
    if case.converter == "skl2onnx":
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import FloatTensorType
        _patch_skl2onnx_bool_attributes()
        opts = None if case.zipmap or case.task == "reg" else {"zipmap": False}
        if opts is not None:  # options apply to the final classifier of a pipeline
            final = est.steps[-1][1] if hasattr(est, "steps") else est
            opts = {id(final): opts}
        onx = to_onnx(est, initial_types=[("input", FloatTensorType([None, f]))],
                      target_opset=TARGET_OPSET, options=opts)
    elif case.converter == "lightgbm":
        from onnxmltools import convert_lightgbm
        from onnxmltools.convert.common.data_types import FloatTensorType
        kw = {} if case.task == "reg" else {"zipmap": False}
        onx = convert_lightgbm(est, initial_types=[("input", FloatTensorType([None, f]))],
                               target_opset=ONNXMLTOOLS_OPSET, **kw)
    else:
        from onnxmltools import convert_xgboost
        from onnxmltools.convert.common.data_types import FloatTensorType
        onx = convert_xgboost(est, initial_types=[("input", FloatTensorType([None, f]))],
                              target_opset=ONNXMLTOOLS_OPSET)
    # Make the bytes reproducible: onnxmltools names the graph with a random uuid, and the
    # order of opset_import entries depends on what was converted before in the process.
    onx.graph.name = case.name.replace("-", "_")
    ops = sorted(((o.domain, o.version) for o in onx.opset_import))
    del onx.opset_import[:]
    for domain, version in ops:
        onx.opset_import.add(domain=domain, version=version)
    onx.doc_string = f"edgeinfer corpus: {case.name}"
    return onx, X_test
