"""Mesh-internal virtual hosts: a host that is not a service, routed by the sidecars.

A ServiceEntry (MESH_INTERNAL) makes the proxies know the host on its port; a VirtualService
bound to the mesh routes it like an ingress would (each service target keeps its own split).
"""
from __future__ import annotations

from typing import Any

from meshcode.compile.context import CompileContext, placed
from meshcode.compile.dataplane import plane
from meshcode.compile.edge import _NO_SERVICE, check_ingress_routes, edge_target
from meshcode.compile.routing import Destinations, http_route
from meshcode.intent.edge import VirtualHost
from meshcode.plan import Resource


def _resolvable(ctx: CompileContext, vh: VirtualHost) -> bool:
    """Callers must resolve the host: given addresses, or DNS capture with auto-allocated VIPs."""
    if vh.addresses:
        return True
    clusters = [c for c in ctx.mesh.clusters if placed(vh.clusters, {c.name})]
    missing = [c.name for c in clusters
               if not (ctx.mesh.install_of(c).proxy.dns_capture and ctx.mesh.install_of(c).proxy.dns_auto_allocate)]
    if missing:
        ctx.error("MC2108", f"virtual host {vh.hosts[0]} is no service, so callers cannot resolve it: give it "
                  "addresses=[...] or let the proxies answer DNS with a virtual IP (IstioInstall(proxy="
                  f"ProxyOptions(dns_capture=True, dns_auto_allocate=True)); missing in {', '.join(missing)})",
                  vh.origin, "ServiceEntry", vh.namespace, vh.name)
        return False
    return True


def compile_virtual_host(ctx: CompileContext, vh: VirtualHost) -> list[Resource]:
    if plane(ctx, vh.namespace).gateway_api:
        ctx.error("MC2108", f"virtual host {vh.name}: the Gateway API routes a Service's own traffic only "
                  f"(GAMMA); keep namespace {vh.namespace} on the Istio API for hosts that are not services",
                  vh.origin, "VirtualService", vh.namespace, vh.name)
        return []
    ok = _resolvable(ctx, vh) & check_ingress_routes(ctx, vh, "VirtualService")  # type: ignore[arg-type]
    if not ok:
        return []
    dests = Destinations(ctx, None, vh.namespace, vh.name)
    http: list[dict[str, Any]] = []
    for r in vh.routes:
        target = edge_target(ctx, vh, r)  # type: ignore[arg-type]
        rule = http_route(ctx, dests, _NO_SERVICE, r, r.match, target, r.origin) if target is not None else None
        if rule is None:
            return []
        http.append(rule)
    se: dict[str, Any] = {"hosts": list(vh.hosts)}
    if vh.addresses:
        se["addresses"] = list(vh.addresses)
    se.update({"ports": [{"number": vh.port, "name": f"http-{vh.port}", "protocol": "HTTP"}],
               "location": "MESH_INTERNAL", "resolution": "NONE"})
    return [ctx.resource("networking", "ServiceEntry", vh.name, vh.namespace, se, vh.origin),
            ctx.resource("networking", "VirtualService", vh.name, vh.namespace,
                         {"hosts": list(vh.hosts), "http": http}, vh.origin)]
