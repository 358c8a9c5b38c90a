"""Per-cluster Istio mesh config (the `meshConfig` an IstioOperator or istio ConfigMap carries).

Concerns that need mesh-config entries (telemetry's extensionProviders, trust domain, …) add
them here, so installation input and generated config never disagree.
"""
from __future__ import annotations

from typing import Any

from meshcode.compile.context import CompileContext
from meshcode.intent.topology import Cluster


def mesh_config(ctx: CompileContext, cluster: Cluster) -> dict[str, Any]:
    """The meshConfig fields meshcode's intent implies for this cluster."""
    return {"trustDomain": ctx.mesh.trust_domain}
