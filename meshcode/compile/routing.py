"""Service routing: one VirtualService and one DestinationRule per service.

Order of HTTP rules: the user's routes, then canary testers, then the default split.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meshcode.compile.context import CompileContext
from meshcode.state.canary import canary_routing
from meshcode.errors import SourceLocation
from meshcode.intent.edge import ExternalService
from meshcode.intent.resilience import CircuitBreaker, ClientTLS, LoadBalancer, OutlierDetection
from meshcode.intent.service import ALL_PODS, Service, Version
from meshcode.intent.traffic import Dest, Exact, Fault, Match, Mirror, PathPrefix, Prefix, Regex, Retries, Route
from meshcode.plan import Resource

# Istio's documented advice: failover without outlier detection never triggers.
DEFAULT_LOCALITY_OUTLIER = OutlierDetection.model_construct(
    consecutive_5xx_errors=5, consecutive_gateway_errors=None, interval="10s",
    base_ejection_time="30s", max_ejection_percent=100,
)


# ---- small emitters -----------------------------------------------------------------------
def string_match(value: Any) -> dict[str, str]:
    if isinstance(value, str):
        return {"exact": value}
    if isinstance(value, Exact):
        return {"exact": value.value}
    if isinstance(value, Prefix):
        return {"prefix": value.value}
    if isinstance(value, Regex):
        return {"regex": value.value}
    raise TypeError(value)


def match_specs(m: Match) -> list[dict[str, Any]]:
    """A Match as Istio matches (OR-ed): a segment PathPrefix is 'exact p' or 'prefix p/'."""
    if not isinstance(m.uri, PathPrefix):
        return [match_spec(m)]
    seg = m.uri.segments
    rest = match_spec(m)
    if seg == "/":
        return [{"uri": {"prefix": "/"}, **rest}]
    return [{"uri": {"exact": seg}, **rest}, {"uri": {"prefix": seg + "/"}, **rest}]


def match_spec(m: Match) -> dict[str, Any]:
    """One Istio match; a PathPrefix uri is left to `match_specs` (it needs two matches)."""
    out: dict[str, Any] = {}
    if m.uri is not None and not isinstance(m.uri, PathPrefix):
        out["uri"] = string_match(m.uri)
    if m.headers:
        out["headers"] = {k: string_match(v) for k, v in m.headers.items()}
    if m.query:
        out["queryParams"] = {k: string_match(v) for k, v in m.query.items()}
    if m.method is not None:
        out["method"] = string_match(m.method)
    if m.source_labels:
        out["sourceLabels"] = dict(m.source_labels)
    if m.source_namespace:
        out["sourceNamespace"] = m.source_namespace
    if m.port:
        out["port"] = m.port
    if m.ignore_uri_case:
        out["ignoreUriCase"] = True
    return out


def retries_spec(r: Retries) -> dict[str, Any]:
    out: dict[str, Any] = {"attempts": r.attempts}
    if r.per_try_timeout:
        out["perTryTimeout"] = r.per_try_timeout
    if r.retry_on:
        out["retryOn"] = ",".join(r.retry_on)
    return out


def fault_spec(f: Fault) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if f.delay:
        out["delay"] = {"fixedDelay": f.delay.fixed, "percentage": {"value": f.delay.percent}}
    if f.abort:
        out["abort"] = {"httpStatus": f.abort.status, "percentage": {"value": f.abort.percent}}
    return out


def connection_pool(cb: CircuitBreaker) -> dict[str, Any]:
    tcp: dict[str, Any] = {}
    http: dict[str, Any] = {}
    if cb.max_connections is not None:
        tcp["maxConnections"] = cb.max_connections
    if cb.connect_timeout:
        tcp["connectTimeout"] = cb.connect_timeout
    if cb.max_pending_requests is not None:
        http["http1MaxPendingRequests"] = cb.max_pending_requests
    if cb.max_requests is not None:
        http["http2MaxRequests"] = cb.max_requests
    if cb.max_requests_per_connection is not None:
        http["maxRequestsPerConnection"] = cb.max_requests_per_connection
    if cb.max_retries is not None:
        http["maxRetries"] = cb.max_retries
    out: dict[str, Any] = {}
    if tcp:
        out["tcp"] = tcp
    if http:
        out["http"] = http
    return out


def outlier_spec(od: OutlierDetection) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if od.consecutive_5xx_errors is not None:
        out["consecutive5xxErrors"] = od.consecutive_5xx_errors
    if od.consecutive_gateway_errors is not None:
        out["consecutiveGatewayErrors"] = od.consecutive_gateway_errors
    if od.interval:
        out["interval"] = od.interval
    if od.base_ejection_time:
        out["baseEjectionTime"] = od.base_ejection_time
    if od.max_ejection_percent is not None:
        out["maxEjectionPercent"] = od.max_ejection_percent
    return out


def load_balancer_spec(lb: LoadBalancer) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if lb.policy:
        out["simple"] = lb.policy
    elif lb.hash_header:
        out["consistentHash"] = {"httpHeaderName": lb.hash_header}
    elif lb.hash_cookie:
        cookie: dict[str, Any] = {"name": lb.hash_cookie}
        if lb.hash_cookie_ttl:
            cookie["ttl"] = lb.hash_cookie_ttl
        out["consistentHash"] = {"httpCookie": cookie}
    elif lb.hash_source_ip:
        out["consistentHash"] = {"useSourceIp": True}
    elif lb.hash_query_param:
        out["consistentHash"] = {"httpQueryParameterName": lb.hash_query_param}
    if lb.locality:
        loc: dict[str, Any] = {"enabled": True}
        if lb.locality.failover:
            loc["failover"] = [{"from": f.from_, "to": f.to} for f in lb.locality.failover]
        if lb.locality.distribute:
            loc["distribute"] = [{"from": d.from_, "to": dict(d.to)} for d in lb.locality.distribute]
        if lb.locality.failover_priority:
            loc["failoverPriority"] = list(lb.locality.failover_priority)
        out["localityLbSetting"] = loc
    return out


def client_tls_spec(tls: ClientTLS) -> dict[str, Any]:
    out: dict[str, Any] = {"mode": tls.mode}
    if tls.credential_name:
        out["credentialName"] = tls.credential_name
    if tls.ca_certificates:
        out["caCertificates"] = tls.ca_certificates
    if tls.subject_alt_names:
        out["subjectAltNames"] = list(tls.subject_alt_names)
    if tls.sni:
        out["sni"] = tls.sni
    if tls.insecure_skip_verify:
        out["insecureSkipVerify"] = True
    if tls.client_certificate:
        out["clientCertificate"] = tls.client_certificate
        out["privateKey"] = tls.private_key
    return out


def traffic_policy(cb: CircuitBreaker | None, od: OutlierDetection | None,
                   lb: LoadBalancer | None, tls: ClientTLS | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if lb:
        out["loadBalancer"] = load_balancer_spec(lb)
    if cb:
        pool = connection_pool(cb)
        if pool:
            out["connectionPool"] = pool
    if od:
        out["outlierDetection"] = outlier_spec(od)
    if tls:
        out["tls"] = client_tls_spec(tls)
    return out


# ---- destinations -------------------------------------------------------------------------
class Destinations:
    """Resolves a route's `to` into Istio route destinations, reporting bad references."""

    def __init__(self, ctx: CompileContext, owner: Service | None, namespace: str, name: str | None = None,
                 kind: str = "VirtualService"):
        self.ctx = ctx
        self.kind = kind  # the object the routes end up in, for findings
        self.owner = owner
        self.namespace = namespace
        self.name = name or (owner.name if owner else "")  # the VirtualService the routes end up in

    def _fail(self, message: str, origin: SourceLocation | None) -> None:
        self.ctx.error("MC2101", message, origin, self.kind, self.namespace, self.name)

    def one(self, dest: Dest | str | Service | ExternalService, origin: SourceLocation | None,
            weight: int | None = None) -> dict[str, Any] | None:
        if isinstance(dest, str):
            if self.owner is None:
                dest = Dest.model_construct(service=dest, version=None, namespace=None, port=None, weight=None)
            else:
                dest = Dest.model_construct(service=None, version=dest, namespace=None, port=None, weight=None)
        elif isinstance(dest, (Service, ExternalService)):
            dest = Dest.model_construct(service=dest, version=None, namespace=None, port=None, weight=None)
        elif not isinstance(dest, Dest):
            self._fail(f"a destination must be a version or service name, a Dest or a Service, got {dest!r}",
                       origin)
            return None
        origin = dest.origin or origin  # a Dest written on its own line is the offending object
        target: Service | ExternalService | None
        if dest.service is None:
            target = self.owner
            if target is None:
                self._fail("a destination needs a service", origin)
                return None
        else:
            ref = dest.service if not dest.namespace or not isinstance(dest.service, str) \
                else f"{dest.namespace}/{dest.service}"
            target = self.ctx.find_service(ref, self.namespace)
            if target is None:
                self._fail(self._unknown(ref), origin)
                return None
            if not isinstance(ref, str) and (target.namespace, target.name) not in (
                    self.ctx.externals if isinstance(target, ExternalService) else self.ctx.services):
                self._fail(f"destination service {target.namespace}/{target.name} is not part of mesh "
                           f"{self.ctx.mesh.name!r} (add it to Mesh(services=[...]))", origin)
                return None
        out: dict[str, Any] = {"host": target.host}
        if dest.version:
            if not isinstance(target, Service) or target.version(dest.version) is None:
                known = (", ".join(v.name for v in target.versions) if isinstance(target, Service) else "") or "none"
                self._fail(f"version {dest.version!r} of {target.name} does not exist "
                           f"(versions: {known})", origin)
                return None
            out["subset"] = dest.version
        port = dest.port
        if port is not None:
            if port not in {p.number for p in target.ports}:
                self._fail(f"port {port} is not a port of {target.name}", origin)
                return None
        elif len(target.ports) > 1:  # HTTP rules: the first HTTP port (TCP rules set their own)
            port = next((p for p in target.ports if p.is_http), target.ports[0]).number
        if port is not None:
            out["port"] = {"number": port}
        w = dest.weight if dest.weight is not None else weight
        result = {"destination": out}
        if w is not None:
            result["weight"] = w
        return result

    def _unknown(self, ref: str) -> str:
        """Why a service name did not resolve: not declared, or declared in several namespaces."""
        if "/" not in ref:
            spaces = sorted({ns for (ns, n) in (*self.ctx.services, *self.ctx.externals) if n == ref})
            if len(spaces) > 1:
                return (f"destination service {ref!r} is ambiguous: it exists in namespaces "
                        f"{', '.join(spaces)}; write Dest({ref!r}, namespace=...) or '<namespace>/{ref}'")
        return f"destination service {ref!r} is not declared in mesh {self.ctx.mesh.name!r}"

    def many(self, to: Any, origin: SourceLocation | None) -> list[dict[str, Any]] | None:
        """`to` → route destinations with weights that sum to 100 (when more than one)."""
        if to is None:
            self._fail("this route has no destination: give to= (the service has no versions to "
                       "send traffic to by default)", origin)
            return None
        if isinstance(to, dict):
            items = [(Dest.model_construct(service=None, version=k, namespace=None, port=None, weight=None)
                      if self.owner else k, w) for k, w in to.items()]
            for _, w in items:
                if not isinstance(w, int) or isinstance(w, bool) or w < 0 or w > 100:
                    self._fail(f"weights must be whole numbers 0..100, got {w!r}", origin)
                    return None
            dests = [self.one(d, origin, w) for d, w in items]
        elif isinstance(to, (list, tuple)):
            dests = [self.one(d, origin) for d in to]
        else:
            dests = [self.one(to, origin)]
        if any(d is None for d in dests):
            return None
        result = [d for d in dests if d is not None]
        if len(result) > 1 or any("weight" in d for d in result):
            weights = [d.get("weight") for d in result]
            if any(w is None for w in weights):
                self._fail("every destination of a split needs a weight", origin)
                return None
            if sum(weights) != 100:  # type: ignore[arg-type]
                if isinstance(to, Dest) and to.origin:
                    origin = to.origin  # one destination: its own weight is the mistake
                self._fail(f"weights must sum to 100, got {' + '.join(map(str, weights))} = {sum(weights)}",
                           origin)  # type: ignore[arg-type]
                return None
            if len(result) == 1:
                result[0].pop("weight")
        return result

    def mirror(self, m: Mirror) -> dict[str, Any] | None:
        d = self.one(m.to, m.origin)
        if d is None:
            return None
        return {"mirror": d["destination"], "mirrorPercentage": {"value": m.percent}}


# ---- the service's rules ------------------------------------------------------------------
# The service's own host, no subset: Kubernetes' round robin over every pod of the service.
OWN_HOST = Dest.model_construct(service=None, version=None, namespace=None, port=None, weight=None)


def default_split(ctx: CompileContext, s: Service) -> tuple[Any, SourceLocation | None, dict | None]:
    """The service's catch-all target, first that applies: the canary's weights, the `to=` of a
    match-less route, `default=` ("all" or a version), the first version, else the service's host."""
    if s.canary:
        c = s.canary
        state = ctx.canary_state(s.namespace, c.name or s.name)
        routing = canary_routing(c.weight, state, c.stable, c.candidate)
        target = {c.stable: 100 - routing.weight, c.candidate: routing.weight}
        return target, c.origin, {"routing": routing}
    for r in s.routes:
        if not r.match and r.to is not None:
            return r.to, r.origin, None
    if s.default_to == ALL_PODS:
        return OWN_HOST, s.origin, None
    if s.default_to:
        return s.default_to, s.origin, None
    if s.versions:
        return s.versions[0].name, s.origin, None
    return OWN_HOST, s.origin, None


def validate_canary(ctx: CompileContext, s: Service) -> bool:
    c = s.canary
    if c is None:
        return True
    ok = True
    for v in (c.stable, c.candidate):
        if s.version(v) is None:
            ctx.error("MC2101", f"canary version {v!r} is not a version of {s.name} "
                      f"(versions: {', '.join(x.name for x in s.versions) or 'none'})",
                      c.origin, "VirtualService", s.namespace, s.name)
            ok = False
    if any(not r.match for r in s.routes):
        ctx.error("MC2102", f"{s.name} has both a canary and a route without match; the canary "
                  "owns the default split", c.origin, "VirtualService", s.namespace, s.name)
        ok = False
    return ok


def validate_default_route(ctx: CompileContext, s: Service) -> bool:
    """At most one route without match: it is the default, a second would be silently dropped."""
    defaults = [r for r in s.routes if not r.match]
    for extra in defaults[1:]:
        ctx.error("MC2105", f"{s.name} has more than one route without match; only one can be the default "
                  f"(first at {ctx.where(defaults[0].origin)})", extra.origin, "VirtualService", s.namespace, s.name)
    return len(defaults) <= 1


def http_route(ctx: CompileContext, dests: Destinations, s: Service, r: Route | None,
               matches: tuple[Match, ...], target: Any, origin: SourceLocation | None,
               extra_mirror: Mirror | None = None) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    if r is not None and r.name:
        out["name"] = r.name
    if matches:
        out["match"] = [spec for m in matches for spec in match_specs(m)]
    route = dests.many(target, origin)
    if route is None:
        return None
    out["route"] = route
    timeout = (r.timeout if r else None) or s.timeout
    if timeout:
        out["timeout"] = timeout
    retries = (r.retries if r else None) or s.retries
    if retries:
        out["retries"] = retries_spec(retries)
    fault = (r.fault if r else None) or s.fault
    if fault:
        out["fault"] = fault_spec(fault)
    mirror = (r.mirror if r else None) or extra_mirror
    if mirror:
        m = dests.mirror(mirror)
        if m is None:
            return None
        out.update(m)
    if r is not None and r.rewrite_uri:
        out["rewrite"] = {"uri": r.rewrite_uri}
    return out


@dataclass(frozen=True, slots=True)
class RuleStep:
    """One HTTP rule of a service, in first-match order, before any API renders it."""

    route: Route | None  # the user's Route (its name, timeout, retries, fault, rewrite), if any
    matches: tuple[Match, ...]  # () = every request
    target: Any
    origin: SourceLocation | None
    mirror: Mirror | None = None  # a mirror the route itself does not carry (service, canary stage)


def http_rule_plan(s: Service, target: Any, target_origin: SourceLocation | None,
                   routing: Any) -> list[RuleStep]:
    """The service's HTTP rules in order: its routes, canary testers, A/B stage, default split.

    Shared by the VirtualService and the HTTPRoute renderers, so both APIs carry the same rules.
    """
    steps: list[RuleStep] = []
    for r in s.routes:  # the service's mirror, like its timeout, applies to every rule
        if r.match:
            steps.append(RuleStep(r, r.match, r.to if r.to is not None else target, r.origin, s.mirror))
    if s.canary and s.canary.testers and (routing is None or routing.testers):
        steps.append(RuleStep(None, s.canary.testers, s.canary.candidate, s.canary.origin, s.mirror))
    if routing and routing.ab_testing and s.canary and s.canary.rollout:
        steps.append(RuleStep(None, s.canary.rollout.ab_match, s.canary.candidate, s.canary.origin, s.mirror))
    mirror = s.mirror
    if routing and routing.mirror and s.canary:
        mirror = Mirror.model_construct(to=s.canary.candidate, percent=100.0).with_origin(s.canary.origin)
    default_route = next((r for r in s.routes if not r.match), None)
    steps.append(RuleStep(default_route, (), target, target_origin, mirror))
    return steps


def has_routing_intent(s: Service) -> bool:
    """Anything that only a VirtualService can say (a version choice, rules, extras)."""
    return bool(s.routes or s.canary or s.mirror or s.timeout or s.retries or s.fault
                or (s.default_to and s.default_to != ALL_PODS))


def validate_route_effect(ctx: CompileContext, s: Service) -> bool:
    """A matched route without to= and without extras would only repeat the default: say so."""
    ok = True
    for r in s.routes:
        if r.match and r.to is None and not (r.timeout or r.retries or r.fault or r.mirror or r.rewrite_uri):
            ctx.error("MC2104", "this route has no destination (to=) and changes nothing for the requests "
                      "it matches (no timeout, retries, fault, mirror or rewrite_uri); give to=",
                      r.origin, "VirtualService", s.namespace, s.name)
            ok = False
    return ok


def validate_tcp_only(ctx: CompileContext, s: Service) -> bool:
    """HTTP-only intent on a service without HTTP ports would be dropped: refuse it at its line."""
    if s.http_ports:
        return True
    found: list[tuple[str, SourceLocation | None]] = []
    for what, value in (("timeout", s.timeout), ("retries", s.retries), ("fault", s.fault), ("mirror", s.mirror)):
        if value:
            found.append((what, getattr(value, "origin", None) or s.origin))
    for r in s.routes:
        if r.match:
            found.append(("an HTTP match", r.origin))
        for what in ("timeout", "retries", "fault", "mirror", "rewrite_uri", "name"):
            value = getattr(r, what)
            if value:
                found.append((what, getattr(value, "origin", None) or r.origin))
    if s.canary and s.canary.testers:
        found.append(("canary testers (HTTP matches)", s.canary.origin))
    rollout = s.canary.rollout if s.canary else None
    if rollout is not None and (rollout.mirror_intervals or rollout.ab_intervals):
        found.append(("mirror or A/B stages", rollout.origin))
    ports = ", ".join(f"{p.number}/{p.protocol}" for p in s.ports)
    for what, origin in found:
        ctx.error("MC2103", f"{what} applies to HTTP requests only; {s.name} has no HTTP port ({ports})",
                  origin, "VirtualService", s.namespace, s.name)
    return not found


def needs_routes(s: Service) -> bool:
    """A route object is written when it says something; without one Istio (and Kubernetes)
    send every request round robin to every pod of the service."""
    return has_routing_intent(s) or (bool(s.versions) and s.default_to != ALL_PODS)


def validate_service_routing(ctx: CompileContext, s: Service) -> bool:
    """Every check of a service's routing intent, whichever API renders it (all errors reported)."""
    valid = [validate_canary(ctx, s), validate_default_route(ctx, s), validate_tcp_only(ctx, s),
             validate_route_effect(ctx, s)]
    return all(valid)


def virtual_service(ctx: CompileContext, s: Service) -> Resource | None:
    if not needs_routes(s) or not validate_service_routing(ctx, s):
        return None
    dests = Destinations(ctx, s, s.namespace)
    target, target_origin, canary_info = default_split(ctx, s)
    routing = canary_info["routing"] if canary_info else None
    http: list[dict[str, Any]] = []
    tcp: list[dict[str, Any]] = []
    tls: list[dict[str, Any]] = []
    failed = False
    if s.http_ports:
        for step in http_rule_plan(s, target, target_origin, routing):
            rule = http_route(ctx, dests, s, step.route, step.matches, step.target, step.origin, step.mirror)
            failed |= rule is None
            if rule:
                http.append(rule)
    if s.tcp_ports:
        def port_route(number: int) -> list[dict[str, Any]] | None:
            route = dests.many(target, target_origin)
            for d in route or ():
                d["destination"]["port"] = {"number": number}
            return route

        tcp_only = [p for p in s.tcp_ports if p.protocol in ("TCP", "MONGO", "REDIS", "MYSQL")]
        # TLS passthrough ports (TLS, HTTPS): Istio routes them by SNI, which must be the service host.
        tls_ports = [p for p in s.tcp_ports if p.protocol in ("TLS", "HTTPS")]
        for p in tcp_only + tls_ports:
            route = port_route(p.number)
            if route is None:
                failed = True
                break
            if p in tls_ports:
                tls.append({"match": [{"port": p.number, "sniHosts": [s.host]}], "route": route})
            elif s.http_ports or len(tcp_only) > 1:
                tcp.append({"match": [{"port": p.number}], "route": route})
            else:
                tcp.append({"route": route})
    if failed or not (http or tcp or tls):
        return None
    spec: dict[str, Any] = {"hosts": [s.host]}
    if http:
        spec["http"] = http
    if tls:
        spec["tls"] = tls
    if tcp:
        spec["tcp"] = tcp
    return ctx.resource("networking", "VirtualService", s.name, s.namespace, spec, s.origin)


def subset_spec(v: Version, locality_default: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": v.name, "labels": dict(v.pod_labels)}
    od = v.outlier_detection
    if locality_default and od is None and v.load_balancer and v.load_balancer.locality:
        od = DEFAULT_LOCALITY_OUTLIER  # nothing to inherit from the DestinationRule's own policy
    policy = traffic_policy(v.circuit_breaker, od, v.load_balancer, None)
    if policy:
        out["trafficPolicy"] = policy
    return out


def destination_rule(ctx: CompileContext, s: Service) -> Resource | None:
    od = s.outlier_detection
    if s.load_balancer and s.load_balancer.locality and od is None:
        od = DEFAULT_LOCALITY_OUTLIER
        ctx.note("MC0101", f"{s.name}: locality load balancing needs outlier detection to fail over; "
                 "added the default (5 consecutive 5xx, 10s interval, 30s ejection)",
                 s.load_balancer.origin, "DestinationRule", s.namespace, s.name)
    policy = traffic_policy(s.circuit_breaker, od, s.load_balancer, s.tls)
    if not policy and not s.versions:
        return None
    spec: dict[str, Any] = {"host": s.host}
    if policy:
        spec["trafficPolicy"] = policy
    if s.versions:
        spec["subsets"] = [subset_spec(v, od is None) for v in s.versions]
        for v in s.versions:
            if od is None and v.outlier_detection is None and v.load_balancer and v.load_balancer.locality:
                ctx.note("MC0101", f"{s.name}: subset {v.name}: locality load balancing needs outlier "
                         "detection to fail over; added the default (5 consecutive 5xx, 10s interval, "
                         "30s ejection)", v.load_balancer.origin, "DestinationRule", s.namespace, s.name)
    return ctx.resource("networking", "DestinationRule", s.name, s.namespace, spec, s.origin)


def compile_service(ctx: CompileContext, s: Service) -> list[Resource]:
    out = []
    dr = destination_rule(ctx, s)
    if dr:
        out.append(dr)
    vs = virtual_service(ctx, s)
    if vs:
        out.append(vs)
    return out
