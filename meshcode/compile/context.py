"""Shared state of one compile: the mesh, lookups by name, findings, and the resource factory."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Mapping, TypeVar

from meshcode.state.canary import CanaryState
from meshcode.errors import Finding, Level, SourceLocation, portable_path
from meshcode.intent.edge import ExternalService
from meshcode.intent.service import Service
from meshcode.intent.topology import Cluster, Mesh
from meshcode.plan import Resource, make_resource

T = TypeVar("T")


@dataclass
class CompileContext:
    """Everything a concern's compile function reads; it writes only findings."""

    mesh: Mesh
    root: str = "."
    states: Mapping[str, CanaryState] = field(default_factory=dict)
    #: (namespace, service, service port) → the port its pods listen on, from workload manifests
    workload_ports: Mapping[tuple[str, str, int], int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    services: dict[tuple[str, str], Service] = field(default_factory=dict)
    externals: dict[tuple[str, str], ExternalService] = field(default_factory=dict)
    #: values built once per compile and shared by every cluster (per-object resources, indexes)
    memo: dict[Hashable, Any] = field(default_factory=dict)
    _stack_cache: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for s in self.mesh.services:
            key = (s.namespace, s.name)
            if key in self.services:
                first = self.services[key]
                self.error("MC2001", f"service {s.namespace}/{s.name} is declared twice "
                           f"(first at {self.where(first.origin)})", s.origin, "Service", s.namespace, s.name)
                continue
            self.services[key] = s
        for e in self.mesh.external_services:
            key = (e.namespace, e.name)
            if key in self.externals:
                self.error("MC2001", f"external service {e.namespace}/{e.name} is declared twice "
                           f"(first at {self.where(self.externals[key].origin)})",
                           e.origin, "ServiceEntry", e.namespace, e.name)
                continue
            self.externals[key] = e

    def once(self, key: Hashable, build: Callable[[], T]) -> T:
        """`build()` the first time `key` is asked for in this compile; the same value after that."""
        if key in self.memo:
            return self.memo[key]  # type: ignore[no-any-return]
        value = self.memo[key] = build()
        return value

    # -- findings ---------------------------------------------------------------------------
    def report(self, level: Level, code: str, message: str, origin: SourceLocation | None,
               kind: str = "", namespace: str = "", name: str = "", cluster: str = "") -> None:
        loc = SourceLocation(self.rel(origin), origin.line) if origin else None
        self.findings.append(Finding(code, level, message, kind, namespace, name, loc, cluster))

    def error(self, code: str, message: str, origin: SourceLocation | None,
              kind: str = "", namespace: str = "", name: str = "", cluster: str = "") -> None:
        self.report("error", code, message, origin, kind, namespace, name, cluster)

    def note(self, code: str, message: str, origin: SourceLocation | None,
             kind: str = "", namespace: str = "", name: str = "") -> None:
        self.report("info", code, message, origin, kind, namespace, name)

    # -- lookups ----------------------------------------------------------------------------
    def rel(self, origin: SourceLocation | None) -> str:
        if origin is None:
            return ""
        cached = self._stack_cache.get(origin.file)
        if cached is None:  # never absolute: it goes into the meshcode.dev/stack annotation
            cached = self._stack_cache[origin.file] = portable_path(origin.file, self.root)
        return cached

    def where(self, origin: SourceLocation | None) -> str:
        """'file:line' of an intent object, relative to the project root, for messages."""
        return f"{self.rel(origin)}:{origin.line}" if origin else "?"

    def find_service(self, ref: Any, namespace: str) -> Service | ExternalService | None:
        """Resolve a Service/ExternalService object or a name ('name' or 'namespace/name')."""
        if isinstance(ref, (Service, ExternalService)):
            return ref
        ns, sep, name = ref.rpartition("/") if "/" in ref else ("", "", ref)
        ns = ns or namespace
        found = self.services.get((ns, name)) or self.externals.get((ns, name))
        if found is None and not sep:
            matches = [s for (_, n), s in self.services.items() if n == name]
            matches += [e for (_, n), e in self.externals.items() if n == name]
            if len(matches) == 1:
                found = matches[0]
        return found

    def in_cluster(self, clusters: tuple[str, ...] | None, cluster: Cluster) -> bool:
        return clusters is None or cluster.name in clusters

    def canary_state(self, namespace: str, name: str) -> CanaryState | None:
        return self.states.get(f"{self.mesh.name}/{namespace}/{name}")

    # -- resources --------------------------------------------------------------------------
    def resource(self, group: str, kind: str, name: str, namespace: str | None,
                 spec: dict[str, Any] | None, origin: SourceLocation | None,
                 labels: dict[str, str] | None = None, api_version: str | None = None) -> Resource:
        """Build a resource in the mesh's API version for its group (networking/security/telemetry)."""
        versions = self.mesh.api_versions
        if api_version is None:
            version = {"networking": versions.networking, "security": versions.security,
                       "telemetry": versions.telemetry}[group]
            api_version = f"{group}.istio.io/{version}"
        stack = self.rel(origin) if origin else None
        return make_resource(api_version, kind, name, namespace, spec, origin, stack, labels)


def served_clusters(mesh: Mesh, cluster: Cluster) -> set[str]:
    """The clusters whose Istio config this cluster's control plane holds (itself + its remotes)."""
    if cluster.role == "remote":
        return set()
    return {cluster.name} | {c.name for c in mesh.clusters if c.role == "remote" and c.primary == cluster.name}


def placed(placement: tuple[str, ...] | None, served: set[str]) -> bool:
    """Whether an object placed in `placement` (None: everywhere) belongs to a control plane serving `served`."""
    return bool(served) and (placement is None or not served.isdisjoint(placement))
