"""The ZeroTrust concern: the objects each cluster's control plane serves, after the checks ran once.

Its own module so that `security` (the objects) and `security_checks` (their contradictions)
import one way: checks → security, and this module → both.
"""
from __future__ import annotations

from meshcode.compile.context import CompileContext, placed, served_clusters
from meshcode.compile.security import (
    gateway_resources,
    namespace_resources,
    peer_authentication,
    service_resources,
    zero_trust_index,
)
from meshcode.compile.security_checks import check_zero_trust
from meshcode.intent.topology import Cluster
from meshcode.plan import Resource


def compile_security(ctx: CompileContext, cluster: Cluster) -> list[Resource]:
    """The ZeroTrust objects this cluster's control plane serves (after the checks ran once)."""
    index = zero_trust_index(ctx)
    ctx.once("zero_trust_checked", lambda: check_zero_trust(ctx, index))
    served = served_clusters(ctx.mesh, cluster)
    if not index.active or not served:
        return []
    out: list[Resource] = []
    if index.mesh_scope is not None:
        out += ctx.once(("zt-mesh",), lambda: [peer_authentication(
            ctx, index.mesh_scope, "default", ctx.mesh.root_namespace, None)])
    placement: dict[str, set[str] | None] = {ns: set() for ns in index.namespace_scopes}
    for key, s in ctx.services.items():
        if key not in index.postures:
            continue
        if index.mesh_scope is not None or s.namespace in index.namespace_scopes:
            seen = placement.setdefault(s.namespace, set())
            if seen is not None:
                placement[s.namespace] = None if s.clusters is None else seen | set(s.clusters)
        if placed(s.clusters, served):
            out += ctx.once(("zt-svc", key), lambda s=s: service_resources(ctx, index, s))
    for ns in sorted(placement):
        where = placement[ns]
        if where is None or not where or not served.isdisjoint(where):
            out += ctx.once(("zt-ns", ns), lambda ns=ns: namespace_resources(ctx, index, ns))
    for gkey in sorted(index.gateways):
        out += ctx.once(("zt-gw", gkey), lambda gw=index.gateways[gkey]: gateway_resources(ctx, gw))
    return out
