"""One intent, two routing APIs: the VirtualService and the Gateway API output route alike.

The proof is behavioural: for a grid of requests over bookinfo, an evaluator of each API
(tests/support/core.py for VirtualServices, tests/support/gateway.py for HTTPRoutes, written
independently) gives the same destination versions and weights, timeout and mirror.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml

from meshcode import (
    Canary, Cluster, CompileError, DataPlane, Dest, Exact, Fault, Abort, Match, Mesh, Mirror, PathPrefix,
    Port, Prefix, Regex, Retries, Route, Service, compile_mesh,
)
from meshcode.compile.gateway_api import gateway_duration
from meshcode.loader import load_stacks
from tests.support.core import line_of
from tests.support.gateway import Objects
from tests.support.meshes import compiled, crdcheck, objects, write_plan
from tests.support.paths import ROOT

GATEWAY_API = DataPlane(routing="gateway-api")
MARK = "# " + "<- "  # the comment marking the line an error must point at

PATHS = ("/", "/productpage", "/static", "/static/app.css", "/staticx", "/login", "/api/v1/products",
         "/api/v1/products/0", "/reviews/0", "/ratings/0", "/details/0")
HEADERS = ({}, {"end-user": "jason"}, {"end-user": "qa-team"}, {"end-user": "someone"}, {"x-canary": "yes"})
METHODS = ("GET", "POST")
QUERIES = ({}, {"debug": "1"})


def bookinfo() -> Mesh:
    (mesh,) = [m for m in load_stacks(ROOT / "stacks") if m.name == "bookinfo"]
    return mesh


def with_plane(mesh: Mesh, *planes: DataPlane) -> Mesh:
    return mesh.model_copy(update={"data_plane": planes})


def gateway_ready(mesh: Mesh) -> Mesh:
    """Bookinfo minus what the Gateway API's standard channel cannot say (ratings' retries and fault),
    its ingress string prefixes written as path prefixes (what both APIs can say)."""
    services = []
    for s in mesh.services:
        if s.name == "ratings":
            s = s.model_copy(update={"retries": None, "routes": tuple(
                r.model_copy(update={"fault": None}) for r in s.routes)})
        services.append(s)
    ingresses = []
    for ing in mesh.ingresses:
        routes = []
        for r in ing.routes:
            matches = tuple(m.model_copy(update={"uri": PathPrefix(m.uri.value)}) if isinstance(m.uri, Prefix) else m
                            for m in r.match)
            routes.append(r.model_copy(update={"match": matches}))
        ingresses.append(ing.model_copy(update={"routes": tuple(routes)}))
    return mesh.model_copy(update={"services": tuple(services), "ingresses": tuple(ingresses)})


def test_bookinfo_refuses_retries_and_fault_at_their_lines():
    stack = (ROOT / "stacks" / "bookinfo.py").read_text()
    with pytest.raises(CompileError) as err:
        compile_mesh(with_plane(bookinfo(), GATEWAY_API), root=str(ROOT))
    found = {(f.code, f.location.line) for f in err.value.findings}
    assert ("MC2902", line_of(stack, "fault=Fault(delay=Delay(")) in found
    assert ("MC2902", line_of(stack, "retries=Retries(3")) in found
    assert ("MC2902", line_of(stack, 'Match(uri=Prefix("/reviews"))')) in found  # string prefixes: PathPrefix
    assert all(f.code == "MC2902" for f in err.value.findings)
    assert all("Istio API" in f.message for f in err.value.findings)


def test_bookinfo_routes_the_same_on_both_apis():
    mesh = gateway_ready(bookinfo())
    vs = Objects(compiled(mesh))
    gw = Objects(compiled(with_plane(mesh, GATEWAY_API)))
    assert not [k for k in gw.objs if k[0] == "VirtualService" and k[2] in {s.name for s in mesh.services}]
    checked = 0
    for s in mesh.services:
        if not s.http_ports or ("VirtualService", s.namespace, s.name) not in vs.objs:
            continue
        for path, headers, method, query in itertools.product(PATHS, HEADERS, METHODS, QUERIES):
            req = dict(uri=path, headers=headers, method=method, query=query)
            assert vs.decide_vs(s.namespace, s.name, **req) == gw.decide_gw(s.namespace, s.name, **req), (s.name, req)
            checked += 1
    assert checked >= 4 * len(PATHS) * len(HEADERS) * len(METHODS) * len(QUERIES)
    for ing in mesh.ingresses:  # the edge: the ingress VirtualService and the Gateway's HTTPRoute
        for path, headers, method in itertools.product(PATHS, HEADERS, METHODS):
            req = dict(uri=path, headers=headers, method=method)
            assert vs.decide_vs(ing.namespace, ing.name, **req, missing=None) == \
                gw.decide_gw_route(ing.namespace, ing.name, **req, missing=None), (ing.name, req)


def test_the_canary_split_tester_and_timeout_show_in_the_httproute():
    gw = Objects(compiled(with_plane(gateway_ready(bookinfo()), GATEWAY_API)))
    jason = gw.decide_gw("bookinfo", "reviews", uri="/reviews/0", headers={"end-user": "jason"})
    assert jason.split == ((("reviews", (("version", "v3"),)), 100.0),)
    assert jason.timeout == 0.5
    everyone = gw.decide_gw("bookinfo", "reviews", uri="/reviews/0")
    assert dict(everyone.split) == {("reviews", (("version", "v1"),)): 90.0, ("reviews", (("version", "v3"),)): 10.0}
    mirrored = gw.decide_gw("bookinfo", "httpbin", uri="/get")
    assert mirrored.mirror == (("httpbin", (("version", "v2"),)), 100.0)


def test_every_object_passes_the_bundled_schemas(tmp_path: Path):
    plan = compile_mesh(with_plane(gateway_ready(bookinfo()), GATEWAY_API), root=str(ROOT))
    code, out = crdcheck(write_plan(plan, tmp_path))
    assert code == 0, out
    kinds = {r.kind for _, r in plan.resources()}
    assert {"HTTPRoute", "TCPRoute", "Service"} <= kinds


# ---- Istio's samples/bookinfo/gateway-api, by meaning -------------------------------------------
# The HTTPRoutes below are Istio's (istio/istio samples/bookinfo/gateway-api/, Apache-2.0), cut to
# the reviews route each scenario changes; route-all-v1.yaml routes every service to v1.
SAMPLES = {
    "route-reviews-v1.yaml": ("v1", """
spec:
  parentRefs: [{group: "", kind: Service, name: reviews, port: 9080}]
  rules: [{backendRefs: [{name: reviews-v1, port: 9080}]}]
"""),
    "route-reviews-v3.yaml": ("v3", """
spec:
  parentRefs: [{group: "", kind: Service, name: reviews, port: 9080}]
  rules: [{backendRefs: [{name: reviews-v3, port: 9080}]}]
"""),
    "route-reviews-50-v3.yaml": ({"v1": 50, "v3": 50}, """
spec:
  parentRefs: [{kind: Service, name: reviews, port: 9080}]
  rules: [{backendRefs: [{name: reviews-v1, port: 9080, weight: 50}, {name: reviews-v3, port: 9080, weight: 50}]}]
"""),
    "route-reviews-90-10.yaml": ({"v1": 90, "v2": 10}, """
spec:
  parentRefs: [{kind: Service, name: reviews, port: 9080}]
  rules: [{backendRefs: [{name: reviews-v1, port: 9080, weight: 90}, {name: reviews-v2, port: 9080, weight: 10}]}]
"""),
}


def _meaning(spec: dict) -> tuple:
    parents = sorted((p.get("group", ""), p["kind"], p["name"], p.get("port")) for p in spec["parentRefs"])
    rules = [sorted((b["name"], b["port"], b.get("weight", 1)) for b in r["backendRefs"]) for r in spec["rules"]]
    return parents, rules


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_istio_sample_is_reproduced(sample: str):
    to, text = SAMPLES[sample]
    reviews = Service("reviews", namespace="default", ports=[Port(9080)], versions=["v1", "v2", "v3"],
                      routes=[Route(to=to)])
    objs = compiled(Mesh("bookinfo", clusters=[Cluster("prod")], services=[reviews], data_plane=[GATEWAY_API]))
    assert _meaning(objs[("HTTPRoute", "default", "reviews")]["spec"]) == _meaning(yaml.safe_load(text)["spec"])
    for v in ("v1", "v2", "v3"):  # bookinfo-versions.yaml: a Service per version, selecting app + version
        svc = objs[("Service", "default", f"reviews-{v}")]
        assert svc["spec"]["selector"] == {"app": "reviews", "version": v}
        assert svc["spec"]["ports"] == [{"name": "http-9080", "port": 9080}]


def test_route_all_v1_is_every_service_to_its_first_version():
    names = ("productpage", "reviews", "ratings", "details")
    services = [Service(n, namespace="default", ports=[Port(9080)], versions=["v1", "v2"][: 1 if n != "reviews" else 2])
                for n in names]
    objs = compiled(Mesh("bookinfo", clusters=[Cluster("prod")], services=services, data_plane=[GATEWAY_API]))
    for n in names:
        assert _meaning(objs[("HTTPRoute", "default", n)]["spec"]) == (
            [("", "Service", n, 9080)], [[(f"{n}-v1", 9080, 1)]])


# ---- what the compiler refuses, at the line -----------------------------------------------------
def _errors(*services: Service) -> list:
    with pytest.raises(CompileError) as err:
        compile_mesh(Mesh("m", clusters=[Cluster("c")], services=list(services), data_plane=[GATEWAY_API]))
    return err.value.findings


def test_a_string_prefix_is_refused_and_pathprefix_means_the_same_on_both():
    src = Path(__file__).read_text()
    findings = _errors(Service("a", ports=[Port(80)], versions=["v1", "v2"],
                               routes=[Route(match=Match(uri=Prefix("/api")), to="v2")]))  # <- string prefix
    assert [(f.code, f.location.line) for f in findings] == [("MC2902", line_of(src, MARK + "string prefix"))]
    assert "PathPrefix('/api')" in findings[0].message
    svc = Service("a", ports=[Port(80)], versions=["v1", "v2"], routes=[Route(match=Match(uri=PathPrefix("/api")), to="v2")])
    vs = Objects(compiled(Mesh("m", clusters=[Cluster("c")], services=[svc])))
    gw = Objects(compiled(Mesh("m", clusters=[Cluster("c")], services=[svc], data_plane=[GATEWAY_API])))
    for path in ("/", "/api", "/api/", "/api/x", "/apix", "/ap"):
        assert vs.decide_vs("default", "a", uri=path) == gw.decide_gw("default", "a", uri=path), path


def test_a_rule_order_gateway_api_would_change_is_refused():
    src = Path(__file__).read_text()
    findings = _errors(Service("a", ports=[Port(80)], versions=["v1", "v2"], routes=[
        Route(match=Match(headers={"end-user": "jason"}), to="v2"),
        Route(match=Match(uri=PathPrefix("/admin")), to="v1", timeout="1s"),  # <- more specific later
    ]))
    assert [(f.code, f.location.line) for f in findings] == [("MC2903", line_of(src, MARK + "more specific later"))]
    # exclusive matches, or the specific one first, compile
    for routes in ([Route(match=Match(uri=PathPrefix("/admin")), to="v1", timeout="1s"),
                    Route(match=Match(headers={"end-user": "jason"}), to="v2")],
                   [Route(match=Match(uri=Exact("/a"), headers={"end-user": "jason"}), to="v2"),
                    Route(match=Match(uri=PathPrefix("/b")), to="v1", timeout="1s")]):
        svc = Service("a", ports=[Port(80)], versions=["v1", "v2"], routes=routes)
        vs = Objects(compiled(Mesh("m", clusters=[Cluster("c")], services=[svc])))
        gw = Objects(compiled(Mesh("m", clusters=[Cluster("c")], services=[svc], data_plane=[GATEWAY_API])))
        for path, who in itertools.product(("/", "/a", "/admin", "/admin/x", "/b/c"), ({}, {"end-user": "jason"})):
            assert vs.decide_vs("default", "a", uri=path, headers=who) == gw.decide_gw("default", "a", uri=path, headers=who)


def test_unsayable_matches_and_fault_are_refused_each_at_its_line():
    src = Path(__file__).read_text()
    findings = _errors(Service("a", ports=[Port(80)], versions=["v1", "v2"], routes=[
        Route(match=Match(source_namespace="x"), to="v2"),  # <- source
        Route(match=Match(method=Regex("GET|HEAD")), to="v2"),  # <- method regex
        Route(match=Match(uri="/f"), to="v2", fault=Fault(abort=Abort(500))),  # <- fault
    ], retries=Retries(2)))  # <- retries
    lines = sorted(f.location.line for f in findings)
    assert lines == sorted(line_of(src, MARK + m) for m in ("source", "method regex", "fault", "retries"))
    assert {f.code for f in findings} == {"MC2902"}


def test_gateway_durations_and_mirror_fractions():
    assert gateway_duration("0.5s") == "500ms"
    assert gateway_duration("90s") == "1m30s"
    assert gateway_duration("3725.25s") == "1h2m5s250ms"
    svc = Service("a", ports=[Port(80)], versions=["v1", "v2"], mirror=Mirror("v2", percent=12.5), timeout="2.5s")
    gw = Objects(compiled(Mesh("m", clusters=[Cluster("c")], services=[svc], data_plane=[GATEWAY_API])))
    vs = Objects(compiled(Mesh("m", clusters=[Cluster("c")], services=[svc])))
    assert gw.decide_gw("default", "a", uri="/") == vs.decide_vs("default", "a", uri="/")
    assert gw.decide_gw("default", "a", uri="/").mirror[1] == 12.5


def test_cross_namespace_backends_get_a_reference_grant():
    other = Service("b", namespace="other", ports=[Port(80)], versions=["v1"])
    a = Service("a", namespace="shop", ports=[Port(80)], routes=[Route(match=Match(uri="/b"), to=Dest(other, version="v1")),
                                                                 Route(to=Dest(other))])
    objs = compiled(Mesh("m", clusters=[Cluster("c")], services=[a, other], data_plane=[GATEWAY_API]))
    grant = objs[("ReferenceGrant", "other", "shop-httproutes-services")]
    assert grant["spec"] == {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "shop"}],
                             "to": [{"group": "", "kind": "Service"}]}
    rules = objs[("HTTPRoute", "shop", "a")]["spec"]["rules"]
    assert rules[0]["backendRefs"] == [{"name": "b-v1", "namespace": "other", "port": 80}]
    assert ("Service", "other", "b-v1") in objs


def test_grpc_ports_get_a_grpcroute():
    svc = Service("g", ports=[Port(50051, "GRPC")], versions=["v1", "v2"], routes=[
        Route(match=Match(uri="/shop.Cart/Checkout"), to="v2"), Route(to="v1")])
    objs = compiled(Mesh("m", clusters=[Cluster("c")], services=[svc], data_plane=[GATEWAY_API]))
    rules = objs[("GRPCRoute", "default", "g")]["spec"]["rules"]
    assert rules[0]["matches"] == [{"method": {"service": "shop.Cart", "method": "Checkout"}}]
    assert rules[1]["backendRefs"] == [{"name": "g-v1", "port": 50051}]


def test_tcp_and_tls_passthrough_ingress_get_listeners_and_routes(tmp_path: Path):
    from meshcode import Ingress

    db = Service("db", namespace="shop", ports=[Port(5432, "TCP")], versions=["v1", "v2"], routes=[Route(to={"v1": 90, "v2": 10})])
    tls = Service("vault", namespace="shop", ports=[Port(8443, "TLS")])
    ingresses = [Ingress("db-edge", namespace="shop", hosts=["*"], protocol="TCP", port=5432, routes=[Route(to=db)]),
                 Ingress("vault", namespace="shop", hosts=["vault.example.com"], protocol="TLS", routes=[Route(to=tls)])]
    plan = compile_mesh(Mesh("m", clusters=[Cluster("c")], services=[db, tls], ingresses=ingresses, data_plane=[GATEWAY_API]))
    code, out = crdcheck(write_plan(plan, tmp_path))
    assert code == 0, out
    objs = objects(plan)
    assert objs[("Gateway", "shop", "db-edge")]["spec"]["listeners"] == [
        {"name": "tcp", "port": 5432, "protocol": "TCP", "allowedRoutes": {"namespaces": {"from": "Same"}}}]
    assert objs[("TCPRoute", "shop", "db-edge")]["spec"] == {
        "parentRefs": [{"name": "db-edge", "sectionName": "tcp"}],
        "rules": [{"backendRefs": [{"name": "db-v1", "port": 5432, "weight": 90}, {"name": "db-v2", "port": 5432, "weight": 10}]}]}
    (listener,) = objs[("Gateway", "shop", "vault")]["spec"]["listeners"]
    assert listener["protocol"] == "TLS" and listener["tls"] == {"mode": "Passthrough"} and listener["port"] == 443
    route = objs[("TLSRoute", "shop", "vault")]["spec"]
    assert route["hostnames"] == ["vault.example.com"] and route["rules"] == [{"backendRefs": [{"name": "vault", "port": 8443}]}]


def test_edge_policies_for_pods_a_gateway_api_ingress_does_not_run_on_are_refused():
    from meshcode import DenyRule, Ingress, IngressGateway, ZeroTrust

    src = Path(__file__).read_text()
    web = Service("web", namespace="shop", ports=[Port(80)])
    ing = Ingress("edge", namespace="shop", hosts=["shop.example.com"], routes=[Route(to=web)])
    legacy = IngressGateway(deny=[DenyRule(ip_blocks=["192.0.2.1"])])  # <- istio-ingressgateway pods
    with pytest.raises(CompileError) as err:
        compile_mesh(Mesh("m", clusters=[Cluster("c")], services=[web], ingresses=[ing], data_plane=[GATEWAY_API],
                          zero_trust=[ZeroTrust(namespace="shop", gateways=[legacy])]))
    (f,) = [f for f in err.value.findings if f.code == "MC2902"]
    assert f.location.line == line_of(src, MARK + "istio-ingressgateway pods")
    assert "gateway.networking.k8s.io/gateway-name" in f.message and "edge-istio" in f.message
    deployed = IngressGateway(selector={"gateway.networking.k8s.io/gateway-name": "edge"}, namespace="shop",
                              service_account="edge-istio", deny=[DenyRule(ip_blocks=["192.0.2.1"])])
    objs = compiled(Mesh("m", clusters=[Cluster("c")], services=[web], ingresses=[ing], data_plane=[GATEWAY_API],
                         zero_trust=[ZeroTrust(namespace="shop", gateways=[deployed])]))
    allow = objs[("AuthorizationPolicy", "shop", "web-allow")]["spec"]
    assert allow["rules"][0]["from"][0]["source"]["principals"] == ["cluster.local/ns/shop/sa/edge-istio"]
    assert any(k[0] == "AuthorizationPolicy" and v["spec"].get("action") == "DENY"
               and v["spec"]["selector"]["matchLabels"] == {"gateway.networking.k8s.io/gateway-name": "edge"}
               for k, v in objs.items())
