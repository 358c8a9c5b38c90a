"""The controller end to end: a real Prometheus scraping Istio metrics, a real git repository.

Each scenario has its own namespace in one shared Prometheus (the outage scenario runs its
own, to stop it). Intervals are 2s and Prometheus scrapes every 500ms, so a scenario takes
a few seconds of real time.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from git import Repo
from typer.testing import CliRunner

from meshcode.cli import app
from meshcode.delivery.prometheus import Prometheus, collect
from meshcode.app.canary import load, step
from meshcode.delivery.store import load_state
from meshcode.delivery.targets import find_canaries
from meshcode.loader import load_stacks
from tests.support.canary import (
    candidate_weights,
    git_project,
    job,
    stack_source,
    subjects,
    tick,
    utc,
)
from tests.support.prometheus import (
    PROMETHEUS,
    IstioExporter,
    PrometheusServer,
    Traffic,
    free_port,
)

pytestmark = pytest.mark.skipif(not Path(PROMETHEUS).exists(), reason="prometheus is not installed (./dev test "
                                                                        "installs it)")

GATES = 'gates=[SuccessRate(99, min_requests=20), LatencyP99(500, min_requests=20)]'
PLAN = f'steps=[20, 50, 80], interval="2s", threshold=2, {GATES}'
HEALTHY = Traffic(rps=50, error_rate=0.0, latency_ms=20)
STABLE = Traffic(rps=400, error_rate=0.0, latency_ms=20)


@pytest.fixture(scope="module")
def exporter():
    ex = IstioExporter()
    ex.set("healthy", "cart-v1", STABLE)
    ex.set("healthy", "cart-v2", HEALTHY)
    ex.set("erroring", "cart-v2", Traffic(rps=50, error_rate=0.2))
    ex.set("quiet", "cart-v2", Traffic(rps=0))
    ex.set("outage", "cart-v2", HEALTHY)
    ex.set("killed", "cart-v2", HEALTHY)
    ex.set("multi", "cart-v2", HEALTHY, cluster="east")
    ex.set("multi", "cart-v2", Traffic(rps=50, error_rate=0.3), cluster="west")
    yield ex
    ex.close()


@pytest.fixture(scope="module")
def prometheus(exporter, tmp_path_factory):
    server = PrometheusServer(tmp_path_factory.mktemp("prometheus"), [exporter.target])
    server.start()
    server.wait_for('istio_requests_total{destination_workload_namespace="multi"}')
    yield server
    server.stop()


def project(tmp_path: Path, namespace: str, rollout: str = PLAN, clusters=("prod",)) -> Path:
    return git_project(tmp_path / "repo", stack_source(rollout, namespace=namespace, clusters=clusters))


def until_done(j, limit: int = 10):
    outcomes = []
    for _ in range(limit):
        o = tick(j)
        outcomes.append(o)
        if o.state.done:
            break
    return outcomes


def test_healthy_candidate_promotes_through_every_step_one_commit_each(tmp_path, prometheus):
    root = project(tmp_path, "healthy")
    outcomes = until_done(job(root, prometheus.url))
    assert [o.action.kind for o in outcomes] == ["start", "advance", "advance", "promote"]
    assert subjects(root)[1:] == [
        "canary cart: start 0% → 20% (rollout of v2 begins at 20%)",
        "canary cart: advance 20% → 50% (all 2 checks passed; next 50%)",
        "canary cart: advance 50% → 80% (all 2 checks passed; next 80%)",
        "canary cart: promote 80% → 100% (last stage passed)",
    ]
    assert candidate_weights(root, namespace="healthy") == [None, 20, 50, 80, 100]
    state = load_state(root / "state", "shop/healthy/cart")
    assert state.phase == "succeeded"
    for entry in state.history[1:]:
        sr, p99 = entry.evidence
        assert (sr.check, sr.verdict, sr.cluster) == ("success-rate", "pass", "prod")
        assert 'reporter="destination"' in sr.query and 'destination_workload="cart-v2"' in sr.query
        assert 'destination_workload_namespace="healthy"' in sr.query and "[2s]" in sr.query
        assert sr.value == pytest.approx(100.0) and sr.requests > 20 and sr.window == "2s"
        assert p99.verdict == "pass" and 20 <= p99.value <= 25  # inside the 10..25ms bucket
    with Repo(root) as repo:
        message = repo.head.commit.message
        assert not repo.is_dirty(untracked_files=True)
    assert "- pass: success-rate [prod]: success rate 100% within bounds" in message and "query: " in message
    runner = CliRunner()
    replayed = runner.invoke(app, ["canary", "replay", "cart", "--root", str(root)])
    assert replayed.exit_code == 0 and "4/4 decisions reproduce" in replayed.output
    check = runner.invoke(app, ["compile", "--check", "--root", str(root)])
    assert check.exit_code == 0, check.output
    status = runner.invoke(app, ["canary", "status", "--root", str(root)])
    assert "shop/healthy/cart" in status.output and "succeeded" in status.output and "100%" in status.output


def test_erroring_candidate_rolls_back_after_threshold_failures(tmp_path, prometheus):
    root = project(tmp_path, "erroring")
    outcomes = until_done(job(root, prometheus.url))
    assert [o.action.kind for o in outcomes] == ["start", "fail-check", "rollback"]
    assert candidate_weights(root, namespace="erroring") == [None, 20, 20, 0]
    state = outcomes[-1].state
    assert (state.phase, state.failed_checks, state.weight) == ("failed", 2, 0)
    sr = state.history[-1].evidence[0]
    assert sr.verdict == "fail" and 75 < sr.value < 85 and "< min 99%" in sr.why
    assert "2/2 failed checks" in subjects(root)[-1]


def test_zero_traffic_holds_without_failing_then_continues(tmp_path, prometheus, exporter):
    root = project(tmp_path, "quiet")
    j = job(root, prometheus.url)
    assert tick(j).action.kind == "start"
    for _ in range(2):
        o = tick(j)
        assert o.action.kind == "hold"
        assert "0 requests < min_requests 20" in o.action.reason
        assert (o.state.failed_checks, o.state.weight, o.state.step) == (0, 20, 0)
    exporter.set("quiet", "cart-v2", HEALTHY)
    time.sleep(1.0)  # the new traffic is scraped
    o = tick(j)
    assert (o.action.kind, o.state.weight) == ("advance", 50)
    # The second hold repeats the first (same reason): reported, not committed (issue 20).
    assert candidate_weights(root, namespace="quiet") == [None, 20, 20, 50]


def test_prometheus_down_mid_rollout_holds_then_continues(tmp_path, exporter):
    (tmp_path / "prom").mkdir()
    server = PrometheusServer(tmp_path / "prom", [exporter.target])
    server.start()
    try:
        server.wait_for('istio_requests_total{destination_workload_namespace="outage"}')
        root = project(tmp_path, "outage")
        j = job(root, server.url)
        assert [tick(j).action.kind for _ in range(2)] == ["start", "advance"]
        server.stop()
        o = tick(j)
        assert o.action.kind == "hold" and "prometheus unreachable" in o.action.reason
        assert (o.state.weight, o.state.failed_checks, o.state.phase) == (50, 0, "progressing")
        assert {e.status for e in o.state.history[-1].evidence} == {"unreachable"}
        server.start()  # scrapes resume a few seconds later; until then the window has no data (a hold)
        server.wait_for('timestamp(istio_requests_total{destination_workload_namespace="outage"}) > time() - 1')
        time.sleep(1.0)
        rest = until_done(j)
        assert [o.action.kind for o in rest] == ["advance", "promote"], [o.action.reason for o in rest]
        assert candidate_weights(root, namespace="outage") == [None, 20, 50, 50, 80, 100]
    finally:
        server.stop()


def test_job_killed_between_writing_state_and_committing_resumes(tmp_path, prometheus):
    root = project(tmp_path, "killed")
    j = job(root, prometheus.url)
    assert tick(j).action.kind == "start"
    target, _ = load(j.project, "cart")
    time.sleep(target.plan.interval + 0.2)
    # A pre-commit hook that never returns: the job has written state and generated/ and is committing.
    marker = tmp_path / "committing"
    hook = root / ".git" / "hooks" / "pre-commit"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\nsleep 60\n")
    hook.chmod(0o755)
    proc = subprocess.Popen([sys.executable, "-m", "meshcode", "canary", "step", "cart", "--root", str(root),
                             "--prometheus", prometheus.url], start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert proc.poll() is None, proc.stdout.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    hook.unlink()
    written = load_state(root / "state", "shop/killed/cart")
    assert (written.step, written.weight) == (1, 50)  # decided and written …
    assert len(subjects(root)) == 2  # … but not committed
    with Repo(root) as repo:
        assert not os.path.exists(os.path.join(repo.git_dir, "index.lock"))
    o = step(j, utc())  # the next job commits that decision, and does not decide again yet
    assert o.recovered and (o.action.kind, o.commit) == ("wait", None)
    assert subjects(root)[-1].endswith("[recovered: written by a job that stopped before committing]")
    rest = until_done(j)
    assert [o.action.kind for o in rest] == ["advance", "promote"]
    assert candidate_weights(root, namespace="killed") == [None, 20, 50, 80, 100]
    assert [e.action for e in rest[-1].state.history] == ["start", "advance", "advance", "promote"]


def test_two_cluster_canary_rolls_back_when_one_cluster_fails(tmp_path, prometheus):
    root = project(tmp_path, "multi", clusters=("east", "west"))
    outcomes = until_done(job(root, prometheus.url))
    assert [o.action.kind for o in outcomes] == ["start", "fail-check", "rollback"]
    for cluster in ("east", "west"):  # weights move together
        assert candidate_weights(root, namespace="multi", cluster=cluster) == [None, 20, 20, 0]
    last = outcomes[-1].state.history[-1]
    by_cluster = {(e.check, e.cluster): e for e in last.evidence}
    assert by_cluster[("success-rate", "east")].verdict == "pass"
    assert by_cluster[("success-rate", "west")].verdict == "fail"
    assert 'destination_cluster="west"' in by_cluster[("success-rate", "west")].query
    assert "success-rate@west" in last.reason


def test_provider_reports_several_series_bad_queries_and_unreachable(tmp_path, prometheus):
    rollout = ('steps=[50], interval="2s", gates=['
               'PromQL("rps", \'sum(rate(istio_requests_total{destination_workload="{workload}",'
               'destination_workload_namespace="{namespace}"}[{window}]))\', min=1, min_requests=5), '
               'PromQL("by-code", \'rate(istio_requests_total{destination_workload_namespace="{namespace}"}'
               '[{interval}])\', max=10), '
               'PromQL("broken", "sum(rate(", max=1)]')
    root = project(tmp_path, "healthy", rollout=rollout)
    (root / "stacks" / "shop.py").write_text(
        (root / "stacks" / "shop.py").read_text().replace("SuccessRate, LatencyP99", "PromQL"))
    target = find_canaries(load_stacks(root / "stacks"))["shop/healthy/cart"]
    now = utc()
    samples = {s.check: s for s in collect(target, {"prod": Prometheus(prometheus.url)}, now, 3)}
    assert samples["rps"].status == "ok" and 40 < samples["rps"].value < 60 and samples["rps"].requests > 5
    assert 'destination_workload="cart-v2"' in samples["rps"].query and "[3s]" in samples["rps"].query
    assert samples["by-code"].status == "multiple-series" and "series" in samples["by-code"].detail
    assert samples["broken"].status == "error" and "parse error" in samples["broken"].detail
    closed = f"http://127.0.0.1:{free_port()}"
    down = collect(target, {"prod": Prometheus(closed, timeout=2)}, now, 3)
    assert {s.status for s in down} == {"unreachable"}


def test_a_hung_prometheus_costs_a_tick_one_timeout_not_one_per_query(tmp_path):
    """A server that accepts connections and never answers: every gate says unreachable, within one
    timeout for the whole tick (issue 22: six queries in sequence took 63 s)."""
    import socket

    rollout = ('steps=[50], interval="2s", gates=[SuccessRate(99, min_requests=5), LatencyP99(500), '
               'Baseline(alpha=0.05, max_latency_ratio=2)]')
    root = project(tmp_path, "hung", rollout=rollout)
    (root / "stacks" / "shop.py").write_text(
        (root / "stacks" / "shop.py").read_text().replace("SuccessRate, LatencyP99", "SuccessRate, LatencyP99, Baseline"))
    target = find_canaries(load_stacks(root / "stacks"))["shop/hung/cart"]
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(64)  # the kernel completes every handshake; nobody ever reads or answers
        prom = Prometheus(f"http://127.0.0.1:{hung.getsockname()[1]}", timeout=1.5)
        started = time.monotonic()
        samples = collect(target, {"prod": prom}, utc(), 3)
        took = time.monotonic() - started
    assert len(samples) == 3 and {s.status for s in samples} == {"unreachable"}
    assert took < 1.5 + 1.0, f"a tick against a hung server took {took:.1f}s (8 queries x 1.5s timeout)"
    # the next tick asks again (the server may be back)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    prom.url = f"http://127.0.0.1:{port}"
    again = collect(target, {"prod": prom}, utc(), 3)
    assert {s.status for s in again} == {"unreachable"} and "timed out" not in again[0].detail
