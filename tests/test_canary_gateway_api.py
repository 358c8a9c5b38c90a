"""The canary controller steps whichever API a service compiles to: HTTPRoute weights on the
Gateway API, and in ambient its gates read the waypoint's metrics."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from git import Repo

from meshcode import Canary, Cluster, DataPlane, LatencyP99, Match, Mesh, Port, Rollout, Service, SuccessRate
from meshcode.delivery.prometheus import selector
from meshcode.delivery.store import load_state
from meshcode.delivery.targets import find_canaries
from meshcode.intent.dataplane import metrics_reporter
from meshcode.state.canary import CanaryState
from tests.support.canary import git_project, job, tick
from tests.support.meshes import compiled
from tests.support.prometheus import PROMETHEUS, IstioExporter, PrometheusServer, Traffic


def mesh(mode: str = "sidecar", routing: str | None = None) -> Mesh:
    reviews = Service("reviews", namespace="shop", ports=[Port(9080)], versions=["v1", "v2"],
                      canary=Canary(stable="v1", candidate="v2", weight=10,
                                    testers=[Match(headers={"end-user": "jason"})],
                                    rollout=Rollout(steps=[10, 50], gates=[SuccessRate(min=99), LatencyP99(max_ms=500)])))
    plane = DataPlane(mode, namespace="shop", routing=routing) if routing else DataPlane(mode, namespace="shop")
    return Mesh("shop", clusters=[Cluster("prod")], services=[reviews], data_plane=[plane])


def rules(m: Mesh, state: CanaryState | None) -> list[dict]:
    states = {"shop/shop/reviews": state} if state else {}
    return compiled(m, states=states)[("HTTPRoute", "shop", "reviews")]["spec"]["rules"]


def split(rule: dict) -> dict[str, int]:
    return {b["name"]: b.get("weight", 1) for b in rule["backendRefs"]}


def test_committed_state_sets_the_httproute_weights():
    for m in (mesh("sidecar", "gateway-api"), mesh("ambient")):
        assert split(rules(m, None)[-1]) == {"reviews-v1": 90, "reviews-v2": 10}
        progressing = CanaryState(name="reviews", stable="v1", candidate="v2", phase="progressing", step=1, weight=50)
        got = rules(m, progressing)
        assert split(got[0]) == {"reviews-v2": 1} and got[0]["matches"][0]["headers"][0]["value"] == "jason"
        assert split(got[-1]) == {"reviews-v1": 50, "reviews-v2": 50}
        failed = rules(m, CanaryState(name="reviews", stable="v1", candidate="v2", phase="failed", weight=0))
        assert len(failed) == 1 and split(failed[0]) == {"reviews-v1": 100, "reviews-v2": 0}  # testers dropped too


def test_gates_read_the_proxy_that_reports_the_workload():
    assert metrics_reporter(mesh("ambient").data_plane, "shop") == "waypoint"
    assert metrics_reporter(mesh("sidecar", "gateway-api").data_plane, "shop") == "destination"
    assert selector("shop", "reviews-v2", None, "waypoint").startswith('reporter="waypoint",')



AMBIENT_STACK = """\
from meshcode import Canary, Cluster, DataPlane, LatencyP99, Mesh, Port, Rollout, Service, SuccessRate

cart = Service(
    "cart", namespace="shop", ports=[Port(8080)], versions=["v1", "v2"],
    canary=Canary(stable="v1", candidate="v2", rollout=Rollout(
        steps=[20, 50], interval="2s", threshold=2,
        gates=[SuccessRate(99, min_requests=20), LatencyP99(500, min_requests=20)])),
)
mesh = Mesh("shop", clusters=[Cluster("prod")], services=[cart], data_plane=[DataPlane("ambient", namespace="shop")])
"""


@pytest.mark.skipif(not Path(PROMETHEUS).exists(), reason="prometheus is not installed (./dev test installs it)")
def test_an_ambient_canary_promotes_on_waypoint_metrics_stepping_the_httproute(tmp_path: Path):
    """Real Prometheus, real git: the waypoint's series judge each stage, each commit moves the HTTPRoute."""
    exporter = IstioExporter(reporter="waypoint")
    exporter.set("shop", "cart-v1", Traffic(rps=400, error_rate=0.0, latency_ms=20))
    exporter.set("shop", "cart-v2", Traffic(rps=50, error_rate=0.0, latency_ms=20))
    (tmp_path / "prometheus").mkdir()
    server = PrometheusServer(tmp_path / "prometheus", [exporter.target])
    server.start()
    try:
        server.wait_for('istio_requests_total{reporter="waypoint"}')
        root = git_project(tmp_path / "repo", AMBIENT_STACK)
        j = job(root, server.url)
        outcomes = [tick(j) for _ in range(3)]
    finally:
        server.stop()
        exporter.close()
    assert [o.action.kind for o in outcomes] == ["start", "advance", "promote"]
    weights = []
    with Repo(root) as repo:
        for c in reversed(list(repo.iter_commits("HEAD"))):
            try:
                route = yaml.safe_load(c.tree["generated/prod/shop/httproute-cart.yaml"].data_stream.read())
            except KeyError:
                continue
            weights.append({b["name"]: b["weight"] for b in route["spec"]["rules"][-1]["backendRefs"]})
    assert weights[-3:] == [{"cart-v1": 80, "cart-v2": 20}, {"cart-v1": 50, "cart-v2": 50},
                            {"cart-v1": 0, "cart-v2": 100}]
    for entry in load_state(root / "state", "shop/shop/cart").history[1:]:
        assert all('reporter="waypoint"' in e.query and e.verdict == "pass" for e in entry.evidence)
