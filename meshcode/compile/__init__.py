"""intent → Plan. Pure: no I/O, no clock, no randomness; all errors collected, then raised."""
from __future__ import annotations

from typing import Callable, Iterable, Mapping

import jsonpatch

from meshcode.compile.ambient import (
    check_ambient,
    global_service_notes,
    namespace_labels,
    service_waypoint_notes,
    split_by_layer,
    waypoints,
)
from meshcode.compile.context import CompileContext, placed, served_clusters
from meshcode.compile.dataplane import check_data_planes, plane
from meshcode.compile.istio_install import install_resources
from meshcode.compile.edge import compile_external, compile_ingress, compile_sidecar
from meshcode.compile.gateway_api import compile_gateway_service
from meshcode.compile.gateway_ingress import compile_gateway_ingress
from meshcode.compile.multicluster import check_topology, cluster_topology, routing_placement
from meshcode.compile.multimesh import check_trust, compile_imported
from meshcode.compile.ratelimit import rate_limit_filter
from meshcode.compile.routing import compile_service
from meshcode.compile.zero_trust import compile_security
from meshcode.compile.telemetry import compile_telemetry
from meshcode.compile.verbatim import compile_verbatim
from meshcode.compile.virtual_hosts import compile_virtual_host
from meshcode.state.canary import CanaryState
from meshcode.errors import CompileError, Finding
from meshcode.compile.argocd import ARGOCD_FOLDER, GitOpsDefaults, argocd_resources, check_argocd
from meshcode.intent.topology import Cluster, Mesh
from meshcode.plan import NEVER_DELETE, SYNC_OPTIONS, Plan, Resource, file_in_folder, make_resource

Concern = Callable[[CompileContext, Cluster], list[Resource]]


def traffic(ctx: CompileContext, cluster: Cluster) -> list[Resource]:
    served = served_clusters(ctx.mesh, cluster)
    out: list[Resource] = []
    reach = routing_placement(ctx)
    for key, s in ctx.services.items():
        if placed(reach[key], served):
            out += ctx.once(("svc", id(s)), lambda s=s: (
                compile_gateway_service if plane(ctx, s.namespace).gateway_api else compile_service)(ctx, s))
            if s.rate_limit:
                out += ctx.once(("rl", id(s)), lambda s=s: rate_limit_filter(ctx, s))
    for ing in ctx.mesh.ingresses:
        if placed(ing.clusters, served):
            build_ingress = compile_gateway_ingress if plane(ctx, ing.namespace).gateway_api else compile_ingress
            out += ctx.once(("ing", id(ing)), lambda ing=ing, build=build_ingress: build(ctx, ing))
    for ext in ctx.externals.values():
        if placed(ext.clusters, served):
            out += ctx.once(("ext", id(ext)), lambda ext=ext: compile_external(ctx, ext))
    for imp in ctx.mesh.imported_services:
        if placed(imp.clusters, served):
            out += ctx.once(("imp", id(imp)), lambda imp=imp: compile_imported(ctx, imp))
    for vh in ctx.mesh.virtual_hosts:
        if placed(vh.clusters, served):
            out += ctx.once(("vh", id(vh)), lambda vh=vh: compile_virtual_host(ctx, vh))
    if served:
        for sc in ctx.mesh.sidecars:
            out += ctx.once(("sc", id(sc)), lambda sc=sc: [compile_sidecar(ctx, sc)])
    return list({id(r): r for r in out}.values())  # shared objects (version Services, grants) once


def namespaces(ctx: CompileContext, cluster: Cluster, resources: list[Resource]) -> list[Resource]:
    """Namespaces the cluster's objects and declared services live in, labelled for sidecar
    injection (one scheme only).

    Every declared service (callers included: they need a sidecar for the identity the ALLOW
    rules name) labels its namespace where it runs, whether or not other objects land there,
    so a namespace does not come and go with routing details; and Argo CD never deletes one.
    """
    names: dict[str, object] = {}
    if cluster.role != "remote":
        for r in resources:
            if r.namespace and r.namespace not in names and r.namespace != ctx.mesh.root_namespace:
                names[r.namespace] = r.origin
    for s in ctx.services.values():
        if placed(s.clusters, {cluster.name}) and s.namespace not in names \
                and s.namespace != ctx.mesh.root_namespace:
            names[s.namespace] = s.origin
    declared = {n.name: n for n in ctx.mesh.namespaces if placed(n.clusters, {cluster.name})}
    for n in declared.values():  # a declared namespace is written even with nothing else in it
        names[n.name] = n.origin
    injection = cluster.injection or cluster.revision
    labels = {"istio.io/rev": injection} if injection else {"istio-injection": "enabled"}
    out = []
    for ns, origin in sorted(names.items()):
        intent = declared.get(ns)
        mesh_labels = (namespace_labels(ctx, ns) or dict(labels)) if intent is None or intent.injection else {}
        out.append(make_resource("v1", "Namespace", ns, None, None, origin, ctx.rel(origin),
                                 {**mesh_labels, **(intent.labels if intent else {})},
                                 dict(intent.annotations) if intent else None))
    return out


def check_namespaces(ctx: CompileContext) -> None:
    """A declared namespace once; one kept out of the mesh holds nothing that needs a proxy."""
    seen: dict[str, object] = {}
    for n in ctx.mesh.namespaces:
        if n.name in seen:
            ctx.error("MC2001", f"namespace {n.name} is declared twice (first at {ctx.where(seen[n.name].origin)})",
                      n.origin, "Namespace", "", n.name)
        seen[n.name] = n
        if n.name == ctx.mesh.root_namespace:
            ctx.error("MC2109", f"{n.name} is the mesh's root namespace (istio-system's labels are meshcode's)",
                      n.origin, "Namespace", "", n.name)
        if not n.injection:
            users = [s for s in ctx.services.values() if s.namespace == n.name]
            if users:
                ctx.error("MC2109", f"namespace {n.name} is kept out of the mesh (injection=False), but service "
                          f"{users[0].name} (at {ctx.where(users[0].origin)}) is declared in it and needs a proxy",
                          n.origin, "Namespace", "", n.name)
            if any(dp.namespace == n.name and dp.mode == "ambient" for dp in ctx.mesh.data_plane):
                ctx.error("MC2109", f"namespace {n.name} is kept out of the mesh (injection=False) and "
                          "DataPlane puts it in ambient mode; keep one", n.origin, "Namespace", "", n.name)


def security(ctx: CompileContext, cluster: Cluster) -> list[Resource]:
    """ZeroTrust objects; in ambient namespaces split between ztunnel and the waypoints."""
    return split_by_layer(ctx, cluster, compile_security(ctx, cluster))


CONCERNS: list[Concern] = [traffic, waypoints, cluster_topology, compile_telemetry, security, compile_verbatim]


def check_conflicts(ctx: CompileContext) -> None:
    """Two declarations claiming one host: the second is an error at its own line."""
    claimed: dict[str, object] = {s.host: s for s in ctx.services.values()}
    for ext in ctx.externals.values():
        for h in ext.hosts:
            if h in claimed:
                ctx.error("MC2002", f"host {h} is claimed twice (first at {ctx.where(claimed[h].origin)})",
                          ext.origin, "ServiceEntry", ext.namespace, ext.name)
            claimed[h] = ext
    for imp in ctx.mesh.imported_services:
        if imp.host in claimed:
            ctx.error("MC2002", f"host {imp.host} is claimed twice (first at {ctx.where(claimed[imp.host].origin)})",
                      imp.origin, "ServiceEntry", imp.namespace, imp.name)
        claimed[imp.host] = imp
    for vh in ctx.mesh.virtual_hosts:
        for h in vh.hosts:
            if h in claimed:
                ctx.error("MC2002", f"host {h} is claimed twice (first at {ctx.where(claimed[h].origin)})",
                          vh.origin, "VirtualService", vh.namespace, vh.name)
            claimed[h] = vh
    edge: dict[tuple, object] = {}
    for ing in ctx.mesh.ingresses:
        sel = tuple(sorted(ing.selector.items()))
        ports = (ing.listen_port, 80) if ing.http_redirect and ing.listen_port != 80 else (ing.listen_port,)
        for port in ports:  # the HTTP→HTTPS redirect server claims port 80 for the same hosts
            for h in ing.hosts:
                key = (sel, port, h)
                if key in edge:
                    ctx.error("MC2002", f"ingress host {h} on port {port} is claimed twice "
                              f"(first at {ctx.where(edge[key].origin)})", ing.origin, "Gateway",
                              ing.namespace, ing.name)
                edge[key] = ing


def check_unique(ctx: CompileContext, plan: Plan) -> None:
    """One object per kind, namespace and name in a cluster, else one would overwrite the other."""
    for folder, items in plan.folders.items():
        seen: dict[tuple[str, str, str], Resource] = {}
        for r in items:
            first = seen.setdefault(r.key, r)
            if first is not r:
                ctx.error("MC2004", f"{r.kind} {r.namespace}/{r.name} is generated twice (first from "
                          f"{ctx.where(first.origin)}); rename one",
                          r.origin, r.kind, r.namespace, r.name, folder)


_IDENTITY = (("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace"))


def _at(obj: object, path: tuple[str, ...]) -> object:
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def patched_identity_problem(before: Resource, patched: object) -> str | None:
    """Why a patched object is not the same well-formed object, or None.

    A patch edits an object; it never makes another one. Kind, API version, name and namespace
    decide the object's file under generated/ (and what Argo CD applies), so a patch that moved
    them could write outside the output folder or replace another object.
    """
    if not isinstance(patched, dict) or not isinstance(patched.get("metadata"), dict):
        return "leaves no metadata: the result is not a Kubernetes object"
    for path in _IDENTITY:
        if _at(patched, path) != _at(before.obj, path):
            field = ".".join(path)
            return (f"changes {field} ({_at(before.obj, path)!r} → {_at(patched, path)!r}); a patch may not "
                    "change an object's identity (apiVersion, kind, metadata.name, metadata.namespace)")
    meta = patched["metadata"]
    if before.kind == "Namespace" and (meta.get("annotations") or {}).get(SYNC_OPTIONS) != NEVER_DELETE:
        return (f"changes the annotation {SYNC_OPTIONS}: {NEVER_DELETE}, which keeps Argo CD from ever deleting "
                "the namespace and every workload in it")
    for key in ("labels", "annotations"):
        value = meta.get(key)
        if value is not None and not (isinstance(value, dict) and all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items())):
            return f"makes metadata.{key} something other than a map of strings"
    return None


def apply_patches(ctx: CompileContext, plan: Plan) -> None:
    for p in ctx.mesh.patches:
        hits = 0
        for folder, items in plan.folders.items():
            if p.cluster and folder != p.cluster:
                continue
            for i, r in enumerate(items):
                if r.kind != p.kind or r.name != p.name or (p.namespace and r.namespace != p.namespace):
                    continue
                try:
                    patched = jsonpatch.apply_patch(r.obj, list(p.ops))
                except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as e:
                    ctx.error("MC2201", f"patch on {p.kind} {p.name} does not apply: {e}",
                              p.origin, p.kind, p.namespace or "", p.name, folder)
                    hits += 1
                    continue
                hits += 1
                problem = patched_identity_problem(r, patched)
                if problem:
                    ctx.error("MC2203", f"patch on {p.kind} {p.name} {problem}", p.origin, p.kind,
                              p.namespace or "", p.name, folder)
                    continue
                items[i] = Resource(patched, r.origin)
        if not hits:
            ctx.error("MC2202", f"patch target {p.kind} {p.namespace + '/' if p.namespace else ''}{p.name} "
                      "is not generated", p.origin, p.kind, p.namespace or "", p.name)


def compile_mesh(mesh: Mesh, *, states: Mapping[str, CanaryState] | None = None, root: str = ".",
                 gitops: GitOpsDefaults | None = None,
                 workload_ports: Mapping[tuple[str, str, int], int] | None = None) -> Plan:
    """Compile one mesh into a Plan with a folder per cluster (+ `argocd`); raise CompileError on any error.

    `workload_ports` ((namespace, service, service port) → pod port, read from the workload
    manifests by the caller) lets authorization rules name the ports the pods really listen on.
    """
    ctx = CompileContext(mesh, root=root, states=states or {}, workload_ports=workload_ports or {})
    seen: set[str] = set()
    for c in mesh.clusters:
        if c.name in seen:
            ctx.error("MC2003", f"cluster {c.name!r} is declared twice", c.origin)
        seen.add(c.name)
    check_conflicts(ctx)
    check_namespaces(ctx)
    check_trust(ctx)
    check_data_planes(ctx)
    check_ambient(ctx)
    service_waypoint_notes(ctx)
    global_service_notes(ctx)
    check_topology(ctx)
    check_argocd(ctx)
    plan = Plan()
    for cluster in mesh.clusters:
        resources: list[Resource] = []
        for concern in CONCERNS:
            resources += concern(ctx, cluster)
        plan.folders[cluster.name] = namespaces(ctx, cluster, resources) + resources
    check_unique(ctx, plan)
    argocd = argocd_resources(ctx, plan.folders, gitops)
    argocd += install_resources(ctx, gitops, [file_in_folder(r.kind, r.namespace, r.name) for r in argocd])
    if argocd:
        plan.folders[ARGOCD_FOLDER] = argocd
    apply_patches(ctx, plan)
    errors = [f for f in ctx.findings if f.level == "error"]
    if errors:
        raise CompileError(errors)
    plan.notes = [f for f in ctx.findings if f.level != "error"]
    return plan


def compile_meshes(meshes: Iterable[Mesh], *, states: Mapping[str, CanaryState] | None = None,
                   root: str = ".", gitops: GitOpsDefaults | None = None,
                   workload_ports: Mapping[tuple[str, str, int], int] | None = None) -> Plan:
    """Compile several meshes into one Plan; a cluster may belong to one mesh only.

    The `argocd` folder is shared: each mesh adds its own AppProject and ApplicationSet to it.
    """
    plan = Plan()
    owner: dict[str, Mesh] = {}
    shared: dict[tuple[str, str, str], Mesh] = {}
    errors: list[Finding] = []
    for mesh in meshes:
        try:
            part = compile_mesh(mesh, states=states, root=root, gitops=gitops, workload_ports=workload_ports)
        except CompileError as e:
            errors += e.findings
            continue
        for folder in part.folders:
            if folder == ARGOCD_FOLDER:
                for r in part.folders[folder]:
                    first = shared.setdefault(r.key, mesh)
                    if first is not mesh:
                        ctx = CompileContext(mesh, root=root)
                        ctx.error("MC2404", f"{r.kind} {r.namespace}/{r.name} in {folder}/ is generated by meshes "
                                  f"{first.name!r} and {mesh.name!r}; rename a mesh or set ArgoCD(project=...)",
                                  mesh.origin, r.kind, r.namespace, r.name, folder)
                        errors += ctx.findings
                continue
            if folder in owner and owner[folder] is not mesh:
                ctx = CompileContext(mesh, root=root)
                ctx.error("MC2003", f"output folder {folder!r} is produced by meshes {owner[folder].name!r} "
                          f"and {mesh.name!r}", mesh.origin)
                errors += ctx.findings
            owner[folder] = mesh
        plan.merge(part)
    if errors:
        raise CompileError(errors)
    return plan
