"""Istio's multi-mesh model: services of another mesh, reached through its east-west gateway.

The other mesh's gateway serves `*.local` with AUTO_PASSTHROUGH on 15443: it routes on the SNI
Istio's mTLS carries, `outbound_.<port>_._.<host>`. So the ServiceEntry here points at that
gateway, and the DestinationRule sends Istio mTLS with the SNI of the service's host in its
own mesh (and, with a service account, checks the identity it presents).
"""
from __future__ import annotations

from typing import Any

from meshcode.compile.context import CompileContext
from meshcode.intent.edge import ImportedService
from meshcode.plan import Resource


def compile_imported(ctx: CompileContext, imp: ImportedService) -> list[Resource]:
    ports = [{"number": p.number, "name": p.port_name, "protocol": p.protocol} for p in imp.ports]
    ip = all(part.isdigit() for part in imp.gateway.split(".")) or ":" in imp.gateway
    se: dict[str, Any] = {"hosts": [imp.host]}
    if imp.address:
        se["addresses"] = [imp.address]
    se.update({
        "ports": ports, "location": "MESH_INTERNAL", "resolution": "STATIC" if ip else "DNS",
        "endpoints": [{"address": imp.gateway, "ports": {p.port_name: imp.gateway_port for p in imp.ports}}],
    })
    settings = []
    for p in imp.ports:
        tls: dict[str, Any] = {"mode": "ISTIO_MUTUAL", "sni": f"outbound_.{p.number}_._.{imp.remote_host}"}
        if imp.principal:
            tls["subjectAltNames"] = [imp.principal]
        settings.append({"port": {"number": p.number}, "tls": tls})
    dr = {"host": imp.host, "trafficPolicy": {"portLevelSettings": settings}}
    return [ctx.resource("networking", "ServiceEntry", imp.name, imp.namespace, se, imp.origin),
            ctx.resource("networking", "DestinationRule", imp.name, imp.namespace, dr, imp.origin)]


def check_trust(ctx: CompileContext) -> None:
    """Aliases name other trust domains; repeating the mesh's own says nothing."""
    seen: set[str] = set()
    for alias in ctx.mesh.trust_domain_aliases:
        if alias == ctx.mesh.trust_domain or alias in seen:
            ctx.error("MC2111", f"trust domain alias {alias!r} repeats "
                      f"{'the mesh trust domain' if alias == ctx.mesh.trust_domain else 'another alias'}",
                      ctx.mesh.origin)
        seen.add(alias)
