#!/usr/bin/env python3
"""Compare `edgeinfer batch` scores (scores.csv) with onnxruntime's (onnxruntime.csv): labels
exactly, probabilities within 1e-5. Exits 1 on any difference."""
import csv
import sys

ours_path, ref_path = sys.argv[1], sys.argv[2]
ours = {r["id"]: r for r in csv.DictReader(open(ours_path))}
ref = list(csv.DictReader(open(ref_path)))
assert len(ours) == len(ref), f"{len(ours)} scored rows, {len(ref)} expected"
worst = 0.0
for r in ref:
    o = ours[r["id"]]
    # edgeinfer batch writes one column per value: label, probabilities_0.._2
    if int(o["label"]) != int(r["label"]):
        sys.exit(f"{r['id']}: label {o['label_0']}, onnxruntime {r['label']}")
    for k in range(3):
        worst = max(worst, abs(float(o[f"probabilities_{k}"]) - float(r[f"p{k}"])))
if worst > 1e-5:
    sys.exit(f"probabilities differ from onnxruntime by {worst:.2e} (tolerance 1e-5)")
print(f"check: {len(ref)} rows, labels equal, probabilities within {worst:.1e} of onnxruntime")
