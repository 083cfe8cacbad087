#!/usr/bin/env python3
"""Train a scikit-learn pipeline, export it to ONNX, write rows to score and onnxruntime's
scores for them: the model side of examples/sklearn (see README.md there).

    train.py OUT_DIR

OUT_DIR gets model.onnx (StandardScaler + GradientBoostingClassifier on 6 features, 3
classes, exported with skl2onnx, zipmap off), rows.csv (200 rows to score: an `id` column
and f0..f5) and onnxruntime.csv (label and probabilities per row, the reference).
"""
import csv
import os
import sys

import numpy as np
import onnxruntime as ort
from skl2onnx import to_onnx
from sklearn.datasets import make_classification
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

out = sys.argv[1]
os.makedirs(out, exist_ok=True)

X, y = make_classification(n_samples=1200, n_features=6, n_informative=4, n_classes=3,
                           random_state=7)
X = X.astype(np.float32)
model = make_pipeline(StandardScaler(), GradientBoostingClassifier(n_estimators=40, random_state=7))
model.fit(X[:1000], y[:1000])

# zipmap=False: probabilities as a [N, 3] tensor, not a list of dicts.
onx = to_onnx(model, X[:1], options={"zipmap": False}, target_opset={"": 17, "ai.onnx.ml": 3})
with open(os.path.join(out, "model.onnx"), "wb") as f:
    f.write(onx.SerializeToString())

rows = X[1000:]
with open(os.path.join(out, "rows.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["id"] + [f"f{i}" for i in range(rows.shape[1])])
    for i, r in enumerate(rows):
        w.writerow([f"row{i}"] + [repr(float(v)) for v in r])

session = ort.InferenceSession(os.path.join(out, "model.onnx"), providers=["CPUExecutionProvider"])
label, probabilities = session.run(None, {session.get_inputs()[0].name: rows})
with open(os.path.join(out, "onnxruntime.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["id", "label"] + [f"p{k}" for k in range(probabilities.shape[1])])
    for i, (l, p) in enumerate(zip(label, probabilities)):
        w.writerow([f"row{i}", int(l)] + [repr(float(v)) for v in p])
print(f"train: {out}/model.onnx, {len(rows)} rows, sklearn accuracy "
      f"{(model.predict(rows) == y[1000:]).mean():.3f}", file=sys.stderr)
