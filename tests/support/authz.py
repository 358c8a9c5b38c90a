"""A small evaluator of Istio's documented AuthorizationPolicy semantics, for tests.

It knows nothing about meshcode: it reads manifests (dicts loaded from YAML) and answers
whether one request reaches one workload, following istio.io's authorization reference:

- policies apply to a workload when they sit in its namespace or in the root namespace, and
  their `selector.matchLabels` (if any) are a subset of the workload's labels;
- CUSTOM is evaluated first (a matching CUSTOM policy asks the external authorizer), then
  DENY (any matching rule denies), then ALLOW: no ALLOW policy → allow; otherwise allow only
  if some ALLOW rule matches. A policy without rules matches nothing (so an empty-spec ALLOW
  denies everything); a rule `{}` matches everything;
- within a rule, `from`, `to` and `when` are AND-ed; entries of `from`/`to` are OR-ed; the
  fields of one source/operation are AND-ed; values in one field are OR-ed; `notX` excludes;
- strings match exactly, by prefix (`abc*`), by suffix (`*abc`) or `*` (any present value);
- TCP traffic has no HTTP attributes: an ALLOW (or CUSTOM) rule with an HTTP-only field never
  matches it; a DENY rule drops its HTTP-only fields and so matches more;
- before any of that, RequestAuthentication (same namespace/root + selector rules): a request
  without a token passes with no request principal; a token of an issuer some applicable rule
  names is validated — valid: request principal `<iss>/<sub>` and its claims; invalid: 401. The
  Authorization header is then removed unless `forwardOriginalToken` (what the next hop sees);
- `ipBlocks`/`source.ip` is the direct peer's address, `remoteIpBlocks`/`remote.ip` the
  original client's (X-Forwarded-For / PROXY protocol, as the gateway is configured to trust).

`through_gateway` chains two decisions: the ingress gateway pod, then the backend it forwards to
(as the gateway's identity, with the token only if the gateway forwarded it).
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Mapping

HTTP_ONLY_SOURCE = frozenset({"requestPrincipals", "notRequestPrincipals"})
HTTP_ONLY_OPERATION = frozenset({"hosts", "notHosts", "methods", "notMethods", "paths", "notPaths"})
SOURCE_FIELDS = frozenset({"principals", "notPrincipals", "namespaces", "notNamespaces", "ipBlocks",
                           "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks"}) | HTTP_ONLY_SOURCE
OPERATION_FIELDS = frozenset({"ports", "notPorts"}) | HTTP_ONLY_OPERATION
_CLAIM_KEY = re.compile(r"^request\.auth\.claims((?:\[[^\]]+\])+)$")


@dataclass(frozen=True)
class Workload:
    namespace: str
    labels: Mapping[str, str]
    name: str = ""


@dataclass(frozen=True)
class Token:
    """A JWT the client sends: who issued it, its subject and claims, and whether it verifies."""

    issuer: str
    subject: str
    claims: Mapping[str, Any] = field(default_factory=dict)
    valid: bool = True  # signature, expiry and audience check out against the issuer's keys


@dataclass(frozen=True)
class Request:
    """What the destination's proxy knows about one request (or TCP connection)."""

    principal: str | None  # source.principal from the mTLS peer certificate; None: plaintext
    namespace: str | None  # source.namespace (derived from the principal in Istio)
    port: int  # destination.port: the port the workload listens on
    protocol: str = "http"  # "http" or "tcp"
    method: str | None = None
    path: str | None = None
    host: str | None = None
    request_principal: str | None = None  # "<iss>/<sub>" of a validated JWT; None: no token
    claims: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    ip: str | None = None  # the direct peer's address (source.ip)
    remote_ip: str | None = None  # the original client's (remote.ip); None: the same as ip
    token: Token | None = None  # validated by the workload's RequestAuthentications, if any

    @property
    def client_ip(self) -> str | None:
        return self.remote_ip if self.remote_ip is not None else self.ip


def string_match(pattern: str, value: str | None) -> bool:
    if value is None:
        return False
    if pattern == "*":
        return value != ""
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    if pattern.startswith("*"):
        return value.endswith(pattern[1:])
    return value == pattern


def _any(patterns: Iterable[str], values: Iterable[str | None]) -> bool:
    vals = list(values)
    return any(string_match(p, v) for p in patterns for v in vals)


def _ip_match(blocks: Iterable[str], ip: str | None) -> bool:
    if ip is None:
        return False
    addr = ipaddress.ip_address(ip)
    return any(addr in ipaddress.ip_network(b, strict=False) for b in blocks)


class Authorizer:
    """Decides requests against a set of AuthorizationPolicy manifests."""

    def __init__(self, manifests: Iterable[Mapping[str, Any]], root_namespace: str = "istio-system",
                 ext_authz: Callable[[Request], bool] | None = None):
        manifests = list(manifests)
        self.policies = [m for m in manifests if m.get("kind") == "AuthorizationPolicy"]
        self.authentications = [m for m in manifests if m.get("kind") == "RequestAuthentication"]
        self.root_namespace = root_namespace
        self.ext_authz = ext_authz or (lambda request: False)

    # -- which policies apply ----------------------------------------------------------------
    def applies(self, policy: Mapping[str, Any], workload: Workload) -> bool:
        ns = policy["metadata"].get("namespace", "default")
        if ns not in (workload.namespace, self.root_namespace):
            return False
        spec = policy.get("spec") or {}
        if "targetRef" in spec or "targetRefs" in spec:
            raise NotImplementedError("targetRef policies apply to gateways/waypoints, not sidecar workloads")
        selector = (spec.get("selector") or {}).get("matchLabels")
        return not selector or all(workload.labels.get(k) == v for k, v in selector.items())

    def applicable(self, workload: Workload) -> list[Mapping[str, Any]]:
        return [p for p in self.policies if self.applies(p, workload)]

    # -- request authentication --------------------------------------------------------------
    def jwt_rules(self, workload: Workload) -> list[Mapping[str, Any]]:
        return [r for a in self.authentications if self.applies(a, workload)
                for r in (a.get("spec") or {}).get("jwtRules") or []]

    def authenticate(self, workload: Workload, request: Request) -> tuple[Request | None, bool]:
        """(the request as authorization sees it, or None for a 401; was the token forwarded on)."""
        token = request.token
        if token is None or request.protocol == "tcp":
            return request, token is not None
        rules = [r for r in self.jwt_rules(workload) if r.get("issuer") == token.issuer]
        if not rules:
            if self.jwt_rules(workload):
                raise NotImplementedError("a token of an issuer no applicable RequestAuthentication names")
            return request, True  # nobody validates it: no request principal, the header passes through
        if not token.valid:
            return None, False
        audiences = [a for r in rules for a in r.get("audiences") or []]
        aud = token.claims.get("aud")
        if audiences and not set(aud if isinstance(aud, (list, tuple)) else [aud]) & set(audiences):
            return None, False
        claims = {"iss": token.issuer, "sub": token.subject, **token.claims}
        forwarded = any(r.get("forwardOriginalToken") for r in rules)
        return replace(request, request_principal=f"{token.issuer}/{token.subject}", claims=claims), forwarded

    # -- the decision ------------------------------------------------------------------------
    def decide(self, workload: Workload, request: Request) -> tuple[bool, str]:
        """(allowed, why) for the request reaching the workload."""
        authenticated, _ = self.authenticate(workload, request)
        if authenticated is None:
            return False, "RequestAuthentication: invalid token (401)"
        request = authenticated
        by_action: dict[str, list[Mapping[str, Any]]] = {"CUSTOM": [], "DENY": [], "ALLOW": [], "AUDIT": []}
        for p in self.applicable(workload):
            by_action[(p.get("spec") or {}).get("action", "ALLOW")].append(p)
        for p in by_action["CUSTOM"]:
            if self._policy_matches(p, request, "CUSTOM") and not self.ext_authz(request):
                return False, f"CUSTOM {_name(p)}: external authorizer denied"
        for p in by_action["DENY"]:
            if self._policy_matches(p, request, "DENY"):
                return False, f"DENY {_name(p)} matched"
        if not by_action["ALLOW"]:
            return True, "no ALLOW policy applies"
        for p in by_action["ALLOW"]:
            if self._policy_matches(p, request, "ALLOW"):
                return True, f"ALLOW {_name(p)} matched"
        return False, "ALLOW policies apply and none matched"

    def allowed(self, workload: Workload, request: Request) -> bool:
        return self.decide(workload, request)[0]

    # -- matching ----------------------------------------------------------------------------
    def _policy_matches(self, policy: Mapping[str, Any], request: Request, action: str) -> bool:
        rules = (policy.get("spec") or {}).get("rules") or []
        return any(self._rule_matches(r or {}, request, action) for r in rules)

    def _rule_matches(self, rule: Mapping[str, Any], request: Request, action: str) -> bool:
        unknown = set(rule) - {"from", "to", "when"}
        if unknown:
            raise NotImplementedError(f"rule fields {sorted(unknown)}")
        tcp = request.protocol == "tcp"
        if tcp and action != "DENY" and _has_http_only(rule):
            return False  # Istio ignores ALLOW/CUSTOM rules with HTTP-only fields for TCP traffic
        sources = rule.get("from")
        if sources is not None and not any(self._source(s.get("source") or {}, request, tcp) for s in sources):
            return False
        operations = rule.get("to")
        if operations is not None and not any(self._operation(o.get("operation") or {}, request, tcp)
                                              for o in operations):
            return False
        return all(self._condition(c, request, tcp) for c in rule.get("when") or [])

    def _source(self, source: Mapping[str, Any], request: Request, tcp: bool) -> bool:
        unknown = set(source) - SOURCE_FIELDS
        if unknown:
            raise NotImplementedError(f"source fields {sorted(unknown)}")
        checks: list[tuple[str, Callable[[list[str]], bool]]] = [
            ("principals", lambda v: _any(v, [request.principal])),
            ("notPrincipals", lambda v: not _any(v, [request.principal])),
            ("namespaces", lambda v: _any(v, [request.namespace])),
            ("notNamespaces", lambda v: not _any(v, [request.namespace])),
            ("ipBlocks", lambda v: _ip_match(v, request.ip)),
            ("notIpBlocks", lambda v: not _ip_match(v, request.ip)),
            ("remoteIpBlocks", lambda v: _ip_match(v, request.client_ip)),
            ("notRemoteIpBlocks", lambda v: not _ip_match(v, request.client_ip)),
            ("requestPrincipals", lambda v: _any(v, [request.request_principal])),
            ("notRequestPrincipals", lambda v: not _any(v, [request.request_principal])),
        ]
        for name, check in checks:
            if name in source and not (tcp and name in HTTP_ONLY_SOURCE) and not check(list(source[name])):
                return False
        return True

    def _operation(self, operation: Mapping[str, Any], request: Request, tcp: bool) -> bool:
        unknown = set(operation) - OPERATION_FIELDS
        if unknown:
            raise NotImplementedError(f"operation fields {sorted(unknown)}")
        port = str(request.port)
        host = request.host.lower() if request.host else None
        checks: list[tuple[str, Callable[[list[str]], bool]]] = [
            ("ports", lambda v: port in v),
            ("notPorts", lambda v: port not in v),
            ("hosts", lambda v: _any([h.lower() for h in v], [host])),
            ("notHosts", lambda v: not _any([h.lower() for h in v], [host])),
            ("methods", lambda v: _any(v, [request.method])),
            ("notMethods", lambda v: not _any(v, [request.method])),
            ("paths", lambda v: _any(v, [request.path])),
            ("notPaths", lambda v: not _any(v, [request.path])),
        ]
        for name, check in checks:
            if name in operation and not (tcp and name in HTTP_ONLY_OPERATION) and not check(list(operation[name])):
                return False
        return True

    def _condition(self, cond: Mapping[str, Any], request: Request, tcp: bool) -> bool:
        key = cond["key"]
        if tcp and key.startswith("request."):
            return True  # only reached for DENY rules, whose HTTP-only parts are dropped on TCP
        values = _attribute(key, request)
        match = _ip_any if key in ("source.ip", "remote.ip", "destination.ip") else _any
        if "values" in cond and not match(cond["values"], values):
            return False
        if "notValues" in cond and match(cond["notValues"], values):
            return False
        return True


def _ip_any(blocks: Iterable[str], values: Iterable[str | None]) -> bool:
    return any(_ip_match(blocks, v) for v in values)


def through_gateway(authz: Authorizer, gateway: Workload, gateway_principal: str, backend: Workload,
                    backend_port: int, request: Request, gateway_ip: str = "10.0.0.10") -> tuple[bool, str]:
    """A client's request through the ingress gateway pod to a backend: both hops must allow it.

    `request` is what reaches the gateway (no peer identity; `ip` the load balancer's or the
    client's address, `remote_ip` the client's); the second hop comes from the gateway's
    identity and address, carries the client address in X-Forwarded-For, and the token only
    if the gateway did not validate and remove it.
    """
    ok, why = authz.decide(gateway, request)
    if not ok:
        return False, f"gateway: {why}"
    authenticated, forwarded = authz.authenticate(gateway, request)
    assert authenticated is not None
    inner = Request(gateway_principal, gateway.namespace, backend_port, request.protocol, request.method,
                    request.path, request.host, headers=request.headers, ip=gateway_ip,
                    remote_ip=request.client_ip, token=request.token if forwarded else None)
    ok, why = authz.decide(backend, inner)
    return ok, f"backend: {why}"


def _attribute(key: str, request: Request) -> list[str | None]:
    """The request's value(s) for a `when` key (a list claim gives several)."""
    m = _CLAIM_KEY.match(key)
    if m:
        value: Any = request.claims
        for part in re.findall(r"\[([^\]]+)\]", m.group(1)):
            value = value.get(part) if isinstance(value, Mapping) else None
        if isinstance(value, (list, tuple)):
            return [str(v) for v in value]
        return [None if value is None else str(value)]
    if key.startswith("request.headers[") and key.endswith("]"):
        return [request.headers.get(key[len("request.headers["):-1])]
    simple = {
        "request.auth.principal": request.request_principal,
        "source.principal": request.principal,
        "source.namespace": request.namespace,
        "destination.port": str(request.port),
        "source.ip": request.ip,
        "remote.ip": request.client_ip,
    }
    if key in simple:
        return [simple[key]]
    if key == "request.auth.audiences":
        aud = request.claims.get("aud")
        return [str(a) for a in aud] if isinstance(aud, (list, tuple)) else [aud]
    if key == "request.auth.presenter":
        return [request.claims.get("azp")]
    raise NotImplementedError(f"when key {key!r}")


def _has_http_only(rule: Mapping[str, Any]) -> bool:
    for s in rule.get("from") or []:
        if HTTP_ONLY_SOURCE & set(s.get("source") or {}):
            return True
    for o in rule.get("to") or []:
        if HTTP_ONLY_OPERATION & set(o.get("operation") or {}):
            return True
    return any(c["key"].startswith("request.") for c in rule.get("when") or [])


def _name(policy: Mapping[str, Any]) -> str:
    meta = policy["metadata"]
    return f"{meta.get('namespace', 'default')}/{meta['name']}"
