"""One-row OIP JSON request for a corpus model: the first row of each reference input.

    python row_body.py models/corpus/<name> OUT.json [ROWS]

Every input of the model must start with its batch dim (what `edgeinfer serve --max-batch`
joins); ROWS (default 1) rows are taken, repeating the first when the reference has fewer.
"""
import json
import sys
from pathlib import Path

import numpy as np

OIP = {"float32": "FP32", "float64": "FP64", "int64": "INT64", "int32": "INT32",
       "uint8": "UINT8", "bool": "BOOL"}


def main() -> None:
    case_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
    rows = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    case = json.loads((case_dir / "case.json").read_text())
    inputs = []
    for spec in case["inputs"]:
        x = np.load(case_dir / spec["file"])
        x = np.concatenate([x[:1]] * rows) if len(x) < rows else x[:rows]
        inputs.append({"name": spec["name"], "shape": list(x.shape),
                       "datatype": OIP[str(x.dtype)], "data": x.flatten().tolist()})
    out.write_text(json.dumps({"inputs": inputs}))


if __name__ == "__main__":
    main()
