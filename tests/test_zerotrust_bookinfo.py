"""Bookinfo under ZeroTrust, judged through the YAML meshcode writes.

Every (source, destination, port, method, path, token) tuple of the bookinfo mesh goes through
an independent evaluator of Istio's authorization semantics (tests/support/authz.py) over the
rendered AuthorizationPolicies; the expected answer comes straight from the stack's declared
calls and ingress routes. Exactly the declared calls may pass; everything else is denied.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from meshcode import ExternalService, Mesh, Service, compile_mesh
from meshcode.intent.service import Version
from meshcode.intent.traffic import Dest, Exact, Prefix
from meshcode.loader import load_stacks
from tests.support.authz import Authorizer, Request, Workload, string_match
from tests.support.meshes import load_yaml_dir, write_plan
from tests.support.paths import ROOT

METHODS = ("GET", "POST", "DELETE")
PATHS = ("/", "/productpage", "/static/css/app.css", "/login", "/logout", "/api/v1/products/0",
         "/details/0", "/reviews/0", "/reviewsX", "/ratings/0", "/admin")


@dataclass(frozen=True)
class Source:
    name: str
    principal: str | None
    namespace: str | None
    service: Service | None = None
    version: Version | None = None


@dataclass(frozen=True)
class Token:
    name: str
    request_principal: str | None
    claims: dict[str, Any]


TOKENS = (
    Token("none", None, {}),
    Token("group1", "testing@secure.istio.io/alice",
          {"iss": "testing@secure.istio.io", "sub": "alice", "groups": ["group1", "group2"]}),
    Token("group2-only", "testing@secure.istio.io/bob",
          {"iss": "testing@secure.istio.io", "sub": "bob", "groups": ["group2"]}),
    Token("other-issuer", "https://issuer.example.com/alice",
          {"iss": "https://issuer.example.com", "sub": "alice", "groups": ["group1"]}),
)


@pytest.fixture(scope="module")
def bookinfo() -> Mesh:
    (mesh,) = [m for m in load_stacks(ROOT / "stacks") if m.name == "bookinfo"]
    return mesh


@pytest.fixture(scope="module")
def rendered(bookinfo: Mesh, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """The files `meshcode compile` would write for bookinfo, loaded back from disk."""
    out = write_plan(compile_mesh(bookinfo, root=str(ROOT)), tmp_path_factory.mktemp("bookinfo"))
    return out, load_yaml_dir(out / "prod")


# ---- the mesh as the stack declares it ------------------------------------------------------
def principal(mesh: Mesh, namespace: str, account: str) -> str:
    return f"{mesh.trust_domain}/ns/{namespace}/sa/{account}"


def workloads(mesh: Mesh) -> list[tuple[Source, Workload]]:
    out = []
    for s in mesh.services:
        for v in s.versions or (None,):
            account = (v.service_account if v else None) or s.service_account or s.name
            labels = {"app": s.name, **(v.pod_labels if v else {})}
            name = f"{s.name}-{v.name}" if v else s.name
            out.append((Source(name, principal(mesh, s.namespace, account), s.namespace, s, v),
                        Workload(s.namespace, labels, name)))
    return out


def sources(mesh: Mesh) -> list[Source]:
    return [src for src, _ in workloads(mesh)] + [
        Source("ingress-gateway", principal(mesh, "istio-system", "istio-ingressgateway-service-account"),
               "istio-system"),
        Source("outsider", principal(mesh, "other", "default"), "other"),
        Source("plaintext", None, None),
    ]


def by_name(mesh: Mesh, ref: Any, namespace: str) -> Service | ExternalService:
    if not isinstance(ref, str):
        return ref
    return next(s for s in (*mesh.services, *mesh.external_services) if s.name == ref and s.namespace == namespace)


def jwt_of(mesh: Mesh, dst: Service):
    scoped = [z for z in mesh.zero_trust if z.jwt and (
        z.service is dst or z.namespace == dst.namespace and z.service is None or z.scope == "mesh")]
    return max(scoped, key=lambda z: ("mesh", "namespace", "service").index(z.scope)).jwt if scoped else None


def token_ok(mesh: Mesh, dst: Service, token: Token) -> bool:
    jwt = jwt_of(mesh, dst)
    if jwt is None:
        return True
    if token.request_principal is None or token.claims.get("iss") != jwt.issuer:
        return False
    for claim, wanted in jwt.required_claims.items():
        have = token.claims.get(claim)
        have = have if isinstance(have, list) else [have]
        if not set(wanted) & set(have):
            return False
    return True


def call_declared(mesh: Mesh, src: Source, dst: Service, port: int, proto: str, method: str | None,
                  path: str | None) -> bool:
    calls = list(src.service.calls) + list(src.version.calls if src.version else ())
    for c in calls:
        if by_name(mesh, c.target, src.service.namespace) is not dst:
            continue
        if port not in {p.number for p in dst.ports} or (c.ports and port not in c.ports):
            continue
        if proto == "tcp":
            if not (c.methods or c.paths):
                return True
            continue
        if c.methods and method not in c.methods:
            continue
        if c.paths and not any(string_match(p, path) for p in c.paths):
            continue
        return True
    return False


def _uri_admits(uri: Any, path: str) -> bool:
    if uri is None:
        return True
    if isinstance(uri, Prefix):
        return path.startswith(uri.value)
    return path == (uri.value if isinstance(uri, Exact) else uri)


def ingress_declared(mesh: Mesh, dst: Service, port: int, path: str | None) -> bool:
    """The ingress routes send this request to `dst` (VirtualService match semantics)."""
    for ing in mesh.ingresses:
        for route in ing.routes:
            to = route.to if isinstance(route.to, (list, tuple)) else [route.to]
            for d in to:
                svc, dport = (d.service, d.port) if isinstance(d, Dest) else (d, None)
                if by_name(mesh, svc, ing.namespace) is not dst or port != (dport or dst.ports[0].number):
                    continue
                if not route.match or any(_uri_admits(m.uri, path or "/") for m in route.match):
                    return True
    return False


def expected(mesh: Mesh, src: Source, dst: Service, port: int, proto: str, method: str | None,
             path: str | None, token: Token) -> bool:
    if src.service is not None:
        ok = call_declared(mesh, src, dst, port, proto, method, path)
    elif src.name == "ingress-gateway":
        ok = proto == "http" and ingress_declared(mesh, dst, port, path)
    else:
        ok = False
    return ok and (proto == "tcp" or token_ok(mesh, dst, token))


# ---- the exhaustive check -------------------------------------------------------------------
def test_exactly_the_declared_calls_are_allowed(bookinfo: Mesh, rendered) -> None:
    _, docs = rendered
    authz = Authorizer(docs, root_namespace=bookinfo.root_namespace)
    ports = {p.number: ("http" if p.is_http else "tcp") for s in bookinfo.services for p in s.ports}
    mismatches, allowed, total = [], set(), 0
    for src in sources(bookinfo):
        for dst_src, workload in workloads(bookinfo):
            dst = dst_src.service
            for port, proto in sorted(ports.items()):
                requests = [(None, None, TOKENS[0])] if proto == "tcp" else \
                    [(m, p, t) for m in METHODS for p in PATHS for t in TOKENS]
                for method, path, token in requests:
                    total += 1
                    request = Request(src.principal, src.namespace, port, proto, method, path,
                                      request_principal=token.request_principal, claims=token.claims)
                    got, why = authz.decide(workload, request)
                    want = expected(bookinfo, src, dst, port, proto, method, path, token)
                    if got:
                        allowed.add((src.name, workload.name, port, method, path, token.name))
                    if got != want:
                        mismatches.append(f"{src.name} → {workload.name}:{port} {method} {path} token={token.name}: "
                                          f"got {'allow' if got else 'deny'} ({why}), declared says "
                                          f"{'allow' if want else 'deny'}")
    assert not mismatches, f"{len(mismatches)} of {total} tuples differ:\n" + "\n".join(mismatches[:25])
    assert total > 40_000
    # a few landmarks, so an evaluator that allowed nothing (or everything) cannot pass silently
    assert ("productpage-v1", "reviews-v3", 9080, "GET", "/reviews/0", "none") in allowed
    assert ("productpage-v1", "reviews-v3", 9080, "POST", "/reviews/0", "none") not in allowed
    assert ("reviews-v2", "ratings-v1", 9080, "GET", "/ratings/0", "none") in allowed
    assert ("ratings-v2", "mongodb", 27017, None, None, "none") in allowed
    assert ("ratings-v1", "mongodb", 27017, None, None, "none") not in allowed
    assert ("ingress-gateway", "productpage-v1", 9080, "GET", "/productpage", "group1") in allowed
    assert ("ingress-gateway", "productpage-v1", 9080, "GET", "/productpage", "group2-only") not in allowed
    assert ("ingress-gateway", "productpage-v1", 9080, "GET", "/admin", "group1") not in allowed
    assert ("ingress-gateway", "ratings-v1", 9080, "DELETE", "/ratings/0", "none") in allowed
    assert not any(a[0] in ("outsider", "plaintext") for a in allowed)
    assert not any(a[1].startswith(("httpbin", "tcp-echo")) for a in allowed)  # nobody declared a call


def test_every_workload_sees_exactly_its_declared_dependencies(bookinfo: Mesh, rendered) -> None:
    _, docs = rendered
    sidecars = [d for d in docs if d["kind"] == "Sidecar" and "workloadSelector" in d["spec"]]
    entries = {h for d in docs if d["kind"] == "ServiceEntry" for h in d["spec"]["hosts"]}
    for src, workload in workloads(bookinfo):
        mine = [d for d in sidecars if d["metadata"]["namespace"] == workload.namespace
                and d["spec"]["workloadSelector"]["labels"].items() <= dict(workload.labels).items()]
        assert len(mine) == 1, (workload, [d["metadata"]["name"] for d in mine])
        calls = list(src.service.calls) + list(src.version.calls if src.version else ())
        want = set()
        for c in calls:
            target = by_name(bookinfo, c.target, src.service.namespace)
            hosts = [target.host] if isinstance(target, Service) else list(target.hosts)
            want |= {f"{target.namespace}/{h}" for h in hosts}
            if isinstance(target, ExternalService):
                assert set(target.hosts) <= entries  # REGISTRY_ONLY needs a ServiceEntry per external
        (egress,) = mine[0]["spec"]["egress"]
        assert set(egress["hosts"]) == want | {"istio-system/*"}, workload.name
        assert mine[0]["spec"]["outboundTrafficPolicy"] == {"mode": "REGISTRY_ONLY"}
    selectorless = [d for d in docs if d["kind"] == "Sidecar" and "workloadSelector" not in d["spec"]]
    assert len(selectorless) <= 1  # IST0111: one selector-less Sidecar per namespace


def test_mtls_is_strict_and_nothing_is_wildcarded(bookinfo: Mesh, rendered) -> None:
    _, docs = rendered
    peer = {(d["metadata"]["namespace"], d["metadata"]["name"]): d["spec"] for d in docs
            if d["kind"] == "PeerAuthentication"}
    assert peer == {("bookinfo", "default"): {"mtls": {"mode": "STRICT"}}}
    for d in docs:
        if d["kind"] != "AuthorizationPolicy":
            continue
        for rule in d["spec"].get("rules", []):
            for f in rule.get("from", []):
                src = f["source"]
                assert "*" not in src.get("principals", []) and "*" not in src.get("namespaces", [])
                assert all(p.endswith("/*") and p != "*" for p in src.get("requestPrincipals", []))
    request_auth = [d for d in docs if d["kind"] == "RequestAuthentication"]
    assert [(d["metadata"]["name"], d["spec"]["jwtRules"][0]["issuer"]) for d in request_auth] == \
        [("productpage-jwt", "testing@secure.istio.io")]
