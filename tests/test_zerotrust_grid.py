"""Every authorization form at once: stacks/storefront.py, decided by the evaluator over the YAML
in generated/edge/, against the verdicts its intent states (written out by hand below).

The grid crosses sources (declared callers, a caller-only namespace, a stranger in the
namespace, another namespace, plaintext, and clients through the ingress gateway),
destinations and versions, ports, methods, paths, headers, tokens and IP addresses.
"""
from __future__ import annotations

import ipaddress
import itertools
from dataclasses import dataclass

import pytest

from tests.support.authz import Authorizer, Request, Token, Workload, through_gateway
from tests.support.meshes import load_yaml_dir
from tests.support.paths import ROOT

ISSUER = "testing@secure.istio.io"
GATEWAY = Workload("istio-system", {"app": "istio-ingressgateway", "istio": "ingressgateway"})
GATEWAY_SA = "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"

# -- the grid's dimensions --------------------------------------------------------------------
SOURCES: dict[str, tuple[str | None, str | None]] = {  # name → (principal, namespace)
    "orders": ("cluster.local/ns/store/sa/orders", "store"),
    "reporter": ("cluster.local/ns/partners/sa/reporter", "partners"),
    "intruder": ("cluster.local/ns/store/sa/intruder", "store"),  # authenticated, undeclared
    "partner-other": ("cluster.local/ns/partners/sa/other", "partners"),
    "elsewhere": ("cluster.local/ns/elsewhere/sa/curl", "elsewhere"),
    "plaintext": (None, None),
}
DESTINATIONS: dict[str, tuple[Workload, tuple[int, ...], str]] = {  # name → (pods, ports, protocol)
    "api-v1": (Workload("store", {"app": "api", "version": "v1"}), (8080, 9999), "http"),
    "api-v2": (Workload("store", {"app": "api", "version": "v2"}), (8080, 9999), "http"),
    "orders": (Workload("store", {"app": "orders"}), (9080,), "http"),
    "ledger": (Workload("store", {"app": "ledger"}), (5432, 5433), "tcp"),
    "docs": (Workload("docs", {"app": "docs"}), (8080,), "http"),
}
METHODS = ("GET", "POST", "DELETE")
PATHS = ("/orders/1", "/reports/q1", "/catalog/x", "/batch/run", "/healthz", "/debug/vars", "/docs/intro", "/api/x")
HEADERS: tuple[dict[str, str], ...] = ({}, {"x-partner-tier": "gold"}, {"x-partner-tier": "bronze"},
                                       {"x-admin-token": "let-me-in"})
TOKENS = (None, Token(ISSUER, "batch-job", {"scope": "batch:write"}), Token(ISSUER, "batch-job"),
          Token(ISSUER, "alice"), Token(ISSUER, "alice", {"suspended": "true"}), Token(ISSUER, "alice", valid=False))
MESH_IPS = ("10.1.2.3", "203.0.113.7")  # a pod; an address in the range the api refuses
# clients of the gateway: (peer address the gateway sees, client address from X-Forwarded-For)
EDGE_IPS = (("8.8.8.8", None), ("198.51.100.9", None), ("10.0.0.5", "198.51.100.9"), ("192.0.2.66", None),
            ("10.0.0.5", "203.0.113.7"), ("10.0.0.5", "8.8.4.4"))
EDGE_PATHS = ("/api/orders/1", "/api/debug/vars", "/api/batch/run", "/docs/intro")


def in_block(ip: str | None, block: str) -> bool:
    return ip is not None and ipaddress.ip_address(ip) in ipaddress.ip_network(block)


@dataclass(frozen=True)
class Case:
    source: str
    destination: str
    port: int
    method: str | None
    path: str | None
    headers: dict[str, str]
    token: Token | None
    ip: str
    remote_ip: str | None = None


# -- what the intent states, written out by hand from stacks/storefront.py ---------------------
def intended_api(c: Case, principal: str | None, namespace: str | None, version: str) -> bool:
    token = c.token
    if token is not None and not token.valid:
        return False  # the api validates tokens (ZeroTrust(service=api, jwt=…)): a bad one is refused
    subject = f"{ISSUER}/{token.subject}" if token else None
    client = c.remote_ip or c.ip
    path = c.path or ""
    # DENY: outside store/partners/istio-system; DELETE without the admin header; the refused range;
    # suspended users' tokens; v2's /debug/*
    if namespace not in ("store", "partners", "istio-system"):
        return False
    if c.method == "DELETE" and c.headers.get("x-admin-token") != "let-me-in":
        return False
    if in_block(client, "203.0.113.0/24"):
        return False
    if token is not None and token.claims.get("suspended") == "true":
        return False
    if version == "v2" and path.startswith("/debug/"):
        return False
    # ALLOW: the declared calls and the ingress route (each with a token), the batch job's subject (scoped),
    # partners reading the catalog with a tier, anyone authenticated on GET /healthz and /debug/*
    on_port = c.port == 8080
    return any((
        c.source == "orders" and on_port and c.method in ("GET", "POST") and path.startswith("/orders/") and subject,
        c.source == "reporter" and on_port and c.method == "GET" and path.startswith("/reports/") and subject,
        principal == GATEWAY_SA and on_port and path.startswith("/api/") and subject,
        subject == f"{ISSUER}/batch-job" and token is not None and token.claims.get("scope") == "batch:write"
        and c.method == "POST" and path.startswith("/batch/"),
        namespace == "partners" and c.method == "GET" and path.startswith("/catalog/")
        and c.headers.get("x-partner-tier") in ("gold", "silver"),
        principal is not None and c.method == "GET" and (path == "/healthz" or path.startswith("/debug/")),
    ))


def intended_in_mesh(c: Case) -> bool:
    principal, namespace = SOURCES[c.source]
    if c.destination.startswith("api-"):
        return intended_api(c, principal, namespace, c.destination[-2:])
    if c.destination == "docs":  # public: anyone may GET/HEAD /docs/*, on any port
        return c.method in ("GET", "HEAD") and (c.path or "").startswith("/docs/")
    if namespace not in ("store", "partners", "istio-system"):
        return False
    if c.destination == "ledger":  # TCP: only the declared caller, on the database port
        return c.source == "orders" and c.port == 5432
    path = c.path or ""  # orders has no declared callers: only the namespace's own rule
    return principal is not None and c.method == "GET" and (path == "/healthz" or path.startswith("/debug/"))


def intended_at_edge(c: Case) -> bool:
    """Through the ingress gateway: its own rules, then the backend's, as the gateway's identity."""
    if c.token is not None and not c.token.valid:
        return False  # the gateway validates tokens
    client = c.remote_ip or c.ip
    path = c.path or ""
    if in_block(client, "198.51.100.0/24") or c.ip == "192.0.2.66":
        return False
    if c.token is None and path.startswith("/api/"):
        return False
    if c.destination == "docs":
        return path.startswith("/docs/")  # the ingress route (any method) or the public rule
    return intended_api(c, GATEWAY_SA, "istio-system", c.destination[-2:])


# -- the grid ------------------------------------------------------------------------------
def mesh_cases() -> list[Case]:
    cases = []
    for (src, dst, ip, token) in itertools.product(SOURCES, DESTINATIONS, MESH_IPS, TOKENS):
        _, ports, protocol = DESTINATIONS[dst]
        for port in ports:
            if protocol == "tcp":
                if token is None:  # a TCP connection has no method, path, header or token
                    cases.append(Case(src, dst, port, None, None, {}, None, ip))
                continue
            cases += [Case(src, dst, port, m, p, h, token, ip)
                      for m, p, h in itertools.product(METHODS, PATHS, HEADERS)]
    return cases


def edge_cases() -> list[Case]:
    routes = {"/api/": ("api-v1", "api-v2"), "/docs/": ("docs",)}
    cases = []
    for path, method, headers, token, (ip, remote) in itertools.product(EDGE_PATHS, METHODS, HEADERS, TOKENS,
                                                                          EDGE_IPS):
        prefix = next(p for p in routes if path.startswith(p))  # the gateway's route picks the backend
        cases += [Case("client", dst, 8080, method, path, headers, token, ip, remote) for dst in routes[prefix]]
    return cases


@pytest.fixture(scope="module")
def authz() -> Authorizer:
    return Authorizer(load_yaml_dir(ROOT / "generated" / "edge"))


def evaluated(authz: Authorizer, c: Case) -> bool:
    workload, _, protocol = DESTINATIONS[c.destination]
    if c.source == "client":
        request = Request(None, None, 80, "http", c.method, c.path, headers=c.headers, ip=c.ip,
                          remote_ip=c.remote_ip, token=c.token)
        return through_gateway(authz, GATEWAY, GATEWAY_SA, workload, c.port, request)[0]
    principal, namespace = SOURCES[c.source]
    request = Request(principal, namespace, c.port, protocol, c.method, c.path, headers=c.headers, ip=c.ip,
                      token=c.token)
    return authz.decide(workload, request)[0]


def test_every_tuple_of_the_grid_gets_the_verdict_the_intent_states(authz: Authorizer) -> None:
    cases = [(c, intended_in_mesh(c)) for c in mesh_cases()] + [(c, intended_at_edge(c)) for c in edge_cases()]
    disagreements = [(c, want) for c, want in cases if evaluated(authz, c) != want]
    allowed = sum(want for _, want in cases)
    print(f"\nauthorization grid: {len(cases)} tuples ({allowed} allowed, {len(cases) - allowed} denied), "
          f"{len(disagreements)} disagreements")
    assert not disagreements, "\n".join(f"{c}: intent says {want}" for c, want in disagreements[:20])
    assert len(cases) > 20000 and 0.01 < allowed / len(cases) < 0.5  # a real grid, both verdicts well represented


def test_the_grid_reaches_every_rule_of_the_generated_policies(authz: Authorizer) -> None:
    """Each ALLOW rule admits, and each DENY rule refuses, some tuple that nothing else decides."""
    hits: dict[str, int] = {}
    for c in mesh_cases():
        workload, _, protocol = DESTINATIONS[c.destination]
        principal, namespace = SOURCES[c.source]
        why = authz.decide(workload, Request(principal, namespace, c.port, protocol, c.method, c.path,
                                             headers=c.headers, ip=c.ip, token=c.token))[1]
        hits[why] = hits.get(why, 0) + 1
    for policy in ("store/api-allow", "store/api-deny", "store/api-v2-deny", "store/namespace-deny",
                   "store/namespace-allow", "store/ledger-allow", "docs/docs-allow"):
        assert any(policy in why for why in hits), (policy, sorted(hits))
    assert any("401" in why for why in hits)
