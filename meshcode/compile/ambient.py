"""Ambient mode: ztunnel for L4 on every node, waypoints for L7; what changes in the output.

- Namespaces carry `istio.io/dataplane-mode: ambient` (no injection label) and, with a namespace
  waypoint, `istio.io/use-waypoint: waypoint`.
- Waypoints are Gateway API `Gateway`s of class `istio-waypoint` with an HBONE listener on 15008:
  one per namespace (`waypoint`), or one per service that needs L7 (`<service>-waypoint`; the
  Service must carry `istio.io/use-waypoint: <service>-waypoint`, see the compile note), or none.
- Authorization splits by layer. Traffic to a service with a waypoint passes the waypoint, so the
  destination's ztunnel sees the waypoint's identity: the service's policies move to the waypoint
  (`targetRefs` to the Service, namespace-wide ones to the waypoint Gateway) with the callers'
  identities, methods, paths and tokens, and ztunnel keeps the L4 part: `allow-nothing`, an ALLOW of
  the waypoint's identity, and the L4-only rules of DENY policies (which still guard direct pod
  traffic). Without a waypoint, ztunnel enforces the selector policies, which must be L4 only.
- Sidecar objects do nothing in ambient and are not emitted; what only a waypoint can do (L7
  routing, DestinationRule policies, L7 authorization) without one is an error at its line.
"""
from __future__ import annotations

from typing import Any

from meshcode.compile.context import CompileContext, placed, served_clusters
from meshcode.compile.dataplane import (
    AMBIENT_LABEL,
    HBONE_PORT,
    USE_WAYPOINT_LABEL,
    WAYPOINT_CLASS,
    WAYPOINT_NAME,
    plane,
)
from meshcode.compile.gateway_api import API as GATEWAY_API
from meshcode.compile.gateway_api import GROUP as GATEWAY_GROUP
from meshcode.errors import SourceLocation
from meshcode.intent.service import Service
from meshcode.intent.topology import Cluster
from meshcode.plan import Resource, make_resource

INGRESS_USE_WAYPOINT_LABEL = "istio.io/ingress-use-waypoint"

# AuthorizationPolicy fields only a waypoint (an L7 proxy) can evaluate.
L7_SOURCE = frozenset({"requestPrincipals", "notRequestPrincipals", "remoteIpBlocks", "notRemoteIpBlocks"})
L7_OPERATION = frozenset({"methods", "notMethods", "paths", "notPaths", "hosts", "notHosts"})
L4_CONDITIONS = frozenset({"source.ip", "source.namespace", "source.principal", "destination.ip",
                           "destination.port", "connection.sni"})


# ---- facts ----------------------------------------------------------------------------------------
def namespace_labels(ctx: CompileContext, namespace: str) -> dict[str, str] | None:
    """The labels of an ambient namespace (None: not ambient, the cluster's injection labels apply)."""
    p = plane(ctx, namespace)
    if not p.ambient:
        return None
    labels = {AMBIENT_LABEL: "ambient"}
    if p.waypoint == "namespace":
        labels[USE_WAYPOINT_LABEL] = WAYPOINT_NAME
        # ingress gateways skip waypoints unless asked: without this, the waypoint's L7 policies
        # would not see ingress traffic and ztunnel (which admits only the waypoint) would drop it
        labels[INGRESS_USE_WAYPOINT_LABEL] = "true"
    return labels


def l7_needs(ctx: CompileContext, s: Service) -> list[tuple[str, SourceLocation | None]]:
    """What about `s` only an L7 proxy can do: (what, intent line) pairs; empty when L4 is enough."""
    from meshcode.compile.security import zero_trust_index

    needs: list[tuple[str, SourceLocation | None]] = []
    if s.routes or s.canary or s.mirror or s.timeout or s.retries or s.fault or s.versions:
        first = s.routes[0].origin if s.routes else s.canary.origin if s.canary else s.origin
        needs.append(("routing (versions, routes, canary, mirror, timeout)", first))
    for field in ("circuit_breaker", "outlier_detection", "load_balancer", "tls"):
        value = getattr(s, field)
        if value is not None:
            needs.append((f"the DestinationRule's {field.replace('_', ' ')}", value.origin or s.origin))
    for v in s.versions:
        for field in ("circuit_breaker", "outlier_detection", "load_balancer"):
            value = getattr(v, field)
            if value is not None:
                needs.append((f"version {v.name}'s {field.replace('_', ' ')}", value.origin or v.origin))
    index = zero_trust_index(ctx)
    posture = index.postures.get((s.namespace, s.name))
    if posture is not None:
        for flow in index.inbound.get((s.namespace, s.name), ()):
            if flow.operations and any(p.is_http for p in flow.ports):
                needs.append((f"the methods/paths of the {flow.what}", flow.origin))
        if posture.jwt is not None and s.http_ports:
            needs.append(("end-user JWT checks", posture.jwt.origin))
        for zt in posture.scopes:
            for rule in (*zt.allow, *zt.deny):
                if rule.has_http_conditions:
                    needs.append(("an HTTP condition (method, path, token, request attribute)", rule.origin))
    return needs


def waypoint_of(ctx: CompileContext, s: Service) -> str | None:
    """The waypoint that carries `s`'s traffic, if any."""
    p = plane(ctx, s.namespace)
    if not p.ambient or p.waypoint == "none":
        return None
    if p.waypoint == "namespace":
        return WAYPOINT_NAME
    return f"{s.name}-waypoint" if l7_needs(ctx, s) else None


def waypoint_principal(ctx: CompileContext, namespace: str, name: str) -> str:
    """A waypoint runs as a service account named after its Gateway."""
    return f"{ctx.mesh.trust_domain}/ns/{namespace}/sa/{name}"


# ---- checks ---------------------------------------------------------------------------------------
def check_ambient(ctx: CompileContext) -> None:
    """Intent ambient cannot carry, each an error at its line (once per compile)."""
    from meshcode.compile.security import zero_trust_index

    spaces = {s.namespace for s in ctx.services.values() if plane(ctx, s.namespace).ambient}
    spaces |= {dp.namespace for dp in ctx.mesh.data_plane if dp.namespace and dp.mode == "ambient"}
    if not spaces and not any(dp.mode == "ambient" and dp.namespace is None for dp in ctx.mesh.data_plane):
        return
    for sc in ctx.mesh.sidecars:
        if plane(ctx, sc.namespace).ambient:
            ctx.error("MC2904", f"namespace {sc.namespace} runs ambient, where Sidecar objects do nothing; "
                      "drop this SidecarScope (ztunnel sees every service) or keep the namespace on sidecars",
                      sc.origin, "Sidecar", sc.namespace, "default")
    for ext in ctx.externals.values():
        p = plane(ctx, ext.namespace)
        policy = ext.originate_tls or ext.tls
        if p.ambient and p.waypoint != "namespace" and policy is not None:
            ctx.error("MC2905", f"{ext.name}: TLS to an external host is applied by a waypoint (the namespace's "
                      f"serves its ServiceEntries), and namespace {ext.namespace} has none; use "
                      "DataPlane('ambient', waypoint='namespace') or keep the namespace on sidecars",
                      policy.origin or ext.origin, "ServiceEntry", ext.namespace, ext.name)
    for key, s in ctx.services.items():
        p = plane(ctx, s.namespace)
        if not p.ambient:
            continue
        if p.waypoint == "none":
            for what, origin in l7_needs(ctx, s):
                ctx.error("MC2905", f"{s.name}: {what} needs an L7 proxy, and namespace {s.namespace} runs "
                          "ambient without a waypoint; use DataPlane('ambient', waypoint='namespace' or "
                          "'service') or keep the namespace on sidecars", origin, "Service", s.namespace, s.name)
        index = zero_trust_index(ctx)
        for v in s.versions:
            zt = index.version_scopes.get((s.namespace, s.name, v.name))
            if zt is not None:
                ctx.error("MC2905", f"{s.name} {v.name}: per-version policies select pods by version, which "
                          "ambient enforces in ztunnel where callers behind a waypoint all look like the "
                          "waypoint; keep the namespace on sidecars or write the policy for the service",
                          zt.origin, "AuthorizationPolicy", s.namespace, s.name)
        posture = index.postures.get(key)
        if posture is not None and posture.egress_lockdown:
            scope = next((z for z in reversed(posture.scopes) if "egress_lockdown" in z.model_fields_set), None)
            if scope is not None:
                ctx.error("MC2904", f"egress_lockdown for {s.name}: ambient has no per-workload Sidecar to "
                          "restrict what a workload sees; drop it for this namespace or keep it on sidecars",
                          scope.origin, "Sidecar", s.namespace, s.name)
    _check_topology(ctx)


def _check_topology(ctx: CompileContext) -> None:
    """Istio 1.30 runs ambient across clusters only as multi-primary on several networks."""
    mesh = ctx.mesh
    if len(mesh.clusters) < 2:
        return
    ambient = [dp for dp in mesh.data_plane if dp.mode == "ambient"]
    if not ambient:
        return
    for c in mesh.clusters:
        if c.role != "primary":
            ctx.error("MC2906", f"cluster {c.name!r} is a {c.role} cluster, but Istio 1.30 supports ambient "
                      "across clusters only with every cluster a primary (multi-primary); make it a primary "
                      "or keep the mesh on sidecars", c.origin, cluster=c.name)
    if len({c.network for c in mesh.clusters}) < 2:
        ctx.error("MC2906", "ambient across clusters on one network is untested in Istio 1.30 (only "
                  "multi-network multi-primary is supported); put the clusters on their own networks or keep "
                  "the mesh on sidecars", ambient[0].origin)


# ---- objects --------------------------------------------------------------------------------------
def waypoint_gateway(ctx: CompileContext, namespace: str, name: str, origin: SourceLocation | None,
                     revision: str | None) -> Resource:
    labels = {"istio.io/waypoint-for": "service"}
    if revision:
        labels["istio.io/rev"] = revision
    spec = {"gatewayClassName": WAYPOINT_CLASS,
            "listeners": [{"name": "mesh", "port": HBONE_PORT, "protocol": "HBONE"}]}
    return make_resource(GATEWAY_API, "Gateway", name, namespace, spec, origin, ctx.rel(origin), labels)


def waypoints(ctx: CompileContext, cluster: Cluster) -> list[Resource]:
    """The concern: every waypoint this cluster's control plane serves."""
    served = served_clusters(ctx.mesh, cluster)
    if not served:
        return []
    revision = cluster.injection or cluster.revision
    wanted: dict[tuple[str, str], SourceLocation | None] = {}
    for s in ctx.services.values():
        if not placed(s.clusters, served):
            continue
        name = waypoint_of(ctx, s)
        if name is not None:
            p = plane(ctx, s.namespace)
            wanted.setdefault((s.namespace, name), p.origin if name == WAYPOINT_NAME else s.origin)
    out: list[Resource] = []
    for (ns, name), origin in sorted(wanted.items()):
        out += ctx.once(("waypoint", ns, name, revision),
                     lambda ns=ns, name=name, origin=origin: [waypoint_gateway(ctx, ns, name, origin, revision)])
    return out


def eastwest_gateway(ctx: CompileContext, cluster: Cluster) -> Resource:
    """Ambient's east-west gateway (class istio-east-west): HBONE on 15008, double-HBONE terminated
    with Istio mTLS, as Istio's ambient multi-network install declares it."""
    labels = {"topology.istio.io/network": cluster.network}
    if cluster.revision:
        labels["istio.io/rev"] = cluster.revision
    spec = {"gatewayClassName": "istio-east-west", "listeners": [{
        "name": "mesh", "port": HBONE_PORT, "protocol": "HBONE",
        "tls": {"mode": "Terminate", "options": {"gateway.istio.io/tls-terminate-mode": "ISTIO_MUTUAL"}}}]}
    return make_resource(GATEWAY_API, "Gateway", "istio-eastwestgateway", ctx.mesh.root_namespace, spec,
                         cluster.origin, ctx.rel(cluster.origin), labels)


def global_service_notes(ctx: CompileContext) -> None:
    """Ambient services are cluster-local unless their Service says otherwise."""
    if len(ctx.mesh.clusters) < 2:
        return
    for s in ctx.services.values():
        if plane(ctx, s.namespace).ambient and not s.cluster_local and (s.clusters is None or len(s.clusters) > 1):
            ctx.note("MC0902", f"{s.name} runs ambient in several clusters: its Kubernetes Service (and its "
                     "waypoint's) needs the label istio.io/global: 'true' to be reached across clusters "
                     "(meshcode does not own the Service)", s.origin, "Service", s.namespace, s.name)


def service_waypoint_notes(ctx: CompileContext) -> None:
    for s in ctx.services.values():
        name = waypoint_of(ctx, s)
        if name is not None and plane(ctx, s.namespace).waypoint == "service":
            ctx.note("MC0901", f"{s.name} uses waypoint {name}: its Kubernetes Service needs the labels "
                     f"{USE_WAYPOINT_LABEL}: {name} and {INGRESS_USE_WAYPOINT_LABEL}: 'true' (meshcode does not own the Service; `meshcode lint "
                     "--workloads` checks it)", s.origin, "Service", s.namespace, s.name)


# ---- authorization by layer -----------------------------------------------------------------------
def _is_l7(rule: dict[str, Any]) -> bool:
    for f in rule.get("from", []):
        if L7_SOURCE & f.get("source", {}).keys():
            return True
    for t in rule.get("to", []):
        if L7_OPERATION & t.get("operation", {}).keys():
            return True
    return any(c.get("key") not in L4_CONDITIONS for c in rule.get("when", []))


def _let_waypoint_through(rule: dict[str, Any], waypoint: str, namespace: str) -> dict[str, Any]:
    """A ztunnel DENY rule that does not catch the waypoint forwarding checked traffic."""
    out = dict(rule)
    froms = []
    for f in rule.get("from", []):
        source = dict(f.get("source", {}))
        if "notPrincipals" in source:
            source["notPrincipals"] = [*source["notPrincipals"], waypoint]
        if "notNamespaces" in source and namespace not in source["notNamespaces"]:
            source["notNamespaces"] = [*source["notNamespaces"], namespace]
        froms.append({**f, "source": source})
    if froms:
        out["from"] = froms
    return out


def _with_target(r: Resource, name: str, targets: list[dict[str, str]]) -> Resource:
    """The same policy attached to waypoint targets instead of selecting pods."""
    spec = {k: v for k, v in r.spec.items() if k != "selector"}
    spec = {"targetRefs": targets, **spec}
    obj = {**r.obj, "metadata": {**r.metadata, "name": name}, "spec": spec}
    return Resource(obj, r.origin)


def _with_rules(r: Resource, name: str, rules: list[dict[str, Any]]) -> Resource:
    spec = {**r.spec, "rules": rules}
    return Resource({**r.obj, "metadata": {**r.metadata, "name": name}, "spec": spec}, r.origin)


def split_by_layer(ctx: CompileContext, cluster: Cluster, resources: list[Resource]) -> list[Resource]:
    """Security objects of ambient namespaces, rewritten for ztunnel + waypoints (see the module doc)."""
    if not any(p.ambient for p in (plane(ctx, r.namespace) for r in resources)):
        return resources
    out: list[Resource] = []
    for r in resources:
        if not plane(ctx, r.namespace).ambient:
            out.append(r)
            continue
        out += ctx.once(("ambient", id(r)), lambda r=r: _split(ctx, r))
    served = served_clusters(ctx.mesh, cluster)
    have = {(r.namespace, r.name) for r in resources if r.kind == "AuthorizationPolicy"}
    for key, s in sorted(ctx.services.items()):
        if placed(s.clusters, served) and plane(ctx, s.namespace).ambient:
            out += ctx.once(("ambient-svc", key, (s.namespace, f"{s.name}-allow") in have),
                         lambda s=s: _waypoint_defaults(ctx, s, (s.namespace, f"{s.name}-allow") in have))
    return out


def _service(ctx: CompileContext, namespace: str, selector: dict[str, str] | None) -> Service | None:
    if not selector or "app" not in selector:
        return None
    return ctx.services.get((namespace, selector["app"]))


def _split(ctx: CompileContext, r: Resource) -> list[Resource]:
    if r.kind == "Sidecar":
        return []  # not honoured in ambient (explicit SidecarScopes and egress_lockdown are refused)
    if r.kind not in ("AuthorizationPolicy", "RequestAuthentication"):
        return [r]
    selector = (r.spec.get("selector") or {}).get("matchLabels")
    ns = r.namespace
    if selector:
        s = _service(ctx, ns, selector)
        waypoint = waypoint_of(ctx, s) if s is not None else None
        if s is None or waypoint is None:
            return [r]  # ztunnel enforces it (L7 parts were refused at their lines)
        target = {"kind": "Service", "group": "", "name": s.name}
        moved = _with_target(r, r.name, [target])
        if r.kind == "RequestAuthentication" or r.spec.get("action", "ALLOW") == "ALLOW":
            return [moved]
        l4 = [_let_waypoint_through(rule, waypoint_principal(ctx, ns, waypoint), ns)
              for rule in r.spec.get("rules", []) if not _is_l7(rule)]
        return [moved] + ([_with_rules(r, f"{r.name}-ztunnel", l4)] if l4 else [])
    # namespace-wide: ztunnel keeps its L4 part; each waypoint of the namespace gets a copy
    names = sorted({w for s in ctx.services.values() if s.namespace == ns
                    for w in [waypoint_of(ctx, s)] if w is not None})
    if r.kind != "AuthorizationPolicy":
        return [r]
    rules = r.spec.get("rules")
    out: list[Resource] = []
    if rules is None or r.spec.get("action", "ALLOW") == "ALLOW":
        out.append(r)
    else:
        l4 = [rule for rule in rules if not _is_l7(rule)]
        for w in names:
            l4 = [_let_waypoint_through(rule, waypoint_principal(ctx, ns, w), ns) for rule in l4]
        if l4:
            out.append(_with_rules(r, r.name, l4))
    if names and rules is not None:
        targets = [{"kind": "Gateway", "group": GATEWAY_GROUP, "name": w} for w in names]
        out.append(_with_target(r, f"{r.name}-waypoint", targets))
    return out


def _waypoint_defaults(ctx: CompileContext, s: Service, has_allow: bool) -> list[Resource]:
    """For a waypoint-served service under an ALLOW posture: ztunnel admits the waypoint, and the
    waypoint refuses what no rule allows (an empty ALLOW when the service has no ALLOW policy)."""
    from meshcode.compile.security import zero_trust_index

    posture = zero_trust_index(ctx).postures.get((s.namespace, s.name))
    waypoint = waypoint_of(ctx, s)
    if posture is None or waypoint is None:
        return []
    if not (posture.default_deny or posture.namespace_allow or posture.allow_rules):
        return []
    origin = posture.default_deny_scope.origin
    out: list[Resource] = []
    if not has_allow:
        spec = {"targetRefs": [{"kind": "Service", "group": "", "name": s.name}], "action": "ALLOW"}
        out.append(ctx.resource("security", "AuthorizationPolicy", f"{s.name}-allow", s.namespace, spec, origin))
    rules = [{"from": [{"source": {"principals": [waypoint_principal(ctx, s.namespace, waypoint)]}}]}]
    spec = {"selector": {"matchLabels": {"app": s.name}}, "action": "ALLOW", "rules": rules}
    out.append(ctx.resource("security", "AuthorizationPolicy", f"{s.name}-from-waypoint", s.namespace, spec, origin))
    return out
