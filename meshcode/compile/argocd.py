"""Argo CD delivery for a compiled mesh: an AppProject and an ApplicationSet in generated/argocd/.

Pure (no I/O): the project layer passes what it read from pyproject.toml and git as
`GitOpsDefaults`. Each mesh gets its own AppProject and ApplicationSet, named after the mesh,
so several meshes compile into one shared `argocd` folder without touching each other's files.
The ApplicationSet's list generator has one element per cluster folder of the mesh; the
Application's destination is the Argo CD cluster whose `name` is the meshcode cluster name
(`ArgoCD(cluster_names={...})` maps the ones registered under another name, e.g. `in-cluster`).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from meshcode.intent.topology import ArgoCD, Mesh
from meshcode.plan import MANAGED_BY, Resource, make_resource

if TYPE_CHECKING:  # the compile package imports this module; a runtime import would be circular
    from meshcode.compile.context import CompileContext

ARGOCD_FOLDER = "argocd"
API_VERSION = "argoproj.io/v1alpha1"
MESH_LABEL = "meshcode.dev/mesh"
SERVER_SIDE_APPLY = "ServerSideApply=true"


@dataclass(frozen=True, slots=True)
class GitOpsDefaults:
    """Project-level settings the mesh intent may leave out: `[tool.meshcode]` and the output path.

    `output_path` is the output folder relative to the git repository's top (what Argo CD reads).
    """

    repo_url: str | None = None
    target_revision: str = "HEAD"
    output_path: str = "generated"


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def _kinds(folders: Mapping[str, list[Resource]], clusters: list[str]) -> tuple[list[dict], list[dict]]:
    """(cluster-scoped, namespaced) whitelist entries: exactly the kinds this mesh generates."""
    cluster_scoped: set[tuple[str, str]] = set()
    namespaced: set[tuple[str, str]] = set()
    seen: set[int] = set()
    for c in clusters:
        for r in folders.get(c, ()):
            if id(r) not in seen:  # an object several clusters share is looked at once
                seen.add(id(r))
                (namespaced if r.namespace else cluster_scoped).add((_group(r.api_version), r.kind))
    def entries(kinds: set[tuple[str, str]]) -> list[dict]:
        return [{"group": group, "kind": kind} for group, kind in sorted(kinds)]

    return entries(cluster_scoped), entries(namespaced)


def check_argocd(ctx: CompileContext) -> None:
    """`argocd` is the shared output folder, so no cluster may be named so; mapped clusters must exist."""
    mesh: Mesh = ctx.mesh
    for c in mesh.clusters:
        if c.name == ARGOCD_FOLDER:
            ctx.error("MC2401", f"cluster name {ARGOCD_FOLDER!r} is reserved: generated/{ARGOCD_FOLDER}/ holds "
                      "the Argo CD applications; rename the cluster", c.origin)
    argo = mesh.argocd
    if argo is not None:
        names = {c.name for c in mesh.clusters}
        for key in sorted(set(argo.cluster_names) - names):
            ctx.error("MC2402", f"ArgoCD cluster_names maps {key!r}, which is not a cluster of mesh "
                      f"{mesh.name!r} (clusters: {', '.join(sorted(names))})", argo.origin)


def argocd_resources(ctx: CompileContext, folders: Mapping[str, list[Resource]],
                     defaults: GitOpsDefaults | None) -> list[Resource]:
    """The mesh's AppProject and ApplicationSet, or [] when Argo CD output is off or has no repo URL.

    Without `defaults` (a bare `compile_mesh()` call) only a mesh that names its own repo URL
    gets Argo CD output; the project layer always passes defaults, and a missing URL is a note.
    """
    mesh: Mesh = ctx.mesh
    argo: ArgoCD | None = mesh.argocd
    if argo is None:
        return []
    repo_url = argo.repo_url or (defaults.repo_url if defaults else None)
    if not repo_url:
        if defaults is not None:
            ctx.note("MC2403", f"no Argo CD output for mesh {mesh.name!r}: set repo_url under [tool.meshcode] "
                     "in pyproject.toml or ArgoCD(repo_url=...) on the mesh", argo.origin or mesh.origin)
        return []
    revision = argo.target_revision or (defaults.target_revision if defaults else "HEAD")
    output_path = (defaults.output_path if defaults else "generated").strip("/")
    clusters = [c.name for c in mesh.clusters if c.name in folders]
    project = argo.project or mesh.name
    origin = mesh.origin
    stack = ctx.rel(origin) if origin else None
    labels = {MESH_LABEL: mesh.name}

    cluster_kinds, namespaced_kinds = _kinds(folders, clusters)
    project_spec = {
        "description": f"Istio configuration of mesh {mesh.name}, compiled by meshcode",
        "sourceRepos": [repo_url],
        "destinations": [{"name": argo.cluster_names.get(c, c), "namespace": "*"} for c in clusters],
        "clusterResourceWhitelist": cluster_kinds,
        "namespaceResourceWhitelist": namespaced_kinds,
    }
    sync_policy: dict = {}
    if argo.automated:
        sync_policy["automated"] = {"prune": argo.prune, "selfHeal": argo.self_heal}
    sync_policy["syncOptions"] = [SERVER_SIDE_APPLY] + [o for o in argo.sync_options if o != SERVER_SIDE_APPLY]
    appset_spec = {
        "goTemplate": True,
        "goTemplateOptions": ["missingkey=error"],
        "generators": [{"list": {"elements": [
            {"cluster": c, "destination": argo.cluster_names.get(c, c), "path": f"{output_path}/{c}"}
            for c in clusters
        ]}}],
        "template": {
            "metadata": {
                "name": f"{mesh.name}-{{{{.cluster}}}}",
                "labels": {MANAGED_BY: "meshcode", MESH_LABEL: mesh.name},
            },
            "spec": {
                "project": project,
                "source": {"repoURL": repo_url, "targetRevision": revision, "path": "{{.path}}"},
                "destination": {"name": "{{.destination}}"},
                "syncPolicy": sync_policy,
            },
        },
    }
    return [
        make_resource(API_VERSION, "AppProject", project, argo.namespace, project_spec, origin, stack, labels),
        make_resource(API_VERSION, "ApplicationSet", mesh.name, argo.namespace, appset_spec, origin, stack, labels),
    ]
