#!/usr/bin/env python3
"""Platform fit of every packed corpus model: `edgeinfer fit --json` on the components that
scripts/coverage.sh left in target/coverage/, each on its corpus inputs (what the coverage
table measures), and the table below the marker line of deploy/fastly/README.md.

    scripts/coverage.sh && scripts/fit-corpus.py [--runs 5]
"""
import argparse
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
MARKER = "<!-- table: scripts/fit-corpus.py writes everything below this line -->"
PLATFORMS = ["Fastly Compute", "Fermyon / Akamai Functions (Spin)", "Cloudflare Workers"]


def baked_inputs(name):
    """Inputs a model's pack flags bake in with --input-value (no longer inputs)."""
    baked = set()
    for line in (ROOT / "tests/coverage/flags.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith(name + ":"):
            words = line.split(":", 1)[1].split()
            for flag, value in zip(words, words[1:]):
                if flag == "--input-value":
                    baked.add(value.split("=")[0])
    return baked


def fit(case_dir, wasm, runs):
    case = json.loads((case_dir / "case.json").read_text())
    skip = baked_inputs(case["name"])
    args = [str(ROOT / "target/release/edgeinfer"), "fit", "--json", "--runs", str(runs), str(wasm)]
    for i in case["inputs"]:
        if i["name"] not in skip:
            args += ["-i", f"{i['name']}={case_dir / i['file']}"]
    out = subprocess.run(args, capture_output=True, text=True)
    if out.returncode != 0:
        return case, None, out.stderr.strip().splitlines()[-1]
    return case, json.loads(out.stdout), None


def cell(report, platform):
    p = next(p for p in report["platforms"] if p["platform"] == platform)
    if p["fits"]:
        return "fits"
    over = [c["measure"].replace("_bytes", "").replace("cpu_micros", "CPU") for c in p["checks"] if not c["fits"]]
    return "no (" + ", ".join(over) + ")"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    index = json.loads((ROOT / "models/corpus/index.json").read_text())
    rows, fastly = [], 0
    for entry in index:
        wasm = ROOT / "target/coverage" / f"{entry['name']}.wasm"
        if not wasm.exists():
            continue
        case, report, error = fit(ROOT / "models/corpus" / entry["dir"], wasm, args.runs)
        print(f"fit: {case['name']:28} {error or 'ok'}", file=sys.stderr)
        if report is None:
            rows.append(f"| {case['name']} | | | | | {error} | | |")
            continue
        fastly += cell(report, "Fastly Compute") == "fits"
        rows.append(
            f"| {case['name']} | {report['package_bytes'] / 1e6:.1f} | {report['compressed_bytes'] / 1e6:.1f} "
            f"| {report['memory_bytes'] / 1e6:.1f} | {report['cpu']['median_ms']:.1f} | "
            + " | ".join(cell(report, p) for p in PLATFORMS) + " |"
        )
    table = [
        "",
        f"{fastly} of {len(rows)} packed corpus models fit Fastly Compute (package, 128 MB heap, 50 ms CPU).",
        "",
        "| model | package MB | gzipped MB | memory MB | CPU ms (fresh instance + infer) | Fastly Compute | Spin clouds | Cloudflare Workers |",
        "|---|---:|---:|---:|---:|---|---|---|",
        *rows,
        "",
    ]
    doc = ROOT / "deploy/fastly/README.md"
    text = doc.read_text()
    head = text.split(MARKER)[0]
    doc.write_text(head + MARKER + "\n" + "\n".join(table))
    print(f"fit: {fastly} of {len(rows)} fit Fastly; wrote {doc.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
