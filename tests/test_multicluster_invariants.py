"""Invariants every multi-cluster compile must keep, checked on several topologies."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jsonschema
import pytest

from meshcode import (
    Call,
    Canary,
    Cluster,
    LoadBalancer,
    Locality,
    LocalityDistribute,
    LocalityFailover,
    Mesh,
    Port,
    Service,
    Version,
    compile_mesh,
)
from meshcode.render import render_tree
from meshcode.compile.context import CompileContext
from meshcode.compile.meshconfig import mesh_config
from meshcode.compile.multicluster import control_plane, multi_network
from meshcode.plan import Plan
from tests.support.multicluster import (
    istioctl,
    ISTIO_OPERATOR_SCHEMA,
    ROUTING_KINDS,
    eastwest_gateways,
    global_mesh,
    locality_policies,
    of_kind,
)

FAILOVER = LoadBalancer(locality=Locality(failover=[LocalityFailover("eu-west1", "eu-north1"),
                                                    LocalityFailover("eu-north1", "eu-west1")]))


def multi_primary() -> Mesh:
    """Two primaries on two networks sharing a canaried service with locality failover."""
    shared = Service("orders", namespace="shop", ports=[Port(8080)], versions=["v1", "v2"],
                     canary=Canary(stable="v1", candidate="v2", weight=20), load_balancer=FAILOVER)
    spread = Service("search", namespace="shop", ports=[Port(8080)],
                     versions=[Version("v1", load_balancer=LoadBalancer(locality=Locality(distribute=[
                         LocalityDistribute("eu-west1/*", {"eu-west1/*": 70, "eu-north1/*": 30})])))])
    only_a = Service("ledger", namespace="finance", ports=[Port(9090)], versions=["v1"], clusters=["a"])
    return Mesh("mp", clusters=[Cluster("a", network="net-a", region="eu-west1"),
                                Cluster("b", network="net-b", region="eu-north1")],
                services=[shared, spread, only_a])


def primary_remote() -> Mesh:
    """One network: the remote's config lives in the primary; istiod is exposed for it."""
    svc = Service("api", namespace="web", ports=[Port(80)], versions=["v1", "v2"],
                  canary=Canary(stable="v1", candidate="v2", weight=5))
    return Mesh("pr", clusters=[Cluster("main", region="eu-west1"),
                                Cluster("edge", role="remote", primary="main", region="eu-west1",
                                        remote_pilot_address="10.0.0.10")],
                services=[svc])


def external_control_plane() -> Mesh:
    """A config cluster (istiod runs outside) with a remote on another network."""
    svc = Service("api", namespace="web", ports=[Port(80)], versions=["v1"], load_balancer=FAILOVER)
    return Mesh("ext", clusters=[
        Cluster("cfg", role="config", network="n1", region="eu-west1", revision="1-30-3",
                remote_pilot_address="istiod.ops.example.com"),
        Cluster("far", role="remote", primary="cfg", network="n2", region="eu-north1", revision="1-30-3"),
    ], services=[svc])


HELM_TOPOLOGIES: dict[str, Callable[[], Mesh]] = {
    "global-stack": global_mesh, "multi-primary": multi_primary, "primary-remote": primary_remote,
    "external": external_control_plane,
}
# These invariants read the install input as IstioOperators (`istioctl install`); the Helm
# Applications of the same topologies are checked in tests/test_install_helm.py.
TOPOLOGIES: dict[str, Callable[[], Mesh]] = {name: (lambda build=build: istioctl(build()))
                                             for name, build in HELM_TOPOLOGIES.items()}


@pytest.fixture(params=sorted(TOPOLOGIES))
def topology(request: pytest.FixtureRequest) -> tuple[Mesh, Plan]:
    mesh = TOPOLOGIES[request.param]()
    return mesh, compile_mesh(mesh)


def spec_of(obj: dict[str, Any]) -> Any:
    return obj["spec"]


def test_shared_services_mean_the_same_in_every_control_plane(topology: tuple[Mesh, Plan]) -> None:
    mesh, plan = topology
    planes = [c.name for c in mesh.clusters if c.role != "remote"]
    by_key: dict[tuple[str, str, str], dict[str, Any]] = {}
    for folder in planes:
        for r in plan.folders[folder]:
            if r.kind in ROUTING_KINDS:  # routing and policy alike (ZeroTrust included)
                first = by_key.setdefault(r.key, r.obj)
                assert spec_of(first) == spec_of(r.obj), f"{r.key} differs between control planes"
    for s in mesh.services:
        where = {control_plane(mesh, c).name for c in mesh.clusters if s.clusters is None or c.name in s.clusters}
        has_dr = [f for f in planes if ("DestinationRule", s.namespace, s.name) in
                  {r.key for r in plan.folders[f]}]
        if has_dr:
            assert where <= set(has_dr), f"{s.name}: some control plane serving it lacks its DestinationRule"


def test_every_cluster_of_a_multi_network_mesh_has_exactly_one_eastwest_gateway(
        topology: tuple[Mesh, Plan]) -> None:
    mesh, plan = topology
    for c in mesh.clusters:
        iop = main_operator(plan, c)
        declared = [g for g in iop["spec"].get("components", {}).get("ingressGateways", [])
                    if g.get("label", {}).get("istio") == "eastwestgateway"]
        own = eastwest_gateways(plan, c.name)
        if not multi_network(mesh):
            assert own == []
            continue
        assert len(declared) == 1, f"{c.name}: east-west gateway workloads {declared}"
        assert declared[0]["label"]["topology.istio.io/network"] == c.network
        if c.role == "remote":  # its gateway takes the Gateway config from its control plane
            assert own == []
            assert len(eastwest_gateways(plan, control_plane(mesh, c).name)) == 1
        else:
            assert len(own) == 1, f"{c.name}: {len(own)} east-west Gateways"
            assert own[0]["metadata"]["namespace"] == mesh.root_namespace


def test_zero_trust_namespace_spans_the_primaries_of_the_global_stack() -> None:
    mesh = global_mesh()
    plan = compile_mesh(mesh)
    policies = {f: {r.key: r.obj["spec"] for r in plan.folders[f]
                    if r.kind in ("AuthorizationPolicy", "PeerAuthentication") and r.namespace == "payments"}
                for f in plan.folders}
    assert policies["east-1"] and policies["east-1"] == policies["west-1"]
    assert not policies["east-2"]
    allow = policies["east-1"][("AuthorizationPolicy", "payments", "payments-allow")]
    assert allow["rules"][0]["from"][0]["source"]["principals"] == [f"{mesh.trust_domain}/ns/shop/sa/cart"]


def test_no_remote_holds_routing_config(topology: tuple[Mesh, Plan]) -> None:
    mesh, plan = topology
    for c in mesh.clusters:
        kinds = {r.kind for r in plan.folders[c.name]}
        if c.role == "remote":
            assert kinds <= {"Namespace", "IstioOperator"}, f"{c.name} holds {sorted(kinds)}"
            assert not kinds & ROUTING_KINDS


def test_every_locality_destination_rule_has_outlier_detection(topology: tuple[Mesh, Plan]) -> None:
    mesh, plan = topology
    seen = 0
    for folder in plan.folders:
        for dr in of_kind(plan, folder, "DestinationRule"):
            inherited = (dr["spec"].get("trafficPolicy") or {}).get("outlierDetection")
            for policy in locality_policies(dr):  # a subset's policy inherits fields it leaves unset
                seen += 1
                assert policy.get("outlierDetection") or inherited, \
                    f"{folder}: {dr['metadata']['name']} fails over blind"
    if any(s.load_balancer and s.load_balancer.locality for s in mesh.services):
        assert seen


def test_namespaces_carry_one_injection_scheme_and_the_network(topology: tuple[Mesh, Plan]) -> None:
    mesh, plan = topology
    for c in mesh.clusters:
        for ns in of_kind(plan, c.name, "Namespace"):
            labels = ns["metadata"]["labels"]
            if ns["metadata"]["name"] == mesh.root_namespace:
                assert "istio-injection" not in labels and "istio.io/rev" not in labels
                assert labels.get("topology.istio.io/network") == (c.network if multi_network(mesh) else None)
                continue
            schemes = [k for k in ("istio-injection", "istio.io/rev") if k in labels]
            assert len(schemes) == 1, f"{c.name}/{ns['metadata']['name']}: {labels}"
            want = c.injection or c.revision
            assert labels.get("istio.io/rev") == want if want else labels["istio-injection"] == "enabled"
        roots = [n for n in of_kind(plan, c.name, "Namespace") if n["metadata"]["name"] == mesh.root_namespace]
        assert len(roots) == (1 if multi_network(mesh) or c.role == "remote" and
                              control_plane(mesh, c).role == "primary" else 0)


def main_operator(plan: Plan, cluster: Cluster) -> dict[str, Any]:
    iops = [o for o in of_kind(plan, cluster.name, "IstioOperator")
            if o["spec"].get("revision") == cluster.revision]
    assert len(iops) == 1, f"{cluster.name}: {len(iops)} IstioOperators for its revision"
    return iops[0]


def test_istio_operator_per_cluster_matches_topology(topology: tuple[Mesh, Plan]) -> None:
    mesh, plan = topology
    ctx = CompileContext(mesh)
    for c in mesh.clusters:
        for iop in of_kind(plan, c.name, "IstioOperator"):
            jsonschema.validate(iop, ISTIO_OPERATOR_SCHEMA)
            g = iop["spec"]["values"]["global"]
            assert (g["meshID"], g["multiCluster"]["clusterName"], g["network"]) == (mesh.id, c.name, c.network)
            tags = sorted(t for t, r in c.revision_tags.items() if r == iop["spec"].get("revision"))
            assert iop["spec"]["values"].get("revisionTags", []) == tags
        iop = main_operator(plan, c)
        spec, values = iop["spec"], iop["spec"]["values"]
        cp = control_plane(mesh, c)
        if c.role == "primary":
            assert spec["profile"] == "default"
            assert spec["meshConfig"] == mesh_config(ctx, c)
            assert values["global"].get("externalIstiod", False) == any(
                r.role == "remote" and r.primary == c.name for r in mesh.clusters)
        elif c.role == "remote" and cp.role == "primary":
            assert spec["profile"] == "remote" and "meshConfig" not in spec
            assert values["global"]["remotePilotAddress"] == c.remote_pilot_address
            assert values["istiodRemote"]["injectionPath"] == f"/inject/cluster/{c.name}/net/{c.network}"
        else:  # external control plane: the config cluster, or a remote attached to it
            assert spec["profile"] == "external"
            assert values["istiodRemote"]["injectionURL"] == \
                f"https://{cp.remote_pilot_address}:15017/inject/cluster/{c.name}/net/{c.network}"
            assert (values.get("pilot", {}).get("configMap") is True) == (c.role == "config")


def test_a_primary_serving_remotes_exposes_istiod(topology: tuple[Mesh, Plan]) -> None:
    mesh, plan = topology
    for c in mesh.clusters:
        if c.role != "primary":
            continue
        serves = any(r.primary == c.name for r in mesh.clusters)
        gws = [g for g in of_kind(plan, c.name, "Gateway") if g["metadata"]["name"] == "istiod-gateway"]
        vss = [v for v in of_kind(plan, c.name, "VirtualService") if v["metadata"]["name"].startswith("istiod-vs")]
        assert len(gws) == len(vss) == (1 if serves else 0)
        if serves:
            assert {s["port"]["number"] for s in gws[0]["spec"]["servers"]} == {15012, 15017}
            istiod = f"istiod-{c.revision}" if c.revision else "istiod"
            assert {t["route"][0]["destination"]["host"] for t in vss[0]["spec"]["tls"]} == \
                {f"{istiod}.{mesh.root_namespace}.svc.cluster.local"}


@pytest.mark.parametrize("name", sorted(TOPOLOGIES))
def test_compile_is_deterministic(name: str) -> None:
    first, second = TOPOLOGIES[name](), TOPOLOGIES[name]()  # two separately built intents
    assert render_tree(compile_mesh(first)) == render_tree(compile_mesh(second))


def test_istio_operators_stay_out_of_kustomizations(topology: tuple[Mesh, Plan]) -> None:
    _, plan = topology
    files = render_tree(plan)
    for path, body in files.items():
        if path.endswith("kustomization.yaml"):
            assert b"istiooperator-" not in body
    assert any("/istiooperator-" in p for p in files)


def test_callers_in_another_primary_get_the_routing_they_need() -> None:
    ledger = Service("ledger", namespace="finance", ports=[Port(9090)], versions=["v1", "v2"], clusters=["a"],
                     canary=Canary(stable="v1", candidate="v2", weight=10))
    teller = Service("teller", namespace="bank", ports=[Port(80)], versions=["v1"], clusters=["b"],
                     calls=[Call(ledger)])
    mesh = Mesh("calls", clusters=[Cluster("a", network="n1"), Cluster("b", network="n2"), Cluster("c")],
                services=[ledger, teller])
    plan = compile_mesh(mesh)
    keys = {f: {r.key for r in plan.folders[f]} for f in plan.folders}
    assert ("VirtualService", "finance", "ledger") in keys["a"]
    assert ("VirtualService", "finance", "ledger") in keys["b"]  # teller's sidecars split by b's istiod
    assert ("VirtualService", "finance", "ledger") not in keys["c"]
    assert ("Namespace", "", "finance") in keys["b"]


def test_cluster_local_services_go_into_mesh_config() -> None:
    cache = Service("cache", namespace="shop", ports=[Port(6379, "TCP")], cluster_local=True)
    mesh = Mesh("local", clusters=[Cluster("a", network="n1"), Cluster("b", network="n2")], services=[cache])
    mesh = istioctl(mesh)
    plan = compile_mesh(mesh)
    for folder in ("a", "b"):
        (iop,) = of_kind(plan, folder, "IstioOperator")
        assert iop["spec"]["meshConfig"]["serviceSettings"] == [
            {"settings": {"clusterLocal": True}, "hosts": ["cache.shop.svc.cluster.local"]}]


def test_revision_tags_install_every_revision_they_name() -> None:
    mesh = Mesh("tags", clusters=[Cluster("a", revision="1-30-3", injection="prod-stable",
                                          revision_tags={"prod-stable": "1-30-3", "prod-canary": "1-31-0"})],
                services=[Service("web", namespace="site", ports=[Port(80)], versions=["v1"])])
    mesh = istioctl(mesh)
    plan = compile_mesh(mesh)
    iops = {o["spec"]["revision"]: o for o in of_kind(plan, "a", "IstioOperator")}
    assert sorted(iops) == ["1-30-3", "1-31-0"]
    assert iops["1-30-3"]["spec"]["values"]["revisionTags"] == ["prod-stable"]
    assert iops["1-30-3"]["spec"]["profile"] == "default"
    assert iops["1-31-0"]["spec"]["values"]["revisionTags"] == ["prod-canary"]
    assert iops["1-31-0"]["spec"]["profile"] == "minimal"  # control plane only, beside the running one
    (site,) = [n for n in of_kind(plan, "a", "Namespace") if n["metadata"]["name"] == "site"]
    assert site["metadata"]["labels"]["istio.io/rev"] == "prod-stable"
    assert "istio-injection" not in site["metadata"]["labels"]


def test_single_cluster_mesh_gets_no_multicluster_objects() -> None:
    mesh = Mesh("one", clusters=[Cluster("solo")],
                services=[Service("web", namespace="site", ports=[Port(80)], versions=["v1"])])
    mesh = istioctl(mesh)
    plan = compile_mesh(mesh)
    kinds = sorted(r.kind for r in plan.folders["solo"])
    assert kinds == ["DestinationRule", "IstioOperator", "Namespace", "VirtualService"]
    (iop,) = of_kind(plan, "solo", "IstioOperator")
    assert "components" not in iop["spec"] and "revision" not in iop["spec"]
