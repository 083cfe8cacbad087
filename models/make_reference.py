#!/usr/bin/env python3
"""Write reference inputs/outputs for the real models under models/real/<name>/.

For each model (already extracted by models/fetch) this writes:
    inputs/<input_name>.npy     meaningful, deterministic input data
    expected/<output_name>.npy  output of onnxruntime (CPUExecutionProvider)
    request.json                the inputs as an OIP v2 (KServe v2) infer request body
    io.json                     inputs/outputs (name, dtype, shape as onnxruntime
                                reports them) + the .npy file for each
and for the image models a sample.png of the rendered input.

Tensor names can contain characters that are not valid in a file name
(ppocr-cls's output is "save_infer_model/scale_0.tmp_1"); the .npy file name is
then the name with every character outside [A-Za-z0-9._-] replaced by "_".
io.json's "file" field is authoritative.

Usage: make_reference.py [--force] [MODELS_REAL_DIR]
Skips a model whose io.json is newer than its model.onnx and this script, unless --force.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageDraw, ImageFont

HERE = os.path.dirname(os.path.abspath(__file__))

# onnxruntime type string -> numpy dtype name
ORT_TO_NUMPY = {
    "tensor(float)": "float32", "tensor(double)": "float64", "tensor(float16)": "float16",
    "tensor(int8)": "int8", "tensor(int16)": "int16", "tensor(int32)": "int32",
    "tensor(int64)": "int64", "tensor(uint8)": "uint8", "tensor(uint16)": "uint16",
    "tensor(uint32)": "uint32", "tensor(uint64)": "uint64", "tensor(bool)": "bool",
}


def log(msg: str) -> None:
    print(f"make_reference: {msg}", file=sys.stderr)


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def session(path: str) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1  # modest CPU, and deterministic
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed-size bitmap font only
        return ImageFont.load_default()


# ---------------------------------------------------------------- ppocr-cls

CLS_H, CLS_W = 48, 192
CLS_LABELS = ["0", "180"]
CLS_TEXT = "edgeinfer 2026"


def render_text_line(text: str, size: int = 32, margin: int = 6) -> Image.Image:
    f = font(size)
    x0, y0, x1, y1 = ImageDraw.Draw(Image.new("RGB", (1, 1))).textbbox((0, 0), text, font=f)
    img = Image.new("RGB", (x1 - x0 + 2 * margin, y1 - y0 + 2 * margin), "white")
    ImageDraw.Draw(img).text((margin - x0, margin - y0), text, fill="black", font=f)
    return img


def cls_preprocess(img: Image.Image) -> np.ndarray:
    """PaddleOCR TextClassifier.resize_norm_img: [3,48,192] float32."""
    w, h = img.size
    resized_w = min(CLS_W, int(math.ceil(CLS_H * w / h)))
    resized = img.convert("RGB").resize((resized_w, CLS_H), Image.BILINEAR)
    x = np.asarray(resized, dtype=np.float32).transpose(2, 0, 1) / 255.0
    x = (x - 0.5) / 0.5
    out = np.zeros((3, CLS_H, CLS_W), dtype=np.float32)  # padding is 0 after normalisation
    out[:, :, :resized_w] = x
    return out


def inputs_ppocr_cls(sess: ort.InferenceSession, d: str) -> dict[str, np.ndarray]:
    img = render_text_line(CLS_TEXT)
    img.save(os.path.join(d, "sample.png"))
    batch = np.stack([cls_preprocess(img), cls_preprocess(img.rotate(180))])
    return {sess.get_inputs()[0].name: batch}


def check_ppocr_cls(outputs: dict[str, np.ndarray]) -> dict:
    probs = next(iter(outputs.values()))
    preds = [CLS_LABELS[int(i)] for i in probs.argmax(axis=1)]
    for tag, p, row in zip(["upright", "rotated 180"], preds, probs):
        log(f"ppocr-cls: {tag}: predicted {p} (p0={row[0]:.4f}, p180={row[1]:.4f})")
    if preds != ["0", "180"]:
        raise SystemExit(f"ppocr-cls: expected predictions ['0', '180'], got {preds}")
    return {"labels": CLS_LABELS, "predictions": preds, "text": CLS_TEXT,
            "batch": ["upright", "rotated 180"]}


# ---------------------------------------------------------------- ppocr-det

DET_SIZE = 320
DET_LINES = [(12, 20, "edgeinfer", 40), (12, 90, "ONNX in WebAssembly", 26),
             (40, 150, "2026-01-01 12:34", 28), (12, 230, "Hello, world!", 34)]
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def inputs_ppocr_det(sess: ort.InferenceSession, d: str) -> dict[str, np.ndarray]:
    img = Image.new("RGB", (DET_SIZE, DET_SIZE), "white")
    draw = ImageDraw.Draw(img)
    for x, y, text, size in DET_LINES:
        draw.text((x, y), text, fill="black", font=font(size))
    img.save(os.path.join(d, "sample.png"))
    x = np.asarray(img, dtype=np.float32) / 255.0
    x = (x - IMAGENET_MEAN) / IMAGENET_STD
    return {sess.get_inputs()[0].name: x.transpose(2, 0, 1)[None].astype(np.float32)}


def check_ppocr_det(outputs: dict[str, np.ndarray]) -> dict:
    prob = next(iter(outputs.values()))[0, 0]
    text_px = float((prob > 0.3).mean())
    log(f"ppocr-det: {text_px:.1%} of pixels have text probability > 0.3 (max {prob.max():.3f})")
    if not 0.01 < text_px < 0.6:
        raise SystemExit("ppocr-det: text map looks wrong")
    return {"text_pixels_over_0.3": round(text_px, 4), "lines": [t for _, _, t, _ in DET_LINES]}


# ---------------------------------------------------------------- silero-vad

VAD_SR = 16000


def inputs_silero_vad(sess: ort.InferenceSession, d: str) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(16000)
    feeds = {}
    for i in sess.get_inputs():
        dt = np.dtype(ORT_TO_NUMPY[i.type])
        if any(not isinstance(s, int) for s in i.shape):
            raise SystemExit(f"silero-vad: unexpected dynamic shape for {i.name}: {i.shape}")
        shape = tuple(i.shape)
        if i.name in ("sr",):
            feeds[i.name] = np.array(VAD_SR, dtype=dt).reshape(shape)
        elif "state" in i.name or i.name in ("h", "c"):
            feeds[i.name] = np.zeros(shape, dtype=dt)
        else:  # the audio chunk
            n = shape[-1]
            t = np.arange(n) / VAD_SR
            sig = 0.5 * np.sin(2 * np.pi * 440.0 * t) + 0.02 * rng.standard_normal(n)
            feeds[i.name] = sig.astype(dt).reshape(shape)
    return feeds


def check_silero_vad(outputs: dict[str, np.ndarray]) -> dict:
    p = float(np.asarray(outputs["output"]).ravel()[0]) if "output" in outputs else None
    log(f"silero-vad: speech probability for the 440 Hz chunk = {p}")
    return {"signal": "0.5*sin(2*pi*440*t) + 0.02*N(0,1), seed 16000, 16 kHz; state zeros",
            "speech_probability": p}


MODELS = {
    "ppocr-cls": (inputs_ppocr_cls, check_ppocr_cls),
    "ppocr-det": (inputs_ppocr_det, check_ppocr_det),
    "silero-vad": (inputs_silero_vad, check_silero_vad),
}


def describe(meta, file: str, data: np.ndarray) -> dict:
    return {"name": meta.name, "dtype": meta.type, "shape": meta.shape,
            "file": file, "data_dtype": str(data.dtype), "data_shape": list(data.shape)}


OIP_DATATYPES = {"float32": "FP32", "float64": "FP64", "int64": "INT64", "int32": "INT32",
                 "uint8": "UINT8", "bool": "BOOL"}


def write_request(d: str, feeds: dict[str, np.ndarray]) -> None:
    """request.json: the reference inputs as an Open Inference Protocol v2 infer body, for
    `curl -d @request.json .../infer` and the HTTP tests."""
    body = {"id": "reference", "inputs": [
        {"name": k, "shape": list(v.shape), "datatype": OIP_DATATYPES[str(v.dtype)],
         "data": v.reshape(-1).tolist()} for k, v in feeds.items()]}
    with open(os.path.join(d, "request.json.tmp"), "w") as fh:
        json.dump(body, fh, separators=(",", ":"))
    os.replace(os.path.join(d, "request.json.tmp"), os.path.join(d, "request.json"))


def make(name: str, d: str, force: bool) -> None:
    model = os.path.join(d, "model.onnx")
    io_json = os.path.join(d, "io.json")
    if (not force and os.path.exists(io_json)
            and os.path.getmtime(io_json) >= max(os.path.getmtime(model), os.path.getmtime(__file__))):
        log(f"{name}: up to date")
        return
    make_inputs, check = MODELS[name]
    sess = session(model)
    feeds = make_inputs(sess, d)
    assert [i.name for i in sess.get_inputs()] == list(feeds), (name, list(feeds))
    outs = sess.run(None, feeds)
    out_map = {o.name: v for o, v in zip(sess.get_outputs(), outs)}
    notes = check(out_map)

    os.makedirs(os.path.join(d, "inputs"), exist_ok=True)
    os.makedirs(os.path.join(d, "expected"), exist_ok=True)
    desc = {"model": "model.onnx", "model_sha256": sha256_file(model),
            "onnxruntime": ort.__version__, "inputs": [], "outputs": [], "notes": notes}
    for meta in sess.get_inputs():
        f = f"inputs/{safe_name(meta.name)}.npy"
        np.save(os.path.join(d, f), feeds[meta.name])
        desc["inputs"].append(describe(meta, f, feeds[meta.name]))
    for meta in sess.get_outputs():
        f = f"expected/{safe_name(meta.name)}.npy"
        np.save(os.path.join(d, f), out_map[meta.name])
        desc["outputs"].append(describe(meta, f, out_map[meta.name]))
    write_request(d, feeds)
    with open(io_json + ".tmp", "w") as fh:
        json.dump(desc, fh, indent=2)
        fh.write("\n")
    os.replace(io_json + ".tmp", io_json)
    log(f"{name}: wrote io.json, {len(feeds)} input(s), {len(outs)} expected output(s)")


def main(argv: list[str]) -> None:
    force = "--force" in argv
    args = [a for a in argv if a != "--force"]
    root = args[0] if args else os.path.join(HERE, "real")
    for name in MODELS:
        d = os.path.join(root, name)
        if not os.path.exists(os.path.join(d, "model.onnx")):
            raise SystemExit(f"make_reference: {d}/model.onnx missing (run models/fetch)")
        make(name, d, force)


if __name__ == "__main__":
    main(sys.argv[1:])
