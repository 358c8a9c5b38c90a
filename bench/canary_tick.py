"""Canary tick benchmark: `meshcode canary step` on the fleet project, against a real Prometheus.

    python bench/canary_tick.py                          # N = 2000 services x 3 clusters on tmpfs, 5 runs
    python bench/canary_tick.py --n 200 --repeat 3       # a quick look

The fleet of bench/fleet_stack.py (every service a canary with a static weight), with one
service, svc-00000, given a rollout plan with two gates (success rate and p99 latency) per
cluster. The project is compiled and committed in a real git repository. A real Prometheus
(the Debian package's binary, on 127.0.0.1, as the tests run it: tests/support/prometheus.py)
scrapes an exporter of Istio's standard metrics whose traffic the benchmark sets, so each tick
decides from real queries. Every tick is a fresh `meshcode canary step` process timed from the
outside like bench/fleet.py's timed(): wall time as the user waits (start-up included), CPU
(user + system) and peak RSS (os.wait4). Each run's decision is checked in the state file.

- advance: healthy traffic, a check due: the weight moves one step (state + generated/ committed);
- fail-check: 20% errors, a check due: the check fails, the weight is held (a committed decision
  that changes no weight);
- hold: no traffic: the evidence is inconclusive, the same as last recorded (nothing committed);
- hung: a Prometheus that accepts connections and never answers: bounded by one query timeout.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT)]

from fleet import MESHCODE, timed  # noqa: E402
from tests.support.prometheus import IstioExporter, PrometheusServer, Traffic  # noqa: E402

CANARY = "svc-00000"
NAMESPACE = "team-000"
INTERVAL = 2.0  # seconds between checks; Prometheus scrapes every 500ms
QUERY_TIMEOUT = 10.0  # meshcode.delivery.prometheus.Prometheus.timeout
STACK = '''\
import sys
sys.path.insert(0, {bench!r})
from fleet_stack import fleet_mesh
from meshcode import Canary, LatencyP99, Match, Rollout, SuccessRate



def with_rollout():
    """The fleet, its first service's canary stepped by the controller (the fleet's own canaries are static)."""
    fleet = fleet_mesh({n}, {clusters})
    rollout = Rollout(steps=list(range(2, 100, 2)), interval="{interval:g}s", threshold=1000, progress_deadline="24h",
                      gates=[SuccessRate(99, min_requests=20), LatencyP99(500, min_requests=20)])
    canary = Canary(stable="v1", candidate="v2", testers=[Match(headers={{"x-canary": "1"}})], rollout=rollout)
    first = fleet.services[0].model_copy(update={{"canary": canary}})
    return fleet.model_copy(update={{"services": [first, *fleet.services[1:]]}})


mesh = with_rollout()
'''
HEALTHY = Traffic(rps=100, error_rate=0.0, latency_ms=20)
ERRORING = Traffic(rps=100, error_rate=0.2, latency_ms=20)
QUIET = Traffic(rps=0)


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def make_project(root: Path, n: int, clusters: int) -> None:
    """The fleet with one rollout, compiled and committed as a repository's first commit."""
    (root / "stacks").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[tool.meshcode]\nrepo_url = "https://example.com/fleet.git"\n')
    (root / "stacks" / "fleet.py").write_text(STACK.format(bench=str(BENCH), n=n, clusters=clusters,
                                                           interval=INTERVAL))
    (root / ".gitignore").write_text(".meshcode/\n__pycache__/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "bench")
    git(root, "config", "user.email", "bench@example.invalid")
    done = subprocess.run([*COMMAND, "compile", "--root", str(root)], capture_output=True, text=True, env=ENV)
    if done.returncode != 0:
        raise RuntimeError(f"meshcode compile failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "fleet")


def state_of(root: Path) -> dict:
    path = root / "state" / "canaries" / "fleet" / NAMESPACE / f"{CANARY}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def last_action(root: Path) -> tuple[str, int, int]:
    """(last recorded action, weight, commits): what a tick did, from the repository."""
    state = state_of(root)
    history = state.get("history") or [{}]
    return history[-1].get("action", ""), state.get("weight", 0), int(git(root, "rev-list", "--count", "HEAD"))


# As a user's install runs it: with its modules' bytecode cached (the first, untimed runs write it).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
COMMAND = [MESHCODE]  # --meshcode: e.g. "python -m meshcode" with PYTHONPATH at another checkout (before/after)


def step_cmd(root: Path, url: str) -> list[str]:
    return [*COMMAND, "canary", "step", f"fleet/{NAMESPACE}/{CANARY}", "--prometheus", url, "--root", str(root)]


def until_due(root: Path) -> None:
    """Sleep until the canary's next check is due (a whole interval after the last one)."""
    from datetime import datetime, timezone

    checked = state_of(root).get("checked_at")
    if checked:
        left = INTERVAL + 0.3 - (datetime.now(timezone.utc) - datetime.fromisoformat(checked)).total_seconds()
        if left > 0:
            time.sleep(left)


def tick(root: Path, url: str, expect: str, commits: int, ok: tuple[int, ...] = (0,)) -> dict:
    """One timed tick in a fresh process; raises unless it made the decision `expect` and `commits` commits."""
    until_due(root)
    before = last_action(root)
    run = timed(step_cmd(root, url), ok=ok, env=ENV)
    after = last_action(root)
    made = after[2] - before[2]
    action = after[0] if made else "hold (not recorded)"
    if made != commits or (commits and after[0] != expect):
        raise RuntimeError(f"expected {expect} with {commits} commit(s), got {action} with {made}: {after}")
    status = git(root, "status", "--porcelain")
    if status.strip():
        raise RuntimeError(f"the tick left the work tree dirty:\n{status[:2000]}")
    return run


def reach(root: Path, url: str, expect: str, tries: int = 5) -> None:
    """Untimed ticks until one records `expect` (the window may still hold the previous traffic)."""
    for _ in range(tries):
        until_due(root)
        subprocess.run(step_cmd(root, url), capture_output=True, env=ENV)
        if last_action(root)[0] == expect:
            return
    raise RuntimeError(f"no {expect} after {tries} ticks: {last_action(root)}")


def feed(exporter: IstioExporter, clusters: int, traffic: Traffic) -> None:
    for c in range(clusters):
        exporter.set(NAMESPACE, f"{CANARY}-v1", HEALTHY, cluster=f"fleet-{c}")
        exporter.set(NAMESPACE, f"{CANARY}-v2", traffic, cluster=f"fleet-{c}")


def measure_ticks(base: Path, n: int, clusters: int, repeat: int) -> dict[str, list[dict]]:
    """{measurement: [run dicts as bench/fleet.py timed() gives them]}: tick-advance, tick-fail-check, tick-hold,
    tick-hung (the names bench/fleet.py reports)."""
    runs: dict[str, list[dict]] = {"tick-advance": [], "tick-fail-check": [], "tick-hold": [], "tick-hung": []}
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=base, prefix=f"canary-{n}-") as tmp:
        root = Path(tmp) / "fleet"
        make_project(root, n, clusters)
        exporter = IstioExporter()
        feed(exporter, clusters, HEALTHY)
        (Path(tmp) / "prometheus").mkdir()
        server = PrometheusServer(Path(tmp) / "prometheus", [exporter.target])
        server.start()
        try:
            server.wait_for(f'istio_requests_total{{destination_workload="{CANARY}-v2"}}')
            time.sleep(INTERVAL)  # a window of traffic before the first check
            reach(root, server.url, "start")
            for _ in range(repeat):
                runs["tick-advance"].append(tick(root, server.url, "advance", 1))
            feed(exporter, clusters, ERRORING)
            reach(root, server.url, "fail-check")
            for _ in range(repeat):
                runs["tick-fail-check"].append(tick(root, server.url, "fail-check", 1, ok=(4,)))
            feed(exporter, clusters, QUIET)
            time.sleep(INTERVAL)  # scraped: the recorded hold below judges the whole erroring tail, as later ticks do
            reach(root, server.url, "hold")  # the first hold is recorded; the same again is not
            for _ in range(repeat):
                runs["tick-hold"].append(tick(root, server.url, "hold", 0))
            with socket.socket() as hung:
                hung.bind(("127.0.0.1", 0))
                hung.listen(256)  # the kernel completes every handshake; nobody ever reads or answers
                url = f"http://127.0.0.1:{hung.getsockname()[1]}"
                tick(root, url, "hold", 1)  # "unreachable" is a new reason: recorded once (bounded too)
                for _ in range(repeat):
                    runs["tick-hung"].append(tick(root, url, "hold", 0))
        finally:
            server.stop()
            exporter.close()
    return runs


def row(name: str, rs: list[dict]) -> str:
    walls = [r["wall"] for r in rs]
    return (f"| {name} | {statistics.median(walls):.2f} s ({min(walls):.2f}–{max(walls):.2f}) | "
            f"{statistics.median(r['cpu'] for r in rs):.2f} s | {statistics.median(r['rss_mb'] for r in rs):.0f} MiB |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--clusters", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--base", type=Path, default=Path("/dev/shm"), help="where the project lives (tmpfs)")
    ap.add_argument("--meshcode", default="", help="how to run meshcode (default: this environment's console script)")
    args = ap.parse_args()
    if args.meshcode:
        COMMAND[:] = args.meshcode.split()
    runs = measure_ticks(args.base, args.n, args.clusters, args.repeat)
    print(f"canary tick, N = {args.n} services x {args.clusters} clusters, {args.base}, {args.repeat} runs each")
    print("| tick | wall, median (min–max) | CPU, median | peak RSS |")
    print("|---|---:|---:|---:|")
    for name, rs in runs.items():
        print(row(name, rs))


if __name__ == "__main__":
    main()
