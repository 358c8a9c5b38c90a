"""Edge objects: ingress Gateways with their bound VirtualServices, ServiceEntries, Sidecars."""
from __future__ import annotations

from typing import Any

from meshcode.compile.context import CompileContext
from meshcode.compile.dataplane import plane
from meshcode.compile.egress import external_routing
from meshcode.compile.routing import Destinations, client_tls_spec, default_split, http_route, match_spec
from meshcode.intent.edge import ExternalService, Ingress, SidecarScope
from meshcode.errors import SourceLocation
from meshcode.intent.service import HTTP_PROTOCOLS, Service
from meshcode.intent.traffic import Dest, Route
from meshcode.plan import Resource


def gateway(ctx: CompileContext, ing: Ingress) -> Resource:
    hosts = list(ing.hosts)
    servers: list[dict[str, Any]] = []
    if ing.tls:
        tls: dict[str, Any] = {"mode": ing.tls.mode, "credentialName": ing.tls.credential_name}
        if ing.tls.min_protocol_version:
            tls["minProtocolVersion"] = ing.tls.min_protocol_version
        servers.append({"port": {"number": ing.listen_port, "name": f"https-{ing.listen_port}",
                                 "protocol": "HTTPS"}, "hosts": hosts, "tls": tls})
        if ing.http_redirect:
            servers.append({"port": {"number": 80, "name": "http-80", "protocol": "HTTP"},
                            "hosts": list(hosts), "tls": {"httpsRedirect": True}})
    elif ing.protocol == "TLS":  # passthrough: route on SNI, the service terminates
        servers.append({"port": {"number": ing.listen_port, "name": f"tls-{ing.listen_port}", "protocol": "TLS"},
                        "hosts": hosts, "tls": {"mode": "PASSTHROUGH"}})
    else:
        name = f"{ing.protocol.lower()}-{ing.listen_port}"
        servers.append({"port": {"number": ing.listen_port, "name": name, "protocol": ing.protocol},
                        "hosts": hosts})
    spec = {"selector": dict(ing.selector), "servers": servers}
    return ctx.resource("networking", "Gateway", ing.name, gateway_namespace(ing), spec, ing.origin)


def gateway_namespace(ing: Ingress) -> str:
    """The Gateway object sits beside the gateway workload when asked (credentialName secrets live
    there); the bound VirtualService stays in the ingress namespace."""
    return ing.gateway_namespace or ing.namespace


def deployed_gateway(ctx: CompileContext, ing: Ingress) -> tuple[str, str] | None:
    """(namespace, service account) of the gateway Istio deploys for a Gateway API ingress."""
    if not plane(ctx, ing.namespace).gateway_api:
        return None
    return gateway_namespace(ing), f"{ing.name}-istio"


def ingress_target(ctx: CompileContext, ing: Ingress, to: Any) -> Any:
    """A service without a version at the edge takes that service's own default split,
    so a canary's weights hold for ingress traffic too (mesh-bound rules do not apply there)."""
    if isinstance(to, dict):
        return to  # {service name: weight}: the user's own split
    items = to if isinstance(to, (list, tuple)) else [to]
    out = []
    for item in items:
        ref = item.service if isinstance(item, Dest) else item
        if isinstance(item, Dest) and item.version:
            out.append(item)
            continue
        svc = ctx.find_service(ref, ing.namespace) if ref is not None else None
        if isinstance(svc, Service) and (svc.canary or svc.versions) and not isinstance(to, (list, tuple)):
            split, _, _ = default_split(ctx, svc)
            port = item.port if isinstance(item, Dest) else None
            if isinstance(split, dict):
                return [Dest.model_construct(service=svc, version=v, namespace=None, port=port, weight=w)
                        for v, w in split.items()]
            if isinstance(split, str):
                return Dest.model_construct(service=svc, version=split, namespace=None, port=port, weight=None)
        out.append(item)
    return out if isinstance(to, (list, tuple)) else out[0]


# Which service ports each ingress protocol may forward to (the rest is a mismatch).
_EDGE_PORTS = {"HTTP": HTTP_PROTOCOLS, "TCP": frozenset({"TCP", "MONGO", "REDIS", "MYSQL", "TLS", "HTTPS"}),
               "TLS": frozenset({"TLS", "HTTPS"})}


def _edge_dest(ctx: CompileContext, ing: Ingress, item: Any, weight: int | None,
               origin: SourceLocation | None, reported: set[str]) -> Any:
    """One destination of an ingress route with the service port its protocol forwards to,
    or None after reporting a protocol mismatch at the route's line."""
    dest = item if isinstance(item, Dest) else Dest.model_construct(
        service=item, version=None, namespace=None, port=None, weight=weight)
    ref = dest.service if dest.namespace is None or not isinstance(dest.service, str) \
        else f"{dest.namespace}/{dest.service}"
    svc = ctx.find_service(ref, ing.namespace) if ref is not None else None
    if svc is None:
        return item if not isinstance(item, str) or weight is None else dest  # Destinations reports it
    allowed = _EDGE_PORTS[ing.protocol]
    if ing.protocol == "HTTP" and svc.tls is not None and svc.tls.mode in ("SIMPLE", "MUTUAL"):
        allowed = allowed | {"HTTPS", "TLS"}  # its DestinationRule originates TLS to those ports
    ports = [p for p in svc.ports if p.number == dest.port] if dest.port else list(svc.ports)
    fitting = [p for p in ports if p.protocol in allowed]
    if not fitting:
        if svc.host in reported:  # one error per service, not one per version of its split
            return None
        reported.add(svc.host)
        shown = ", ".join(f"{p.number}/{p.protocol}" for p in ports)
        if isinstance(ing, Ingress):
            what = f"ingress {ing.name} serves {ing.server_protocol} on port {ing.listen_port}"
            hint = {"HTTP": "write Ingress(..., protocol='TCP') (or 'TLS' for passthrough) or route",
                    "TCP": "write Ingress(..., protocol='HTTP') or route",
                    "TLS": "write Ingress(..., protocol='HTTP' or 'TCP') or route"}[ing.protocol]
        else:  # a VirtualHost: HTTP on its port
            what, hint = f"virtual host {ing.name} routes HTTP", "route"
        ctx.error("MC2106", f"{what}, but {svc.name} has no {' or '.join(sorted(allowed))} port to forward it to "
                  f"({shown}); {hint} to a port that speaks it",
                  dest.origin or origin, "VirtualService", ing.namespace, ing.name)
        return None
    if dest.port is None and (len(svc.ports) > 1 or ing.protocol != "HTTP"):
        return Dest.model_construct(service=dest.service, version=dest.version, namespace=dest.namespace,
                                    port=fitting[0].number, weight=dest.weight).with_origin(dest.origin)
    return dest


def edge_target(ctx: CompileContext, ing: Ingress, r: Route) -> Any:
    """The route's target with each destination's port chosen for the ingress protocol (None: refused)."""
    target = ingress_target(ctx, ing, r.to)
    if isinstance(target, dict):
        items = [(k, w) for k, w in target.items()]
    elif isinstance(target, (list, tuple)):
        items = [(t, None) for t in target]
    else:
        items = [(target, None)]
    reported: set[str] = set()
    out = [_edge_dest(ctx, ing, item, w, r.origin, reported) for item, w in items]
    if any(d is None for d in out):
        return None
    return out if isinstance(target, (dict, list, tuple)) else out[0]


def _check_l4_route(ctx: CompileContext, ing: Ingress, r: Route, first: bool, kind: str) -> bool:
    """TCP and TLS-passthrough ingresses forward connections: one route, nothing HTTP on it."""
    http = [what for what in ("match", "timeout", "retries", "fault", "mirror", "rewrite_uri", "name")
            if getattr(r, what)]
    problems = [f"{', '.join(http)} {'is' if len(http) == 1 else 'are'} HTTP-only"] if http else []
    if not first:
        problems.append(f"a {ing.protocol} ingress takes one route (its destination, or a split)")
    for p in problems:
        ctx.error("MC2106", f"ingress {ing.name} forwards {ing.protocol} connections: {p}",
                  r.origin, kind, ing.namespace, ing.name)
    return not problems


def check_ingress_routes(ctx: CompileContext, ing: Ingress, kind: str = "VirtualService") -> bool:
    """Ingress routes are tried in order, each needs a destination: report what breaks that."""
    ok = True
    catch_all: Route | None = None  # nothing after a match-less route is reached
    for i, r in enumerate(ing.routes):
        if ing.protocol != "HTTP" and not _check_l4_route(ctx, ing, r, i == 0, kind):
            ok = False
            continue
        if catch_all is not None:
            ctx.error("MC2105", f"this route is never reached: the route at {ctx.where(catch_all.origin)} "
                      "matches every request first (put catch-all routes last)",
                      r.origin, kind, ing.namespace, ing.name)
            ok = False
        if not r.match:
            catch_all = catch_all or r
        if r.to is None:
            ctx.error("MC2104", "an ingress route needs to= (the service it sends traffic to)",
                      r.origin, kind, ing.namespace, ing.name)
            ok = False
    return ok


def ingress_virtual_service(ctx: CompileContext, ing: Ingress) -> Resource | None:
    dests = Destinations(ctx, None, ing.namespace, ing.name)
    rules: list[dict[str, Any]] = []
    failed = not check_ingress_routes(ctx, ing)
    if failed:
        return None
    for r in ing.routes:
        target = edge_target(ctx, ing, r)
        if target is None:
            failed = True
            continue
        if ing.protocol == "HTTP":
            rule = http_route(ctx, dests, _NO_SERVICE, r, r.match, target, r.origin)
        else:
            route = dests.many(target, r.origin)
            match: dict[str, Any] = {"port": ing.listen_port}
            if ing.protocol == "TLS":
                match["sniHosts"] = list(ing.hosts)
            rule = {"match": [match], "route": route} if route is not None else None
        if rule is None:
            failed = True
        else:
            rules.append(rule)
    if failed:
        return None
    section = {"HTTP": "http", "TCP": "tcp", "TLS": "tls"}[ing.protocol]
    spec = {"hosts": list(ing.hosts), "gateways": [f"{gateway_namespace(ing)}/{ing.name}"], section: rules}
    return ctx.resource("networking", "VirtualService", ing.name, ing.namespace, spec, ing.origin)


class _NoService:
    """Stands in for the owning service on ingress routes: no service-level defaults apply."""

    timeout = retries = fault = mirror = None


_NO_SERVICE: Any = _NoService()


def compile_ingress(ctx: CompileContext, ing: Ingress) -> list[Resource]:
    """An ingress on the Istio API (the Gateway API one is compile.gateway_ingress)."""
    vs = ingress_virtual_service(ctx, ing)
    return [gateway(ctx, ing)] + ([vs] if vs else [])


def compile_external(ctx: CompileContext, ext: ExternalService) -> list[Resource]:
    ports: list[dict[str, Any]] = []
    origin_port = ext.originate_tls.port if ext.originate_tls else None
    for p in ext.ports:
        port: dict[str, Any] = {"number": p.number, "name": p.port_name, "protocol": p.protocol}
        if p.target_port:
            port["targetPort"] = p.target_port
        ports.append(port)
    # Sidecar origination: the plain port's traffic goes to the TLS port. Through an egress gateway
    # the gateway sends it there (its VirtualService names the port), so the entry keeps both as they are.
    retarget = {} if ext.egress_gateway else {"targetPort": ext.originate_tls.target_port} if ext.originate_tls else {}
    if ext.originate_tls and origin_port not in {p.number for p in ext.ports}:
        ports.insert(0, {"number": origin_port, "name": f"http-{origin_port}", "protocol": "HTTP", **retarget})
    elif ext.originate_tls:
        for port in ports:
            if port["number"] == origin_port:
                port.update(retarget)
    spec: dict[str, Any] = {"hosts": list(ext.hosts)}
    if ext.addresses:
        spec["addresses"] = list(ext.addresses)
    spec["ports"] = ports
    spec["location"] = ext.location
    spec["resolution"] = ext.resolution
    if ext.endpoints:
        spec["endpoints"] = [{"address": a} for a in ext.endpoints]
    if ext.export_to:
        spec["exportTo"] = list(ext.export_to)
    out = [ctx.resource("networking", "ServiceEntry", ext.name, ext.namespace, spec, ext.origin)]
    dr_spec: dict[str, Any] | None = None
    if ext.originate_tls:
        o = ext.originate_tls
        tls: dict[str, Any] = {"mode": o.mode}
        if o.credential_name:
            tls["credentialName"] = o.credential_name
        if o.client_certificate:
            tls["clientCertificate"] = o.client_certificate
            tls["privateKey"] = o.private_key
        if o.ca_certificates:
            tls["caCertificates"] = o.ca_certificates
        tls["sni"] = o.sni or ext.host
        # the proxy that opens TLS: the sidecar on the plain port, or the gateway on the TLS port
        port = o.target_port if ext.egress_gateway else o.port
        dr_spec = {"host": ext.host, "trafficPolicy": {"portLevelSettings": [
            {"port": {"number": port}, "tls": tls}]}}
    elif ext.tls:
        dr_spec = {"host": ext.host, "trafficPolicy": {"tls": client_tls_spec(ext.tls)}}
    if dr_spec is not None:
        if ext.export_to:
            dr_spec["exportTo"] = list(ext.export_to)
        out.append(ctx.resource("networking", "DestinationRule", ext.name, ext.namespace, dr_spec, ext.origin))
    return out + external_routing(ctx, ext)


def compile_sidecar(ctx: CompileContext, sc: SidecarScope) -> Resource:
    spec: dict[str, Any] = {"egress": [{"hosts": list(sc.egress_hosts)}]}
    if sc.outbound:
        spec["outboundTrafficPolicy"] = {"mode": sc.outbound}
    return ctx.resource("networking", "Sidecar", "default", sc.namespace, spec, sc.origin)


__all__ = ["compile_ingress", "compile_external", "compile_sidecar", "match_spec"]
