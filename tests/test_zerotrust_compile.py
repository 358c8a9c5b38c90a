"""What ZeroTrust compiles to: scopes and their layering, identities, JWT, TCP, egress, placement.

Semantics are asserted through the independent evaluator (tests/support/authz.py) wherever a
decision is the point; object shapes are asserted where the shape is the point.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from meshcode import (
    ApiVersions,
    Call,
    Cluster,
    DenyRule,
    ExternalService,
    Ingress,
    Jwt,
    Match,
    Mesh,
    MtlsMigration,
    Port,
    Prefix,
    Route,
    Service,
    Version,
    ZeroTrust,
    compile_mesh,
)
from meshcode.errors import IntentError
from meshcode.loader import load_stacks
from meshcode.render import render_tree
from tests.support.authz import Authorizer, Request, Workload
from tests.support.meshes import compiled, crdcheck, objects, write_plan
from tests.support.paths import ROOT

ISSUER = "https://accounts.example.com"
JWKS = "https://accounts.example.com/.well-known/jwks.json"


def kinds(objs: dict, kind: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(ns, name): o for (k, ns, name), o in objs.items() if k == kind}


def shop(*zero_trust: ZeroTrust, **kw: Any) -> Mesh:
    """shop/web → shop/api (GET /v1/*) → data/db (TCP 5432); api also has a TCP admin port."""
    db = Service("db", namespace="data", ports=[Port(5432, "TCP")], service_account="db")
    api = Service("api", namespace="shop", ports=[Port(8080, target_port=8081), Port(9000, "TCP")],
                  service_account="api", calls=[Call(db)])
    web = Service("web", namespace="shop", ports=[Port(80)], versions=["v1"],
                  calls=[Call(api, ports=[8080], methods=["GET"], paths=["/v1/*"])])
    return Mesh("shop", clusters=[Cluster("prod")], services=[web, api, db], zero_trust=list(zero_trust), **kw)


def principal(ns: str, sa: str, td: str = "cluster.local") -> str:
    return f"{td}/ns/{ns}/sa/{sa}"


def test_a_mesh_scope_puts_mtls_in_the_root_namespace_and_deny_in_each_namespace() -> None:
    objs = compiled(shop(ZeroTrust(deny=[DenyRule(not_namespaces=["shop", "data", "istio-system"])])))
    peer = kinds(objs, "PeerAuthentication")
    assert peer == {("istio-system", "default"): peer[("istio-system", "default")]}
    assert peer[("istio-system", "default")]["spec"] == {"mtls": {"mode": "STRICT"}}
    policies = kinds(objs, "AuthorizationPolicy")
    for ns in ("shop", "data"):
        assert policies[(ns, "allow-nothing")]["spec"] == {}
        assert policies[(ns, "mesh-deny")]["spec"]["action"] == "DENY"
    assert not any(ns == "istio-system" for ns, _ in policies)  # the gateways keep working
    assert ("Namespace", "", "istio-system") not in objs


def test_scopes_layer_field_by_field() -> None:
    mesh = shop(
        ZeroTrust(),
        ZeroTrust(namespace="data", mtls=MtlsMigration("DISABLE", "PERMISSIVE")),
        ZeroTrust(service="api", egress_lockdown=False),
    )
    objs = compiled(mesh)
    peer = {k: o["spec"]["mtls"]["mode"] for k, o in kinds(objs, "PeerAuthentication").items()}
    assert peer == {("istio-system", "default"): "STRICT", ("data", "default"): "PERMISSIVE"}
    sidecars = kinds(objs, "Sidecar")
    assert ("shop", "web-egress") in sidecars and ("data", "db-egress") in sidecars
    assert ("shop", "api-egress") not in sidecars  # api wrote egress_lockdown=False; the rest inherits
    assert ("shop", "api-allow") in kinds(objs, "AuthorizationPolicy")


def test_allow_rules_are_exactly_the_declared_calls() -> None:
    mesh = shop(ZeroTrust(namespace="shop"), ZeroTrust(namespace="data"))
    objs = compiled(mesh)
    api_allow = kinds(objs, "AuthorizationPolicy")[("shop", "api-allow")]["spec"]
    assert api_allow == {
        "selector": {"matchLabels": {"app": "api"}}, "action": "ALLOW",
        "rules": [{"from": [{"source": {"principals": [principal("shop", "web")]}}],
                   "to": [{"operation": {"ports": ["8081"], "methods": ["GET"], "paths": ["/v1/*"]}}]}],
    }
    db_allow = kinds(objs, "AuthorizationPolicy")[("data", "db-allow")]["spec"]
    assert db_allow["rules"] == [{"from": [{"source": {"principals": [principal("shop", "api")]}}],
                                  "to": [{"operation": {"ports": ["5432"]}}]}]
    authz = Authorizer([o for (k, *_), o in objs.items() if k == "AuthorizationPolicy"])
    api = Workload("shop", {"app": "api"})
    web = principal("shop", "web")
    assert authz.allowed(api, Request(web, "shop", 8081, "http", "GET", "/v1/items"))
    assert not authz.allowed(api, Request(web, "shop", 8081, "http", "POST", "/v1/items"))
    assert not authz.allowed(api, Request(web, "shop", 8081, "http", "GET", "/admin"))
    assert not authz.allowed(api, Request(web, "shop", 9000, "tcp"))  # the call named port 8080 only
    assert not authz.allowed(api, Request(principal("data", "db"), "data", 8081, "http", "GET", "/v1/x"))
    db = Workload("data", {"app": "db"})
    assert authz.allowed(db, Request(principal("shop", "api"), "shop", 5432, "tcp"))
    assert not authz.allowed(db, Request(web, "shop", 5432, "tcp"))
    assert not authz.allowed(Workload("shop", {"app": "web", "version": "v1"}),
                             Request(principal("shop", "api"), "shop", 80, "http", "GET", "/"))


def test_trust_domain_and_per_version_identities_make_the_principals() -> None:
    mongodb = Service("mongodb", namespace="db", ports=[Port(27017, "MONGO")])
    ratings = Service("ratings", namespace="app", ports=[Port(9080)], service_account="ratings", versions=[
        "v1", Version("v2", service_account="ratings-v2", calls=[Call(mongodb, ports=[27017])])])
    reviews = Service("reviews", namespace="app", ports=[Port(9080)], versions=[
        Version("v1", service_account="reviews-v1"), Version("v2", service_account="reviews-v2")],
        calls=[ratings])
    mesh = Mesh("m", clusters=[Cluster("prod")], services=[mongodb, ratings, reviews],
                trust_domain="shop.example.com", zero_trust=[ZeroTrust()])
    objs = compiled(mesh)
    policies = kinds(objs, "AuthorizationPolicy")
    assert policies[("db", "mongodb-allow")]["spec"]["rules"] == [
        {"from": [{"source": {"principals": ["shop.example.com/ns/app/sa/ratings-v2"]}}],
         "to": [{"operation": {"ports": ["27017"]}}]}]
    assert policies[("app", "ratings-allow")]["spec"]["rules"][0]["from"][0]["source"]["principals"] == [
        "shop.example.com/ns/app/sa/reviews-v1", "shop.example.com/ns/app/sa/reviews-v2"]
    sidecars = kinds(objs, "Sidecar")
    assert sidecars[("app", "ratings-v1-egress")]["spec"]["workloadSelector"] == {
        "labels": {"app": "ratings", "version": "v1"}}
    assert sidecars[("app", "ratings-v1-egress")]["spec"]["egress"] == [{"hosts": ["istio-system/*"]}]
    assert sidecars[("app", "ratings-v2-egress")]["spec"]["egress"] == [
        {"hosts": ["db/mongodb.db.svc.cluster.local", "istio-system/*"]}]
    assert ("app", "ratings-egress") not in sidecars  # one Sidecar per workload, never overlapping


def test_jwt_needs_the_issuer_and_the_claims_on_http_only() -> None:
    """The seeds' case: a request principal of the issuer and `request.auth.claims[iss]`."""
    api = Service("api", namespace="shop", ports=[Port(8080), Port(9000, "TCP")])
    web = Service("web", namespace="shop", ports=[Port(80)], calls=[api])
    mesh = Mesh("m", clusters=[Cluster("prod")], services=[api, web], zero_trust=[
        ZeroTrust(namespace="shop"),
        ZeroTrust(service=api, jwt=Jwt(ISSUER, JWKS, audiences=["api"], required_claims={"iss": ISSUER})),
    ])
    objs = compiled(mesh)
    ra = kinds(objs, "RequestAuthentication")[("shop", "api-jwt")]["spec"]
    assert ra == {"selector": {"matchLabels": {"app": "api"}},
                  "jwtRules": [{"issuer": ISSUER, "jwksUri": JWKS, "audiences": ["api"]}]}
    rules = kinds(objs, "AuthorizationPolicy")[("shop", "api-allow")]["spec"]["rules"]
    assert rules[0]["from"][0]["source"]["requestPrincipals"] == [f"{ISSUER}/*"]
    assert rules[0]["when"] == [{"key": "request.auth.claims[iss]", "values": [ISSUER]}]
    assert "requestPrincipals" not in rules[1]["from"][0]["source"] and "when" not in rules[1]
    authz = Authorizer([o for (k, *_), o in objs.items() if k == "AuthorizationPolicy"])
    wl, caller = Workload("shop", {"app": "api"}), principal("shop", "web")
    token = {"request_principal": f"{ISSUER}/alice", "claims": {"iss": ISSUER, "sub": "alice"}}
    assert authz.allowed(wl, Request(caller, "shop", 8080, "http", "GET", "/", **token))
    assert not authz.allowed(wl, Request(caller, "shop", 8080, "http", "GET", "/"))
    assert authz.allowed(wl, Request(caller, "shop", 9000, "tcp"))  # TCP has no tokens to ask for


def test_jwt_without_default_deny_requires_tokens_and_leaves_tcp_as_it_was() -> None:
    api = Service("api", namespace="shop", ports=[Port(8080), Port(9000, "TCP")])
    mesh = Mesh("m", clusters=[Cluster("prod")], services=[api], zero_trust=[
        ZeroTrust(service=api, default_deny=False, jwt=Jwt(ISSUER, JWKS, required_claims={"groups": ["a", "b"]}))])
    objs = compiled(mesh)
    policies = kinds(objs, "AuthorizationPolicy")
    assert set(policies) == {("shop", "api-require-jwt")}
    authz = Authorizer(policies.values())
    wl = Workload("shop", {"app": "api"})
    anyone = principal("elsewhere", "x")
    claims = {"iss": ISSUER, "groups": ["b"]}
    assert authz.allowed(wl, Request(anyone, "elsewhere", 8080, "http", "GET", "/",
                                     request_principal=f"{ISSUER}/u", claims=claims))
    assert not authz.allowed(wl, Request(anyone, "elsewhere", 8080, "http", "GET", "/",
                                         request_principal=f"{ISSUER}/u", claims={"groups": ["c"]}))
    assert not authz.allowed(wl, Request(anyone, "elsewhere", 8080, "http", "GET", "/"))
    assert authz.allowed(wl, Request(anyone, "elsewhere", 9000, "tcp"))


def test_a_service_scope_alone_denies_all_but_its_callers() -> None:
    lonely = Service("lonely", namespace="shop", ports=[Port(8080)])
    objs = compiled(Mesh("m", clusters=[Cluster("prod")], services=[lonely], zero_trust=[ZeroTrust(service=lonely)]))
    assert kinds(objs, "PeerAuthentication")[("shop", "lonely")]["spec"] == {
        "selector": {"matchLabels": {"app": "lonely"}}, "mtls": {"mode": "STRICT"}}
    allow = kinds(objs, "AuthorizationPolicy")[("shop", "lonely-allow")]
    assert allow["spec"] == {"selector": {"matchLabels": {"app": "lonely"}}, "action": "ALLOW"}
    authz = Authorizer([allow])
    assert not authz.allowed(Workload("shop", {"app": "lonely"}), Request(principal("shop", "x"), "shop", 8080))


def test_no_wildcards_unless_the_user_wrote_them() -> None:
    api = Service("api", namespace="shop", ports=[Port(8080)])
    web = Service("web", namespace="shop", ports=[Port(80)], calls=[api])
    mesh = Mesh("m", clusters=[Cluster("prod")], services=[api, web], zero_trust=[
        ZeroTrust(namespace="shop", deny=[DenyRule(not_principals=["*"], paths=["/admin*"])])])
    objs = compiled(mesh)
    deny = kinds(objs, "AuthorizationPolicy")[("shop", "namespace-deny")]["spec"]
    assert deny["rules"] == [{"from": [{"source": {"notPrincipals": ["*"]}}],
                              "to": [{"operation": {"paths": ["/admin*"]}}]}]
    for (kind, ns, name), o in objs.items():
        if kind == "AuthorizationPolicy" and name != "namespace-deny":
            for rule in o["spec"].get("rules", []):
                assert "*" not in rule["from"][0]["source"]["principals"]
        if kind == "Sidecar":
            assert [h for h in o["spec"]["egress"][0]["hosts"] if "*" in h] == ["istio-system/*"]


def test_ingress_routes_allow_the_gateway_only_where_and_how_they_route() -> None:
    api = Service("api", namespace="shop", ports=[Port(8080)])
    admin = Service("admin", namespace="shop", ports=[Port(8080)])
    edge = Ingress("edge", namespace="shop", hosts=["shop.example.com"], routes=[
        Route(match=[Match(uri=Prefix("/api")), Match(uri="/health", method="GET")], to=api)])
    objs = compiled(Mesh("m", clusters=[Cluster("prod")], services=[api, admin], ingresses=[edge],
                         zero_trust=[ZeroTrust(namespace="shop")]))
    authz = Authorizer([o for (k, *_), o in objs.items() if k == "AuthorizationPolicy"])
    gw = principal("istio-system", "istio-ingressgateway-service-account")
    wl = Workload("shop", {"app": "api"})
    assert authz.allowed(wl, Request(gw, "istio-system", 8080, "http", "DELETE", "/api/items"))
    assert authz.allowed(wl, Request(gw, "istio-system", 8080, "http", "GET", "/health"))
    assert not authz.allowed(wl, Request(gw, "istio-system", 8080, "http", "POST", "/health"))
    assert not authz.allowed(wl, Request(gw, "istio-system", 8080, "http", "GET", "/admin"))
    assert not authz.allowed(Workload("shop", {"app": "admin"}), Request(gw, "istio-system", 8080, "http", "GET", "/api"))


def test_externals_are_egress_hosts_with_service_entries_not_policies() -> None:
    pay = ExternalService("payments", namespace="shop", hosts=["api.pay.example.com", "auth.pay.example.com"],
                          ports=[Port(443, "HTTPS")])
    web = Service("web", namespace="shop", ports=[Port(80)], calls=[pay])
    objs = compiled(Mesh("m", clusters=[Cluster("prod")], services=[web], external_services=[pay],
                         zero_trust=[ZeroTrust(namespace="shop")]))
    assert kinds(objs, "Sidecar")[("shop", "web-egress")]["spec"]["egress"] == [
        {"hosts": ["shop/api.pay.example.com", "shop/auth.pay.example.com", "istio-system/*"]}]
    assert ("shop", "payments") in kinds(objs, "ServiceEntry")
    assert not any(name.startswith("payments") for _, name in kinds(objs, "AuthorizationPolicy"))


def test_objects_follow_their_service_to_its_clusters_and_api_version() -> None:
    a = Service("a", namespace="x", ports=[Port(80)], clusters=["one"])
    b = Service("b", namespace="y", ports=[Port(80)], clusters=["two"], calls=["x/a"])
    mesh = Mesh("m", clusters=[Cluster("one"), Cluster("two")], services=[a, b],
                api_versions=ApiVersions(security="v1beta1"), zero_trust=[ZeroTrust()])
    plan = compile_mesh(mesh)
    one, two = objects(plan, "one"), objects(plan, "two")
    assert ("AuthorizationPolicy", "x", "a-allow") in one and ("AuthorizationPolicy", "x", "a-allow") not in two
    assert ("Sidecar", "y", "b-egress") in two and ("AuthorizationPolicy", "y", "allow-nothing") not in one
    assert one[("PeerAuthentication", "istio-system", "default")]["apiVersion"] == "security.istio.io/v1beta1"
    assert one[("Sidecar", "x", "a-egress")]["apiVersion"] == "networking.istio.io/v1"


def test_intent_errors_are_caught_where_written() -> None:
    with pytest.raises(IntentError, match="'\\*' is allowed only at the start or the end"):
        Call("api", paths=["/a*b"])
    with pytest.raises(IntentError, match="not an HTTP method"):
        Call("api", methods=["FETCH"])
    with pytest.raises(IntentError, match="needs at least one condition"):
        DenyRule()
    with pytest.raises(IntentError, match="must be an http"):
        Jwt(ISSUER, "file:///keys.json")
    with pytest.raises(IntentError, match="is in namespace"):
        ZeroTrust(namespace="other", service=Service("api", namespace="shop", ports=[Port(80)]))


def test_output_is_deterministic_and_passes_the_crds(tmp_path: Path) -> None:
    rich = shop(ZeroTrust(deny=[DenyRule(namespaces=["legacy"], methods=["DELETE"], not_paths=["/public*"])]),
                ZeroTrust(namespace="shop", jwt=Jwt(ISSUER, JWKS, required_claims={"iss": ISSUER})),
                ZeroTrust(namespace="data", mtls=MtlsMigration("DISABLE", "PERMISSIVE")),
                ZeroTrust(service="api", default_deny=True, deny=[DenyRule(ports=[9000], principals=["*"])]))
    first, second = render_tree(compile_mesh(rich)), render_tree(compile_mesh(rich))
    assert first == second
    (bookinfo,) = [m for m in load_stacks(ROOT / "stacks") if m.name == "bookinfo"]
    out_rich = write_plan(compile_mesh(rich), tmp_path / "rich")
    out_bookinfo = write_plan(compile_mesh(bookinfo, root=str(ROOT)), tmp_path / "bookinfo")
    code, report = crdcheck(out_rich, out_bookinfo)
    assert code == 0, report
    assert ", 0 errors" in report
