"""Routing of external services: a VirtualService for the external host (timeouts, retries,
faults, routes), and Istio's egress-gateway pattern (Gateway, DestinationRule, a VirtualService
bound to `mesh` and the gateway) when the traffic must leave through an egress gateway.
"""
from __future__ import annotations

from typing import Any

from meshcode.compile.context import CompileContext
from meshcode.compile.dataplane import plane
from meshcode.compile.routing import (
    OWN_HOST,
    Destinations,
    fault_spec,
    http_route,
    http_rule_plan,
    retries_spec,
    validate_default_route,
    validate_route_effect,
    validate_tcp_only,
)
from meshcode.intent.edge import EgressGateway, ExternalService
from meshcode.plan import Resource

TLS_PORTS = ("TLS", "HTTPS")


def has_routing(ext: ExternalService) -> bool:
    return bool(ext.routes or ext.timeout or ext.retries or ext.fault or ext.egress_gateway)


def external_virtual_service(ctx: CompileContext, ext: ExternalService) -> Resource | None:
    """The external host's own rules: the user's routes, then the catch-all to the host itself."""
    checks = [validate_tcp_only(ctx, ext), validate_default_route(ctx, ext),  # type: ignore[arg-type]
              validate_route_effect(ctx, ext)]  # type: ignore[arg-type]
    if not all(checks):
        return None
    dests = Destinations(ctx, ext, ext.namespace)  # type: ignore[arg-type]
    default = next((r for r in ext.routes if not r.match and r.to is not None), None)
    target, origin = (default.to, default.origin) if default else (OWN_HOST, ext.origin)
    http: list[dict[str, Any]] = []
    failed = False
    for step in http_rule_plan(ext, target, origin, None):  # type: ignore[arg-type]
        rule = http_route(ctx, dests, ext, step.route, step.matches, step.target, step.origin,  # type: ignore[arg-type]
                          step.mirror)
        failed |= rule is None
        if rule:
            http.append(rule)
    if failed:
        return None
    spec: dict[str, Any] = {"hosts": [ext.host], "http": http}
    if ext.export_to:
        spec["exportTo"] = list(ext.export_to)
    return ctx.resource("networking", "VirtualService", ext.name, ext.namespace, spec, ext.origin)


def egress_name(ext: ExternalService) -> str:
    return f"{ext.name}-egress"


def _extras(ext: ExternalService) -> dict[str, Any]:
    """The external service's timeout, retries and fault, on the rule sidecars use."""
    out: dict[str, Any] = {}
    if ext.timeout:
        out["timeout"] = ext.timeout
    if ext.retries:
        out["retries"] = retries_spec(ext.retries)
    if ext.fault:
        out["fault"] = fault_spec(ext.fault)
    return out


def egress_gateway_objects(ctx: CompileContext, ext: ExternalService) -> list[Resource]:
    """Istio's egress-gateway task as objects: sidecars → gateway (subset `<ext>`), gateway → host.

    HTTP ports go through as HTTP (with `originate_tls`, the gateway opens TLS to the target
    port); TLS/HTTPS ports pass through on SNI. TCP ports are refused (no host to route on).
    """
    gw: EgressGateway = ext.egress_gateway  # type: ignore[assignment]
    if not validate_tcp_only(ctx, ext):  # type: ignore[arg-type]
        return []
    ns, name = ext.namespace, egress_name(ext)
    gateway_ref = f"{ns}/{name}"
    origination = ext.originate_tls
    http_ports = [p.number for p in ext.http_ports]
    tls_ports = [p.number for p in ext.ports if p.protocol in TLS_PORTS
                 and not (origination and p.number == origination.target_port)]
    opaque = [p for p in ext.ports if not p.is_http and p.protocol not in TLS_PORTS]
    failed = False
    for what, ports in (("HTTP", http_ports), ("TLS", tls_ports)):
        if len(ports) > 1:
            ctx.error("MC2107", f"{ext.name} has {len(ports)} {what} ports ({', '.join(map(str, ports))}); an egress "
                      f"gateway takes one per protocol on its port (give one ExternalService per port)",
                      gw.origin or ext.origin, "Gateway", ns, name)
            failed = True
    if opaque:
        ctx.error("MC2107", f"{ext.name}: TCP port {opaque[0].number} cannot go through an egress gateway by "
                  "host (TCP carries no host name); use TLS or HTTP, or leave egress_gateway off",
                  gw.origin or ext.origin, "Gateway", ns, name)
        failed = True
    if gw.port is not None and http_ports and tls_ports:
        ctx.error("MC2107", f"EgressGateway(port={gw.port}) cannot serve both HTTP and TLS of {ext.name}",
                  gw.origin or ext.origin, "Gateway", ns, name)
        failed = True
    if gw.mtls and tls_ports:
        ctx.error("MC2107", f"EgressGateway(mtls=True) wraps HTTP in Istio mTLS; {ext.name}'s TLS port "
                  f"{tls_ports[0]} passes through as it is (drop mtls, or originate TLS at the gateway)",
                  gw.origin or ext.origin, "Gateway", ns, name)
        failed = True
    if failed:
        return []
    servers: list[dict[str, Any]] = []
    http: list[dict[str, Any]] = []
    tls: list[dict[str, Any]] = []
    to_gateway = {"host": gw.host, "subset": ext.name}
    for port in http_ports:
        if gw.mtls:  # sidecar → gateway over Istio mTLS, then plain HTTP (or originated TLS) onwards
            listen = gw.port or 443
            servers.append({"port": {"number": listen, "name": f"https-{listen}", "protocol": "HTTPS"},
                            "hosts": [ext.host], "tls": {"mode": "ISTIO_MUTUAL"}})
        else:
            listen = gw.port or 80
            servers.append({"port": {"number": listen, "name": f"http-{listen}", "protocol": "HTTP"},
                            "hosts": [ext.host]})
        out_port = origination.target_port if origination else port
        http.append({"match": [{"gateways": ["mesh"], "port": port}],
                     "route": [{"destination": {**to_gateway, "port": {"number": listen}}}], **_extras(ext)})
        http.append({"match": [{"gateways": [gateway_ref], "port": listen}],
                     "route": [{"destination": {"host": ext.host, "port": {"number": out_port}}}]})
    for port in tls_ports:
        listen = gw.port or 443
        servers.append({"port": {"number": listen, "name": f"tls-{listen}", "protocol": "TLS"},
                        "hosts": [ext.host], "tls": {"mode": "PASSTHROUGH"}})
        tls.append({"match": [{"gateways": ["mesh"], "port": port, "sniHosts": [ext.host]}],
                    "route": [{"destination": {**to_gateway, "port": {"number": listen}}}]})
        tls.append({"match": [{"gateways": [gateway_ref], "port": listen, "sniHosts": [ext.host]}],
                    "route": [{"destination": {"host": ext.host, "port": {"number": port}}}]})
    origin = gw.origin or ext.origin
    out = [ctx.resource("networking", "Gateway", name, ns, {"selector": dict(gw.selector), "servers": servers},
                        origin),
           ctx.resource("networking", "DestinationRule", name, ns, _gateway_rule(ext, gw), origin)]
    spec: dict[str, Any] = {"hosts": [ext.host], "gateways": [gateway_ref, "mesh"]}
    if http:
        spec["http"] = http
    if tls:
        spec["tls"] = tls
    out.append(ctx.resource("networking", "VirtualService", ext.name, ns, spec, ext.origin))
    return out


def _gateway_rule(ext: ExternalService, gw: EgressGateway) -> dict[str, Any]:
    """The subset sidecars send this host's traffic to; with mtls, Istio mTLS to the gateway port."""
    subset: dict[str, Any] = {"name": ext.name}
    if gw.mtls:
        subset["trafficPolicy"] = {"portLevelSettings": [{"port": {"number": gw.port or 443},
                                                          "tls": {"mode": "ISTIO_MUTUAL", "sni": ext.host}}]}
    return {"host": gw.host, "subsets": [subset]}


def external_routing(ctx: CompileContext, ext: ExternalService) -> list[Resource]:
    if has_routing(ext) and plane(ctx, ext.namespace).ambient:
        what = "egress_gateway" if ext.egress_gateway else "routing (timeout, retries, fault, routes)"
        ctx.error("MC2112", f"{ext.name}: {what} on an external service is a VirtualService for sidecars; namespace "
                  f"{ext.namespace} is ambient, where it would not apply (declare the external service in a "
                  "sidecar namespace, or drop it)", ext.origin, "VirtualService", ext.namespace, ext.name)
        return []
    if ext.egress_gateway:
        return egress_gateway_objects(ctx, ext)
    if not has_routing(ext):
        return []
    vs = external_virtual_service(ctx, ext)
    return [vs] if vs else []
