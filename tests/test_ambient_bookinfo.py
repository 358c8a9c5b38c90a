"""Bookinfo's ZeroTrust on ambient: the same verdicts as on sidecars, through ztunnel and a waypoint.

Every (source, destination, port, method, path, token) tuple goes through an independent model of
ambient authorization (tests/support/ambient.py: the waypoint's targetRefs policies with the
caller's identity, then ztunnel's L4 policies seeing the waypoint) over the rendered YAML; the
expected answer is the stack's declared calls and ingress routes, as for sidecars.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from meshcode import DataPlane, Mesh, PathPrefix, Prefix, Service, compile_mesh
from meshcode.intent.traffic import Dest, Exact
from tests.support.ambient import AmbientAuthorizer
from tests.support.authz import Request
from tests.support.meshes import crdcheck, load_yaml_dir, write_plan
from tests.support.paths import ROOT
from tests.test_gateway_routing import bookinfo, gateway_ready
from tests.test_zerotrust_bookinfo import METHODS, PATHS, TOKENS, Source, by_name, call_declared, principal, \
    token_ok, workloads

NS = "bookinfo"


def ambient_bookinfo() -> Mesh:
    """Bookinfo on ambient: what ambient cannot carry dropped (the namespace Sidecar), ingress
    string prefixes written as path prefixes (what the Gateway API can say)."""
    mesh = gateway_ready(bookinfo())
    ingresses = []
    for ing in mesh.ingresses:
        routes = []
        for r in ing.routes:
            matches = tuple(m.model_copy(update={"uri": PathPrefix(m.uri.value)}) if isinstance(m.uri, Prefix) else m
                            for m in r.match)
            routes.append(r.model_copy(update={"match": matches}))
        ingresses.append(ing.model_copy(update={"routes": tuple(routes)}))
    return mesh.model_copy(update={"sidecars": (), "ingresses": tuple(ingresses),
                                   "data_plane": (DataPlane("ambient", namespace=NS),)})


@pytest.fixture(scope="module")
def mesh() -> Mesh:
    return ambient_bookinfo()


@pytest.fixture(scope="module")
def docs(mesh: Mesh, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = write_plan(compile_mesh(mesh, root=str(ROOT)), tmp_path_factory.mktemp("ambient"))
    return load_yaml_dir(out / "prod")


def _admits(uri: Any, path: str) -> bool:
    if uri is None:
        return True
    if isinstance(uri, PathPrefix):
        seg = uri.segments
        return seg == "/" or path == seg or path.startswith(seg + "/")
    return path == (uri.value if isinstance(uri, Exact) else uri)


def ingress_declared(mesh: Mesh, ingress: str, dst: Service, port: int, path: str | None) -> bool:
    for ing in mesh.ingresses:
        if ing.name != ingress:
            continue
        for route in ing.routes:
            to = route.to if isinstance(route.to, (list, tuple)) else [route.to]
            for d in to:
                svc, dport = (d.service, d.port) if isinstance(d, Dest) else (d, None)
                target = by_name(mesh, svc, ing.namespace)  # (the stack's object: compare by name)
                if (target.namespace, target.name) != (dst.namespace, dst.name) or port != (dport or dst.ports[0].number):
                    continue
                if not route.match or any(_admits(m.uri, path or "/") for m in route.match):
                    return True
    return False


def sources(mesh: Mesh) -> list[Source]:
    gateways = [Source(f"ingress:{ing.name}", principal(mesh, ing.namespace, f"{ing.name}-istio"), ing.namespace)
                for ing in mesh.ingresses]
    return [src for src, _ in workloads(mesh)] + gateways + [
        Source("outsider", principal(mesh, "other", "default"), "other"), Source("plaintext", None, None)]


def expected(mesh: Mesh, src: Source, dst: Service, port: int, proto: str, method: str | None,
             path: str | None, token) -> bool:
    if src.service is not None:
        ok = call_declared(mesh, src, dst, port, proto, method, path)
    elif src.name.startswith("ingress:"):
        ok = proto == "http" and ingress_declared(mesh, src.name.split(":", 1)[1], dst, port, path)
    else:
        ok = False
    return ok and (proto == "tcp" or token_ok(mesh, dst, token))


def test_exactly_the_declared_calls_pass_ztunnel_and_the_waypoint(mesh: Mesh, docs) -> None:
    authz = AmbientAuthorizer(docs, trust_domain=mesh.trust_domain)
    ports = {p.number: ("http" if p.is_http else "tcp") for s in mesh.services for p in s.ports}
    mismatches, allowed, total = [], set(), 0
    for src in sources(mesh):
        for dst_src, workload in workloads(mesh):
            dst = dst_src.service
            for port, proto in sorted(ports.items()):
                requests = [(None, None, TOKENS[0])] if proto == "tcp" else \
                    [(m, p, t) for m in METHODS for p in PATHS for t in TOKENS]
                for method, path, token in requests:
                    total += 1
                    request = Request(src.principal, src.namespace, port, proto, method, path,
                                      request_principal=token.request_principal, claims=token.claims)
                    got, why = authz.decide(workload, dst.name, "waypoint", request)
                    want = expected(mesh, src, dst, port, proto, method, path, token)
                    if got:
                        allowed.add((src.name, workload.name, port, method, path, token.name))
                    if got != want:
                        mismatches.append(f"{src.name} → {workload.name}:{port} {method} {path} token={token.name}: "
                                          f"got {'allow' if got else 'deny'} ({why}), declared says "
                                          f"{'allow' if want else 'deny'}")
    assert not mismatches, f"{len(mismatches)} of {total} tuples differ:\n" + "\n".join(mismatches[:25])
    assert total > 40_000
    assert ("productpage-v1", "reviews-v3", 9080, "GET", "/reviews/0", "none") in allowed
    assert ("productpage-v1", "reviews-v3", 9080, "POST", "/reviews/0", "none") not in allowed
    assert ("ratings-v2", "mongodb", 27017, None, None, "none") in allowed
    assert ("ratings-v1", "mongodb", 27017, None, None, "none") not in allowed
    assert ("ingress:bookinfo-gateway", "productpage-v1", 9080, "GET", "/productpage", "group1") in allowed
    assert ("ingress:bookinfo-gateway", "productpage-v1", 9080, "GET", "/productpage", "group2-only") not in allowed
    assert not any(a[0] in ("outsider", "plaintext") for a in allowed)


def test_ztunnel_alone_admits_only_the_waypoint(mesh: Mesh, docs) -> None:
    """Skipping the waypoint (a caller dialling a pod directly) gets nothing but what L4 allows."""
    authz = AmbientAuthorizer(docs, trust_domain=mesh.trust_domain)
    caller = principal(mesh, NS, "bookinfo-productpage")
    for _, workload in workloads(mesh):
        ok, _ = authz.ztunnel.decide(workload, Request(caller, NS, 9080, "tcp"))
        assert not ok, workload.name


def test_ambient_bookinfo_is_schema_valid_and_sidecar_free(mesh: Mesh, docs, tmp_path: Path) -> None:
    assert not [d for d in docs if d["kind"] in ("Sidecar", "VirtualService")]
    ns = next(d for d in docs if d["kind"] == "Namespace" and d["metadata"]["name"] == NS)
    assert ns["metadata"]["labels"]["istio.io/dataplane-mode"] == "ambient"
    assert ns["metadata"]["labels"]["istio.io/ingress-use-waypoint"] == "true"
    code, out = crdcheck(write_plan(compile_mesh(mesh, root=str(ROOT)), tmp_path))
    assert code == 0, out
