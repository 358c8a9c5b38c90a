"""Namespace-wide defaults: one selector-less Sidecar and one selector-less Telemetry per namespace."""
from __future__ import annotations

from typing import Any, Callable, Iterator

from meshcode.analyze.index import MeshIndex, as_dict, namespace_of, spec_of
from meshcode.errors import Finding
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
        for r in resources:
            yield ix.finding("IST0111", r, f"The Sidecars [{' '.join(names)}] in namespace \"{ns}\" have no workload "
                             "selector, which can lead to undefined behavior.")


def check_telemetries(ix: MeshIndex) -> Iterator[Finding]:
    """IST0160: which of several namespace-wide Telemetry objects applies is undefined."""
    def selects(spec: dict[str, Any]) -> bool:
        return bool(as_dict(spec.get("selector")) or spec.get("targetRef") or spec.get("targetRefs"))

    for ns, names, resources in _selectorless(ix, "Telemetry", selects):
        for r in resources:
            yield ix.finding("IST0160", r, f"The Telemetries [{' '.join(names)}] in namespace \"{ns}\" have no "
                             "workload selector, which can lead to undefined behavior.")
