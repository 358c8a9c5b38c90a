"""`meshcode lint` over the fleet benchmark's compiled output at 1×, 2× and 4× its size.

    python bench/lint_fleet.py                  # N = 2000, 4000, 8000 services × 3 clusters
    python bench/lint_fleet.py --sizes 500 1000 --write   # also rewrite BENCHMARKS.md's lint section
    python bench/lint_fleet.py --no-schemas     # the checks alone, without CRD schema/CEL validation

Compiles `bench/fleet_stack.py` (the fleet benchmark's stack) into a temporary project, then in
fresh processes: (a) loads every object of generated/ and keeps them all (the input's parsed
objects: RSS above the interpreter's baseline with meshcode imported), (b) runs the `meshcode lint
generated/` command as a user would (JSON output, bundled CRD schemas validated, one scope per
cluster) and records its wall seconds as the user waits (start-up and imports included), CPU
seconds (its parse workers included) and peak RSS, also above the same baseline. The ratio
(b)/(a) is the memory bound the issue asks for (≤ 2). Writes nothing outside a temporary folder
unless --write.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from fleet import MESHCODE, run_step, timed, write_project  # noqa: E402

# baseline: the interpreter with meshcode's lint imported; then every object loaded, reported as JSON
STEP = r'''
import gc, json, resource, sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from meshcode.analyze.lint import lint
from meshcode.analyze.loader import load_paths
from meshcode.cli import app
def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20
gc.collect()
base = rss_mb()
mode, folder = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
resources = []
for child in sorted(p for p in Path(folder).iterdir() if p.is_dir()):
    got, _ = load_paths([child])
    resources += got
extra = {{"objects": len(resources), "files": sum(1 for _ in Path(folder).rglob("*.yaml"))}}
peak = rss_mb()
print(json.dumps({{"seconds": time.perf_counter() - t0, "above_base_mb": peak - base, "peak_mb": peak, **extra}}))
'''


def step(mode: str, folder: Path, *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", STEP.format(root=str(ROOT)), mode, str(folder), *args],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(n: int, clusters: int, work: Path, schemas: bool) -> dict:
    root = work / f"n{n}"
    write_project(root, n, clusters, None)
    run_step("compile", root)
    out = root / "generated"
    parsed = step("parsed", out)
    base = parsed["peak_mb"] - parsed["above_base_mb"]
    linted = timed([MESHCODE, "lint", str(out), "--format", "json", *([] if schemas else ["--no-schemas"])], ok=(0, 1))
    return {"n": n, "objects": parsed["objects"], "files": parsed["files"], "parsed_mb": parsed["above_base_mb"],
            "lint_s": linted["wall"], "lint_cpu": linted["cpu"], "lint_peak_mb": linted["rss_mb"],
            "lint_mb": linted["rss_mb"] - base}


def report(rows: list[dict], clusters: int, schemas: bool) -> str:
    lines = [
        "## Lint at fleet scale",
        "",
        "Written by `python bench/lint_fleet.py --write` (do not edit by hand). `meshcode lint generated/` "
        f"(JSON output, {'bundled CRD schemas validated' if schemas else '`--no-schemas`'}, one scope per cluster) "
        "over the fleet benchmark's compiled output, "
        f"N services × {clusters} clusters. Parsed objects: RSS of a process holding every object of generated/ "
        "above the interpreter's baseline (meshcode imported); lint: the command in a fresh process, wall "
        "seconds as the user waits (start-up included), CPU seconds (parse workers included), peak RSS, and "
        "peak above the same baseline; ratio = lint above baseline / parsed objects (the bound is 2).",
        "",
        "| N | size | files | objects | parsed objects | lint wall | lint CPU | peak RSS | peak above baseline "
        "| ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base = rows[0]["objects"]
    for r in rows:
        lines.append(f"| {r['n']} | {r['objects'] / base:.0f}× | {r['files']} | {r['objects']} | "
                     f"{r['parsed_mb']:.0f} MiB | {r['lint_s']:.2f} s | {r['lint_cpu']:.2f} s | "
                     f"{r['lint_peak_mb']:.0f} MiB | {r['lint_mb']:.0f} MiB | {r['lint_mb'] / r['parsed_mb']:.2f} |")
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        lines += ["", f"Lint CPU per object: {a['lint_cpu'] / a['objects'] * 1e3:.3f} ms at N={a['n']}, "
                  f"{b['lint_cpu'] / b['objects'] * 1e3:.3f} ms at N={b['n']} (flat = linear)."]
    return "\n".join(lines) + "\n"


def write_section(text: str) -> None:
    path = ROOT / "BENCHMARKS.md"
    current = path.read_text()
    section = re.compile(r"## Lint at fleet scale\n.*?(?=\n## |\Z)", re.S)
    path.write_text(section.sub(text.rstrip("\n"), current) if section.search(current)
                    else current.rstrip("\n") + "\n\n" + text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 4000, 8000])
    ap.add_argument("--clusters", type=int, default=3)
    ap.add_argument("--write", action="store_true", help="replace the lint section of BENCHMARKS.md")
    ap.add_argument("--no-schemas", action="store_true", help="lint without CRD schema (OpenAPI + CEL) validation")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="meshcode-lint-fleet-") as tmp:
        rows = [measure(n, args.clusters, Path(tmp), not args.no_schemas) for n in args.sizes]
    text = report(rows, args.clusters, not args.no_schemas)
    print(text)
    if args.write:
        write_section(text)


if __name__ == "__main__":
    main()
