"""The seeds' traffic scenarios, each written with the public SDK and checked by meaning.

Each test compiles a small mesh and asserts what Istio would do with the objects: which
subset a request reaches, which faults, timeouts and retries apply, what the gateway
serves. The last test runs the independent CRD checker over every mesh compiled here.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from meshcode import (
    Abort,
    ApiVersions,
    Canary,
    CircuitBreaker,
    ClientTLS,
    Cluster,
    Delay,
    Dest,
    Exact,
    ExternalService,
    Fault,
    Ingress,
    LoadBalancer,
    Match,
    Mesh,
    Mirror,
    OriginateTLS,
    OutlierDetection,
    Port,
    Prefix,
    Regex,
    Retries,
    Route,
    ServerTLS,
    Service,
    SidecarScope,
    Version,
    compile_mesh,
)
from tests.support.core import http_rule, split
from tests.support.meshes import crdcheck, objects, write_plan

NS = "bookinfo"
REVIEWS = f"reviews.{NS}.svc.cluster.local"
RATINGS = f"ratings.{NS}.svc.cluster.local"
HTTPBIN = f"httpbin.{NS}.svc.cluster.local"
JASON = Match(headers={"end-user": "jason"})

COMPILED: dict[str, Mesh] = {}  # every mesh a test compiled, for the CRD check at the end


def compile_objects(mesh: Mesh) -> dict[tuple[str, str, str], dict[str, Any]]:
    COMPILED[mesh.name] = mesh
    return objects(compile_mesh(mesh))


def mesh_of(name: str, *services: Service, **kw: Any) -> Mesh:
    return Mesh(name, clusters=[Cluster("prod")], services=list(services), **kw)


def vs(objs: dict, name: str, ns: str = NS) -> dict[str, Any]:
    return objs[("VirtualService", ns, name)]


def dr(objs: dict, name: str, ns: str = NS) -> dict[str, Any]:
    return objs[("DestinationRule", ns, name)]


def reviews(**kw: Any) -> Service:
    return Service("reviews", namespace=NS, ports=[Port(9080)], versions=["v1", "v2", "v3"], **kw)


def ratings(**kw: Any) -> Service:
    return Service("ratings", namespace=NS, ports=[Port(9080)], versions=["v1", "v2"], **kw)


# ---- routing ----------------------------------------------------------------------------------
def test_all_traffic_to_v1() -> None:
    services = [Service(n, namespace=NS, ports=[Port(9080)], versions=["v1", "v2", "v3"][:k])
                for n, k in (("productpage", 1), ("details", 2), ("reviews", 3), ("ratings", 2))]
    objs = compile_objects(mesh_of("all-v1", *services))
    for s in services:
        v = vs(objs, s.name)
        assert v["spec"]["hosts"] == [s.host]
        assert "gateways" not in v["spec"]  # mesh traffic only
        for request in ({}, {"headers": {"end-user": "jason"}}, {"uri": "/anything", "method": "POST"}):
            assert split(http_rule(v, **request)) == {f"{s.host}/v1": 100}
        subsets = {x["name"]: x["labels"] for x in dr(objs, s.name)["spec"]["subsets"]}
        assert subsets == {v.name: {"version": v.name} for v in s.versions}


def test_jason_to_reviews_v2_by_route() -> None:
    objs = compile_objects(mesh_of("jason-route", reviews(routes=[Route(match=JASON, to="v2")])))
    v = vs(objs, "reviews")
    assert split(http_rule(v, headers={"end-user": "jason"})) == {f"{REVIEWS}/v2": 100}
    assert split(http_rule(v, headers={"end-user": "kim"})) == {f"{REVIEWS}/v1": 100}
    assert split(http_rule(v)) == {f"{REVIEWS}/v1": 100}
    assert v["spec"]["http"][0]["match"] == [{"headers": {"end-user": {"exact": "jason"}}}]


def test_jason_to_reviews_v2_as_canary_tester() -> None:
    canary = Canary(stable="v1", candidate="v2", weight=0, testers=[JASON])
    v = vs(compile_objects(mesh_of("jason-canary", reviews(canary=canary))), "reviews")
    assert split(http_rule(v, headers={"end-user": "jason"})) == {f"{REVIEWS}/v2": 100}
    assert split(http_rule(v)) == {f"{REVIEWS}/v1": 100}


@pytest.mark.parametrize("candidate_weight", [50, 10])
def test_canary_split(candidate_weight: int) -> None:
    canary = Canary(stable="v1", candidate="v3", weight=candidate_weight)
    v = vs(compile_objects(mesh_of(f"canary-{candidate_weight}", reviews(canary=canary))), "reviews")
    expected = {f"{REVIEWS}/v1": 100 - candidate_weight, f"{REVIEWS}/v3": candidate_weight}
    assert split(http_rule(v)) == expected
    assert split(http_rule(v, headers={"end-user": "jason"})) == expected  # no testers: everyone splits


def test_weighted_route_50_50_v1_v3() -> None:
    v = vs(compile_objects(mesh_of("split-50", reviews(routes=[Route(to={"v1": 50, "v3": 50})]))), "reviews")
    assert v["spec"]["http"] == [{"route": [
        {"destination": {"host": REVIEWS, "subset": "v1"}, "weight": 50},
        {"destination": {"host": REVIEWS, "subset": "v3"}, "weight": 50},
    ]}]


def test_tcp_80_20_shift() -> None:
    echo = Service("tcp-echo", namespace=NS, ports=[Port(9000, "TCP")], versions=["v1", "v2"],
                   routes=[Route(to={"v1": 80, "v2": 20})])
    spec = vs(compile_objects(mesh_of("tcp", echo)), "tcp-echo")["spec"]
    assert "http" not in spec
    host = echo.host
    assert spec["tcp"] == [{"route": [
        {"destination": {"host": host, "subset": "v1", "port": {"number": 9000}}, "weight": 80},
        {"destination": {"host": host, "subset": "v2", "port": {"number": 9000}}, "weight": 20},
    ]}]


def test_tls_port_routes_by_sni() -> None:
    secure = Service("vault", namespace=NS, ports=[Port(8200, "TLS")], versions=["v1", "v2"],
                     routes=[Route(to={"v1": 90, "v2": 10})])
    spec = vs(compile_objects(mesh_of("tls-route", secure)), "vault")["spec"]
    (rule,) = spec["tls"]
    assert rule["match"] == [{"port": 8200, "sniHosts": [secure.host]}]
    assert [(r["destination"]["subset"], r["weight"]) for r in rule["route"]] == [("v1", 90), ("v2", 10)]


# ---- faults, timeouts, retries ----------------------------------------------------------------
def test_seven_second_delay_for_jason_on_ratings() -> None:
    svc = ratings(routes=[Route(match=JASON, fault=Fault(delay=Delay("7s")))])
    v = vs(compile_objects(mesh_of("delay", svc)), "ratings")
    jason = http_rule(v, headers={"end-user": "jason"})
    assert jason["fault"] == {"delay": {"fixedDelay": "7s", "percentage": {"value": 100.0}}}
    assert split(jason) == {f"{RATINGS}/v1": 100}  # the fault rule still reaches the default version
    other = http_rule(v, headers={"end-user": "kim"})
    assert "fault" not in other and split(other) == {f"{RATINGS}/v1": 100}


def test_http_500_abort_for_jason_on_ratings() -> None:
    svc = ratings(routes=[Route(match=JASON, to="v1", fault=Fault(abort=Abort(500)))])
    v = vs(compile_objects(mesh_of("abort", svc)), "ratings")
    assert http_rule(v, headers={"end-user": "jason"})["fault"] == {
        "abort": {"httpStatus": 500, "percentage": {"value": 100.0}}}
    assert "fault" not in http_rule(v)


def test_partial_fault_on_every_request() -> None:
    svc = ratings(fault=Fault(delay=Delay("500ms", percent=10), abort=Abort(503, percent=5)))
    rule = http_rule(vs(compile_objects(mesh_of("partial-fault", svc)), "ratings"))
    assert rule["fault"] == {"delay": {"fixedDelay": "0.5s", "percentage": {"value": 10.0}},
                             "abort": {"httpStatus": 503, "percentage": {"value": 5.0}}}


def test_half_second_timeout_on_reviews() -> None:
    svc = reviews(timeout="0.5s", routes=[Route(match=JASON, to="v2")])
    v = vs(compile_objects(mesh_of("timeout", svc)), "reviews")
    assert [r["timeout"] for r in v["spec"]["http"]] == ["0.5s", "0.5s"]  # every rule of the service


@pytest.mark.parametrize("given, emitted", [("500ms", "0.5s"), (0.5, "0.5s"), ("1m30s", "90s"), ("2s", "2s")])
def test_duration_forms(given: Any, emitted: str) -> None:
    v = vs(compile_objects(mesh_of(f"duration-{emitted[:-1].replace('.', '-')}", reviews(timeout=given))), "reviews")
    assert http_rule(v)["timeout"] == emitted


def test_route_timeout_overrides_service_timeout() -> None:
    svc = reviews(timeout="3s", routes=[Route(match=JASON, to="v2", timeout="1s")])
    v = vs(compile_objects(mesh_of("timeout-override", svc)), "reviews")
    assert http_rule(v, headers={"end-user": "jason"})["timeout"] == "1s"
    assert http_rule(v)["timeout"] == "3s"


def test_retries_three_times_two_seconds() -> None:
    svc = ratings(retries=Retries(3, per_try_timeout="2s", retry_on=["5xx", "connect-failure"]))
    rule = http_rule(vs(compile_objects(mesh_of("retries", svc)), "ratings"))
    assert rule["retries"] == {"attempts": 3, "perTryTimeout": "2s", "retryOn": "5xx,connect-failure"}


# ---- destination policy -----------------------------------------------------------------------
def test_httpbin_circuit_breaker() -> None:
    httpbin = Service(
        "httpbin", namespace=NS, ports=[Port(8000)], versions=["v1"],
        circuit_breaker=CircuitBreaker(max_connections=1, max_pending_requests=1, max_requests_per_connection=1),
        outlier_detection=OutlierDetection(consecutive_5xx_errors=1, interval="1s", base_ejection_time="3m",
                                           max_ejection_percent=100),
    )
    policy = dr(compile_objects(mesh_of("breaker", httpbin)), "httpbin")["spec"]["trafficPolicy"]
    assert policy["connectionPool"] == {"tcp": {"maxConnections": 1},
                                        "http": {"http1MaxPendingRequests": 1, "maxRequestsPerConnection": 1}}
    assert policy["outlierDetection"] == {"consecutive5xxErrors": 1, "interval": "1s",
                                          "baseEjectionTime": "180s", "maxEjectionPercent": 100}


def test_mirror_all_httpbin_v1_traffic_to_v2() -> None:
    httpbin = Service("httpbin", namespace=NS, ports=[Port(8000)], versions=["v1", "v2"],
                      mirror=Mirror("v2", percent=100))
    rule = http_rule(vs(compile_objects(mesh_of("mirror", httpbin)), "httpbin"))
    assert split(rule) == {f"{HTTPBIN}/v1": 100}  # live traffic stays on v1
    assert rule["mirror"] == {"host": HTTPBIN, "subset": "v2"}
    assert rule["mirrorPercentage"] == {"value": 100.0}


def test_mirror_to_another_service() -> None:
    shadow = Service("httpbin-shadow", namespace=NS, ports=[Port(8000)])
    httpbin = Service("httpbin", namespace=NS, ports=[Port(8000)], versions=["v1"], mirror=Mirror(shadow, percent=25))
    rule = http_rule(vs(compile_objects(mesh_of("mirror-svc", httpbin, shadow)), "httpbin"))
    assert rule["mirror"] == {"host": shadow.host} and rule["mirrorPercentage"] == {"value": 25.0}


@pytest.mark.parametrize("name, lb, emitted", [
    ("round-robin", LoadBalancer("ROUND_ROBIN"), {"simple": "ROUND_ROBIN"}),
    ("random", LoadBalancer("RANDOM"), {"simple": "RANDOM"}),
    ("least-request", LoadBalancer("LEAST_REQUEST"), {"simple": "LEAST_REQUEST"}),
    ("hash-header", LoadBalancer(hash_header="x-user"), {"consistentHash": {"httpHeaderName": "x-user"}}),
    ("hash-cookie", LoadBalancer(hash_cookie="session", hash_cookie_ttl="10s"),
     {"consistentHash": {"httpCookie": {"name": "session", "ttl": "10s"}}}),
    ("hash-source-ip", LoadBalancer(hash_source_ip=True), {"consistentHash": {"useSourceIp": True}}),
])
def test_load_balancer_at_service_and_version_level(name: str, lb: LoadBalancer, emitted: dict[str, Any]) -> None:
    name = f"lb-{name}"
    service_level = reviews(load_balancer=lb)
    spec = dr(compile_objects(mesh_of(name, service_level)), "reviews")["spec"]
    assert spec["trafficPolicy"] == {"loadBalancer": emitted}
    assert all("trafficPolicy" not in s for s in spec["subsets"])

    per_version = Service("reviews", namespace=NS, ports=[Port(9080)],
                          versions=[Version("v1"), Version("v2", load_balancer=lb)])
    spec = dr(compile_objects(mesh_of(name + "-v", per_version)), "reviews")["spec"]
    assert "trafficPolicy" not in spec
    subsets = {s["name"]: s for s in spec["subsets"]}
    assert "trafficPolicy" not in subsets["v1"]
    assert subsets["v2"]["trafficPolicy"] == {"loadBalancer": emitted}


def test_version_labels_and_per_version_breaker() -> None:
    svc = Service("reviews", namespace=NS, ports=[Port(9080)], versions=[
        Version("stable", labels={"track": "stable"}),
        Version("next", labels={"track": "next"}, circuit_breaker=CircuitBreaker(max_connections=5)),
    ])
    subsets = dr(compile_objects(mesh_of("version-labels", svc)), "reviews")["spec"]["subsets"]
    assert subsets == [
        {"name": "stable", "labels": {"track": "stable"}},
        {"name": "next", "labels": {"track": "next"},
         "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 5}}}},
    ]


# ---- match types --------------------------------------------------------------------------------
def test_match_types() -> None:
    svc = reviews(routes=[
        Route(match=Match(headers={"x-exact": "a", "x-prefix": Prefix("pre"), "x-regex": Regex("^v[0-9]+$")}),
              to="v2"),
        Route(match=Match(uri=Exact("/exact")), to="v3"),
        Route(match=Match(uri=Prefix("/api/")), to="v3"),
        Route(match=Match(uri=Regex("/items/[0-9]+")), to="v3"),
        Route(match=Match(query={"beta": "1", "q": Regex("x.*")}), to="v2"),
        Route(match=Match(method="POST"), to="v2"),
        Route(match=Match(source_labels={"app": "productpage", "version": "v2"}), to="v3"),
        Route(match=[Match(headers={"a": "1"}), Match(headers={"b": "2"})], to="v2"),  # OR of two matches
    ])
    v = vs(compile_objects(mesh_of("matches", svc)), "reviews")
    assert [r.get("match") for r in v["spec"]["http"][:-1]] == [
        [{"headers": {"x-exact": {"exact": "a"}, "x-prefix": {"prefix": "pre"}, "x-regex": {"regex": "^v[0-9]+$"}}}],
        [{"uri": {"exact": "/exact"}}],
        [{"uri": {"prefix": "/api/"}}],
        [{"uri": {"regex": "/items/[0-9]+"}}],
        [{"queryParams": {"beta": {"exact": "1"}, "q": {"regex": "x.*"}}}],
        [{"method": {"exact": "POST"}}],
        [{"sourceLabels": {"app": "productpage", "version": "v2"}}],
        [{"headers": {"a": {"exact": "1"}}}, {"headers": {"b": {"exact": "2"}}}],
    ]
    v1, v2, v3 = (f"{REVIEWS}/{x}" for x in ("v1", "v2", "v3"))

    def dest(**req: Any) -> str:
        (only,) = split(http_rule(v, **req))
        return only

    assert dest(headers={"x-exact": "a", "x-prefix": "prefix", "x-regex": "v12"}) == v2
    assert dest(headers={"x-exact": "a", "x-prefix": "prefix", "x-regex": "v1x"}) == v1  # all must hold
    assert dest(uri="/exact") == v3 and dest(uri="/exact/more") == v1
    assert dest(uri="/api/books") == v3
    assert dest(uri="/items/42") == v3 and dest(uri="/items/x") == v1
    assert dest(query={"beta": "1", "q": "xyz"}) == v2 and dest(query={"beta": "1"}) == v1
    assert dest(method="POST") == v2 and dest(method="GET") == v1
    assert dest(source_labels={"app": "productpage", "version": "v2"}) == v3
    assert dest(source_labels={"app": "productpage", "version": "v1"}) == v1
    assert dest(headers={"b": "2"}) == v2
    assert dest() == v1


def test_uri_prefix_to_a_different_service() -> None:
    rat = ratings()
    rev = reviews(routes=[Route(match=Match(uri=Prefix("/ratings")), to=Dest(rat, version="v2"))])
    v = vs(compile_objects(mesh_of("other-service", rev, rat)), "reviews")
    assert split(http_rule(v, uri="/ratings/7")) == {f"{RATINGS}/v2": 100}
    assert split(http_rule(v, uri="/reviews/7")) == {f"{REVIEWS}/v1": 100}


def test_service_referenced_by_name_across_namespaces() -> None:
    other = Service("ratings", namespace="scores", ports=[Port(9080)], versions=["v1"])
    rev = reviews(routes=[Route(match=Match(uri=Prefix("/ratings")), to=Dest("ratings", version="v1"))])
    v = vs(compile_objects(mesh_of("cross-ns", rev, other)), "reviews")
    assert split(http_rule(v, uri="/ratings")) == {"ratings.scores.svc.cluster.local/v1": 100}


# ---- edge ---------------------------------------------------------------------------------------
def bookinfo_com(name: str, api_versions: ApiVersions | None = None, **ingress: Any) -> tuple[Mesh, Service, Service]:
    rev, rat = reviews(), ratings()
    ing = Ingress("bookinfo", namespace=NS, hosts=["bookinfo.com"], routes=[
        Route(match=Match(uri=Prefix("/reviews")), to=rev),
        Route(match=Match(uri=Prefix("/ratings")), to=rat),
    ], **ingress)
    extra = {"api_versions": api_versions, "sidecars": [SidecarScope(NS)]} if api_versions else {}
    return mesh_of(name, rev, rat, ingresses=[ing], **extra), rev, rat


def test_bookinfo_com_routes_uri_prefixes_to_services() -> None:
    mesh, _, _ = bookinfo_com("bookinfo-com")
    objs = compile_objects(mesh)
    v = vs(objs, "bookinfo")
    assert v["spec"]["hosts"] == ["bookinfo.com"]
    assert v["spec"]["gateways"] == [f"{NS}/bookinfo"]
    assert split(http_rule(v, uri="/reviews/1")) == {f"{REVIEWS}/v1": 100}
    assert split(http_rule(v, uri="/ratings/1")) == {f"{RATINGS}/v1": 100}
    with pytest.raises(AssertionError, match="no rule"):
        http_rule(v, uri="/admin")  # nothing else is exposed
    gw = objs[("Gateway", NS, "bookinfo")]["spec"]
    assert gw == {"selector": {"istio": "ingressgateway"}, "servers": [
        {"port": {"number": 80, "name": "http-80", "protocol": "HTTP"}, "hosts": ["bookinfo.com"]}]}


def test_ingress_https_simple_with_redirect() -> None:
    mesh, _, _ = bookinfo_com("https-redirect", tls=ServerTLS("bookinfo-cert"), http_redirect=True)
    objs = compile_objects(mesh)
    servers = {s["port"]["number"]: s for s in objs[("Gateway", NS, "bookinfo")]["spec"]["servers"]}
    assert servers[443] == {"port": {"number": 443, "name": "https-443", "protocol": "HTTPS"},
                            "hosts": ["bookinfo.com"], "tls": {"mode": "SIMPLE", "credentialName": "bookinfo-cert"}}
    assert servers[80] == {"port": {"number": 80, "name": "http-80", "protocol": "HTTP"},
                           "hosts": ["bookinfo.com"], "tls": {"httpsRedirect": True}}
    v = vs(objs, "bookinfo")["spec"]
    assert v["gateways"] == [f"{NS}/bookinfo"]
    assert set(v["hosts"]) <= set(servers[443]["hosts"])  # the VS binds only hosts the gateway serves


def test_ingress_mutual_tls() -> None:
    mesh, _, _ = bookinfo_com("mutual", tls=ServerTLS("bookinfo-mtls", mode="MUTUAL", min_protocol_version="TLSV1_3"))
    (server,) = compile_objects(mesh)[("Gateway", NS, "bookinfo")]["spec"]["servers"]
    assert server["tls"] == {"mode": "MUTUAL", "credentialName": "bookinfo-mtls", "minProtocolVersion": "TLSV1_3"}
    assert server["port"]["protocol"] == "HTTPS"


def test_ingress_http_and_https_side_by_side() -> None:
    rev = reviews()
    plain = Ingress("shop-http", namespace=NS, hosts=["shop.example.com"], routes=[Route(to=rev)])
    secure = Ingress("shop-https", namespace=NS, hosts=["shop.example.com"], tls=ServerTLS("shop-cert"),
                     routes=[Route(to=rev)])
    objs = compile_objects(mesh_of("http-and-https", rev, ingresses=[plain, secure]))
    ports = {n: [s["port"]["number"] for s in objs[("Gateway", NS, n)]["spec"]["servers"]]
             for n in ("shop-http", "shop-https")}
    assert ports == {"shop-http": [80], "shop-https": [443]}
    for n in ports:
        assert vs(objs, n)["spec"]["gateways"] == [f"{NS}/{n}"]


def test_ingress_gateway_in_gateway_namespace() -> None:
    rev = reviews()
    ing = Ingress("front", namespace=NS, gateway_namespace="istio-ingress", hosts=["front.example.com"],
                  routes=[Route(to=rev)])
    objs = compile_objects(mesh_of("gateway-ns", rev, ingresses=[ing]))
    assert ("Gateway", "istio-ingress", "front") in objs
    assert vs(objs, "front")["spec"]["gateways"] == ["istio-ingress/front"]


def test_ingress_keeps_the_canary_split() -> None:
    rev = reviews(canary=Canary(stable="v1", candidate="v3", weight=10, testers=[JASON]))
    ing = Ingress("front", namespace=NS, hosts=["front.example.com"], routes=[Route(to=rev)])
    v = vs(compile_objects(mesh_of("ingress-canary", rev, ingresses=[ing])), "front")
    assert split(http_rule(v)) == {f"{REVIEWS}/v1": 90, f"{REVIEWS}/v3": 10}


def test_egress_service_entry_with_tls_origination() -> None:
    api = ExternalService("httpbin-org", namespace=NS, hosts=["httpbin.org"], ports=[Port(443, "HTTPS")],
                          originate_tls=OriginateTLS(port=80, target_port=443))
    objs = compile_objects(mesh_of("egress", external_services=[api]))
    se = objs[("ServiceEntry", NS, "httpbin-org")]["spec"]
    assert se["hosts"] == ["httpbin.org"]
    assert se["location"] == "MESH_EXTERNAL" and se["resolution"] == "DNS"
    ports = {p["number"]: p for p in se["ports"]}
    assert ports[80] == {"number": 80, "name": "http-80", "protocol": "HTTP", "targetPort": 443}
    assert ports[443]["protocol"] == "HTTPS"
    rule = objs[("DestinationRule", NS, "httpbin-org")]["spec"]
    assert rule["host"] == "httpbin.org"
    assert rule["trafficPolicy"]["portLevelSettings"] == [
        {"port": {"number": 80}, "tls": {"mode": "SIMPLE", "sni": "httpbin.org"}}]


def test_egress_without_origination_has_no_destination_rule() -> None:
    api = ExternalService("payments", namespace=NS, hosts=["api.payments.example"], ports=[Port(443, "TLS")])
    objs = compile_objects(mesh_of("egress-plain", external_services=[api]))
    assert ("ServiceEntry", NS, "payments") in objs
    assert ("DestinationRule", NS, "payments") not in objs


def test_egress_client_tls() -> None:
    api = ExternalService("db", namespace=NS, hosts=["db.example.com"], ports=[Port(5432, "TCP")],
                          tls=ClientTLS("SIMPLE", sni="db.example.com"))
    rule = compile_objects(mesh_of("egress-tls", external_services=[api]))[("DestinationRule", NS, "db")]["spec"]
    assert rule == {"host": "db.example.com", "trafficPolicy": {"tls": {"mode": "SIMPLE", "sni": "db.example.com"}}}


def test_namespace_wide_sidecar() -> None:
    objs = compile_objects(mesh_of("sidecar", reviews(), sidecars=[SidecarScope(NS)]))
    sidecar = objs[("Sidecar", NS, "default")]
    assert "workloadSelector" not in sidecar["spec"]  # applies to every workload in the namespace
    assert sidecar["spec"]["egress"] == [{"hosts": ["./*", "istio-system/*"]}]


# ---- output shape -------------------------------------------------------------------------------
def test_v1beta1_api_version_switch() -> None:
    beta, _, _ = bookinfo_com("beta", ApiVersions(networking="v1beta1"), tls=ServerTLS("cert"), http_redirect=True)
    objs = compile_objects(beta)
    traffic_kinds = {"VirtualService", "DestinationRule", "Gateway", "Sidecar"}
    istio = [o for o in objs.values() if o["kind"] in traffic_kinds]
    assert {o["kind"] for o in istio} == traffic_kinds
    assert {o["apiVersion"] for o in istio} == {"networking.istio.io/v1beta1"}
    v1, _, _ = bookinfo_com("v1", ApiVersions(), tls=ServerTLS("cert"), http_redirect=True)
    default = compile_objects(v1)
    assert {o["apiVersion"] for o in default.values() if o["kind"] in traffic_kinds} == {"networking.istio.io/v1"}

    def strip(objs: dict) -> dict:
        return {k: {**o, "apiVersion": ""} for k, o in objs.items() if o["kind"] in traffic_kinds}

    assert strip(objs) == strip(default)  # only the version differs


def test_every_object_is_owned_and_namespaced() -> None:
    mesh, _, _ = bookinfo_com("owned")
    plan = compile_mesh(mesh)
    for r in plan.folders["prod"]:
        assert r.metadata["labels"]["app.kubernetes.io/managed-by"] == "meshcode"
    assert {r.name for r in plan.folders["prod"] if r.kind == "Namespace"} == {NS}


def test_every_scenario_passes_the_istio_crds(tmp_path: Path) -> None:
    """Runs last in this module: every mesh compiled above, through the independent checker."""
    if len(COMPILED) < 30:
        pytest.skip("checks the meshes the other scenarios compiled: run the whole module")
    istio_objects = 0
    for name, mesh in COMPILED.items():
        plan = compile_mesh(mesh)
        istio_objects += sum(1 for _, r in plan.resources() if r.api_version.startswith("networking.istio.io/"))
        write_plan(plan, tmp_path / name)
    code, output = crdcheck(tmp_path)
    assert code == 0, output
    summary = re.search(r"crdcheck: (\d+) objects, (\d+) checked against a CRD, (\d+) errors", output)
    assert summary, output
    assert int(summary[2]) >= istio_objects > 100 and int(summary[3]) == 0, output
