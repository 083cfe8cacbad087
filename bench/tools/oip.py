"""Helpers for bench/serve.sh: request bodies, answer validation, cold start.

  oip.py bodies OUTDIR               write body.json, body.bin (+ body.bin.hlen),
                                     ref.npy (onnxruntime output on the same row)
  oip.py check URL BODY [--binary]   POST BODY once; the answer must be 200,
                                     argmax must equal the reference label and
                                     every output within --tol of ref.npy
  oip.py coldstart --url URL --body BODY [--binary] [--runs 5] -- CMD...
                                     spawn CMD, POST BODY in a tight loop until
                                     the first 200; print the times (ms) as JSON
  oip.py detect-name BASE CANDIDATE...   first name whose /v2/models/NAME/ready is 200

Uses the standard library plus numpy/onnxruntime (bench/.venv).
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse

MODEL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models", "real", "ppocr-cls")
INPUT_NAME = "x"
OUTPUT_NAME = "save_infer_model/scale_0.tmp_1"


def _post(url: str, body: bytes, binary_hlen: int | None, timeout: float = 10.0):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    headers = {"Content-Type": "application/octet-stream" if binary_hlen is not None else "application/json"}
    if binary_hlen is not None:
        headers["Inference-Header-Content-Length"] = str(binary_hlen)
    try:
        conn.request("POST", u.path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        conn.close()


def cmd_bodies(a):
    import numpy as np
    import onnxruntime as ort
    os.makedirs(a.outdir, exist_ok=True)
    x = np.load(os.path.join(MODEL_DIR, "inputs", "x.npy"))[:1].astype(np.float32)
    sess = ort.InferenceSession(os.path.join(MODEL_DIR, "model.onnx"), providers=["CPUExecutionProvider"])
    ref = sess.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
    np.save(os.path.join(a.outdir, "x1.npy"), x)
    np.save(os.path.join(a.outdir, "ref.npy"), ref)
    tensor = {"name": INPUT_NAME, "shape": list(x.shape), "datatype": "FP32"}
    # JSON body: the flat data as plain JSON numbers (repr of float32 as a
    # Python float keeps every value exact).
    body = {"id": "bench", "inputs": [dict(tensor, data=[float(v) for v in x.reshape(-1)])]}
    with open(os.path.join(a.outdir, "body.json"), "w") as f:
        json.dump(body, f, separators=(",", ":"))
    # Binary tensor extension: JSON header, then the raw little-endian bytes.
    raw = x.astype("<f4").tobytes()
    head = json.dumps({"id": "bench", "inputs": [dict(tensor, parameters={"binary_data_size": len(raw)})]},
                      separators=(",", ":")).encode()
    with open(os.path.join(a.outdir, "body.bin"), "wb") as f:
        f.write(head + raw)
    with open(os.path.join(a.outdir, "body.bin.hlen"), "w") as f:
        f.write(str(len(head)))
    print(json.dumps({"json_bytes": os.path.getsize(os.path.join(a.outdir, "body.json")),
                      "bin_bytes": len(head) + len(raw), "bin_header_bytes": len(head),
                      "elements": int(x.size), "ref": ref.tolist(), "ref_label": int(ref.argmax())}))


def _hlen_for(body_path: str, binary: bool):
    if not binary:
        return None
    with open(body_path + ".hlen") as f:
        return int(f.read().strip())


def _decode_outputs(headers, data):
    import numpy as np
    hl = headers.get("inference-header-content-length")
    if hl is not None:
        n = int(hl)
        head, blob = json.loads(data[:n]), data[n:]
    else:
        head, blob = json.loads(data), b""
    outs, off = {}, 0
    for o in head["outputs"]:
        size = (o.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            arr = np.frombuffer(blob[off:off + size], dtype="<f4")
            off += size
        else:
            arr = np.asarray(o["data"], dtype=np.float32)
        outs[o["name"]] = arr.reshape(o["shape"])
    return head, outs


def cmd_check(a):
    import numpy as np
    with open(a.body, "rb") as f:
        body = f.read()
    ref = np.load(os.path.join(os.path.dirname(a.body), "ref.npy"))
    status, headers, data = _post(a.url, body, _hlen_for(a.body, a.binary))
    if status != 200:
        print(f"FAIL {a.url}: HTTP {status}: {data[:300]!r}")
        return 1
    try:
        head, outs = _decode_outputs(headers, data)
    except Exception as e:  # noqa: BLE001
        print(f"FAIL {a.url}: unparseable answer ({e}): {data[:300]!r}")
        return 1
    if OUTPUT_NAME not in outs:
        print(f"FAIL {a.url}: output {OUTPUT_NAME!r} missing; got {list(outs)}")
        return 1
    got = outs[OUTPUT_NAME]
    if got.shape != ref.shape:
        print(f"FAIL {a.url}: shape {got.shape} != {ref.shape}")
        return 1
    diff = float(np.max(np.abs(got - ref)))
    label, ref_label = int(got.reshape(got.shape[0], -1).argmax(-1)[0]), int(ref.argmax(-1)[0])
    ok = diff <= a.tol and label == ref_label
    print(f"{'OK' if ok else 'FAIL'} {a.url} ({'binary' if a.binary else 'json'}): "
          f"label {label} (ref {ref_label}), max |diff| {diff:.3g} (tol {a.tol}), "
          f"model_name={head.get('model_name')!r} id={head.get('id')!r}")
    return 0 if ok else 1


def _port_free(host: str, port: int) -> bool:
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def cmd_coldstart(a):
    with open(a.body, "rb") as f:
        body = f.read()
    hlen = _hlen_for(a.body, a.binary)
    u = urllib.parse.urlsplit(a.url)
    times = []
    for i in range(a.runs):
        deadline = time.monotonic() + 10
        while not _port_free(u.hostname, u.port):
            if time.monotonic() > deadline:
                print(f"port {u.port} still busy", file=sys.stderr)
                return 1
            time.sleep(0.05)
        t0 = time.perf_counter()
        # Own process group (killed as one), but the caller's session, so a
        # scheduler autogroup weight set by the harness (NICE) applies.
        p = subprocess.Popen(a.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             process_group=0)
        got = None
        try:
            end = t0 + a.timeout
            while time.perf_counter() < end:
                if p.poll() is not None:
                    print(f"server exited with {p.returncode} before answering", file=sys.stderr)
                    return 1
                try:
                    status, _, _ = _post(a.url, body, hlen, timeout=a.timeout)
                except (ConnectionRefusedError, ConnectionResetError, http.client.RemoteDisconnected):
                    time.sleep(0.002)
                    continue
                if status == 200:
                    got = time.perf_counter() - t0
                    break
                time.sleep(0.002)  # e.g. 503 while loading
        finally:
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            except ProcessLookupError:
                pass
        if got is None:
            print(f"no 200 within {a.timeout}s", file=sys.stderr)
            return 1
        times.append(got * 1000)
        time.sleep(0.3)
    print(json.dumps({"runs_ms": [round(t, 1) for t in times], "median_ms": round(statistics.median(times), 1),
                      "min_ms": round(min(times), 1), "max_ms": round(max(times), 1)}))
    return 0


def cmd_detect_name(a):
    u = urllib.parse.urlsplit(a.base)
    for name in a.names:
        try:
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
            conn.request("GET", f"/v2/models/{urllib.parse.quote(name, safe='')}/ready")
            r = conn.getresponse()
            r.read()
            conn.close()
            if r.status == 200:
                print(name)
                return 0
        except OSError:
            pass
    return 1


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd_name", required=True)
    p = sub.add_parser("bodies")
    p.add_argument("outdir")
    p.set_defaults(fn=cmd_bodies)
    p = sub.add_parser("check")
    p.add_argument("url")
    p.add_argument("body")
    p.add_argument("--binary", action="store_true")
    p.add_argument("--tol", type=float, default=1e-4)
    p.set_defaults(fn=cmd_check)
    p = sub.add_parser("coldstart")
    p.add_argument("--url", required=True)
    p.add_argument("--body", required=True)
    p.add_argument("--binary", action="store_true")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("cmd", nargs="+")
    p.set_defaults(fn=cmd_coldstart)
    p = sub.add_parser("detect-name")
    p.add_argument("base")
    p.add_argument("names", nargs="+")
    p.set_defaults(fn=cmd_detect_name)
    a = ap.parse_args()
    sys.exit(a.fn(a) or 0)


if __name__ == "__main__":
    main()
