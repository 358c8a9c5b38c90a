"""Service routing on the Kubernetes Gateway API (GAMMA): routes whose parent is the Service.

The same rules as the VirtualService (`routing.http_rule_plan`), rendered for Gateway API v1's
standard channel:
- HTTPRoute (GRPCRoute for gRPC ports, TCPRoute per TCP/TLS port) with `parentRefs` to the
  Service and its ports;
- version splits as weighted `backendRefs` to per-version Services (`<service>-<version>`,
  selecting `app` + the version's labels, as Istio's `bookinfo-versions.yaml` does), and a
  DestinationRule per version Service carrying the version's traffic policy (the backend host
  is the version Service, so the main DestinationRule's policy does not reach it);
- timeouts, RequestMirror with percent, URL rewrite; ReferenceGrants for backends in other
  namespaces.
What the standard channel cannot say (retries, fault injection, source/port matches, string
prefixes on paths, non-exact methods) is an error at the intent's line naming the alternative,
and so is a rule order Gateway API's precedence would change (see `gateway_precedence`).
"""
from __future__ import annotations

import re
from fractions import Fraction
from typing import Any, Callable

from meshcode.compile.context import CompileContext
from meshcode.compile.dataplane import plane
from meshcode.compile.gateway_precedence import inversions
from meshcode.compile.routing import (
    DEFAULT_LOCALITY_OUTLIER,
    Destinations,
    RuleStep,
    default_split,
    http_rule_plan,
    needs_routes,
    traffic_policy,
    validate_service_routing,
)
from meshcode.errors import SourceLocation
from meshcode.intent.edge import ExternalService
from meshcode.intent.service import Port, Service, Version
from meshcode.intent.traffic import Exact, Match, PathPrefix, Prefix, Regex
from meshcode.plan import Resource, make_resource

GROUP = "gateway.networking.k8s.io"
API = f"{GROUP}/v1"
REFERENCE_GRANT_API = f"{GROUP}/v1beta1"  # the storage version in v1.6
MAX_RULES = 16  # HTTPRoute/GRPCRoute rules per route (the CRD's maxItems)
_UNITS = (("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1))


# ---- small converters ---------------------------------------------------------------------------
def gateway_duration(duration: str) -> str:
    """'0.5s' → '500ms', '90s' → '1m30s': Gateway API durations are h/m/s/ms with whole numbers."""
    millis = round(float(duration.removesuffix("s")) * 1000)
    parts = []
    for unit, size in _UNITS:
        n, millis = divmod(millis, size)
        if n:
            parts.append(f"{n}{unit}")
    return "".join(parts) or "0s"


def version_service_name(s: Service, version: str) -> str:
    return f"{s.name}-{version}"


def _regex_prefix(value: str) -> str:
    return re.escape(value) + ".*"


class Refusals:
    """Errors for one route object, one per (offending intent line, reason)."""

    def __init__(self, ctx: CompileContext, kind: str, namespace: str, name: str, alternative: str):
        self.ctx, self.kind, self.namespace, self.name = ctx, kind, namespace, name
        self.alternative = alternative
        self.seen: set[tuple[Any, str]] = set()
        self.failed = False

    def refuse(self, what: str, origin: SourceLocation | None, code: str = "MC2902") -> None:
        self.failed = True
        key = (origin, what)
        if key in self.seen:
            return
        self.seen.add(key)
        self.ctx.error(code, f"{what}; {self.alternative}", origin, self.kind, self.namespace, self.name)


def alternative_for(ctx: CompileContext, namespace: str) -> str:
    p = plane(ctx, namespace)
    if p.ambient:
        return (f"keep namespace {namespace} on sidecars with the Istio API (DataPlane('sidecar', "
                f"namespace={namespace!r})), or drop it")
    return (f"keep namespace {namespace} on the Istio API (DataPlane(routing='istio', namespace={namespace!r})), "
            "or drop it")


# ---- matches ------------------------------------------------------------------------------------
def _value_match(name: str, value: Any) -> dict[str, str]:
    if isinstance(value, (str, Exact)):
        return {"name": name, "value": value if isinstance(value, str) else value.value}
    if isinstance(value, Prefix):
        return {"name": name, "type": "RegularExpression", "value": _regex_prefix(value.value)}
    return {"name": name, "type": "RegularExpression", "value": value.value}


def http_match(m: Match, origin: SourceLocation | None, no: Refusals) -> dict[str, Any] | None:
    """One intent Match as an HTTPRouteMatch (None: refused)."""
    origin = m.origin or origin
    out: dict[str, Any] = {}
    ok = True
    if m.source_labels or m.source_namespace:
        no.refuse("Gateway API routes cannot match on the caller (source_labels, source_namespace); "
                  "an AuthorizationPolicy can restrict callers", origin)
        ok = False
    if m.port:
        no.refuse("Gateway API routes cannot match on a port inside a rule (a route attaches to ports)",
                  origin)
        ok = False
    if m.ignore_uri_case:
        no.refuse("Gateway API path matches are case-sensitive (ignore_uri_case)", origin)
        ok = False
    uri = m.uri
    if uri is not None:
        if isinstance(uri, PathPrefix):
            out["path"] = {"type": "PathPrefix", "value": uri.segments}
        elif isinstance(uri, Prefix) and uri.value == "/":
            out["path"] = {"type": "PathPrefix", "value": "/"}
        elif isinstance(uri, Prefix):
            no.refuse(f"Gateway API path prefixes match whole segments, so Prefix({uri.value!r}) cannot be "
                      f"said (it also matches {uri.value.rstrip('/')}x…): write PathPrefix({uri.value!r}), "
                      "which means the same on both APIs, or Regex", origin)
            ok = False
        elif isinstance(uri, Regex):
            out["path"] = {"type": "RegularExpression", "value": uri.value}
        else:
            out["path"] = {"type": "Exact", "value": uri if isinstance(uri, str) else uri.value}
    if m.headers:
        out["headers"] = [_value_match(k, v) for k, v in m.headers.items()]
    if m.query:
        out["queryParams"] = [_value_match(k, v) for k, v in m.query.items()]
    if m.method is not None:
        if isinstance(m.method, (str, Exact)):
            out["method"] = m.method if isinstance(m.method, str) else m.method.value
        else:
            no.refuse("Gateway API matches one exact HTTP method (no prefix or regex)", origin)
            ok = False
    return out if ok else None


def grpc_match(m: Match, origin: SourceLocation | None, no: Refusals) -> dict[str, Any] | None:
    """A Match on a gRPC port: the path names `/<service>/<method>`; headers as they are."""
    origin = m.origin or origin
    out: dict[str, Any] = {}
    ok = True
    if m.query or m.method is not None or m.source_labels or m.source_namespace or m.port or m.ignore_uri_case:
        no.refuse("a GRPCRoute matches only the gRPC service/method (uri) and headers", origin)
        ok = False
    uri = m.uri
    if uri is not None:
        text = uri if isinstance(uri, str) else uri.value
        parts = text.strip("/").split("/")
        if isinstance(uri, (str, Exact)) and len(parts) == 2 and all(parts):
            out["method"] = {"service": parts[0], "method": parts[1]}
        elif isinstance(uri, (Prefix, PathPrefix)) and len(parts) == 1 and parts[0] \
                and (isinstance(uri, PathPrefix) or text.endswith("/")):
            out["method"] = {"service": parts[0]}
        else:
            no.refuse(f"a gRPC match is '/<service>/<method>' (exact) or '/<service>/' (prefix), got {text!r}",
                      origin)
            ok = False
    if m.headers:
        out["headers"] = [_value_match(k, v) for k, v in m.headers.items()]
    return out if ok else None


def grpc_as_http(m: dict[str, Any]) -> dict[str, Any]:
    """A GRPCRoute match as the HTTP path match Istio turns it into (for the precedence check)."""
    out: dict[str, Any] = {}
    method = m.get("method")
    if method:
        if "method" in method:
            out["path"] = {"type": "Exact", "value": f"/{method['service']}/{method['method']}"}
        else:
            out["path"] = {"type": "PathPrefix", "value": f"/{method['service']}"}
    if m.get("headers"):
        out["headers"] = m["headers"]
    return out


# ---- backends -----------------------------------------------------------------------------------
class Backends:
    """Resolved destinations (the VirtualService's, so both APIs validate alike) → backendRefs."""

    def __init__(self, ctx: CompileContext, namespace: str, route_kind: str):
        self.ctx, self.namespace, self.route_kind = ctx, namespace, route_kind
        self.hosts: dict[str, Service | ExternalService] = _host_index(ctx)
        self.cross: set[str] = set()  # namespaces of Service backends outside the route's namespace
        self.versions: list[tuple[Service, str]] = []

    def ref(self, destination: dict[str, Any], weight: int | None = None) -> dict[str, Any]:
        target = self.hosts[destination["host"]]
        port = destination.get("port", {}).get("number") or target.ports[0].number
        if isinstance(target, ExternalService):
            ref: dict[str, Any] = {"group": "networking.istio.io", "kind": "Hostname",
                                   "name": destination["host"], "port": port}
        else:
            name = target.name
            if "subset" in destination:
                name = version_service_name(target, destination["subset"])
                self.versions.append((target, destination["subset"]))
            ref = {"name": name}
            if target.namespace != self.namespace:
                ref["namespace"] = target.namespace
                self.cross.add(target.namespace)
            ref["port"] = port
        if weight is not None:
            ref["weight"] = weight
        return ref

    def refs(self, route: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [self.ref(d["destination"], d.get("weight")) for d in route]


def _host_index(ctx: CompileContext) -> dict[str, Service | ExternalService]:
    def build() -> dict[str, Service | ExternalService]:
        found: dict[str, Service | ExternalService] = {s.host: s for s in ctx.services.values()}
        for e in ctx.externals.values():
            for h in e.hosts:
                found.setdefault(h, e)
        return found

    return ctx.once("hosts", build)


def mirror_filter(backends: Backends, mirror: dict[str, Any]) -> dict[str, Any]:
    """Istio's mirror + mirrorPercentage as a RequestMirror filter (percent, or a fraction)."""
    spec: dict[str, Any] = {"backendRef": backends.ref(mirror["mirror"])}
    pct = mirror["mirrorPercentage"]["value"]
    if float(pct).is_integer():
        spec["percent"] = int(pct)
    else:
        share = Fraction(str(pct)) / 100
        spec["fraction"] = {"numerator": share.numerator, "denominator": share.denominator}
    return {"type": "RequestMirror", "requestMirror": spec}


# ---- rules --------------------------------------------------------------------------------------
def _rule(ctx: CompileContext, s: Service, step: RuleStep, dests: Destinations, backends: Backends,
          no: Refusals, grpc: bool) -> dict[str, Any] | None:
    r = step.route
    rule: dict[str, Any] = {}
    if r is not None and r.name:
        rule["name"] = r.name
    convert: Callable[..., dict[str, Any] | None] = grpc_match if grpc else http_match
    matches = [convert(m, step.origin, no) for m in step.matches]
    retries = (r.retries if r else None) or s.retries
    if retries:
        no.refuse("Gateway API's standard channel has no retries (HTTPRoute retry is experimental)",
                  retries.origin or step.origin)
    fault = (r.fault if r else None) or s.fault
    if fault:
        no.refuse("Gateway API has no fault injection", fault.origin or step.origin)
    route = dests.many(step.target, step.origin)
    if route is None or any(m is None for m in matches):
        return None
    if matches:
        rule["matches"] = matches
    filters: list[dict[str, Any]] = []
    if r is not None and r.rewrite_uri:
        if grpc:
            no.refuse("a GRPCRoute cannot rewrite the path", r.origin)
        elif all(isinstance(m.uri, (str, Exact)) for m in step.matches) and step.matches:
            filters.append({"type": "URLRewrite",
                            "urlRewrite": {"path": {"type": "ReplaceFullPath", "replaceFullPath": r.rewrite_uri}}})
        else:
            no.refuse("rewrite_uri on Gateway API replaces the whole path only after exact path matches "
                      "(Istio's prefix rewrite has no standard equivalent here)", r.origin)
    mirror = (r.mirror if r else None) or step.mirror
    if mirror:
        m = dests.mirror(mirror)
        if m is None:
            return None
        filters.append(mirror_filter(backends, m))
    if filters:
        rule["filters"] = filters
    rule["backendRefs"] = backends.refs(route)
    timeout = (r.timeout if r else None) or s.timeout
    if timeout:
        if grpc:
            no.refuse("a GRPCRoute has no timeouts in Gateway API's standard channel", (
                r.origin if r is not None and r.timeout else s.origin))
        else:
            rule["timeouts"] = {"request": gateway_duration(timeout)}
    return rule


def _parent_refs(s: Service, ports: list[Port]) -> list[dict[str, Any]]:
    return [{"group": "", "kind": "Service", "name": s.name, "port": p.number} for p in ports]


def _check_order(ctx: CompileContext, steps: list[RuleStep], rules: list[dict[str, Any]], grpc: bool,
                 no: Refusals) -> None:
    view = [dict(r, matches=[grpc_as_http(m) for m in r.get("matches", [])]) if grpc else r for r in rules]
    for inv in inversions(view):
        early, late = steps[inv.earlier], steps[inv.later]
        no.refuse(f"Gateway API ranks matches by specificity, not by order: requests matching both this rule "
                  f"and the earlier one at {ctx.where(early.origin)} would take this one ({inv.reason}); "
                  "make their matches exclusive or put the more specific first", late.origin, code="MC2903")
    if len(rules) > MAX_RULES:
        no.refuse(f"{len(rules)} rules: a Gateway API route holds at most {MAX_RULES}", s_origin(steps))


def s_origin(steps: list[RuleStep]) -> SourceLocation | None:
    return steps[MAX_RULES].origin if len(steps) > MAX_RULES else None


def service_routes(ctx: CompileContext, s: Service) -> tuple[list[Resource], Backends] | None:
    """The service's HTTPRoute / GRPCRoute / TCPRoutes (None: refused, errors reported)."""
    backends = Backends(ctx, s.namespace, "HTTPRoute")
    if not needs_routes(s):
        return [], backends
    if not validate_service_routing(ctx, s):
        return None
    target, target_origin, canary_info = default_split(ctx, s)
    routing = canary_info["routing"] if canary_info else None
    alternative = alternative_for(ctx, s.namespace)
    out: list[Resource] = []
    failed = False
    http_ports = [p for p in s.http_ports if p.protocol != "GRPC"]
    grpc_ports = [p for p in s.http_ports if p.protocol == "GRPC"]
    steps = http_rule_plan(s, target, target_origin, routing) if s.http_ports else []
    for kind, ports, grpc in (("HTTPRoute", http_ports, False), ("GRPCRoute", grpc_ports, True)):
        if not ports:
            continue
        no = Refusals(ctx, kind, s.namespace, s.name, alternative)
        dests = Destinations(ctx, s, s.namespace, kind=kind)
        rules = [_rule(ctx, s, step, dests, backends, no, grpc) for step in steps]
        if any(r is None for r in rules) or no.failed:
            failed = True
            continue
        done = [r for r in rules if r is not None]
        _check_order(ctx, steps, done, grpc, no)
        if no.failed:
            failed = True
            continue
        if done:
            spec = {"parentRefs": _parent_refs(s, ports), "rules": done}
            out.append(make_resource(API, kind, s.name, s.namespace, spec, s.origin, ctx.rel(s.origin)))
    if not s.http_ports and any(r.match for r in s.routes):
        r = next(r for r in s.routes if r.match)
        ctx.error("MC2103", f"{s.name} has only TCP ports; HTTP matches cannot apply",
                  r.origin, "TCPRoute", s.namespace, s.name)
        failed = True
    if s.tcp_ports:
        dests = Destinations(ctx, s, s.namespace, kind="TCPRoute")
        several = len(s.tcp_ports) > 1 or bool(s.http_ports)
        for p in s.tcp_ports:
            route = dests.many(target, target_origin)
            if route is None:
                failed = True
                break
            for d in route:
                d["destination"]["port"] = {"number": p.number}
            name = f"{s.name}-{p.port_name}" if several else s.name
            spec = {"parentRefs": _parent_refs(s, [p]), "rules": [{"backendRefs": backends.refs(route)}]}
            out.append(make_resource(API, "TCPRoute", name, s.namespace, spec, s.origin, ctx.rel(s.origin)))
    return None if failed else (out, backends)


# ---- per-version Services and their policies ----------------------------------------------------
def version_service(ctx: CompileContext, s: Service, v: Version) -> Resource:
    """A Kubernetes Service for one version (the backend a weighted backendRef names); built once."""
    def build() -> list[Resource]:
        ports = []
        for p in s.ports:
            port: dict[str, Any] = {"name": p.port_name, "port": p.number}
            if p.target_port:
                port["targetPort"] = p.target_port
            ports.append(port)
        spec = {"selector": {"app": s.name, **v.pod_labels}, "ports": ports}
        labels = {"app": s.name, **v.pod_labels}
        return [make_resource("v1", "Service", version_service_name(s, v.name), s.namespace, spec, s.origin,
                              ctx.rel(s.origin), labels)]

    return ctx.once(("version-svc", s.namespace, s.name, v.name), build)[0]


def version_policy(ctx: CompileContext, s: Service, v: Version) -> Resource | None:
    """The DestinationRule of a version Service: the service's policy, the version's fields winning
    (what a subset's trafficPolicy means on the Istio API)."""
    lb = v.load_balancer or s.load_balancer
    od = v.outlier_detection or s.outlier_detection
    if od is None and lb is not None and lb.locality:
        od = DEFAULT_LOCALITY_OUTLIER
    policy = traffic_policy(v.circuit_breaker or s.circuit_breaker, od, lb, s.tls)
    if not policy:
        return None
    name = version_service_name(s, v.name)
    spec = {"host": f"{name}.{s.namespace}.svc.cluster.local", "trafficPolicy": policy}
    return ctx.resource("networking", "DestinationRule", name, s.namespace, spec, s.origin)


def reference_grant(ctx: CompileContext, to_namespace: str, from_namespace: str, from_kind: str,
                    origin: SourceLocation | None, to_kind: str = "Service") -> Resource:
    """Lets `from_kind` objects in `from_namespace` name `to_kind` objects in `to_namespace`; built once."""
    name = f"{from_namespace}-{from_kind.lower()}s-{to_kind.lower()}s"
    spec = {"from": [{"group": GROUP, "kind": from_kind, "namespace": from_namespace}],
            "to": [{"group": "", "kind": to_kind}]}
    return ctx.once(("grant", to_namespace, name), lambda: [make_resource(
        REFERENCE_GRANT_API, "ReferenceGrant", name, to_namespace, spec, origin, ctx.rel(origin))])[0]


def check_names(ctx: CompileContext, s: Service) -> bool:
    ok = True
    for v in s.versions:
        name = version_service_name(s, v.name)
        if len(name) > 63:
            ctx.error("MC2902", f"the version Service {name!r} would be longer than 63 characters; shorten the "
                      "service or version name", v.origin or s.origin, "Service", s.namespace, name)
            ok = False
    return ok


def compile_gateway_service(ctx: CompileContext, s: Service) -> list[Resource]:
    """A service on the Gateway API: DestinationRules, version Services, routes, ReferenceGrants."""
    from meshcode.compile.routing import destination_rule

    out: list[Resource] = []
    dr = destination_rule(ctx, s)
    if dr:
        out.append(dr)
    if not check_names(ctx, s):
        return out
    for v in s.versions:
        out.append(version_service(ctx, s, v))
        policy = version_policy(ctx, s, v)
        if policy:
            out.append(policy)
    built = service_routes(ctx, s)
    if built is None:
        return out
    routes, backends = built
    out += routes
    for target, version in backends.versions:  # versions of other services this one routes to
        v = target.version(version)
        if target is not s and v is not None:
            out.append(version_service(ctx, target, v))
    for ns in sorted(backends.cross):
        for kind in sorted({r.kind for r in routes}):
            out.append(reference_grant(ctx, ns, s.namespace, kind, s.origin))
    return out
