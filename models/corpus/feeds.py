"""Deterministic test inputs for the wheel models of the corpus.

Each recipe is called as recipe(ctx, **params) where ctx gives the onnxruntime session's
input metadata, the case directory (for a sample.png of rendered images) and a helper to
run *other* corpus models (openWakeWord's heads are fed the real outputs of its front end).
It returns (feeds, choices): feeds maps every graph input name to a numpy array, choices is
a sentence saying which free dims were fixed and how the data was made; it goes to the
case's notes.

Images are rendered with Pillow (text, shapes), audio is sines plus seeded noise, token ids
are seeded random ints below the vocabulary size. Nothing is downloaded.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ORT_TO_NUMPY = {
    "tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
    "tensor(int8)": np.int8, "tensor(int16)": np.int16, "tensor(int32)": np.int32,
    "tensor(int64)": np.int64, "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_,
}
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@dataclass
class Ctx:
    inputs: list                  # onnxruntime NodeArg list
    case_dir: str
    run_model: Callable           # run_model(case_name, feeds) -> list of outputs

    def names(self) -> list[str]:
        return [i.name for i in self.inputs]

    def dtype(self, name: str):
        return ORT_TO_NUMPY[next(i.type for i in self.inputs if i.name == name)]


def font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def save_sample(ctx: Ctx, img: Image.Image) -> None:
    img.save(os.path.join(ctx.case_dir, "sample.png"))


def nchw_imagenet(img: Image.Image) -> np.ndarray:
    x = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    x = (x - IMAGENET_MEAN) / IMAGENET_STD
    return x.transpose(2, 0, 1)[None].astype(np.float32)


# ---------------------------------------------------------------- rendered images

DOC_LINES = [(12, 20, "edgeinfer", 40), (12, 90, "ONNX in WebAssembly", 26),
             (40, 150, "2026-01-01 12:34", 28), (12, 230, "Hello, world!", 34)]


def text_page(w: int, h: int) -> Image.Image:
    """Black text lines on white, scaled to the canvas (the ppocr-det sample of models/)."""
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    s = min(w, h) / 320
    for x, y, text, size in DOC_LINES:
        if y * s < h - 10:
            d.text((x * s, y * s), text, fill="black", font=font(max(10, int(size * s))))
    return img


def text_line(text: str, size: int = 32, margin: int = 6) -> Image.Image:
    f = font(size)
    x0, y0, x1, y1 = ImageDraw.Draw(Image.new("RGB", (1, 1))).textbbox((0, 0), text, font=f)
    img = Image.new("RGB", (x1 - x0 + 2 * margin, y1 - y0 + 2 * margin), "white")
    ImageDraw.Draw(img).text((margin - x0, margin - y0), text, fill="black", font=f)
    return img


def rec_tensor(img: Image.Image, h: int, w: int) -> np.ndarray:
    """PaddleOCR resize_norm_img: keep aspect to height h, (x/255-0.5)/0.5, pad right to w."""
    iw, ih = img.size
    rw = min(w, int(math.ceil(h * iw / ih)))
    x = np.asarray(img.convert("RGB").resize((rw, h), Image.BILINEAR), dtype=np.float32)
    x = (x.transpose(2, 0, 1) / 255.0 - 0.5) / 0.5
    out = np.zeros((3, h, w), dtype=np.float32)
    out[:, :, :rw] = x
    return out


def ocr_det(ctx: Ctx, h: int, w: int):
    img = text_page(w, h)
    save_sample(ctx, img)
    return ({ctx.names()[0]: nchw_imagenet(img)},
            f"batch/height/width free: test input 1x3x{h}x{w}, four lines of black text on "
            "white (Pillow default font), ImageNet mean/std, NCHW")


def ocr_rec(ctx: Ctx, h: int, w: int):
    img = text_line("edgeinfer 2026")
    save_sample(ctx, img)
    x = rec_tensor(img, h, w)[None]
    return ({ctx.names()[0]: x},
            f"batch/width free: test input 1x3x{h}x{w}, 'edgeinfer 2026' rendered black on "
            f"white, resized to height {h}, (x/255-0.5)/0.5, zero padded on the right")


def ocr_cls(ctx: Ctx):
    img = text_line("edgeinfer 2026")
    save_sample(ctx, img)
    x = np.stack([rec_tensor(img, 48, 192), rec_tensor(img.rotate(180), 48, 192)])
    return ({ctx.names()[0]: x},
            "batch/height/width free: test input 2x3x48x192, the text line upright and "
            "rotated 180 degrees, PaddleOCR classifier preprocessing")


def seal_image(size: int) -> Image.Image:
    img = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(img)
    c, r = size / 2, size * 0.42
    red = (200, 30, 30)
    d.ellipse([c - r, c - r, c + r, c + r], outline=red, width=max(3, size // 60))
    f = font(max(12, size // 14))
    text = "EDGEINFER CORPUS SEAL"
    for i, ch in enumerate(text):  # characters along the upper arc
        a = math.pi * (1.1 + 0.8 * i / (len(text) - 1))
        x, y = c + 0.78 * r * math.cos(a), c + 0.78 * r * math.sin(a)
        d.text((x, y), ch, fill=red, font=f, anchor="mm")
    d.regular_polygon((c, c, r * 0.28), 5, fill=red)
    d.text((c, c + r * 0.55), "2026", fill=red, font=f, anchor="mm")
    return img


def seal_det(ctx: Ctx, size: int):
    img = seal_image(size)
    save_sample(ctx, img)
    return ({ctx.names()[0]: nchw_imagenet(img)},
            f"batch/height/width free: test input 1x3x{size}x{size}, a red round seal with "
            "text along the arc, ImageNet mean/std")


def captcha_image(w: int, h: int = 64) -> Image.Image:
    rng = np.random.default_rng(64)
    img = Image.new("RGB", (w, h), (235, 238, 245))
    d = ImageDraw.Draw(img)
    for _ in range(6):
        pts = [tuple(int(v) for v in (rng.integers(0, w), rng.integers(0, h))) for _ in range(2)]
        d.line(pts, fill=tuple(int(v) for v in rng.integers(60, 200, 3)), width=2)
    x = 8
    for ch in "3n7Kx":
        d.text((x, int(rng.integers(4, 14))), ch, fill=tuple(int(v) for v in rng.integers(0, 120, 3)),
               font=font(40))
        x += 28
    return img


def captcha(ctx: Ctx, w: int):
    img = captcha_image(w)
    save_sample(ctx, img)
    g = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
    x = ((g - 0.5) / 0.5)[None, None]
    return ({ctx.names()[0]: x.astype(np.float32)},
            f"image_width free: test input 1x1x64x{w}, captcha-like '3n7Kx' with noise lines "
            "(seed 64), grayscale, (x/255-0.5)/0.5")


def scene(w: int, h: int) -> Image.Image:
    """A simple outdoor scene: sky gradient, sun, hills, a house and a stick person."""
    y = np.linspace(0, 1, h)[:, None, None]
    sky = (np.array([90, 150, 230]) * (1 - y) + np.array([200, 225, 250]) * y)
    img = Image.fromarray(np.broadcast_to(sky, (h, w, 3)).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    d.ellipse([w * 0.72, h * 0.08, w * 0.88, h * 0.24], fill=(250, 210, 60))
    d.ellipse([-w * 0.3, h * 0.6, w * 0.7, h * 1.4], fill=(70, 140, 60))
    d.ellipse([w * 0.3, h * 0.65, w * 1.3, h * 1.5], fill=(60, 120, 50))
    d.rectangle([w * 0.12, h * 0.45, w * 0.38, h * 0.72], fill=(180, 90, 60))
    d.polygon([(w * 0.09, h * 0.46), (w * 0.25, h * 0.32), (w * 0.41, h * 0.46)], fill=(120, 40, 40))
    d.rectangle([w * 0.22, h * 0.58, w * 0.28, h * 0.72], fill=(90, 60, 40))
    px, py = w * 0.62, h * 0.5
    d.ellipse([px - w * 0.03, py - h * 0.1, px + w * 0.03, py - h * 0.04], fill=(230, 190, 160))
    d.rectangle([px - w * 0.035, py - h * 0.04, px + w * 0.035, py + h * 0.08], fill=(40, 80, 160))
    d.line([(px - w * 0.02, py + h * 0.08), (px - w * 0.03, py + h * 0.18)], fill=(30, 30, 30), width=4)
    d.line([(px + w * 0.02, py + h * 0.08), (px + w * 0.03, py + h * 0.18)], fill=(30, 30, 30), width=4)
    return img


def yolo(ctx: Ctx, size: int):
    img = scene(size, size)
    save_sample(ctx, img)
    x = (np.asarray(img, dtype=np.float32) / 255.0).transpose(2, 0, 1)[None]
    return ({ctx.names()[0]: x.astype(np.float32)},
            f"batch/height/width named and free: test input 1x3x{size}x{size}, a rendered "
            "outdoor scene (house, person, sun), RGB/255, NCHW")


def ddddocr_det(ctx: Ctx):
    img = Image.new("RGB", (416, 416), (245, 240, 230))
    d = ImageDraw.Draw(img)
    for i, (ch, x, y) in enumerate([("天", 60, 80), ("地", 250, 60), ("人", 140, 260), ("和", 300, 300)]):
        d.rectangle([x - 10, y - 10, x + 70, y + 70], outline=(120, 120, 120), width=2)
        d.text((x, y), "ABCD"[i], fill=(20, 20, 120), font=font(60))
    save_sample(ctx, img)
    x = np.asarray(img, dtype=np.float32).transpose(2, 0, 1)[None]
    return ({ctx.names()[0]: x},
            "fixed 1x3x416x416: four boxed capital letters on a light background, raw 0..255 "
            "float pixels (YOLOX preprocessing without normalisation), RGB")


def document_page(w: int, h: int) -> Image.Image:
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    d.text((w * 0.2, 30), "Model Coverage Corpus", fill="black", font=font(int(w / 16)))
    y = 100
    for para in range(2):
        for line in range(5):
            d.text((40, y), "lorem ipsum dolor sit amet consectetur " * 2, fill="black", font=font(12))
            y += 18
        y += 16
    d.rectangle([60, y, w - 60, y + 150], outline="black", width=2)          # figure
    d.line([60, y, w - 60, y + 150], fill="gray", width=2)
    d.line([60, y + 150, w - 60, y], fill="gray", width=2)
    d.text((w * 0.35, y + 158), "Figure 1: a figure", fill="black", font=font(12))
    y += 200
    table_image_into(d, 60, y, w - 120, 160, rows=5, cols=4)
    return img


def table_image_into(d: ImageDraw.ImageDraw, x0, y0, tw, th, rows, cols) -> None:
    for r in range(rows + 1):
        d.line([x0, y0 + r * th / rows, x0 + tw, y0 + r * th / rows], fill="black", width=2)
    for c in range(cols + 1):
        d.line([x0 + c * tw / cols, y0, x0 + c * tw / cols, y0 + th], fill="black", width=2)
    for r in range(rows):
        for c in range(cols):
            d.text((x0 + c * tw / cols + 6, y0 + r * th / rows + 6),
                   "name" if r == 0 else f"{r * 10 + c}", fill="black", font=font(14))


def layout(ctx: Ctx):
    img = document_page(608, 800)
    save_sample(ctx, img)
    return ({ctx.names()[0]: nchw_imagenet(img)},
            "fixed 1x3x800x608: a rendered document page (title, two paragraphs, a figure box, "
            "a 5x4 table), ImageNet mean/std")


def table(ctx: Ctx, size: int):
    img = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(img)
    table_image_into(d, 20, 60, size - 40, 300, rows=6, cols=4)
    save_sample(ctx, img)
    return ({ctx.names()[0]: nchw_imagenet(img)},
            f"batch/height/width free: test input 1x3x{size}x{size}, a rendered 6x4 ruled "
            "table with numbers, ImageNet mean/std")


def orientation(ctx: Ctx):
    img = text_page(224, 224).rotate(90, expand=True)
    save_sample(ctx, img)
    return ({ctx.names()[0]: nchw_imagenet(img)},
            "batch free: test input 1x3x224x224, the text page rotated by 90 degrees, "
            "ImageNet mean/std")


def opennsfw(ctx: Ctx):
    img = scene(224, 224)
    save_sample(ctx, img)
    bgr = np.asarray(img, dtype=np.float32)[:, :, ::-1] - np.array([104, 117, 123], np.float32)
    return ({ctx.names()[0]: bgr[None].astype(np.float32)},
            "batch free: test input 1x224x224x3 (NHWC), the rendered outdoor scene, BGR "
            "minus [104,117,123]")


# ---------------------------------------------------------------- text / ids

def bert(ctx: Ctx, seq: int, token_type: bool):
    # Two sequences; the second is padded (attention_mask 0) after 9 tokens. Ids are fixed
    # valid WordPiece ids (< 30522) framed by [CLS]=101 ... [SEP]=102.
    rng = np.random.default_rng(384)
    ids = np.zeros((2, seq), dtype=np.int64)
    mask = np.zeros((2, seq), dtype=np.int64)
    for row, n in enumerate([seq, 9]):
        ids[row, 0], ids[row, n - 1] = 101, 102
        ids[row, 1:n - 1] = rng.integers(1996, 12000, n - 2)
        mask[row, :n] = 1
    feeds = {}
    for name in ctx.names():
        if "mask" in name:
            feeds[name] = mask
        elif "type" in name:
            feeds[name] = np.zeros_like(ids)
        else:
            feeds[name] = ids
    return (feeds, f"batch/sequence free: test input 2x{seq} int64, ids seeded (384) in "
                   "[1996,12000) between [CLS]=101 and [SEP]=102; row 2 has 9 real tokens then "
                   "padding (id 0, attention_mask 0)")


SAMPLE_FILE = (b"#!/usr/bin/env python3\n\"\"\"Example module.\"\"\"\nimport json\nimport sys\n\n\n"
               b"def main(argv):\n    data = {\"name\": argv[0], \"args\": argv[1:]}\n"
               b"    print(json.dumps(data, indent=2))\n    return 0\n\n\n"
               b"if __name__ == \"__main__\":\n    sys.exit(main(sys.argv))\n") * 12
SAMPLE_JSON = b'{"models": [' + b", ".join(
    b'{"name": "m%d", "bytes": %d, "ok": true}' % (i, i * 1000) for i in range(60)) + b"]}\n"


def _padded(b: bytes, n: int, pad: int = 256, left: bool = False) -> list[int]:
    b = list(b[:n]) if not left else list(b[-n:])
    fill = [pad] * (n - len(b))
    return (fill + b) if left else (b + fill)


def magika_v1(ctx: Ctx):
    rows = []
    for f in (SAMPLE_FILE, SAMPLE_JSON):
        s = f.strip()
        mid = len(s) // 2
        rows.append(_padded(s, 512) + _padded(s[max(0, mid - 256):mid + 256], 512)
                    + _padded(s, 512, left=True))
    return ({ctx.names()[0]: np.array(rows, dtype=np.float32)},
            "batch free: test input 2x1536, the beginning, middle and end 512 bytes of a "
            "Python script and of a JSON file as byte values (256 pads)")


def magika_v3(ctx: Ctx):
    rows = [_padded(f.lstrip(), 1024) + _padded(f.rstrip(), 1024, left=True)
            for f in (SAMPLE_FILE, SAMPLE_JSON)]
    return ({ctx.names()[0]: np.array(rows, dtype=np.int32)},
            "batch free: test input 2x2048 int32, first and last 1024 bytes of a Python "
            "script and of a JSON file (256 pads)")


def ids(ctx: Ctx, shape: list, high: list, axis: int | None = None):
    rng = np.random.default_rng(shape[-1])
    name = ctx.names()[0]
    if axis is None:
        x = rng.integers(1, high[0], shape)
    else:
        x = np.stack([rng.integers(1, hi, [shape[0]] + shape[axis + 1:]) for hi in high], axis=axis)
    return ({name: x.astype(ctx.dtype(name))},
            f"free dims fixed: test input {'x'.join(map(str, shape))}, seeded ({shape[-1]}) "
            f"random ids below the vocabulary size(s) {high}")


def deepcut(ctx: Ctx, n: int):
    rng = np.random.default_rng(21)
    a, b = ctx.names()
    return ({a: rng.integers(1, 178, (n, 21)).astype(np.float32),
             b: rng.integers(0, 12, (n, 21)).astype(np.float32)},
            f"batch free: test input {n}x21 for both inputs, seeded (21) char ids < 178 and "
            "char types < 12 stored as float")


def khmersm(ctx: Ctx, seq: int):
    rng = np.random.default_rng(seq)
    x = rng.integers(1, 126, (1, seq)).astype(np.int64)
    return ({"x": x, "mask": np.ones((1, seq), dtype=np.bool_)},
            f"batch/seq free: test input 1x{seq}, seeded ({seq}) ids below 126, mask all true")


# ---------------------------------------------------------------- audio

def tone(n: int, sr: int, freqs, seed: int, amp: float = 0.4, noise: float = 0.02) -> np.ndarray:
    t = np.arange(n) / sr
    sig = np.zeros(n)
    seg = n // len(freqs)
    for i, f in enumerate(freqs):  # consecutive notes with a short fade in/out
        s = slice(i * seg, n if i == len(freqs) - 1 else (i + 1) * seg)
        env = np.minimum(1, np.minimum(np.arange(s.stop - s.start), np.arange(s.stop - s.start)[::-1]) / (0.01 * sr))
        sig[s] = amp * env * np.sin(2 * np.pi * f * t[s])
    return sig + noise * np.random.default_rng(seed).standard_normal(n)


def basic_pitch(ctx: Ctx):
    x = tone(43844, 22050, [440.0, 523.25, 659.25], seed=22050)
    return ({ctx.names()[0]: x.astype(np.float32)[None, :, None]},
            "batch free: test input 1x43844x1, 2 s at 22.05 kHz: notes A4, C5, E5 (0.4 "
            "amplitude sines) + 0.02 N(0,1) noise (seed 22050)")


OWW_SECONDS = 4.0


def oww_signal() -> np.ndarray:
    return tone(int(16000 * OWW_SECONDS), 16000, [300.0, 450.0, 600.0, 380.0], seed=16000)


def oww_audio(ctx: Ctx, samples: int):
    x = oww_signal()[:samples] * 32767  # openWakeWord feeds int16-scaled float audio
    return ({ctx.names()[0]: x.astype(np.float32)[None]},
            f"batch/samples free: test input 1x{samples}, 16 kHz tones (300/450/600 Hz) + "
            "noise (seed 16000), scaled to the int16 range as openWakeWord does")


def oww_mel_frames(ctx: Ctx) -> np.ndarray:
    audio = (oww_signal() * 32767).astype(np.float32)[None]  # openWakeWord feeds int16-scaled
    mel = ctx.run_model("oww-melspectrogram", {"input": audio})[0]  # [time,1,frames,32]
    return np.squeeze(mel) / 10.0 + 2.0                               # openWakeWord's transform


def oww_embedding(ctx: Ctx):
    mel = oww_mel_frames(ctx)
    x = mel[-76:][None, :, :, None].astype(np.float32)
    return ({ctx.names()[0]: x},
            "batch free: test input 1x76x32x1, the last 76 frames of oww-melspectrogram's "
            "output for 4 s of 16 kHz tones (int16 scale), /10+2 as openWakeWord does")


def oww_head(ctx: Ctx, frames: int):
    mel = oww_mel_frames(ctx)
    windows = [mel[i:i + 76] for i in range(0, mel.shape[0] - 75, 8)]
    emb = ctx.run_model("oww-embedding", {"input_1": np.stack(windows)[:, :, :, None].astype(np.float32)})[0]
    x = emb.reshape(len(windows), 96)[-frames:][None].astype(np.float32)
    return ({ctx.names()[0]: x},
            f"fixed [1,{frames},96]: the last {frames} oww-embedding vectors (76-frame windows, "
            "stride 8) of 4 s of synthetic tones, computed with onnxruntime")


def silero(ctx: Ctx, chunk: int, state: str):
    x = tone(chunk, 16000, [440.0], seed=16000, amp=0.5)
    feeds = {}
    for name in ctx.names():
        if name == "sr":
            feeds[name] = np.array(16000, dtype=np.int64)
        elif name in ("h", "c"):
            feeds[name] = np.zeros((2, 1, 64), dtype=np.float32)
        elif name == "state":
            feeds[name] = np.zeros((2, 1, 128), dtype=np.float32)
        else:
            feeds[name] = x.astype(np.float32)[None]
    what = {"hc": "h/c zeros [2,1,64]", "state": "state zeros [2,1,128]"}[state]
    return (feeds, f"batch/sequence free: test input 1x{chunk}, 0.5 sin(2 pi 440 t) + 0.02 "
                   f"N(0,1) at 16 kHz (seed 16000); {what}"
                   + ("; sr = 16000 (int64 scalar)" if "sr" in feeds else ""))


def silero_seq(ctx: Ctx, chunks: int):
    sig = tone(512 * chunks + 64, 16000, [440.0, 880.0], seed=16000, amp=0.5).astype(np.float32)
    x = np.stack([sig[i * 512:i * 512 + 576] for i in range(chunks)])
    z = np.zeros((1, 1, 128), dtype=np.float32)
    return ({"input": x, "h": z, "c": z},
            f"sequence_length free: test input {chunks}x576 (64 context + 512 new samples per "
            "row, overlapping) of 440/880 Hz tones + noise at 16 kHz; h/c zeros")


RECIPES = {f.__name__: f for f in [
    ocr_det, ocr_rec, ocr_cls, seal_det, captcha, yolo, ddddocr_det, layout, table, orientation,
    opennsfw, bert, magika_v1, magika_v3, ids, deepcut, khmersm, basic_pitch, oww_audio,
    oww_embedding, oww_head, silero, silero_seq]}
