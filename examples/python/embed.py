#!/usr/bin/env python3
"""Run a packed edgeinfer model component from Python, in-process, with wasmtime-py.

Why this file exists: an edgeinfer `.wasm` is a plain WebAssembly component (world
`model-component` in wit/inference.wit), so any component-model host can run it without the
edgeinfer binary. wasmtime-py (PyPI `wasmtime`, pinned in requirements.txt) has the dynamic
component API (`wasmtime.component`) and a built-in WASI 0.2 implementation
(`Linker.add_wasip2()`, `Linker.add_wasi_http()`), which is all a packed model imports.

Library use:

    from embed import Model
    m = Model("model.wasm")
    m.metadata()                       # dict: name, version, inputs, outputs, engine, ...
    m.infer({"x": np.ndarray})         # -> {output name: np.ndarray}

Command line (what test.sh runs): infer on .npy inputs, optionally check against expected
outputs (`<expected>/<sanitised output name>.npy`) and exit 1 on a mismatch:

    python embed.py model.wasm -i x=inputs/x.npy [--expected DIR] [--tolerance 1e-4]

Never call the component's `wizer-initialize` export: it is a pack-time hook.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import wasmtime
import wasmtime.component as wc

INTERFACE = "edgeinfer:inference/model@0.1.0"

# WIT `tensor-type` case <-> little-endian numpy dtype. bool travels as one byte (0/1).
DTYPES = {
    "fp16": "<f2", "fp32": "<f4", "fp64": "<f8", "u8": "u1", "i32": "<i4", "i64": "<i8",
    "bool": "?", "i8": "i1", "i16": "<i2", "u16": "<u2", "u32": "<u4", "u64": "<u8",
}
TYPES = {np.dtype(v): k for k, v in DTYPES.items()}  # bf16 has no numpy dtype


class ModelError(Exception):
    """The component's `error` record: code (wasi-nn error-code) and message."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def _record(**fields) -> wc.Record:
    # wasmtime-py lowers a WIT record from any object with attributes named like its fields.
    r = wc.Record()
    r.__dict__.update(fields)
    return r


def _unwrap(value):
    """Return the ok payload of a WIT `result`, raise ModelError on err.

    wasmtime-py gives a `Variant('ok'|'err', payload)` only when the ok and err payloads are
    the same Python class (metadata: Record vs Record); otherwise it returns the bare payload
    (infer: a list on ok, a Record on err).
    """
    if isinstance(value, wc.Variant):
        if value.tag == "ok":
            return value.payload
        value = value.payload
    elif not isinstance(value, wc.Record):
        return value
    raise ModelError(value.code, value.message)


class Model:
    """One packed model component, one wasmtime Store and instance (not thread-safe)."""

    def __init__(self, path: str | Path, memory_limit_mib: int = 1024, cache: bool = True):
        config = wasmtime.Config()
        # The first compile of a ~10 MB component takes seconds; wasmtime's on-disk cache
        # (~/.cache/wasmtime) makes later loads ~0.1 s.
        config.cache = cache
        self.engine = wasmtime.Engine(config)
        self.component = wc.Component.from_file(self.engine, str(path))
        linker = wc.Linker(self.engine)
        linker.add_wasip2()  # wasi:cli/*, io, clocks, random, filesystem, sockets
        linker.add_wasi_http()  # wasi:http/types for components that also serve HTTP
        self.store = wasmtime.Store(self.engine)
        # No args, env, preopens or inherited stdio: the model needs none of them.
        self.store.set_wasi(wasmtime.WasiConfig())
        self.store.set_limits(memory_size=memory_limit_mib << 20)
        instance = linker.instantiate(self.store, self.component)
        iface = instance.get_export_index(self.store, INTERFACE)
        if iface is None:
            raise ModelError("not-found", f"{path} does not export {INTERFACE}")
        self._metadata = instance.get_func(
            self.store, instance.get_export_index(self.store, "metadata", iface))
        self._infer = instance.get_func(
            self.store, instance.get_export_index(self.store, "infer", iface))

    def metadata(self) -> dict:
        m = _unwrap(self._metadata(self.store))

        def info(t):  # dimension variant: fixed(u64) -> int, free(string) -> str
            return {"name": t.name, "type": t.ty, "shape": list(t.shape)}

        return {"name": m.name, "version": m.version, "engine": m.engine,
                "preinitialized": m.preinitialized,
                "inputs": [info(t) for t in m.inputs], "outputs": [info(t) for t in m.outputs],
                "properties": {k: v for k, v in m.properties}}

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        args = []
        for name, array in inputs.items():
            array = np.asarray(array)
            ty = TYPES.get(array.dtype.newbyteorder("<"))
            if ty is None:
                raise ModelError("invalid-argument", f"input `{name}`: unsupported dtype {array.dtype}")
            data = np.ascontiguousarray(array, dtype=DTYPES[ty]).tobytes()
            args.append(_record(name=name, tensor=_record(
                dimensions=[int(d) for d in array.shape], ty=ty, data=data)))
        outputs = _unwrap(self._infer(self.store, args))
        result = {}
        for o in outputs:
            t = o.tensor
            if t.ty not in DTYPES:
                raise ModelError("unsupported-operation", f"output `{o.name}`: {t.ty} has no numpy dtype")
            result[o.name] = np.frombuffer(t.data, dtype=DTYPES[t.ty]).reshape(t.dimensions)
        return result


def sanitise(name: str) -> str:
    """File name of a tensor, as in models/README.md: [^A-Za-z0-9._-] -> _."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="packed model component (.wasm)")
    ap.add_argument("-i", "--input", action="append", default=[], metavar="NAME=FILE",
                    help="an input .npy (NAME=FILE, or FILE for a one-input model)")
    ap.add_argument("-o", "--output-dir", help="write each output to DIR/<name>.npy")
    ap.add_argument("--expected", help="directory of expected <output>.npy to compare with")
    ap.add_argument("--tolerance", type=float, default=1e-4, help="max abs difference [1e-4]")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    model = Model(args.model)
    t1 = time.perf_counter()
    meta = model.metadata()
    inputs = {}
    for spec in args.input:
        name, sep, file = spec.partition("=")
        if not sep:
            if len(meta["inputs"]) != 1:
                ap.error(f"{spec}: the model has {len(meta['inputs'])} inputs, use NAME=FILE")
            name, file = meta["inputs"][0]["name"], spec
        inputs[name] = np.load(file)
    t2 = time.perf_counter()
    outputs = model.infer(inputs)
    t3 = time.perf_counter()

    print(json.dumps({"metadata": meta, "load_seconds": round(t1 - t0, 3),
                      "infer_seconds": round(t3 - t2, 3)}))
    ok = True
    for name, y in outputs.items():
        line = f"{name} {y.dtype} {list(y.shape)}"
        if args.output_dir:
            Path(args.output_dir).mkdir(parents=True, exist_ok=True)
            np.save(Path(args.output_dir) / f"{sanitise(name)}.npy", y)
        if args.expected:
            e = np.load(Path(args.expected) / f"{sanitise(name)}.npy")
            if e.shape != y.shape:
                ok = False
                line += f" MISMATCH shape, expected {list(e.shape)}"
            else:
                diff = float(np.max(np.abs(y.astype(np.float64) - e.astype(np.float64)))) if y.size else 0.0
                good = diff <= args.tolerance
                ok &= good
                line += f" max|diff| {diff:.3g} {'ok' if good else 'MISMATCH'} (tolerance {args.tolerance:g})"
        print(line)
    if args.expected:
        print("embed: outputs match the reference" if ok else "embed: MISMATCH", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ModelError as e:
        print(f"embed: model error: {e}", file=sys.stderr)
        sys.exit(2)
