"""Multi-cluster, multi-network topology: what each cluster needs besides routing.

Follows Istio's multicluster install guides (multi-primary, primary-remote, multi-network,
external control plane):

- Roles. A `primary` runs istiod and its API server holds the Istio config for itself and
  its remotes. A `remote` runs workloads (and gateways) only: its proxies read config from
  its control plane, so it holds only what its own API server must: Namespaces labelled for
  injection, the `istio-system` Namespace (network label, control-plane annotation) and its
  install input. A `config` cluster is the config cluster of an *external* control plane:
  istiod runs outside the mesh's clusters (at `remote_pilot_address`), reads config from the
  config cluster's API server, so a config cluster holds config like a primary does and
  installs with the `external` profile. Remotes may attach to a primary or a config cluster.
- Multi-network (more than one network in the mesh): every cluster runs one east-west gateway
  (declared in its IstioOperator) and its control-plane namespace carries
  `topology.istio.io/network`. The `AUTO_PASSTHROUGH` Gateway on 15443 that exposes `*.local`
  lives where each cluster's config lives: in a primary or config cluster, once; a remote's
  east-west gateway gets it from its control plane ("exposing services on the primary exposes
  them on the east-west gateways of both clusters").
- A primary serving remotes sets `externalIstiod` and exposes istiod (15012, 15017) on its
  east-west gateway, so remotes' proxies and webhooks reach it.
- Revisions and tags. `Cluster.revision` is installed with the cluster's full profile (east-west
  gateway included); every other revision a tag points at gets a control-plane-only
  IstioOperator, so a canary control-plane upgrade runs both side by side. Namespaces use the
  cluster's `injection` (a revision or tag), see `namespaces()`.

IstioOperator objects are install input (istioctl / Helm), not API objects: the renderer keeps
them out of each cluster's kustomization, so Argo CD never applies them.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from meshcode.compile.context import CompileContext
from meshcode.compile.meshconfig import mesh_config
from meshcode.intent.base import DNS_LABEL_RE
from meshcode.intent.resilience import LoadBalancer
from meshcode.intent.service import Service
from meshcode.intent.topology import Cluster, Mesh
from meshcode.plan import Resource, make_resource

ISTIO_OPERATOR_API = "install.istio.io/v1alpha1"
NETWORK_LABEL = "topology.istio.io/network"
CONTROL_PLANE_ANNOTATION = "topology.istio.io/controlPlaneClusters"
EASTWEST_SELECTOR = {"istio": "eastwestgateway"}
EASTWEST_GATEWAY = "istio-eastwestgateway"
CROSS_NETWORK_GATEWAY = "cross-network-gateway"
ISTIOD_GATEWAY = "istiod-gateway"
CROSS_NETWORK_PORT = 15443
ISTIOD_XDS_PORT = 15012
ISTIOD_WEBHOOK_PORT = 15017



# ---- topology facts -----------------------------------------------------------------------
def multi_network(mesh: Mesh) -> bool:
    """More than one network: cross-network traffic needs east-west gateways."""
    first = mesh.clusters[0].network
    return any(c.network != first for c in mesh.clusters)


def control_plane(mesh: Mesh, cluster: Cluster) -> Cluster | None:
    """The cluster whose API server holds this cluster's Istio config (None: unknown primary)."""
    return mesh.cluster(cluster.primary) if cluster.role == "remote" else cluster


def remotes_of(mesh: Mesh, cluster: Cluster) -> list[Cluster]:
    return [c for c in mesh.clusters if c.role == "remote" and c.primary == cluster.name]


def revisions(cluster: Cluster) -> list[str | None]:
    """The revisions a cluster runs: its own first, then each other revision a tag points at."""
    extra = sorted({r for r in cluster.revision_tags.values() if r != cluster.revision})
    return [cluster.revision, *extra]


def tags_for(cluster: Cluster, revision: str | None) -> list[str]:
    return sorted(t for t, r in cluster.revision_tags.items() if r == revision)


def pilot_address(mesh: Mesh, cluster: Cluster) -> str | None:
    """Where a cluster's proxies find istiod: its own setting, else (external) its config cluster's."""
    if cluster.remote_pilot_address:
        return cluster.remote_pilot_address
    cp = control_plane(mesh, cluster)
    if cluster.role == "remote" and cp is not None and cp.role == "config":
        return cp.remote_pilot_address
    return None


def _topology(ctx: CompileContext) -> dict[str, Any]:
    """Facts every cluster's compile reads, computed once per compile."""
    mesh = ctx.mesh
    return ctx.once("topology", lambda: {"multi_network": multi_network(mesh), "names": {c.name for c in mesh.clusters}})


# ---- where a service's routing config must live -------------------------------------------
def routing_placement(ctx: CompileContext) -> dict[tuple[str, str], tuple[str, ...] | None]:
    """Clusters whose control plane needs each service's VirtualService/DestinationRule.

    Those objects steer the *client* side: a caller in another primary reads them from its own
    istiod, so a service's routing goes where it runs and where its declared callers
    (`Service.calls`) run. None means every cluster.
    """
    return ctx.once("routing_placement", lambda: _routing_placement(ctx))


def _routing_placement(ctx: CompileContext) -> dict[tuple[str, str], tuple[str, ...] | None]:
    found = {key: s.clusters for key, s in ctx.services.items()}
    widened: dict[tuple[str, str], set[str] | None] = {}
    for caller, target, _ in _restricted_calls(ctx):
        key = (target.namespace, target.name)
        if target.cluster_local or found.get(key, None) is None or widened.get(key, ()) is None:
            continue
        if caller.clusters is None:
            widened[key] = None
        else:
            widened.setdefault(key, set(found[key])).update(caller.clusters)
    for key, clusters in widened.items():
        found[key] = None if clusters is None else tuple(sorted(clusters))
    return found


def _restricted_calls(ctx: CompileContext) -> list[tuple[Service, Service, Any]]:
    """(caller, target, call) for every declared call to a service that runs in chosen clusters only.

    Resolved once per compile; empty (and free) when every service runs everywhere.
    """
    def build() -> list[tuple[Service, Service, Any]]:
        calls = []
        if any(s.clusters is not None for s in ctx.services.values()):
            for caller in ctx.services.values():
                for call in caller.calls:
                    target = ctx.find_service(call.target, caller.namespace)
                    if isinstance(target, Service) and target.clusters is not None:
                        calls.append((caller, target, call))
        return calls

    return ctx.once("restricted_calls", build)


# ---- validation ---------------------------------------------------------------------------
def check_topology(ctx: CompileContext) -> None:
    """Topology errors, each at the line of the intent object that is wrong."""
    mesh = ctx.mesh
    names = _topology(ctx)["names"]
    for c in mesh.clusters:
        _check_cluster(ctx, c)
    regions = {c.region for c in mesh.clusters if c.region}
    for kind, items in (("Service", ctx.services.values()), ("Ingress", mesh.ingresses),
                        ("ServiceEntry", ctx.externals.values()), ("Verbatim", mesh.verbatim)):
        for item in items:
            for name in item.clusters or ():
                if name not in names:
                    ctx.error("MC2303", f"{item.name} is placed in cluster {name!r}, which mesh "
                              f"{mesh.name!r} does not declare (clusters: {', '.join(sorted(names))})",
                              item.origin, kind, item.namespace, item.name)
    for s in ctx.services.values():
        if (s.load_balancer and s.load_balancer.locality) or any(v.load_balancer for v in s.versions):
            _check_locality(ctx, s, regions)
    _check_cluster_local_calls(ctx)


def _check_cluster(ctx: CompileContext, c: Cluster) -> None:
    mesh = ctx.mesh
    if c.role == "remote":
        cp = mesh.cluster(c.primary or "")
        if cp is None:
            ctx.error("MC2301", f"remote cluster {c.name!r} names primary {c.primary!r}, which mesh "
                      f"{mesh.name!r} does not declare", c.origin, cluster=c.name)
        elif cp.role == "remote":
            ctx.error("MC2302", f"remote cluster {c.name!r} names {cp.name!r} as its primary, but "
                      f"{cp.name!r} is itself a remote (a remote needs a primary or config cluster)",
                      c.origin, cluster=c.name)
        elif c.revision not in revisions(cp):
            running = ", ".join(r or "default" for r in revisions(cp))
            ctx.error("MC2308", f"remote cluster {c.name!r} runs revision {c.revision or 'default'!r}, "
                      f"which its control plane {cp.name!r} does not run ({running})",
                      c.origin, cluster=c.name)
        if cp is not None and cp.role == "primary" and not c.remote_pilot_address:
            ctx.error("MC2306", f"remote cluster {c.name!r} needs remote_pilot_address: the address "
                      f"of the east-west gateway of {cp.name!r}, where its istiod is exposed",
                      c.origin, cluster=c.name)
    elif c.role == "config":
        if not c.remote_pilot_address:
            ctx.error("MC2306", f"config cluster {c.name!r} needs remote_pilot_address: the address of "
                      "its external control plane (istiod)", c.origin, cluster=c.name)
    elif c.remote_pilot_address:
        ctx.error("MC2306", f"primary cluster {c.name!r} runs its own istiod; remote_pilot_address is "
                  "for remote and config clusters", c.origin, cluster=c.name)
    for label, value in ([("revision", c.revision)] if c.revision else []) + \
            [(f"revision tag {t!r}", t) for t in c.revision_tags] + \
            [(f"revision of tag {t!r}", r) for t, r in c.revision_tags.items()]:
        if not isinstance(value, str) or len(value) > 63 or not DNS_LABEL_RE.match(value):
            ctx.error("MC2307", f"cluster {c.name!r}: {label} {value!r} is not a valid revision name "
                      "(lower-case letters, digits and '-', e.g. '1-30-3')", c.origin, cluster=c.name)
    clash = sorted(set(c.revision_tags) & {r for r in revisions(c) if r})
    if clash:
        ctx.error("MC2307", f"cluster {c.name!r}: revision tag {clash[0]!r} has the name of a revision",
                  c.origin, cluster=c.name)
    if c.zones and not c.region:
        ctx.error("MC2304", f"cluster {c.name!r} lists zones but no region (a zone is inside a region)",
                  c.origin, cluster=c.name)


def _locality_balancers(s: Service) -> Iterable[LoadBalancer]:
    if s.load_balancer and s.load_balancer.locality:
        yield s.load_balancer
    for v in s.versions:
        if v.load_balancer and v.load_balancer.locality:
            yield v.load_balancer


def _check_locality(ctx: CompileContext, s: Service, mesh_regions: set[str]) -> None:
    """Failover/distribute localities must exist: a typo silently disables failover in Istio."""
    balancers = list(_locality_balancers(s))
    if not balancers:
        return
    clusters = ctx.mesh.clusters if s.clusters is None else \
        [c for c in ctx.mesh.clusters if c.name in s.clusters]
    served = {c.region for c in clusters if c.region}
    zones: dict[str, set[str]] = {}
    for c in ctx.mesh.clusters:
        if c.region:
            zones.setdefault(c.region, set()).update(c.zones)
    known = ", ".join(sorted(mesh_regions)) or "none: give clusters a region"

    def bad(message: str, origin: Any) -> None:
        ctx.error("MC2304", f"{s.name}: {message}", origin, "DestinationRule", s.namespace, s.name)

    for lb in balancers:
        loc = lb.locality
        for f in loc.failover:
            if f.from_ not in mesh_regions:
                bad(f"failover from region {f.from_!r}, which no cluster is in (regions: {known})", f.origin)
            if f.to not in mesh_regions:
                bad(f"failover to region {f.to!r}, which no cluster is in (regions: {known})", f.origin)
            elif f.to not in served:
                bad(f"failover to region {f.to!r}, where {s.name} does not run "
                    f"(its regions: {', '.join(sorted(served)) or 'none'})", f.origin)
            if f.from_ == f.to:
                ctx.error("MC2305", f"{s.name}: failover from {f.from_!r} to itself; name two different "
                          "regions", f.origin, "DestinationRule", s.namespace, s.name)
        for d in loc.distribute:
            for locality in (d.from_, *d.to):
                problem = _locality_problem(locality, mesh_regions, zones)
                if problem:
                    bad(f"distribute locality {locality!r}: {problem} (regions: {known})", d.origin)


def _locality_problem(locality: str, regions: set[str], zones: dict[str, set[str]]) -> str | None:
    parts = locality.split("/")
    if len(parts) > 3:
        return "a locality is region/zone/sub-zone"
    region = parts[0]
    if region == "*":
        return None
    if region not in regions:
        return f"no cluster is in region {region!r}"
    if len(parts) > 1 and parts[1] not in ("*", "") and zones.get(region) and parts[1] not in zones[region]:
        return f"no cluster of region {region!r} lists zone {parts[1]!r}"
    return None


def _check_cluster_local_calls(ctx: CompileContext) -> None:
    """A call to a cluster-local service never leaves the caller's cluster: it must run there."""
    for caller, target, call in _restricted_calls(ctx):
        if not target.cluster_local:
            continue
        where = ctx.mesh.clusters if caller.clusters is None else \
            [c for c in ctx.mesh.clusters if c.name in caller.clusters]
        missing = sorted(c.name for c in where if c.name not in target.clusters)
        if missing:
            ctx.error("MC2309", f"{caller.name} calls cluster-local {target.name}, which does not run in "
                      f"{', '.join(missing)} where {caller.name} runs", call.origin,
                      "Service", caller.namespace, caller.name)


# ---- resources ----------------------------------------------------------------------------
def control_plane_namespace(ctx: CompileContext, cluster: Cluster) -> Resource | None:
    """`istio-system` with the network label (multi-network) and, on a remote, its control plane."""
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    if _topology(ctx)["multi_network"]:
        labels[NETWORK_LABEL] = cluster.network
    cp = control_plane(ctx.mesh, cluster)
    if cluster.role == "remote" and cp is not None and cp.role == "primary":
        annotations[CONTROL_PLANE_ANNOTATION] = cp.name
    if not labels and not annotations:
        return None
    return make_resource("v1", "Namespace", ctx.mesh.root_namespace, None, None, cluster.origin,
                         ctx.rel(cluster.origin), labels, annotations)


def cross_network_gateway(ctx: CompileContext, cluster: Cluster) -> Resource:
    """Expose every `*.local` service on the east-west gateway, mTLS passed through by SNI."""
    spec = {"selector": dict(EASTWEST_SELECTOR), "servers": [{
        "port": {"number": CROSS_NETWORK_PORT, "name": "tls", "protocol": "TLS"},
        "tls": {"mode": "AUTO_PASSTHROUGH"},
        "hosts": ["*.local"],
    }]}
    return ctx.resource("networking", "Gateway", CROSS_NETWORK_GATEWAY, ctx.mesh.root_namespace, spec,
                        cluster.origin)


def istiod_exposure(ctx: CompileContext, cluster: Cluster) -> list[Resource]:
    """Expose this primary's istiod (xDS 15012, webhook 15017) to its remotes' proxies."""
    ns = ctx.mesh.root_namespace
    servers = [{"port": {"number": port, "name": name, "protocol": "TLS"}, "tls": {"mode": "PASSTHROUGH"},
                "hosts": ["*"]}
               for port, name in ((ISTIOD_XDS_PORT, "tls-istiod"), (ISTIOD_WEBHOOK_PORT, "tls-istiodwebhook"))]
    gateway = ctx.resource("networking", "Gateway", ISTIOD_GATEWAY, ns,
                           {"selector": dict(EASTWEST_SELECTOR), "servers": servers}, cluster.origin)
    istiod = f"istiod-{cluster.revision}" if cluster.revision else "istiod"
    sni = ["*"] if not cluster.revision else [f"{istiod}.{ns}.svc", f"{istiod}.{ns}.svc.cluster.local"]
    host = f"{istiod}.{ns}.svc.cluster.local"
    tls = [{"match": [{"port": port, "sniHosts": list(sni)}],
            "route": [{"destination": {"host": host, "port": {"number": target}}}]}
           for port, target in ((ISTIOD_XDS_PORT, ISTIOD_XDS_PORT), (ISTIOD_WEBHOOK_PORT, 443))]
    name = f"istiod-vs-{cluster.revision}" if cluster.revision else "istiod-vs"
    vs = ctx.resource("networking", "VirtualService", name, ns,
                      {"hosts": ["*"], "gateways": [ISTIOD_GATEWAY], "tls": tls}, cluster.origin)
    return [gateway, vs]


def eastwest_gateway_component(cluster: Cluster) -> dict[str, Any]:
    """The east-west gateway deployment, as Istio's gen-eastwest-gateway.sh declares it."""
    return {
        "name": EASTWEST_GATEWAY,
        "label": {**EASTWEST_SELECTOR, "app": EASTWEST_GATEWAY, NETWORK_LABEL: cluster.network},
        "enabled": True,
        "k8s": {
            "env": [
                {"name": "ISTIO_META_ROUTER_MODE", "value": "sni-dnat"},
                {"name": "ISTIO_META_REQUESTED_NETWORK_VIEW", "value": cluster.network},
            ],
            "service": {"ports": [
                {"name": "status-port", "port": 15021, "targetPort": 15021},
                {"name": "tls", "port": CROSS_NETWORK_PORT, "targetPort": CROSS_NETWORK_PORT},
                {"name": "tls-istiod", "port": ISTIOD_XDS_PORT, "targetPort": ISTIOD_XDS_PORT},
                {"name": "tls-webhook", "port": ISTIOD_WEBHOOK_PORT, "targetPort": ISTIOD_WEBHOOK_PORT},
            ]},
        },
    }


def needs_eastwest_gateway(ctx: CompileContext, cluster: Cluster) -> bool:
    """Multi-network meshes need one in every cluster; a primary with remotes exposes istiod on it."""
    return _topology(ctx)["multi_network"] or (cluster.role == "primary" and bool(remotes_of(ctx.mesh, cluster)))


def runs_ambient(ctx: CompileContext) -> bool:
    """Some namespace of the mesh runs ambient: the control plane installs ztunnel and the CNI
    node agent (the `ambient` profile)."""
    return any(dp.mode == "ambient" for dp in ctx.mesh.data_plane)


def istiod_settings(ctx: CompileContext, cluster: Cluster, revision: str | None) -> dict[str, Any]:
    """The control-plane values both install outputs carry (IstioOperator `values`, the istiod chart's
    values): mesh ID, cluster name, network, how remotes and external control planes find istiod,
    and the revision tags. One place, so `istioctl` and Helm installs never disagree."""
    mesh = ctx.mesh
    cp = control_plane(mesh, cluster)
    external = cluster.role == "config" or (cluster.role == "remote" and cp is not None and cp.role == "config")
    inject_path = f"/inject/cluster/{cluster.name}/net/{cluster.network}"
    global_values: dict[str, Any] = {"meshID": mesh.id, "multiCluster": {"clusterName": cluster.name},
                                     "network": cluster.network}
    values: dict[str, Any] = {"global": global_values}
    if cluster.role == "primary":
        if remotes_of(mesh, cluster):
            global_values["externalIstiod"] = True
    elif external:
        global_values["istioNamespace"] = mesh.root_namespace
        values["istiodRemote"] = {"injectionURL": f"https://{pilot_address(mesh, cluster)}:{ISTIOD_WEBHOOK_PORT}"
                                                  f"{inject_path}"}
    else:
        global_values["remotePilotAddress"] = pilot_address(mesh, cluster)
        values["istiodRemote"] = {"injectionPath": inject_path}
    tags = tags_for(cluster, revision)
    if tags:
        values["revisionTags"] = tags
    return values


def istio_operator(ctx: CompileContext, cluster: Cluster, revision: str | None) -> Resource:
    """Install input for one revision of a cluster's Istio, matching what meshcode configures."""
    mesh = ctx.mesh
    main = revision == cluster.revision
    install = mesh.install_of(cluster)
    values = istiod_settings(ctx, cluster, revision)
    spec: dict[str, Any] = {}
    components: dict[str, Any] = {}
    if cluster.role == "primary":
        spec["profile"] = ("ambient" if runs_ambient(ctx) else install.profile) if main else "minimal"
    elif "injectionURL" in values.get("istiodRemote", {}):  # a config cluster, or a remote of one
        spec["profile"] = "external"
        if cluster.role == "config":
            values["pilot"] = {"configMap": True}
            if main:
                components["base"] = {"enabled": True}
    else:
        spec["profile"] = "remote"
    if revision:
        spec["revision"] = revision
    if cluster.role != "remote":
        spec["meshConfig"] = mesh_config(ctx, cluster)
    if install.cni and cluster.role != "remote":
        components["cni"] = {"enabled": True}
    if main and needs_eastwest_gateway(ctx, cluster):
        components["ingressGateways"] = [eastwest_gateway_component(cluster)]
    if main and cluster.role == "primary" and runs_ambient(ctx) and _topology(ctx)["multi_network"]:
        # Istio's ambient multi-network install (multi-primary only; other roles are refused)
        components["pilot"] = {"k8s": {"env": [{"name": "AMBIENT_ENABLE_MULTI_NETWORK", "value": "true"}]}}
    if components:
        spec["components"] = components
    spec["values"] = values
    name = f"{cluster.name}-{revision}" if revision else cluster.name
    return ctx.resource("", "IstioOperator", name, mesh.root_namespace, spec, cluster.origin,
                        api_version=ISTIO_OPERATOR_API)


def cluster_topology(ctx: CompileContext, cluster: Cluster) -> list[Resource]:
    """The compile concern: topology objects and install input for one cluster."""
    out: list[Resource] = []
    ns = control_plane_namespace(ctx, cluster)
    if ns is not None:
        out.append(ns)
    if cluster.role != "remote":
        if _topology(ctx)["multi_network"]:
            out.append(cross_network_gateway(ctx, cluster))
            if cluster.role == "primary" and runs_ambient(ctx):
                from meshcode.compile.ambient import eastwest_gateway

                out.append(eastwest_gateway(ctx, cluster))
        if cluster.role == "primary" and remotes_of(ctx.mesh, cluster):
            out += istiod_exposure(ctx, cluster)
    if ctx.mesh.install_of(cluster).method == "istioctl":  # helm: Applications in generated/argocd/
        out += [istio_operator(ctx, cluster, rev) for rev in revisions(cluster)]
    return out
