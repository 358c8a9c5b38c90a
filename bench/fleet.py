"""Fleet-scale compile benchmark: meshcode vs the bare YAML floor vs cdk8s, side by side.

    python bench/fleet.py                      # N = 250, 500, 1000, 2000; C = 3; writes BENCHMARKS.md
    python bench/fleet.py --sizes 100 --no-write

Each measurement runs in its own process (so peak RSS is that step's own) on the same
machine in the same run. Times are wall-clock seconds of the measured region, best of
--repeat runs; the resource set is identical across meshcode, floor and cdk8s.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

STACK = '''\
import sys
sys.path.insert(0, {bench!r})
from fleet_stack import fleet_mesh

CHANGED = {changed}
mesh = fleet_mesh({n}, {clusters}, changed=CHANGED)
'''

# Each step runs as `python -c STEP <project> <args>` and prints one JSON line.
STEP = r'''
import json, os, resource, sys, time
mode, root = sys.argv[1], sys.argv[2]
sys.path.insert(0, {root!r})
t0 = time.perf_counter()
from meshcode.app.project import Project
project = Project.open(root)
if mode == "compile":  # what a user runs: `meshcode compile` (import stacks -> ... -> write)
    from meshcode.cli import app
    t0 = time.perf_counter()
    try:
        app(["compile", "--root", root], standalone_mode=False)
    except SystemExit as e:
        if e.code:
            raise
    dt = time.perf_counter() - t0
    manifest = (project.output_dir / ".meshcode-manifest").read_text().splitlines()
    files = [line.split("  ", 1)[1] for line in manifest if line and not line.startswith("#")]
    extra = {{"files": len(files),
              "objects": sum(1 for f in files if not f.endswith("kustomization.yaml"))}}
elif mode == "lint":
    from meshcode.cli import app
    t0 = time.perf_counter()
    try:
        app(["lint", str(project.output_dir), "--format", "json"], standalone_mode=False)
        dt = time.perf_counter() - t0
    except SystemExit:
        dt = time.perf_counter() - t0
    except Exception as e:  # lint not available in this build
        print(f"lint unavailable: {{e}}", file=sys.stderr)
        dt = None
    extra = {{}}
else:
    build = project.build()
    objects = [(folder, r) for folder, r in build.plan.resources()]
    out = sys.argv[3]
    if mode == "floor":
        import yaml
        t0 = time.perf_counter()
        made = set()
        for folder, r in objects:
            d = os.path.join(out, folder, r.namespace or "_cluster")
            if d not in made:
                os.makedirs(d, exist_ok=True)
                made.add(d)
            with open(os.path.join(d, f"{{r.kind.lower()}}-{{r.name}}.yaml"), "w") as f:
                f.write(yaml.dump_all([r.obj], Dumper=yaml.CSafeDumper, sort_keys=False))
        dt = time.perf_counter() - t0
    else:  # cdk8s: the same objects as ApiObjects in one App, synthesised file per resource
        import cdk8s
        from meshcode.integrations.cdk8s import app_from_plan
        t0 = time.perf_counter()
        app_from_plan(build.plan, outdir=out, output=cdk8s.YamlOutputType.FILE_PER_RESOURCE).synth()
        dt = time.perf_counter() - t0
    extra = {{"objects": len(objects)}}
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"seconds": dt, "rss_mb": rss, **extra}}))
'''


def run_step(mode: str, root: Path, *args: str) -> dict:
    code = STEP.format(root=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", code, mode, str(root), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def write_project(root: Path, n: int, clusters: int, changed: int | None) -> None:
    (root / "stacks").mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text('[tool.meshcode]\nrepo_url = "https://example.com/fleet.git"\n')
    (root / "stacks" / "fleet.py").write_text(STACK.format(bench=str(BENCH), n=n, clusters=clusters, changed=changed))


def has_cdk8s() -> bool:
    return subprocess.run([sys.executable, "-c", "import cdk8s"], capture_output=True).returncode == 0


def mtimes(folder: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def best(results: list[dict]) -> dict:
    return min(results, key=lambda r: r["seconds"] if r["seconds"] is not None else float("inf"))


def bench_size(n: int, clusters: int, repeat: int, cdk8s: bool, work: Path) -> dict:
    root = work / f"fleet-{n}"
    shutil.rmtree(root, ignore_errors=True)
    write_project(root, n, clusters, None)
    fulls = []
    for _ in range(repeat):  # cold: no output, no render cache, no input record
        shutil.rmtree(root / "generated", ignore_errors=True)
        shutil.rmtree(root / ".meshcode", ignore_errors=True)
        fulls.append(run_step("compile", root))
    full = best(fulls)
    before = mtimes(root / "generated")
    noop = best([run_step("compile", root) for _ in range(repeat)])
    untouched = mtimes(root / "generated") == before
    changes = []
    for i in range(repeat):
        write_project(root, n, clusters, changed=i % 2 == 0 and 7 or None)
        changes.append(run_step("compile", root))
    change = best(changes)
    lint = best([run_step("lint", root) for _ in range(repeat)])
    floors = []
    for _ in range(repeat):
        out = work / f"floor-{n}"
        shutil.rmtree(out, ignore_errors=True)
        floors.append(run_step("floor", root, str(out)))
    floor = best(floors)
    row = {"n": n, "clusters": clusters, "objects": full["objects"], "full": full, "noop": noop,
           "noop_untouched": untouched, "change": change, "lint": lint, "floor": floor}
    if cdk8s:
        out = work / f"cdk8s-{n}"
        shutil.rmtree(out, ignore_errors=True)
        row["cdk8s"] = run_step("cdk8s", root, str(out))
    return row


def report(rows: list[dict], clusters: int) -> str:
    cpu = platform.processor() or platform.machine()
    lines = [
        "# Benchmarks",
        "",
        "Written by `python bench/fleet.py` (do not edit by hand). Synthetic fleets from "
        "`bench/fleet_stack.py` through the public SDK; "
        f"C = {clusters} clusters on 2 networks; every service has 3 versions, a canary, resilience "
        "settings and ~3 declared calls; some a mirror or a fault.",
        f"Machine: {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}. "
        "Seconds of wall-clock time (best of the runs), peak RSS of that step's process.",
        "",
        "| N | objects | full compile | no-op | one change | lint | floor (a) yaml.dump_all + write | cdk8s (b) | full / floor | cdk8s / full | peak RSS (full) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        full, floor = r["full"]["seconds"], r["floor"]["seconds"]
        cdk = r.get("cdk8s", {}).get("seconds")
        lines.append(
            f"| {r['n']} | {r['objects']} | {full:.2f} s | {r['noop']['seconds']:.2f} s "
            f"({100 * r['noop']['seconds'] / full:.0f}%) | {r['change']['seconds']:.2f} s "
            f"({100 * r['change']['seconds'] / full:.0f}%) | "
            + (f"{r['lint']['seconds']:.2f} s" if r["lint"]["seconds"] is not None else "n/a")
            + f" | {floor:.2f} s | "
            + (f"{cdk:.2f} s" if cdk else "not run") + f" | {full / floor:.2f}× | "
            + (f"{cdk / full:.1f}×" if cdk else "–") + f" | {r['full']['rss_mb']:.0f} MiB |")
    lines += ["", "No-op recompiles rewrote nothing (file mtimes unchanged): "
              + ", ".join(f"N={r['n']}: {'yes' if r['noop_untouched'] else 'NO'}" for r in rows), ""]
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        per_a = a["full"]["seconds"] / a["n"] * 1000
        per_b = b["full"]["seconds"] / b["n"] * 1000
        lines += [f"Full compile per service: {per_a:.2f} ms at N={a['n']}, {per_b:.2f} ms at N={b['n']} "
                  "(flat per-service cost = linear growth).", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="250,500,1000,2000")
    ap.add_argument("--clusters", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--no-cdk8s", action="store_true")
    ap.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = ap.parse_args()
    cdk8s = not args.no_cdk8s and has_cdk8s()
    rows = []
    with tempfile.TemporaryDirectory(prefix="meshcode-bench-") as tmp:
        for n in map(int, args.sizes.split(",")):
            row = bench_size(n, args.clusters, args.repeat, cdk8s, Path(tmp))
            rows.append(row)
            print(json.dumps(row), flush=True)
    text = report(rows, args.clusters)
    print(text)
    if not args.no_write:
        (ROOT / "BENCHMARKS.md").write_text(text)


if __name__ == "__main__":
    main()
