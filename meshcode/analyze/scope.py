"""Namespace-wide defaults: one selector-less Sidecar and one selector-less Telemetry per namespace."""
from __future__ import annotations

from typing import Any, Callable, Iterator

from meshcode.analyze.index import MeshIndex, as_dict, as_list, namespace_of, spec_of
from meshcode.analyze.meshconfig import DEFAULT as DEFAULT_MESH
from meshcode.errors import Finding, listing
from meshcode.plan import Resource


def _selectorless(ix: MeshIndex, kind: str, has_selector: Callable[[dict[str, Any]], bool]
                  ) -> Iterator[tuple[str, list[str], list[Resource]]]:
    """(namespace, names, resources) where more than one differently named object has no selector."""
    by_ns: dict[str, dict[str, list[Resource]]] = {}
    for r in ix.of(kind):
        if not has_selector(spec_of(r)):
            by_ns.setdefault(namespace_of(r), {}).setdefault(r.name, []).append(r)
    for ns, named in by_ns.items():
        if len(named) > 1:
            yield ns, sorted(named), [r for docs in named.values() for r in docs]


def check_sidecars(ix: MeshIndex) -> Iterator[Finding]:
    """IST0111: which of several namespace-wide Sidecars applies is undefined."""
    for ns, names, resources in _selectorless(ix, "Sidecar", lambda s: bool(as_dict(s.get("workloadSelector")))):
        message = (f"The Sidecars [{listing(names, ' ')}] in namespace \"{ns}\" have no workload selector, which "
                   "can lead to undefined behavior.")
        for r in resources:
            yield ix.finding("IST0111", r, message)


def check_telemetries(ix: MeshIndex) -> Iterator[Finding]:
    """IST0160: which of several namespace-wide Telemetry objects applies is undefined."""
    def selects(spec: dict[str, Any]) -> bool:
        return bool(as_dict(spec.get("selector")) or spec.get("targetRef") or spec.get("targetRefs"))

    for ns, names, resources in _selectorless(ix, "Telemetry", selects):
        message = (f"The Telemetries [{listing(names, ' ')}] in namespace \"{ns}\" have no workload selector, "
                   "which can lead to undefined behavior.")
        for r in resources:
            yield ix.finding("IST0160", r, message)


TELEMETRY_SECTIONS = ("accessLogging", "tracing", "metrics")


def check_telemetry_providers(ix: MeshIndex) -> Iterator[Finding]:
    """IST0157 / IST0101: Telemetry providers the mesh config cannot resolve.

    IST0157 as istioctl: an access-logging entry with no provider is ignored when the mesh config
    sets no default access-logging provider. IST0101: a provider name that neither the mesh
    config's extensionProviders nor Istio's built-in ones define; judged only when a mesh config
    was given or found among the inputs (without one, any custom provider would look unknown).
    """
    defaults = bool(ix.mesh.default_providers("accessLogging"))
    judge_names = ix.mesh is not DEFAULT_MESH
    for r in ix.of("Telemetry"):
        spec = spec_of(r)
        ns = namespace_of(r)
        if not defaults:
            for entry in map(as_dict, as_list(spec.get("accessLogging"))):
                if entry.get("disabled") is True or as_list(entry.get("providers")):
                    continue
                yield ix.finding("IST0157", r, f"The Telemetry {r.name} in namespace \"{ns}\" with empty providers "
                                 "will be ignored.")
        if not judge_names:
            continue
        for section in TELEMETRY_SECTIONS:
            for i, entry in enumerate(map(as_dict, as_list(spec.get(section)))):
                for p in map(as_dict, as_list(entry.get("providers"))):
                    name = p.get("name")
                    if isinstance(name, str) and not ix.mesh.knows_provider(name):
                        yield ix.finding("IST0101", r, f'Referenced provider not found: "{name}" ({section}[{i}]; '
                                         f"the mesh config {ix.mesh.source} defines no such extensionProvider)")
