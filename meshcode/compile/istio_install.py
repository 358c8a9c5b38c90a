"""Istio itself through git: one Argo CD Application per Istio Helm chart each cluster needs.

GitOps teams install Istio with its Helm charts as Argo CD Applications (istio.io "Install with
Helm" and Argo CD's Helm support); Istio removed the in-cluster operator that reconciled an
IstioOperator, so an IstioOperator in git is only input for a person running `istioctl`. This
concern writes, from the topology the user already declared:

- per cluster: `base` (CRDs; the newest chart version the cluster runs, as Istio's canary
  upgrade updates CRDs first), `istiod` per revision (`profile: remote` on a remote: webhooks
  only, never an istiod Deployment; the external control plane's settings on a config cluster),
  `cni` and `ztunnel` when the cluster runs ambient or asks for the CNI node agent, and a
  `gateway` for the east-west gateway (multi-network, or a primary with remotes) and for each
  ingress gateway workload an `Ingress` selects;
- one `<mesh>-istio` AppProject for them (charts install cluster-scoped kinds of every sort),
  and a `<mesh>-bootstrap` Application that syncs the mesh's files in generated/argocd/ in sync
  waves: CRDs and `base` (-3) before `istiod` and `cni` (-2) before `ztunnel` and gateways (-1)
  before the mesh-config ApplicationSet (0), so mesh config never lands before its CRDs and
  control plane are healthy.

Pure: values come from intent; the charts' own value keys are checked by
`meshcode.analyze.charts` like every other object is checked before writing.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from meshcode.compile.context import CompileContext
from meshcode.compile.dataplane import ambient_namespaces
from meshcode.compile.meshconfig import mesh_config
from meshcode.compile.multicluster import (
    EASTWEST_GATEWAY,
    EASTWEST_SELECTOR,
    ISTIOD_WEBHOOK_PORT,
    NETWORK_LABEL,
    control_plane,
    istiod_settings,
    multi_network,
    needs_eastwest_gateway,
    pilot_address,
    remotes_of,
    revisions,
    tags_for,
)
from meshcode.compile.argocd import API_VERSION, MESH_LABEL, SERVER_SIDE_APPLY, GitOpsDefaults
from meshcode.intent.topology import Cluster, IstioInstall, Mesh
from meshcode.errors import Finding, SourceLocation
from meshcode.plan import MANAGED_BY, STACK_ANNOTATION, Plan, Resource, file_in_folder, make_resource

SYNC_WAVE = "argocd.argoproj.io/sync-wave"
CASCADE_FINALIZER = "resources-finalizer.argocd.argoproj.io"
WAVES = {"base": "-3", "istiod": "-2", "cni": "-2", "ztunnel": "-1", "gateway": "-1"}
INGRESS_PORTS = (80, 443)  # the gateway chart's default Service ports besides 15021


def uses_helm(mesh: Mesh) -> bool:
    return any(mesh.install_of(c).method == "helm" for c in mesh.clusters)


def revision_version(revision: str | None, install: IstioInstall) -> str:
    """The chart version of a revision: a revision named like `1-31-0` is Istio 1.31.0; any
    other name runs the cluster's install version."""
    if revision:
        parts = revision.split("-")
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            return ".".join(parts)
    return install.version


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def ambient(ctx: CompileContext, cluster: Cluster) -> bool:
    """Whether a namespace on this cluster runs Istio's ambient data plane (it needs cni + ztunnel)."""
    ambient_spaces = ambient_namespaces(ctx)
    return bool(ambient_spaces) and any(s.namespace in ambient_spaces for s in ctx.services.values()
                                        if s.clusters is None or cluster.name in s.clusters)


def _global_values(ctx: CompileContext, cluster: Cluster) -> dict[str, Any]:
    return {"meshID": ctx.mesh.id, "multiCluster": {"clusterName": cluster.name}, "network": cluster.network}


def istiod_values(ctx: CompileContext, cluster: Cluster, revision: str | None) -> dict[str, Any]:
    """Values of the `istiod` chart for one revision: the shared control-plane settings in Helm's
    keys, plus what Helm says differently from an IstioOperator (profiles, configMap)."""
    install = ctx.mesh.install_of(cluster)
    values = istiod_settings(ctx, cluster, revision)
    if cluster.role in ("remote", "config"):
        values = {"profile": "remote", **values}  # webhooks (and, on a config cluster, config) only
        if cluster.role == "config":
            values["global"]["configCluster"] = True
            values["configMap"] = True
    elif ambient(ctx, cluster):
        values = {"profile": "ambient", **values}
        if multi_network(ctx.mesh):  # Istio's ambient multi-network install (multi-primary only)
            values["env"] = {"AMBIENT_ENABLE_MULTI_NETWORK": "true"}
    elif install.profile not in ("default", "minimal"):  # Helm installs istiod alone: "minimal"
        values = {"profile": install.profile, **values}
    if revision:
        values["revision"] = revision
    if cluster.role != "remote":
        values["meshConfig"] = mesh_config(ctx, cluster)
    if install.cni and not ambient(ctx, cluster):
        values["cni"] = {"enabled": True}  # pods skip the privileged init container
    return values


def _application(ctx: CompileContext, cluster: Cluster, *, name: str, chart: str, version: str,
                 release: str, namespace: str, values: dict[str, Any], wave: str, project: str,
                 repo: str, cascade: bool, ignore: list[dict[str, Any]] | None = None) -> Resource:
    mesh = ctx.mesh
    argo = mesh.argocd
    destination = argo.cluster_names.get(cluster.name, cluster.name) if argo else cluster.name
    helm: dict[str, Any] = {"releaseName": release}
    if values:
        helm["valuesObject"] = values
    spec: dict[str, Any] = {
        "project": project,
        "source": {"repoURL": repo, "chart": chart, "targetRevision": version, "helm": helm},
        "destination": {"name": destination, "namespace": namespace},
        "syncPolicy": {"automated": {"prune": True, "selfHeal": True},
                       "syncOptions": ["CreateNamespace=true", SERVER_SIDE_APPLY]},
    }
    if ignore:
        spec["ignoreDifferences"] = ignore
    labels = {MESH_LABEL: mesh.name, "meshcode.dev/cluster": cluster.name, "meshcode.dev/chart": chart}
    r = make_resource(API_VERSION, "Application", name, argo.namespace if argo else "argocd", spec,
                      cluster.origin, ctx.rel(cluster.origin), labels, {SYNC_WAVE: wave})
    if cascade:  # deleting the Application uninstalls the chart (a removed revision goes away)
        r.obj["metadata"]["finalizers"] = [CASCADE_FINALIZER]
    return r


def gateway_workloads(ctx: CompileContext, cluster: Cluster) -> list[tuple[str, str, dict[str, str], list[int]]]:
    """(release, namespace, labels, ports) of each ingress gateway workload this cluster runs."""
    found: dict[tuple[str, tuple[tuple[str, str], ...]], set[int]] = {}
    for ing in ctx.mesh.ingresses:
        if ing.clusters is not None and cluster.name not in ing.clusters:
            continue
        ns = ing.gateway_namespace or ctx.mesh.root_namespace
        ports = {ing.listen_port} | ({80} if ing.http_redirect else set())
        found.setdefault((ns, tuple(sorted(ing.selector.items()))), set()).update(ports)
    out = []
    for (ns, selector), ports in sorted(found.items()):
        labels = dict(selector)
        istio_label = labels.get("istio")
        release = f"istio-{istio_label}" if istio_label else "-".join(v for _, v in selector)[:40] + "-gateway"
        out.append((release, ns, labels, sorted(ports)))
    return out


def _gateway_values(labels: dict[str, str], ports: list[int]) -> dict[str, Any]:
    values: dict[str, Any] = {"labels": labels}
    if any(p not in INGRESS_PORTS for p in ports):
        service_ports = [{"name": "status-port", "port": 15021, "protocol": "TCP", "targetPort": 15021}]
        for p in sorted(set(ports) | set(INGRESS_PORTS)):
            name = {80: "http2", 443: "https"}.get(p, f"tcp-{p}")
            service_ports.append({"name": name, "port": p, "protocol": "TCP", "targetPort": p})
        values["service"] = {"ports": service_ports}
    return values


def cluster_install(ctx: CompileContext, cluster: Cluster, project: str, revision_of_app: dict[str, str]) -> list[Resource]:
    """The Applications that install Istio on one cluster."""
    mesh = ctx.mesh
    install = mesh.install_of(cluster)
    if install.method != "helm":
        return []
    repo = install.chart_repository
    ns = mesh.root_namespace
    prefix = f"{mesh.name}-{cluster.name}"
    revs = revisions(cluster)
    versions = [revision_version(r, install) for r in revs]
    newest = max(versions, key=_version_key)
    out: list[Resource] = []

    def app(suffix: str, chart: str, version: str, release: str, namespace: str, values: dict[str, Any],
            cascade: bool = False, ignore: list[dict[str, Any]] | None = None) -> None:
        out.append(_application(ctx, cluster, name=f"{prefix}-{suffix}", chart=chart, version=version,
                                release=release, namespace=namespace, values=values, wave=WAVES[chart],
                                project=project, repo=repo, cascade=cascade, ignore=ignore))

    base_values: dict[str, Any] = {}
    if cluster.role == "remote" or cluster.role == "config":
        base_values["profile"] = "remote"
    if cluster.revision:
        base_values["defaultRevision"] = cluster.revision
    app("istio-base", "base", newest, "istio-base", ns, base_values, ignore=[{
        "group": "admissionregistration.k8s.io", "kind": "ValidatingWebhookConfiguration",
        "name": "istiod-default-validator", "jsonPointers": ["/webhooks/0/failurePolicy"]}])
    for rev, version in zip(revs, versions):
        suffix = "istio-remote" if cluster.role in ("remote", "config") else "istiod"
        name = f"{suffix}-{rev}" if rev else suffix
        release = f"istiod-{rev}" if rev else "istiod"
        app(name, "istiod", version, release, ns, istiod_values(ctx, cluster, rev), cascade=True)
        revision_of_app[f"{prefix}-{name}"] = rev or "default"
    if ambient(ctx, cluster) or install.cni:
        cni_values: dict[str, Any] = {"profile": "ambient"} if ambient(ctx, cluster) else {}
        app("istio-cni", "cni", newest, "istio-cni", ns, cni_values)
    if ambient(ctx, cluster):
        ztunnel = {"profile": "ambient", "multiCluster": {"clusterName": cluster.name}, "network": cluster.network}
        if cluster.revision:
            ztunnel["revision"] = cluster.revision
        app("ztunnel", "ztunnel", newest, "ztunnel", ns, ztunnel)
    main_version = versions[0]
    gateway_revision = {"revision": cluster.revision} if cluster.revision else {}
    if needs_eastwest_gateway(ctx, cluster):
        labels = {**EASTWEST_SELECTOR, "app": EASTWEST_GATEWAY, NETWORK_LABEL: cluster.network}
        app(f"gateway-{EASTWEST_GATEWAY}", "gateway", main_version, EASTWEST_GATEWAY, ns,
            {"labels": labels, "networkGateway": cluster.network, **gateway_revision})
    for release, gw_ns, labels, ports in gateway_workloads(ctx, cluster):
        app(f"gateway-{release}", "gateway", main_version, release, gw_ns,
            {**_gateway_values(labels, ports), **gateway_revision})
    return out


def install_resources(ctx: CompileContext, defaults: GitOpsDefaults | None,
                      mesh_files: list[str]) -> list[Resource]:
    """Every cluster's install Applications, their AppProject and the mesh's bootstrap Application.

    `mesh_files` are the paths (inside generated/argocd/) of the mesh's other Argo CD objects,
    which the bootstrap Application syncs in wave 0 after the control plane.
    """
    mesh = ctx.mesh
    argo = mesh.argocd
    if argo is None or not uses_helm(mesh):
        return []
    repo_url = argo.repo_url or (defaults.repo_url if defaults else None)
    if not repo_url:
        return []
    project = f"{argo.project or mesh.name}-istio"
    origin = mesh.origin
    stack = ctx.rel(origin) if origin else None
    labels = {MESH_LABEL: mesh.name}
    apps: list[Resource] = []
    revision_of_app: dict[str, str] = {}
    for cluster in mesh.clusters:
        apps += cluster_install(ctx, cluster, project, revision_of_app)
    if not apps:
        return []
    chart_repos = sorted({mesh.install_of(c).chart_repository for c in mesh.clusters
                          if mesh.install_of(c).method == "helm"})
    project_spec = {
        "description": f"Istio control planes and gateways of mesh {mesh.name}, installed by meshcode",
        "sourceRepos": chart_repos,
        "destinations": [{"name": argo.cluster_names.get(c.name, c.name), "namespace": "*"} for c in mesh.clusters
                         if mesh.install_of(c).method == "helm"],
        "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
        "namespaceResourceWhitelist": [{"group": "*", "kind": "*"}],
    }
    istio_project = make_resource(API_VERSION, "AppProject", project, argo.namespace, project_spec, origin, stack,
                                  labels, {SYNC_WAVE: "-4"})
    output_path = (defaults.output_path if defaults else "generated").strip("/")
    revision = argo.target_revision or (defaults.target_revision if defaults else "HEAD")
    bootstrap_name = f"{mesh.name}-bootstrap"
    own = sorted([*mesh_files, *(file_in_folder(r.kind, r.namespace, r.name) for r in [istio_project, *apps]),
                  file_in_folder("Application", argo.namespace, bootstrap_name)])
    bootstrap_spec = {
        "project": "default",
        "source": {"repoURL": repo_url, "targetRevision": revision, "path": f"{output_path}/argocd",
                   "directory": {"recurse": True, "include": "{" + ",".join(own) + "}"}},
        "destination": {"name": "in-cluster", "namespace": argo.namespace},
        "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
    }
    bootstrap = make_resource(API_VERSION, "Application", bootstrap_name, argo.namespace, bootstrap_spec,
                              origin, stack, {**labels, MANAGED_BY: "meshcode"})
    return [istio_project, *apps, bootstrap]



# ---- control-plane upgrades: a revision leaves only once nothing points at it ---------------
REV_LABEL = "istio.io/rev"


def control_planes(folders: Mapping[str, Iterable[Mapping[str, Any]]]) -> dict[str, ControlPlane]:
    """Per cluster: the revisions installed, the tag → revision map, and each namespace's injection.

    Reads objects as plain dicts, so it works on a compiled Plan and on `generated/` read back
    from disk alike: istiod Applications (helm) or IstioOperators (istioctl) for revisions and
    tags, Namespaces for `istio.io/rev`.
    """
    planes: dict[str, ControlPlane] = {}
    for folder, objects in folders.items():
        for obj in objects:
            meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
            labels = meta.get("labels") if isinstance(meta.get("labels"), dict) else {}
            spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
            kind = obj.get("kind")
            if kind == "Application" and labels.get("meshcode.dev/chart") == "istiod":
                values = (((spec.get("source") or {}).get("helm") or {}).get("valuesObject") or {})
                cluster = labels.get("meshcode.dev/cluster", "")
                _add_revision(planes.setdefault(cluster, ControlPlane()), values.get("revision"),
                              values.get("revisionTags"))
            elif kind == "IstioOperator":
                _add_revision(planes.setdefault(folder, ControlPlane()), spec.get("revision"),
                              (spec.get("values") or {}).get("revisionTags"))
            elif kind == "Namespace" and REV_LABEL in labels:
                planes.setdefault(folder, ControlPlane()).namespaces[meta.get("name", "")] = str(labels[REV_LABEL])
    return planes


@dataclass
class ControlPlane:
    revisions: set[str] = field(default_factory=set)
    tags: dict[str, str] = field(default_factory=dict)
    namespaces: dict[str, str] = field(default_factory=dict)  # namespace → istio.io/rev value

    def serves(self, revision: str) -> list[str]:
        """Namespaces whose injection resolves to `revision` (directly or through a tag)."""
        return sorted(ns for ns, rev in self.namespaces.items() if self.tags.get(rev, rev) == revision)


def _add_revision(plane: ControlPlane, revision: Any, tags: Any) -> None:
    rev = str(revision) if revision else "default"
    plane.revisions.add(rev)
    for tag in tags if isinstance(tags, list) else ():
        plane.tags[str(tag)] = rev


def _stack_line(r: Resource) -> SourceLocation | None:
    """The cluster's line, with the stack path relative to the project as the object records it."""
    stack = r.obj["metadata"].get("annotations", {}).get(STACK_ANNOTATION)
    return SourceLocation(stack, r.origin.line) if stack and r.origin else r.origin


def revision_removal_findings(plan: Plan, deployed: Mapping[str, ControlPlane]) -> list[Finding]:
    """MC2310: a revision that `generated/` runs and the new output drops, while namespaces or tags
    in `generated/` still point at it. Istio's canary upgrade moves namespaces (or tags) first,
    restarts their workloads, and removes the old control plane in a later change; dropping it in
    the same commit leaves running proxies without their istiod.
    """
    now = control_planes({folder: [r.obj for r in items] for folder, items in plan.folders.items()})
    origins = {r.obj["metadata"].get("labels", {}).get("meshcode.dev/cluster") or folder: _stack_line(r)
               for folder, items in plan.folders.items() for r in items
               if r.kind in ("Application", "IstioOperator")}
    findings: list[Finding] = []
    for cluster, before in sorted(deployed.items()):
        after = now.get(cluster)
        if after is None:
            continue  # the cluster left the mesh (or its install left meshcode): not an upgrade step
        for revision in sorted(before.revisions - after.revisions):
            users = before.serves(revision)
            tags = sorted(t for t, r in before.tags.items() if r == revision)  # workloads injected through it
            if not users and not tags:
                continue
            what = ", ".join([*(f"namespace {ns}" for ns in users), *(f"tag {t}" for t in tags)])
            findings.append(Finding(
                "MC2310", "error",
                f"cluster {cluster!r}: revision {revision!r} still serves {what} in generated/; move them to "
                "the new revision first (retag or change injection), restart their workloads, then remove "
                f"{revision!r} in a later commit", "Cluster", "", cluster, origins.get(cluster), cluster))
    return findings
