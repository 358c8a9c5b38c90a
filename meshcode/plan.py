"""The Plan: every resource for every cluster, each remembering the intent line behind it.

Resources are plain dicts (the manifest as it will be written) so that compiled output and
YAML loaded from disk flow through the same analysis code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from meshcode.errors import Finding, SourceLocation

MANAGED_BY = "app.kubernetes.io/managed-by"
STACK_ANNOTATION = "meshcode.dev/stack"
# On an object kept as written (`Verbatim`), not derived from intent: reviewers and the schema check read it.
VERBATIM_ANNOTATION = "meshcode.dev/verbatim"
# A Namespace holds workloads meshcode does not own: Argo CD must never delete one, neither when it
# leaves the output (prune) nor when the Application goes (delete). Every generated Namespace
# carries this; `meshcode diff` and `compile` warn when one leaves the output.
SYNC_OPTIONS = "argocd.argoproj.io/sync-options"
NEVER_DELETE = "Prune=false,Delete=false"
CLUSTER_SCOPED = frozenset({"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"})


@dataclass(frozen=True, slots=True)
class Resource:
    """One Kubernetes object and where it came from (a stack line, or a YAML file line).

    kind, name and namespace are read once at construction (checks ask for them hundreds of
    thousands of times at fleet scale); the manifest is never mutated afterwards.
    """

    obj: dict[str, Any]
    origin: SourceLocation | None = None
    kind: str = field(init=False)
    name: str = field(init=False)
    namespace: str = field(init=False)

    def __post_init__(self) -> None:
        obj = self.obj if isinstance(self.obj, dict) else {}
        metadata = obj.get("metadata")
        if not isinstance(metadata, dict):
            metadata = {}
        object.__setattr__(self, "kind", obj.get("kind", ""))
        object.__setattr__(self, "name", metadata.get("name", ""))
        object.__setattr__(self, "namespace", metadata.get("namespace", ""))

    @property
    def api_version(self) -> str:
        return self.obj.get("apiVersion", "")

    @property
    def metadata(self) -> dict[str, Any]:
        return self.obj.get("metadata") or {}

    @property
    def spec(self) -> dict[str, Any]:
        return self.obj.get("spec") or {}

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.namespace, self.name)


CLUSTER_SCOPED_DIR = "_cluster"


def file_in_folder(kind: str, namespace: str | None, name: str) -> str:
    """Where an object's file lives inside its output folder: `<namespace>/<kind>-<name>.yaml`.

    The one layout rule: the renderer writes by it, and the Argo CD bootstrap Application
    lists its mesh's files by it."""
    return f"{namespace or CLUSTER_SCOPED_DIR}/{kind.lower()}-{name}.yaml"


def is_namespace_path(path: str) -> bool:
    """Whether a path of the output tree is a generated Namespace (`<folder>/_cluster/namespace-*.yaml`)."""
    parts = path.split("/")
    return len(parts) == 3 and parts[1] == CLUSTER_SCOPED_DIR and parts[2].startswith("namespace-")


def make_resource(
    api_version: str,
    kind: str,
    name: str,
    namespace: str | None,
    spec: dict[str, Any] | None,
    origin: SourceLocation | None,
    stack: str | None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> Resource:
    """Build a manifest in meshcode's fixed key order, with the ownership label and stack annotation.

    The one factory of generated objects: a Namespace always gets the never-delete sync options.
    """
    metadata: dict[str, Any] = {"name": name}
    if namespace and kind not in CLUSTER_SCOPED:
        metadata["namespace"] = namespace
    metadata["labels"] = {**(labels or {}), MANAGED_BY: "meshcode"}
    notes = dict(annotations or {})
    if kind == "Namespace":
        notes[SYNC_OPTIONS] = NEVER_DELETE
    if stack:
        notes[STACK_ANNOTATION] = stack
    if notes:
        metadata["annotations"] = notes
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": metadata}
    if spec is not None:
        obj["spec"] = spec
    return Resource(obj, origin)


@dataclass(slots=True)
class Plan:
    """What a compile produced: resources per output folder (a cluster, or `argocd`), plus notes.

    The same Resource object may sit in several clusters' lists: it is never mutated after
    the compile, and rendering reuses its bytes.
    """

    folders: dict[str, list[Resource]] = field(default_factory=dict)
    notes: list[Finding] = field(default_factory=list)

    def add(self, folder: str, resource: Resource) -> None:
        self.folders.setdefault(folder, []).append(resource)

    def resources(self) -> Iterator[tuple[str, Resource]]:
        for folder in sorted(self.folders):
            for r in self.folders[folder]:
                yield folder, r

    def merge(self, other: "Plan") -> None:
        for folder, items in other.folders.items():
            self.folders.setdefault(folder, []).extend(items)
        self.notes.extend(other.notes)
