"""Fleet-scale benchmark: meshcode's commands and the other ways of writing the same objects, side by side.

    python bench/fleet.py                          # N = 2000 × 3 clusters, tmpfs and disk, 5 runs, + scale rows; writes BENCHMARKS.md
    python bench/fleet.py --sizes 2000 --scale 1000,2000,4000,8000 --repeat 5
    python bench/fleet.py --sizes 200 --repeat 3 --disks tmpfs --no-write   # a quick look

Every measurement is a fresh process, timed from the outside: wall time as the user waits
(interpreter start-up and imports included), CPU time (user + system) and peak RSS of that
process (os.wait4). Each is repeated --repeat times; the report gives the median and the
spread (min–max). All measurements of a size run in the same run, on the same machine, one
after another, on tmpfs (/dev/shm, memory) and on the disk (the root file system); which one
is said in each table. meshcode is timed through its console script, as a user runs it.

The comparisons (bench/baselines.py) start from the objects meshcode's own compile produced,
loaded before their timer starts: their "work" time is serialisation and writing only, which
is the floor meshcode's whole command (stacks, compile, analysis, render, write) is held to.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
MESHCODE = str(Path(sys.executable).with_name("meshcode"))
DISKS = {"tmpfs": "/dev/shm", "disk": "/var/tmp"}

STACK = '''\
import sys
sys.path.insert(0, {bench!r})
from fleet_stack import fleet_mesh

CHANGED = {changed}
mesh = fleet_mesh({n}, {clusters}, changed=CHANGED)
'''

METHODS = {
    "full": "`meshcode compile` with no generated/ and no .meshcode/ (stacks → compile → analysis → render → write)",
    "before": "the same command from another checkout of meshcode (`--before LABEL=FOLDER`, run as "
              "`python -m meshcode` with PYTHONPATH at it), in the same run, on the same project",
    "noop": "`meshcode compile` again with nothing changed (must rewrite nothing)",
    "change": "`meshcode compile` after one service's timeout changed in the stack (alternating 3s/4s)",
    "lint": "`meshcode lint generated/ --format json` (bundled CRD schemas and CEL validated)",
    "lint-noschema": "`meshcode lint generated/ --format json --no-schemas`",
    "startup": "`python -c pass`: the interpreter's own start-up, which every command pays",
    "change-floor": "start-up, `import meshcode` and running the stack file (meshcode.loader.load_stacks), nothing "
                    "else: what any compile of a changed stack pays before it compiles anything",
    "tick-advance": "`meshcode canary step` (bench/canary_tick.py) in a git repository holding the fleet, a real "
                    "Prometheus on 127.0.0.1 with healthy traffic, a check due: the weight moves a step (state and "
                    "generated/ committed)",
    "tick-fail-check": "the same with 20% errors: the check fails and the weight holds (the decision committed)",
    "tick-hold": "the same with no traffic: inconclusive, as already recorded, the weight holds (nothing to commit)",
    "tick-hung": "the same against a Prometheus that accepts connections and never answers (one query timeout "
                 "bounds the tick)",
    "floor": "honest floor: each distinct object once through yaml.dump(CSafeDumper, sort_keys=False), one file per path",
    "bare": "the bytes meshcode wrote, written again as they are, one file per path",
    "json": "json.dumps of each distinct object once, one file per path",
    "jinja2": "one Jinja2 template (recursive macro emitting block YAML) rendered per distinct object, one file per path",
    "cdk8s": "cdk8s: an ApiObject per path made with one call into Node (JSON from a toJson override), then app.synth()",
}
BASELINES = ("floor", "bare", "json", "jinja2", "cdk8s")
RESULTS = BENCH / "fleet-results.json"  # the raw runs behind BENCHMARKS.md
SCALE = ("full", "noop", "change", "change-floor", "lint", "floor")  # what the scale rows measure
TICKS = ("tick-advance", "tick-fail-check", "tick-hold", "tick-hung")
CHANGE_FLOOR = (
    "import sys\n"
    "from pathlib import Path\n"
    f"sys.path.insert(0, {str(ROOT)!r})\n"
    "from meshcode.loader import load_stacks\n"
    "root = Path(sys.argv[1])\n"
    "load_stacks(root / 'stacks', root)\n")


def write_project(root: Path, n: int, clusters: int, changed: int | None) -> None:
    (root / "stacks").mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text('[tool.meshcode]\nrepo_url = "https://example.com/fleet.git"\n')
    (root / "stacks" / "fleet.py").write_text(STACK.format(bench=str(BENCH), n=n, clusters=clusters, changed=changed))


# As a user's install runs: modules' bytecode cached (this workplace sets PYTHONDONTWRITEBYTECODE; see warm_bytecode).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def warm_bytecode(*folders: Path) -> None:
    """Compile every module the measured processes import once, before any timing (pip does this at install)."""
    import site

    targets = [str(f) for f in folders] + site.getsitepackages()
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", *targets], capture_output=True, env=ENV)


def timed(cmd: list[str], ok: tuple[int, ...] = (0,), env: dict[str, str] | None = None) -> dict:
    """Run `cmd` in a fresh process: wall and CPU seconds, peak RSS (MiB), and its last JSON line if any."""
    env = ENV if env is None else {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode not in ok or "Traceback" in stderr:
        raise RuntimeError(f"{' '.join(cmd[:3])} exited {proc.returncode}:\n{stdout[-1500:]}{stderr[-3000:]}")
    result = {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024}
    last = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    if last.startswith("{"):
        reported = json.loads(last)
        result["work"], result["work_cpu"] = reported.get("seconds"), reported.get("cpu")
    return result


def run_step(mode: str, root: Path, *args: str) -> dict:
    """`meshcode <mode>` on the project (kept for bench/lint_fleet.py)."""
    if mode != "compile":
        raise ValueError(mode)
    return timed([MESHCODE, "compile", "--root", str(root), *args])


def mtimes(folder: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def prepare_objects(root: Path, target: Path) -> int:
    """Pickle the objects of meshcode's compile (sharing kept) and the bytes it wrote, for the comparisons."""
    code = (
        "import pickle, sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from meshcode.app.project import Project\n"
        "from meshcode.render.tree import resource_path\n"
        "project = Project.open(sys.argv[1])\n"
        "build = project.build()\n"
        "entries = [(folder, resource_path(folder, r), r.obj) for folder, r in build.plan.resources()]\n"
        "pickle.dump({'entries': entries, 'bytes': build.files}, open(sys.argv[2], 'wb'))\n"
        "print(len(entries))\n")
    proc = subprocess.run([sys.executable, "-c", code, str(root), str(target)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return int(proc.stdout.split()[-1])


def has(module: str) -> bool:
    return subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode == 0


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def bench_size(n: int, clusters: int, repeat: int, base: Path, only: set[str],
               baseline: tuple[str, str] | None = None) -> dict:
    """Every measurement of one size on one file system; {name: [runs]} plus facts.

    `baseline` = (label, source folder): meshcode's own commands also run from that checkout
    (PYTHONPATH), first, as the "before" rows of the same run.
    """
    root = base / f"fleet-{n}"
    shutil.rmtree(root, ignore_errors=True)
    write_project(root, n, clusters, None)
    runs: dict[str, list[dict]] = {}
    facts: dict = {"n": n, "load_before": load_average()}

    def want(name: str) -> bool:
        return not only or name in only

    def measure(name: str, cmd: list[str], before=None, ok: tuple[int, ...] = (0,),
                env: dict[str, str] | None = None) -> None:
        for _ in range(repeat):
            if before:
                before()
            runs.setdefault(name, []).append(timed(cmd, ok, env))
        print(f"  {base.name} N={n} {name}: " + summary(runs[name]), file=sys.stderr, flush=True)

    compile_cmd = [MESHCODE, "compile", "--root", str(root)]

    def cold() -> None:
        shutil.rmtree(root / "generated", ignore_errors=True)
        shutil.rmtree(root / ".meshcode", ignore_errors=True)

    if baseline is not None:
        label, source = baseline
        env = {**os.environ, "PYTHONPATH": source}
        # `python -m meshcode`: the console script of this checkout's install may name modules the other lacks
        before_cmd = [sys.executable, "-P", "-m", "meshcode"]  # -P: not this checkout from the cwd
        before_compile = [*before_cmd, "compile", "--root", str(root)]
        measure(f"full, before ({label})", before_compile, cold, env=env)
        if want("noop"):
            measure(f"noop, before ({label})", before_compile, env=env)
        if want("change"):
            flip0 = iter(range(10 ** 6))
            measure(f"change, before ({label})", before_compile,
                    lambda: write_project(root, n, clusters, 7 if next(flip0) % 2 == 0 else None), env=env)
            write_project(root, n, clusters, None)
            timed(before_compile, env=env)
        if want("lint"):
            measure(f"lint, before ({label})", [*before_cmd, "lint", str(root / "generated"), "--format", "json"],
                    ok=(0, 1), env=env)
        if want("lint-noschema"):
            measure(f"lint-noschema, before ({label})",
                    [*before_cmd, "lint", str(root / "generated"), "--format", "json", "--no-schemas"], ok=(0, 1),
                    env=env)
    measure("full", compile_cmd, cold)
    manifest = (root / "generated" / ".meshcode-manifest").read_text().splitlines()
    facts["files"] = sum(1 for line in manifest if line and not line.startswith("#"))
    if want("noop"):
        before = mtimes(root / "generated")
        measure("noop", compile_cmd)
        facts["noop_untouched"] = mtimes(root / "generated") == before
    if want("change"):
        flip = iter(range(10 ** 6))
        measure("change", compile_cmd, lambda: write_project(root, n, clusters, 7 if next(flip) % 2 == 0 else None))
        write_project(root, n, clusters, None)
        timed(compile_cmd)
    if want("startup"):
        measure("startup", [sys.executable, "-c", "pass"])
    if want("change-floor"):
        flip2 = iter(range(10 ** 6))
        measure("change-floor", [sys.executable, "-c", CHANGE_FLOOR, str(root)],
                lambda: write_project(root, n, clusters, 7 if next(flip2) % 2 == 0 else None))
        write_project(root, n, clusters, None)
        timed(compile_cmd)
    if want("lint"):
        measure("lint", [MESHCODE, "lint", str(root / "generated"), "--format", "json"], ok=(0, 1))
    if want("lint-noschema"):
        measure("lint-noschema", [MESHCODE, "lint", str(root / "generated"), "--format", "json", "--no-schemas"],
                ok=(0, 1))
    if any(want(t) for t in TICKS) and (BENCH / "canary_tick.py").exists():
        sys.path.insert(0, str(BENCH))
        from canary_tick import measure_ticks

        for attempt in range(3):  # a real Prometheus on a loaded machine: a window may miss a scrape
            try:
                ticks = measure_ticks(base, n, clusters, repeat)
                break
            except RuntimeError as e:
                print(f"  tick measurement failed (attempt {attempt + 1}): {str(e)[:300]}", file=sys.stderr)
        else:
            ticks = {}
        for name, rs in ticks.items():
            if want(name):
                runs[name] = rs
                print(f"  {base.name} N={n} {name}: " + summary(rs), file=sys.stderr, flush=True)
    data = base / f"objects-{n}.pickle"
    facts["objects"] = prepare_objects(root, data)
    for mode in BASELINES:
        if not want(mode) or (mode == "cdk8s" and not has("cdk8s")) or (mode == "jinja2" and not has("jinja2")):
            continue
        out = base / f"{mode}-{n}"
        measure(mode, [sys.executable, str(BENCH / "baselines.py"), mode, str(data), str(out)],
                lambda out=out: shutil.rmtree(out, ignore_errors=True))
        shutil.rmtree(out, ignore_errors=True)
    data.unlink()
    facts["load_after"] = load_average()
    shutil.rmtree(root, ignore_errors=True)
    return {"facts": facts, "runs": runs}


def med(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def summary(runs: list[dict]) -> str:
    walls = [r["wall"] for r in runs]
    return (f"wall {statistics.median(walls):.2f} s ({min(walls):.2f}–{max(walls):.2f}), "
            f"cpu {med(runs, 'cpu'):.2f} s, rss {med(runs, 'rss_mb'):.0f} MiB"
            + (f", work {med(runs, 'work'):.2f} s" if all(r.get("work") is not None for r in runs) else ""))


def table(result: dict, disk: str) -> list[str]:
    facts, runs = result["facts"], result["runs"]
    full_wall, full_cpu = med(runs["full"], "wall"), med(runs["full"], "cpu")
    lines = [
        f"### N = {facts['n']} services × 3 clusters, {disk} ({DISKS[disk]}): {facts['objects']} objects, "
        f"{facts['files']} files",
        "",
        f"Load average (1/5/15 min) before: {facts['load_before']}; after: {facts['load_after']}."
        + "".join(f" {note}." for note in facts.get("later", [])),
        "",
        "| measurement | wall, median (min–max) | CPU, median | vs full (wall / CPU) | work only: wall / CPU | peak RSS |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, rs in runs.items():
        walls = [r["wall"] for r in rs]
        work = (f"{med(rs, 'work'):.2f} s / {med(rs, 'work_cpu'):.2f} s"
                if all(r.get("work_cpu") is not None for r in rs) else "–")
        lines.append(
            f"| {name} | {statistics.median(walls):.2f} s ({min(walls):.2f}–{max(walls):.2f}) | "
            f"{med(rs, 'cpu'):.2f} s | {statistics.median(walls) / full_wall:.2f}× / {med(rs, 'cpu') / full_cpu:.2f}× | "
            f"{work} | {med(rs, 'rss_mb'):.0f} MiB |")
    lines.append("")
    if "floor" in runs:
        floor = runs["floor"]
        lines.append(
            f"Full compile against the honest floor: {full_cpu / med(floor, 'work_cpu'):.2f}× its work's CPU "
            f"(meshcode's whole command, start-up included, against serialising and writing alone), "
            f"{full_cpu / med(floor, 'cpu'):.2f}× the floor's whole process CPU, "
            f"{full_wall / med(floor, 'work'):.2f}× its work's wall time (the load inflates walls unevenly).")
    if "noop" in runs:
        lines.append(f"No-op rewrote nothing (file mtimes unchanged): {'yes' if facts.get('noop_untouched') else 'NO'}.")
    lines.append("")
    return lines


def _find(rows: list[dict], n: int) -> dict | None:
    return next((r for r in rows if r["facts"]["n"] == n), None)


def _wall(result: dict | None, name: str) -> float | None:
    rs = (result or {}).get("runs", {}).get(name)
    return med(rs, "wall") if rs else None


def _ok(met: bool | None) -> str:
    return "–" if met is None else ("met" if met else "**not met**")


def targets(results: dict[str, list[dict]], n: int = 2000) -> list[str]:
    """Issue 22's targets against this run's numbers (tmpfs, N = n), computed, never typed in."""
    d = _find(results.get("tmpfs", []), n)
    scale = results.get("scale", [])
    if d is None:
        return []
    full, floor, noop = _wall(d, "full"), _wall(d, "floor"), _wall(d, "noop")
    change, change_floor = _wall(d, "change"), _wall(d, "change-floor")
    lint = _wall(d, "lint")
    lint_rss = med(d["runs"]["lint"], "rss_mb") if "lint" in d["runs"] else None
    rows = ["| target (issue 22) | this run | |", "|---|---|---|"]

    def row(what: str, measured: str, met: bool | None) -> None:
        rows.append(f"| {what} | {measured} | {_ok(met)} |")

    if full and floor:
        row("full compile ≤ 1.0× the honest floor (whole processes, wall)",
            f"{full:.2f} s vs {floor:.2f} s = {full / floor:.2f}×", full <= floor)
    if noop is not None:
        row("no-op ≤ 0.25 s wall, start-up included", f"{noop:.2f} s", noop <= 0.25)
    if full and change is not None:
        extra = (f"; above the change floor ({change_floor:.2f} s = {change_floor / full:.0%} of full): "
                 f"{change - change_floor:.2f} s = {(change - change_floor) / full:.0%}" if change_floor else "")
        row("one-service change ≤ 10% of a full compile", f"{change:.2f} s = {change / full:.0%} of full{extra}",
            change <= 0.1 * full)
    if lint is not None:
        row("lint ≤ 2 s and ≤ 250 MiB at N=2000 (schemas on)", f"{lint:.2f} s, {lint_rss:.0f} MiB",
            lint <= 2 and (lint_rss or 0) <= 250)
    per_object = [(r["facts"]["n"], _wall(r, "lint") / r["facts"]["objects"] * 1000) for r in scale
                  if _wall(r, "lint") is not None]
    if len(per_object) > 1:
        lo, hi = per_object[0][1], per_object[-1][1]
        row(f"lint linear to N={per_object[-1][0]} (ms per object within 10%)",
            ", ".join(f"N={k}: {v:.3f} ms" for k, v in per_object), hi <= lo * 1.1)
    per_service = [(r["facts"]["n"], _wall(r, "full") / r["facts"]["n"] * 1000) for r in scale if _wall(r, "full")]
    if len(per_service) > 1:
        lo, hi = per_service[0][1], per_service[-1][1]
        row(f"growth linear within 10% per service, N={per_service[0][0]}..{per_service[-1][0]} (full, wall)",
            ", ".join(f"N={k}: {v:.2f} ms" for k, v in per_service), hi <= lo * 1.1)
    hold, advance, hung = _wall(d, "tick-hold"), _wall(d, "tick-advance"), _wall(d, "tick-hung")
    failed = _wall(d, "tick-fail-check")
    if hold is not None:
        row("canary tick that holds ≤ 0.7 s (nothing new to record)", f"{hold:.2f} s", hold <= 0.7)
    if failed is not None:
        row("canary tick that holds ≤ 0.7 s (a failed check, committed)", f"{failed:.2f} s", failed <= 0.7)
    if advance is not None:
        row("canary tick that advances ≤ 1.5 s", f"{advance:.2f} s", advance <= 1.5)
    if hung is not None:
        from canary_tick import QUERY_TIMEOUT

        row(f"a hung Prometheus bounded by one timeout per tick (timeout {QUERY_TIMEOUT:g} s)", f"{hung:.2f} s",
            hung < 2 * QUERY_TIMEOUT)
    return rows + [""]


def scale_table(rows: list[dict]) -> list[str]:
    lines = ["| N | objects | full | ms per service | no-op | change | change floor | lint | lint peak RSS | floor | "
             "full / floor |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        n, runs = r["facts"]["n"], r["runs"]

        def cell(name: str) -> str:
            return f"{med(runs[name], 'wall'):.2f} s" if name in runs else "–"

        full = med(runs["full"], "wall")
        ratio = f"{full / med(runs['floor'], 'wall'):.2f}×" if "floor" in runs else "–"
        rss = f"{med(runs['lint'], 'rss_mb'):.0f} MiB" if "lint" in runs else "–"
        lines.append(f"| {n} | {r['facts']['objects']} | {cell('full')} | {full / n * 1000:.2f} ms | {cell('noop')} | "
                     f"{cell('change')} | {cell('change-floor')} | {cell('lint')} | {rss} | {cell('floor')} | {ratio} |")
    return lines + [""]


def report(results: dict[str, list[dict]], clusters: int, repeat: int) -> str:
    cpu = platform.processor() or platform.machine()
    lines = [
        "# Benchmarks",
        "",
        "Written by `python bench/fleet.py` (do not edit by hand). Synthetic fleets from `bench/fleet_stack.py` "
        f"through the public SDK; C = {clusters} clusters on 2 networks; every service has 3 versions, a canary, "
        "resilience settings and ~3 declared calls; some a mirror or a fault; mesh-wide ZeroTrust.",
        f"Machine: {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}: "
        "wall times vary with the load (given per table); CPU time (user + system) varies much less.",
        "On the disk only the measurements that write files run (lint reads, cdk8s is bound by Node): "
        "see each table.",
        f"Each measurement is a fresh process, {repeat} runs, median and (min–max); wall time as the user waits, "
        "start-up and imports included; peak RSS of that process. \"work only\": the comparison's own timer "
        "around serialising and writing, its objects already loaded.",
        "",
        "## Methods",
        "",
        *[f"- **{name}**: {how}" for name, how in METHODS.items()],
        "",
    ]
    goals = targets(results)
    if goals:
        lines += ["## Targets", "", "Issue 22's targets against this run (tmpfs, N = 2000 × 3 clusters; scale rows "
                  "below), computed by the benchmark from the medians.", "", *goals]
    if results.get("scale"):
        lines += ["## Scaling", "", f"tmpfs, C = {clusters}; medians of wall time, {repeat} runs each "
                  "(the detailed tables give spread and CPU).", "", *scale_table(results["scale"])]
    for disk, rows in results.items():
        if disk == "scale":
            continue
        lines += [f"## {disk}", ""]
        for row in rows:
            lines += table(row, disk)
    return "\n".join(lines).rstrip("\n") + "\n"


def keep_sections(text: str) -> str:
    """Sections other scripts own (e.g. bench/lint_fleet.py's '## Lint at fleet scale') stay."""
    path = ROOT / "BENCHMARKS.md"
    if not path.exists():
        return text
    old = path.read_text()
    kept = old[old.index("## Lint at fleet scale"):] if "## Lint at fleet scale" in old else ""
    return text + ("\n" + kept if kept else "")


def merged(stored: dict[str, list[dict]], fresh: dict[str, list[dict]], names: set[str]) -> dict[str, list[dict]]:
    """The stored run with the measurements `names` replaced by this run's (same disk and size)."""
    for disk, rows in fresh.items():
        for row in rows:
            target = _find(stored.get(disk, []), row["facts"]["n"])
            if target is None:
                stored.setdefault(disk, []).append(row)
                continue
            taken = sorted(name for name in row["runs"] if name.split(",")[0] in names)  # with its "before" rows
            for name in taken:
                target["runs"][name] = row["runs"][name]
            if taken:
                target["facts"].setdefault("later", []).append(
                    f"{'; '.join(taken)}: measured in a later run (load average before {row['facts']['load_before']}, "
                    f"after {row['facts']['load_after']})")
    for i, row in enumerate(stored.get("scale", [])):  # a scale row that is a detailed size's: the same numbers
        detailed = _find(stored.get("tmpfs", []), row["facts"]["n"])
        if detailed is not None and all(m in detailed["runs"] for m in SCALE):
            stored["scale"][i] = detailed
    return stored


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="2000", help="sizes measured in full detail")
    ap.add_argument("--scale", default="1000,2000,4000,8000",
                    help="sizes of the scale rows (tmpfs; full, noop, change, change-floor, lint, floor); '' for none")
    ap.add_argument("--clusters", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--disks", default="tmpfs,disk")
    ap.add_argument("--only", default="", help="comma-separated measurements (full always runs)")
    ap.add_argument("--disk-only", default="noop,change,floor,bare,json,jinja2",
                    help="measurements also run on the disk (those that write files; lint and cdk8s run on tmpfs)")
    ap.add_argument("--before", default="", metavar="LABEL=FOLDER",
                    help="also time meshcode's commands from another checkout (tmpfs), e.g. main=/tmp/main")
    ap.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    ap.add_argument("--update", action="store_true",
                    help=f"measure only --only and merge them into the last run's raw results ({RESULTS.name}); "
                         "the report says which rows came from the later run")
    args = ap.parse_args()
    if args.update and not args.only:
        ap.error("--update needs --only")
    only = {x for x in args.only.split(",") if x}
    warm_bytecode(ROOT / "meshcode", BENCH, *([Path(args.before.split("=", 1)[1]) / "meshcode"] if args.before else []))
    results: dict[str, list[dict]] = {}
    for disk in args.disks.split(","):
        with tempfile.TemporaryDirectory(prefix="meshcode-bench-", dir=DISKS[disk]) as tmp:
            for n in map(int, args.sizes.split(",")):
                subset = only if disk == "tmpfs" else \
                    ((only or set(METHODS)) & {x for x in args.disk_only.split(",") if x}) or {"full"}
                baseline = tuple(args.before.split("=", 1)) if args.before and disk == "tmpfs" else None
                results.setdefault(disk, []).append(bench_size(n, args.clusters, args.repeat, Path(tmp), subset,
                                                               baseline))  # type: ignore[arg-type]
    scale_sizes = [int(x) for x in args.scale.split(",") if x]
    if scale_sizes:
        with tempfile.TemporaryDirectory(prefix="meshcode-bench-", dir=DISKS["tmpfs"]) as tmp:
            for n in scale_sizes:
                detailed = _find(results.get("tmpfs", []), n)
                if detailed is not None and all(m in detailed["runs"] for m in SCALE):
                    results.setdefault("scale", []).append(detailed)  # the same numbers, measured once
                    continue
                results.setdefault("scale", []).append(
                    bench_size(n, args.clusters, args.repeat, Path(tmp), set(SCALE)))
    if args.update:
        results = merged(json.loads(RESULTS.read_text()), results, only)
    text = report(results, args.clusters, args.repeat)
    print(text)
    if not args.no_write:
        (ROOT / "BENCHMARKS.md").write_text(keep_sections(text))
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
