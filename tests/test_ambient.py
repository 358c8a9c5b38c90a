"""Ambient mode: namespace labels, waypoints, ZeroTrust split by layer, and what ambient refuses."""
from __future__ import annotations

from pathlib import Path

import pytest

from meshcode import (
    Call, Canary, CircuitBreaker, Cluster, CompileError, DataPlane, DenyRule, Mesh, Port, Service,
    SidecarScope, ZeroTrust, compile_mesh,
)
from tests.support.core import line_of
from tests.support.meshes import compiled, crdcheck, write_plan

NS = "shop"
MARK = "# " + "<- "


def shop(*planes: DataPlane, **extra) -> Mesh:
    web = Service("web", namespace=NS, ports=[Port(8080)], versions=["v1"],
                  calls=[Call("cart", methods=["GET"], paths=["/cart/*"]), Call("db")])  # <- l7 call
    cart = Service("cart", namespace=NS, ports=[Port(8080)], versions=["v1", "v2"],
                   canary=Canary(stable="v1", candidate="v2", weight=20), timeout="2s", calls=["db"])  # <- canary
    db = Service("db", namespace=NS, ports=[Port(5432, "TCP")])
    zt = [ZeroTrust(namespace=NS, deny=[DenyRule(not_namespaces=[NS, "istio-system"])]),
          ZeroTrust(service="cart", deny=DenyRule(paths=["/admin*"]))]  # <- l7 deny
    return Mesh("shop", clusters=extra.pop("clusters", [Cluster("prod")]), services=[web, cart, db],
                zero_trust=extra.pop("zero_trust", zt), data_plane=planes, **extra)


AMBIENT = DataPlane("ambient", namespace=NS)


def test_namespace_is_labelled_for_ambient_and_gets_a_waypoint():
    objs = compiled(shop(AMBIENT))
    ns = objs[("Namespace", "", NS)]["metadata"]["labels"]
    assert ns["istio.io/dataplane-mode"] == "ambient" and ns["istio.io/use-waypoint"] == "waypoint"
    assert "istio-injection" not in ns and "istio.io/rev" not in ns
    waypoint = objs[("Gateway", NS, "waypoint")]
    assert waypoint["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert waypoint["spec"] == {"gatewayClassName": "istio-waypoint",
                                "listeners": [{"name": "mesh", "port": 15008, "protocol": "HBONE"}]}
    assert not [k for k in objs if k[0] in ("Sidecar", "VirtualService")]
    assert ("HTTPRoute", NS, "cart") in objs


def test_policies_move_to_the_waypoint_and_ztunnel_admits_only_the_waypoint():
    objs = compiled(shop(AMBIENT))
    allow = objs[("AuthorizationPolicy", NS, "cart-allow")]["spec"]
    assert allow["targetRefs"] == [{"kind": "Service", "group": "", "name": "cart"}] and "selector" not in allow
    assert allow["rules"][0]["to"][0]["operation"]["methods"] == ["GET"]
    ztunnel = objs[("AuthorizationPolicy", NS, "cart-from-waypoint")]["spec"]
    assert ztunnel["selector"] == {"matchLabels": {"app": "cart"}}
    assert ztunnel["rules"] == [{"from": [{"source": {"principals": ["cluster.local/ns/shop/sa/waypoint"]}}]}]
    assert objs[("AuthorizationPolicy", NS, "allow-nothing")]["spec"] == {}
    deny = objs[("AuthorizationPolicy", NS, "namespace-deny-waypoint")]["spec"]
    assert deny["targetRefs"] == [{"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "waypoint"}]
    assert ("AuthorizationPolicy", NS, "namespace-deny") in objs  # ztunnel still guards direct pod traffic
    # nobody calls web: the waypoint refuses everything for it
    assert objs[("AuthorizationPolicy", NS, "web-allow")]["spec"] == {
        "targetRefs": [{"kind": "Service", "group": "", "name": "web"}], "action": "ALLOW"}


def test_every_ambient_object_passes_the_bundled_schemas(tmp_path: Path):
    code, out = crdcheck(write_plan(compile_mesh(shop(AMBIENT)), tmp_path))
    assert code == 0, out


def test_without_a_waypoint_l7_intent_is_refused_at_its_lines():
    src = Path(__file__).read_text()
    with pytest.raises(CompileError) as err:
        compile_mesh(shop(DataPlane("ambient", namespace=NS, waypoint="none")))
    lines = {f.location.line for f in err.value.findings if f.code == "MC2905"}
    assert line_of(src, MARK + "l7 call") in lines  # the call's methods/paths
    assert line_of(src, MARK + "canary") in lines  # cart's routing
    assert line_of(src, MARK + "l7 deny") in lines  # an L7 DENY rule


def test_l4_only_ambient_compiles_to_ztunnel_policies():
    db = Service("db", namespace=NS, ports=[Port(5432, "TCP")])
    web = Service("web", namespace=NS, ports=[Port(8080)], calls=[db])
    objs = compiled(Mesh("m", clusters=[Cluster("c")], services=[web, db], zero_trust=[ZeroTrust(namespace=NS)],
                         data_plane=[DataPlane("ambient", namespace=NS, waypoint="none")]))
    allow = objs[("AuthorizationPolicy", NS, "db-allow")]["spec"]
    assert allow["selector"] == {"matchLabels": {"app": "db"}}
    assert allow["rules"] == [{"from": [{"source": {"principals": ["cluster.local/ns/shop/sa/web"]}}],
                               "to": [{"operation": {"ports": ["5432"]}}]}]
    assert not [k for k in objs if k[0] == "Gateway"]
    assert "istio.io/use-waypoint" not in objs[("Namespace", "", NS)]["metadata"]["labels"]


def test_sidecar_scopes_explicit_egress_lockdown_and_unsupported_topologies_are_refused():
    src = Path(__file__).read_text()
    with pytest.raises(CompileError) as err:
        compile_mesh(shop(AMBIENT, sidecars=[SidecarScope(NS)],  # <- sidecar scope
                          zero_trust=[ZeroTrust(namespace=NS, egress_lockdown=True)]))  # <- lockdown
    found = {(f.code, f.location.line) for f in err.value.findings}
    assert ("MC2904", line_of(src, MARK + "sidecar scope")) in found
    assert ("MC2904", line_of(src, MARK + "lockdown")) in found
    with pytest.raises(CompileError) as err:
        compile_mesh(shop(AMBIENT, clusters=[
            Cluster("a", network="n1"),
            Cluster("b", network="n1", role="remote", primary="a", remote_pilot_address="ew.a.example.com"),  # <- remote
        ]))
    found = {(f.code, f.location.line) for f in err.value.findings}
    assert ("MC2906", line_of(src, MARK + "remote")) in found
    assert any(f.code == "MC2906" and "one network" in f.message for f in err.value.findings)


def test_multi_primary_multi_network_ambient_compiles(tmp_path: Path):
    plan = compile_mesh(shop(AMBIENT, clusters=[Cluster("a", network="n1"), Cluster("b", network="n2")]))
    for folder, network in (("a", "n1"), ("b", "n2")):
        objs = {r.key: r.obj for r in plan.folders[folder]}
        assert ("Gateway", NS, "waypoint") in objs  # identically named waypoints in every cluster
        ew = objs[("Gateway", "istio-system", "istio-eastwestgateway")]
        assert ew["metadata"]["labels"]["topology.istio.io/network"] == network
        assert ew["spec"]["gatewayClassName"] == "istio-east-west"
        assert ew["spec"]["listeners"][0]["protocol"] == "HBONE" and ew["spec"]["listeners"][0]["port"] == 15008
    assert any(f.code == "MC0902" and "istio.io/global" in f.message for f in plan.notes)
    code, out = crdcheck(write_plan(plan, tmp_path))
    assert code == 0, out


def test_service_waypoints_are_per_service_and_noted():
    plan = compile_mesh(shop(DataPlane("ambient", namespace=NS, waypoint="service")))
    names = {r.name for r in plan.folders["prod"] if r.kind == "Gateway"}
    assert names == {"web-waypoint", "cart-waypoint"}  # db needs only L4
    assert any(f.code == "MC0901" and "cart-waypoint" in f.message for f in plan.notes)
    objs = {r.key: r.obj for r in plan.folders["prod"]}
    assert "istio.io/use-waypoint" not in objs[("Namespace", "", NS)]["metadata"]["labels"]
    assert objs[("AuthorizationPolicy", NS, "db-allow")]["spec"]["selector"] == {"matchLabels": {"app": "db"}}


def test_destination_rule_policies_apply_to_each_version_service():
    cart = Service("cart", namespace=NS, ports=[Port(8080)], versions=["v1", "v2"],
                   circuit_breaker=CircuitBreaker(max_connections=10))
    objs = compiled(Mesh("m", clusters=[Cluster("c")], services=[cart], data_plane=[AMBIENT]))
    for v in ("v1", "v2"):
        dr = objs[("DestinationRule", NS, f"cart-{v}")]["spec"]
        assert dr == {"host": f"cart-{v}.shop.svc.cluster.local",
                      "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 10}}}}


def test_tls_origination_needs_the_namespace_waypoint():
    from meshcode import ExternalService, OriginateTLS

    src = Path(__file__).read_text()
    ext = ExternalService("api", namespace=NS, hosts=["api.example.com"], ports=[Port(443, "HTTPS")],
                          originate_tls=OriginateTLS(port=80, target_port=443))  # <- origination
    web = Service("web", namespace=NS, ports=[Port(8080)], calls=[ext])
    with pytest.raises(CompileError) as err:
        compile_mesh(Mesh("m", clusters=[Cluster("c")], services=[web], external_services=[ext],
                          data_plane=[DataPlane("ambient", namespace=NS, waypoint="none")]))
    assert [(f.code, f.location.line) for f in err.value.findings] == [("MC2905", line_of(src, MARK + "origination"))]
    objs = compiled(Mesh("m", clusters=[Cluster("c")], services=[web], external_services=[ext], data_plane=[AMBIENT]))
    assert objs[("DestinationRule", NS, "api")]["spec"]["trafficPolicy"]["portLevelSettings"][0]["tls"]["mode"] == "SIMPLE"
