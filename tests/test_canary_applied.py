"""Judge what is applied (issue 20): a stage's evidence window starts when Argo CD has synced
its weight, never at the commit. A simulated Argo CD applies each revision after a lag longer
than the interval; the traffic Prometheus sees follows the applied weight; the candidate breaks
only at 50%.

Without waiting, the 50% stage is judged on traffic still at 25% and promoted; with Argo CD
the 50% stage is judged at 50% and rolled back.
"""
from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from git import Repo
from typer.testing import CliRunner

from meshcode.cli import app
from meshcode.state.canary import CanaryState
from tests.support.argocd import SimArgoCD
from tests.support.canary import git_project, job, route_weight, stack_source, tick
from tests.support.prometheus import PROMETHEUS, IstioExporter, PrometheusServer, Traffic

pytestmark = pytest.mark.skipif(not Path(PROMETHEUS).exists(), reason="prometheus is not installed (./dev test "
                                                                        "installs it)")
PLAN = 'steps=[25, 50], interval="2s", threshold=1, gates=[SuccessRate(99, min_requests=10)]'
TOTAL = 200.0  # requests per second to the service
LAG = 3.5  # seconds from commit to sync: longer than the interval


@pytest.fixture(scope="module")
def exporter():
    ex = IstioExporter()
    yield ex
    ex.close()


@pytest.fixture(scope="module")
def prometheus(exporter, tmp_path_factory):
    exporter.set("warmup", "cart-v1", Traffic(rps=1))
    server = PrometheusServer(tmp_path_factory.mktemp("prometheus"), [exporter.target])
    server.start()
    server.wait_for('istio_requests_total{destination_workload_namespace="warmup"}')
    yield server
    server.stop()


def follow_applied(root: Path, exporter: IstioExporter, namespace: str):
    """on_apply: set the traffic to the weight the synced revision renders (errors from 50%)."""
    exporter.set(namespace, "cart-v1", Traffic(rps=TOTAL))
    exporter.set(namespace, "cart-v2", Traffic(rps=0))

    def apply(sha: str) -> None:
        with Repo(root) as repo:
            try:
                blob = repo.commit(sha).tree[f"generated/prod/{namespace}/virtualservice-cart.yaml"]
            except KeyError:
                return
            w = route_weight(yaml.safe_load(blob.data_stream.read()), "v2")
        exporter.set(namespace, "cart-v1", Traffic(rps=TOTAL * (100 - w) / 100))
        exporter.set(namespace, "cart-v2", Traffic(rps=TOTAL * w / 100, error_rate=0.3 if w >= 50 else 0.0))
    return apply


def rollout(root: Path, j, limit: int = 20) -> list:
    outcomes = []
    for _ in range(limit):
        o = tick(j, limit=30)
        outcomes.append(o)
        if o.state.done:
            break
    return outcomes


def test_without_waiting_for_the_sync_the_50_stage_is_judged_at_25_and_promoted(tmp_path, prometheus, exporter):
    root = git_project(tmp_path / "repo", stack_source(PLAN, namespace="nowait"))
    sim = SimArgoCD(root, ["shop-prod"], LAG, on_apply=follow_applied(root, exporter, "nowait"))
    try:
        outcomes = rollout(root, job(root, prometheus.url))
    finally:
        sim.close()
    kinds = [o.action.kind for o in outcomes]
    assert kinds[-1] == "promote" and "rollback" not in kinds  # the defect, shown: broken at 50%, promoted


def test_with_argocd_every_stage_is_judged_at_its_applied_weight(tmp_path, prometheus, exporter, monkeypatch):
    root = git_project(tmp_path / "repo", stack_source(PLAN, namespace="applied"))
    sim = SimArgoCD(root, ["shop-prod"], LAG, on_apply=follow_applied(root, exporter, "applied"))
    monkeypatch.setenv("ARGOCD_AUTH_TOKEN", sim.token)
    try:
        outcomes = rollout(root, job(root, prometheus.url, argocd=sim.url))
    finally:
        sim.close()
    kinds = [o.action.kind for o in outcomes if o.action.changed]
    assert kinds == ["start", "advance", "rollback"], [(o.action.kind, o.action.reason) for o in outcomes]
    state: CanaryState = outcomes[-1].state
    assert (state.phase, state.weight) == ("failed", 0)
    for entry in state.history:
        applied = [e for e in entry.evidence if e.check == "applied"]
        gates = [e for e in entry.evidence if e.check == "success-rate"]
        if not gates:
            continue
        assert len(applied) == 1 and applied[0].verdict == "pass"
        at = datetime.fromtimestamp(applied[0].value, entry.time.tzinfo)
        window = float(gates[0].window.removesuffix("s"))
        assert (entry.time - at).total_seconds() >= window - 1  # the window starts after the weight applied
    judged = {e.weight: e for e in state.history if e.action in ("advance", "rollback")}
    assert judged[50].evidence[1].check == "success-rate" and judged[50].evidence[1].verdict == "pass"
    assert "25% applied at" in judged[50].evidence[0].why  # the 25% stage was judged once 25% was live
    assert "50% applied at" in judged[0].evidence[0].why and "< min 99%" in judged[0].reason
    assert CliRunner().invoke(app, ["canary", "replay", "cart", "--root", str(root)]).exit_code == 0


def test_argocd_refusing_the_token_is_an_error_not_a_hold(tmp_path, prometheus, exporter, monkeypatch):
    root = git_project(tmp_path / "repo", stack_source(PLAN, namespace="refused"))
    sim = SimArgoCD(root, ["shop-prod"], 0.1)
    monkeypatch.setenv("ARGOCD_AUTH_TOKEN", "wrong")
    runner = CliRunner()
    try:
        args = ["canary", "step", "cart", "--root", str(root), "--prometheus", prometheus.url, "--argocd", sim.url]
        assert runner.invoke(app, args).exit_code == 0  # the start: no gate, nothing to wait for
        time.sleep(2.5)  # an interval: the next step wants the 25% stage judged, so it asks Argo CD
        r = runner.invoke(app, args)
    finally:
        sim.close()
    assert r.exit_code == 1 and "Argo CD at http://127.0.0.1" in r.output
    assert "refused the credentials (HTTP 401" in r.output and "ARGOCD" in r.output
