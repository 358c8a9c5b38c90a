"""One pass over a cluster's objects builds every lookup the checks need.

Checks never scan all objects for each object: hosts are found by exact name, wildcard hosts by
one lookup per domain label, objects by kind/namespace/name. That keeps the analysis linear in
the number of objects, on the compile path and in `meshcode lint`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, TypeVar

from meshcode.codes import level_of
from meshcode.istio import (
    ALL,
    DEFAULT_DOMAIN,
    export_scopes,
    fqdn,
    service_of,
    visible,
    wildcard_key,
    wildcard_keys,
)
from meshcode.analyze.meshconfig import DEFAULT as DEFAULT_MESH_CONFIG
from meshcode.analyze.meshconfig import MeshConfig
from meshcode.errors import Finding, SourceLocation
from meshcode.plan import MANAGED_BY, Resource

NETWORKING = "networking.istio.io"
SECURITY = "security.istio.io"
TELEMETRY = "telemetry.istio.io"
ISTIO_KINDS = {
    NETWORKING: frozenset({"VirtualService", "DestinationRule", "Gateway", "ServiceEntry", "Sidecar"}),
    SECURITY: frozenset({"PeerAuthentication", "AuthorizationPolicy"}),
    TELEMETRY: frozenset({"Telemetry"}),
}
CORE_KINDS = frozenset({"Service", "Namespace"})
REMOVED = "removed-kind"  # by_kind key of rbac.istio.io objects and CRDs (IST0002 looks for removed kinds)
EXPORT_TO_ANNOTATION = "networking.istio.io/exportTo"
T = TypeVar("T")
# Namespaces every Istio cluster has, whether or not the linted files declare them.
BUILTIN_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease", "istio-system"})


@dataclass(frozen=True, slots=True)
class HostEntry:
    """A host some Service or ServiceEntry defines, with the namespaces it is visible in."""

    resource: Resource
    scopes: frozenset[str]
    ports: dict[int, str]  # port number → protocol (upper case; '' when unset)


ASSUMED = HostEntry(Resource({}), frozenset({ALL}), {})
"""A Service host a meshcode-compiled object names: the compiler resolved it against the intent."""


def kind_of(r: Resource) -> str:
    """The kind the checks know it by, or '' (Gateway API's Gateway is not Istio's Gateway)."""
    api = r.api_version
    kind = r.kind
    group = api.rpartition("/")[0]
    if group in ISTIO_KINDS:
        return kind if kind in ISTIO_KINDS[group] else ""
    if api == "v1" and kind in CORE_KINDS:
        return kind
    if group == "rbac.istio.io" or kind == "CustomResourceDefinition":
        return REMOVED
    return ""


def namespace_of(r: Resource) -> str:
    """kubectl applies an object without namespace to 'default'; so does Istio's analyzer."""
    return r.namespace or "default"


def managed(r: Resource) -> bool:
    labels = r.metadata.get("labels")
    return isinstance(labels, dict) and labels.get(MANAGED_BY) == "meshcode"


def spec_of(r: Resource) -> dict[str, Any]:
    spec = r.obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def port_number(value: Any) -> int | None:
    port = as_dict(value).get("number") if isinstance(value, dict) else value
    return port if isinstance(port, int) and not isinstance(port, bool) else None


@dataclass
class MeshIndex:
    """Lookups over one cluster's objects; built once by `build_index`."""

    cluster: str = ""
    domain: str = DEFAULT_DOMAIN
    root_namespace: str = "istio-system"
    locate: Callable[[Resource], SourceLocation | None] = lambda r: r.origin
    by_kind: dict[str, list[Resource]] = field(default_factory=dict)
    by_name: dict[tuple[str, str, str], Resource] = field(default_factory=dict)
    services: dict[tuple[str, str], Resource] = field(default_factory=dict)
    hosts: dict[str, list[HostEntry]] = field(default_factory=dict)
    wildcards: dict[str, list[HostEntry]] = field(default_factory=dict)
    namespaces: set[str] = field(default_factory=lambda: set(BUILTIN_NAMESPACES))
    namespace_labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    namespace_objects: dict[str, Resource] = field(default_factory=dict)
    mesh: MeshConfig = DEFAULT_MESH_CONFIG
    subsets: dict[str, set[str]] = field(default_factory=dict)
    memo: dict[tuple[str, int], tuple[Any, Any]] = field(default_factory=dict)
    #: facts kept between compiles (meshcode.analyze.facts.FactStore), asked on a `memo` miss
    facts: Callable[[str, Resource, Callable[[Resource], Any]], Any] | None = None
    unindexed: list[Resource] = field(default_factory=list)  # kinds no lookup is built for
    _resolved: dict[tuple, HostEntry | None] = field(default_factory=dict)
    _host_suffixes: set[str] | None = None

    def cached(self, name: str, r: Resource, compute: Callable[[Resource], T]) -> T:
        """What `compute` derives from one object alone, computed once per object.

        `memo` is shared by the indexes of one analysis run, so a manifest that several clusters
        share (the compiler builds each object once; lint parses each distinct file once) is
        examined once, not once per cluster. Keyed by the manifest, not the Resource: `compute`
        reads only the manifest. The entry holds the manifest, so its id stays its own.
        """
        obj = r.obj
        key = (name, id(obj))
        try:
            return self.memo[key][1]
        except KeyError:
            value = compute(r) if self.facts is None else self.facts(name, r, compute)
            self.memo[key] = (obj, value)
            return value

    # -- findings -----------------------------------------------------------------------------
    def finding(self, code: str, r: Resource, message: str) -> Finding:
        return Finding(code, level_of(code), message, r.kind, namespace_of(r), r.name, self.locate(r), self.cluster)

    def of(self, kind: str) -> list[Resource]:
        return self.by_kind.get(kind, [])

    # -- host resolution ----------------------------------------------------------------------
    def resolve(self, host: str, namespace: str, export_to: Iterable[str] | None = None,
                referrer: Resource | None = None, assume: bool | None = None) -> HostEntry | None:
        """The Service or ServiceEntry `host` names, as seen from `namespace`; None when nothing does.

        Like istioctl: visibility follows the target's exportTo, checked for the referring
        namespace (or for the namespaces the referring object is itself exported to).
        """
        if assume is None:
            assume = referrer is not None and managed(referrer)
        key = (host, namespace, tuple(export_to) if export_to else (), assume)
        try:
            return self._resolved[key]
        except KeyError:
            found = self._resolved[key] = self._resolve(host, namespace, export_to, assume)
            return found

    def _resolve(self, host: str, namespace: str, export_to: Iterable[str] | None, assume: bool) -> HostEntry | None:
        name = fqdn(host, namespace, self.domain)
        scopes = [namespace] if not export_to else [namespace if e == "." else e for e in export_to]
        for entry in self.hosts.get(name, ()):
            if any(visible(entry.scopes, s) for s in scopes):
                return entry
        if self.wildcards:
            for key in wildcard_keys(name):
                for entry in self.wildcards.get(key, ()):
                    if visible(entry.scopes, namespace):
                        return entry
        if name.startswith("*") and self._covers_known_host(name):
            return ASSUMED
        if assume and service_of(name, self.domain):
            return ASSUMED
        return None

    def _covers_known_host(self, wildcard: str) -> bool:
        """A wildcard host ('*.ns.svc.cluster.local', '*') that covers some defined host."""
        if self._host_suffixes is None:
            suffixes: set[str] = set()
            for h in self.hosts:
                suffixes.update(wildcard_keys(h))
            self._host_suffixes = suffixes
        return wildcard_key(wildcard) in self._host_suffixes


def _add_host(ix: MeshIndex, host: str, entry: HostEntry) -> None:
    if host.startswith("*"):
        ix.wildcards.setdefault(wildcard_key(host), []).append(entry)
    else:
        ix.hosts.setdefault(host, []).append(entry)


def _index_service(ix: MeshIndex, r: Resource) -> None:
    ns = namespace_of(r)
    ix.services[(ns, r.name)] = r
    ports: dict[int, str] = {}
    for p in as_list(spec_of(r).get("ports")):
        number = as_dict(p).get("port")
        if isinstance(number, int):
            ports[number] = str(p.get("appProtocol") or p.get("name") or "").upper()
    notes = r.metadata.get("annotations")
    export = str(as_dict(notes).get(EXPORT_TO_ANNOTATION) or "")
    scopes = export_scopes([e.strip() for e in export.split(",") if e.strip()], ns)
    _add_host(ix, f"{r.name}.{ns}.svc.{ix.domain}", HostEntry(r, scopes, ports))


def _index_service_entry(ix: MeshIndex, r: Resource) -> None:
    spec = spec_of(r)
    ns = namespace_of(r)
    ports = {n: str(p.get("protocol") or "").upper() for p in as_list(spec.get("ports"))
             if isinstance(n := as_dict(p).get("number"), int)}
    entry = HostEntry(r, export_scopes(spec.get("exportTo"), ns), ports)
    for h in as_list(spec.get("hosts")):
        if isinstance(h, str):
            _add_host(ix, fqdn(h, ns, ix.domain), entry)


def _index_destination_rule(ix: MeshIndex, r: Resource) -> None:
    spec = spec_of(r)
    host = spec.get("host")
    if not isinstance(host, str):
        return
    names = {n for s in as_list(spec.get("subsets")) if isinstance(n := as_dict(s).get("name"), str)}
    if names:
        ix.subsets.setdefault(fqdn(host, namespace_of(r), ix.domain), set()).update(names)


def build_index(resources: Iterable[Resource], cluster: str = "", *, domain: str = DEFAULT_DOMAIN,
                root_namespace: str = "istio-system",
                locate: Callable[[Resource], SourceLocation | None] | None = None,
                memo: dict[tuple[str, int], tuple[Any, Any]] | None = None,
                facts: Callable[[str, Resource, Callable[[Resource], Any]], Any] | None = None,
                context: Iterable[Resource] = (), mesh: MeshConfig | None = None) -> MeshIndex:
    """The lookups over `resources`; `context` Services (e.g. from --workloads) define hosts
    without being checked themselves."""
    ix = MeshIndex(cluster=cluster, domain=domain, root_namespace=root_namespace)
    if locate is not None:
        ix.locate = locate
    if memo is not None:
        ix.memo = memo
    ix.facts = facts
    if mesh is not None:
        ix.mesh = mesh
    for r in context:
        if kind_of(r) == "Service":
            ix.namespaces.add(namespace_of(r))
            _index_service(ix, r)
    for r in resources:
        kind = kind_of(r)
        if not kind:
            if r.namespace:
                ix.namespaces.add(r.namespace)
            ix.unindexed.append(r)
            continue
        if kind == "Namespace":
            ix.namespaces.add(r.name)
            ix.namespace_objects.setdefault(r.name, r)
            labels = r.metadata.get("labels")
            if isinstance(labels, dict):
                ix.namespace_labels[r.name] = labels
            continue
        ns = namespace_of(r)
        ix.namespaces.add(ns)
        ix.by_kind.setdefault(kind, []).append(r)
        ix.by_name.setdefault((kind, ns, r.name), r)
        if kind == "Service":
            _index_service(ix, r)
        elif kind == "ServiceEntry":
            _index_service_entry(ix, r)
        elif kind == "DestinationRule":
            _index_destination_rule(ix, r)
    return ix
