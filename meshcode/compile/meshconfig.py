"""Per-cluster Istio mesh config (the `meshConfig` an IstioOperator or istio ConfigMap carries).

Concerns that need mesh-config entries (telemetry's extensionProviders, trust domain, …) add
them here, so installation input and generated config never disagree.
"""
from __future__ import annotations

from typing import Any

from meshcode.compile.context import CompileContext
from meshcode.compile.telemetry import extension_providers
from meshcode.intent.topology import Cluster


def mesh_config(ctx: CompileContext, cluster: Cluster) -> dict[str, Any]:
    """The meshConfig fields meshcode's intent implies for this cluster."""
    config: dict[str, Any] = {"trustDomain": ctx.mesh.trust_domain, **cluster_local_settings(ctx)}
    proxy_metadata = ctx.mesh.install_of(cluster).proxy.proxy_metadata
    if proxy_metadata:
        config["defaultConfig"] = {"proxyMetadata": proxy_metadata}
    if ctx.mesh.trust_domain_aliases:
        config["trustDomainAliases"] = list(ctx.mesh.trust_domain_aliases)
    if ctx.mesh.outbound:
        config["outboundTrafficPolicy"] = {"mode": ctx.mesh.outbound}
    providers = extension_providers(ctx, cluster)  # every provider this cluster's Telemetry names
    if providers:
        config["extensionProviders"] = providers
    return config


def cluster_local_settings(ctx: CompileContext) -> dict[str, Any]:
    """`serviceSettings` for cluster-local services: Istio keeps calls to them in the caller's cluster."""
    def build() -> dict[str, Any]:
        hosts = sorted(s.host for s in ctx.services.values() if s.cluster_local)
        return {"serviceSettings": [{"settings": {"clusterLocal": True}, "hosts": hosts}]} if hosts else {}

    return ctx.once("cluster_local", build)
