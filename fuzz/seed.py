#!/usr/bin/env python3
"""Writes the seed inputs of each fuzz target under fuzz/corpus/<target>/ (run once; the
fuzzer then grows the corpus, and `cargo fuzz cmin` keeps it small). Seeds are the files and
requests the real tools make: the test models and their .npy inputs, OIP bodies in both
encodings, a pack payload."""
import json, pathlib, struct

ROOT = pathlib.Path(__file__).resolve().parent
MODELS = ROOT.parent / "models" / "test"


def put(target: str, name: str, data: bytes) -> None:
    d = ROOT / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / f"seed-{name}").write_bytes(data)


def oip_json(dtype="FP32", shape=(1, 4), data=(1.0, 2.0, 3.0, 4.0), **extra) -> bytes:
    body = {"id": "a", "inputs": [{"name": "x", "shape": list(shape), "datatype": dtype,
                                   "data": list(data)}], **extra}
    return json.dumps(body).encode()


def oip_binary(shape=(1, 4)) -> tuple[bytes, int]:
    raw = struct.pack(f"<{shape[0] * shape[1]}f", *range(shape[0] * shape[1]))
    head = json.dumps({"inputs": [{"name": "x", "shape": list(shape), "datatype": "FP32",
                                   "parameters": {"binary_data_size": len(raw)}}],
                       "outputs": [{"name": "doubled", "parameters": {"binary_data": True}}]})
    return head.encode() + raw, len(head)


def main() -> None:
    # oip_request: first byte even = JSON, odd = binary with a u16 JSON length.
    put("oip_request", "json", b"\0" + oip_json())
    put("oip_request", "json-int64", b"\0" + oip_json("INT64", (2,), (1, -2)))
    put("oip_request", "json-bool", b"\0" + oip_json("BOOL", (2,), (True, False)))
    put("oip_request", "json-bytes", b"\0" + oip_json("BYTES", (1,), ("abc",)))
    put("oip_request", "json-nested", b"\0" + oip_json(data=[[1.0, 2.0], [3.0, 4.0]],
                                                       parameters={"binary_data_output": True}))
    body, n = oip_binary()
    put("oip_request", "binary", b"\1" + struct.pack("<H", n) + body)

    # npy_file: the test models' inputs and outputs.
    for npy in sorted(MODELS.glob("*/*/*.npy")):
        if npy.stat().st_size <= 4096:
            put("npy_file", f"{npy.parent.parent.name}-{npy.name}", npy.read_bytes())

    # pack_payload: magic, manifest length (u32 LE), manifest JSON, NNEF bytes.
    manifest = json.dumps({"name": "m", "version": "1", "preinit": True, "input_names": ["x"],
                           "output_names": ["y"], "warmup_symbols": {"N": 2},
                           "properties": {"labels": "a\nb"}}).encode()
    put("pack_payload", "payload", b"EIPK" + struct.pack("<I", len(manifest)) + manifest + b"nnef")

    # onnx_model: every small test model, the hostile ones included.
    for onnx in sorted(MODELS.glob("*/model.onnx")):
        put("onnx_model", onnx.parent.name, onnx.read_bytes())

    # engine_infer: arbitrary::Unstructured bytes; a few that decode to a valid call.
    put("engine_infer", "zeros", bytes(64))
    put("engine_infer", "ramp", bytes(range(256)))

    # engine_http: method index, path, NUL, body.
    infer = b"\0/v2/models/shape_out/infer\0"
    put("engine_http", "infer-json", infer + oip_json(shape=(1, 4)))
    body, n = oip_binary((2, 4))
    put("engine_http", "infer-binary", infer + body[:n] + b"\n" + body[n:])
    put("engine_http", "metadata", b"\1/v2/models/shape_out\0")
    put("engine_http", "ready", b"\1/v2/models/shape_out/versions/1/ready\0")
    put("engine_http", "server", b"\1/v2\0")


if __name__ == "__main__":
    main()
