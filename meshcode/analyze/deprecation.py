"""IST0002: configuration that relies on a deprecated Istio field, kind or provider.

istioctl's deprecation analyzers check VirtualService `fault.delay.percent`, Sidecar
`outboundTrafficPolicy.egressProxy`, the removed rbac.istio.io kinds and Lightstep tracing
providers. meshcode checks those and the other fields Istio 1.30's API marks deprecated (its CRD
descriptions or hidden deprecated proto fields), wherever they sit in the object.
"""
from __future__ import annotations

from typing import Any, Iterator

from meshcode.analyze.index import REMOVED, MeshIndex, as_dict, as_list, spec_of
from meshcode.errors import Finding
from meshcode.plan import Resource

# kind → [(path from spec, '[]' for each list item, replacement or '' when Istio ignores the field)]
_TRAFFIC_POLICY = [
    ("loadBalancer.consistentHash.minimumRingSize", "loadBalancer.consistentHash.ringHash.minimumRingSize"),
    ("loadBalancer.warmupDurationSecs", "loadBalancer.warmup"),
    ("outlierDetection.consecutiveErrors", "outlierDetection.consecutive5xxErrors"),
]
DEPRECATED_FIELDS: dict[str, list[tuple[str, str]]] = {
    "VirtualService": [
        ("http.[].fault.delay.percent", "HTTPRoute.fault.delay.percentage"),
        ("http.[].mirrorPercent", "HTTPRoute.mirrorPercentage"),
    ],
    "Sidecar": [("outboundTrafficPolicy.egressProxy", "")],
    "DestinationRule": [
        (prefix + path, replacement)
        for prefix in ("trafficPolicy.", "trafficPolicy.portLevelSettings.[].", "subsets.[].trafficPolicy.",
                       "subsets.[].trafficPolicy.portLevelSettings.[].")
        for path, replacement in _TRAFFIC_POLICY
    ],
}
REMOVED_KINDS = {("rbac.istio.io", kind) for kind in ("ClusterRbacConfig", "RbacConfig", "ServiceRole",
                                                     "ServiceRoleBinding")}


class _Trie:
    """The deprecated paths of one kind, merged where they share a prefix: one walk per object."""

    __slots__ = ("children", "ends")

    def __init__(self) -> None:
        self.children: dict[str, _Trie] = {}
        self.ends: list[tuple[int, str]] = []  # (position in DEPRECATED_FIELDS' list, replacement)


def _trie(fields: list[tuple[str, str]]) -> _Trie:
    root = _Trie()
    for order, (path, replacement) in enumerate(fields):
        node = root
        for head in path.split("."):
            node = node.children.setdefault(head, _Trie())
        node.ends.append((order, replacement))
    return root


_TRIES = {kind: _trie(fields) for kind, fields in DEPRECATED_FIELDS.items()}


def _walk(node: Any, trie: _Trie, where: str, out: list[tuple[int, str, str]]) -> None:
    if trie.ends and node is not None and node != 0 and node != {}:
        out.extend((order, where, replacement) for order, replacement in trie.ends)
    for head, sub in trie.children.items():
        if head == "[]":
            if isinstance(node, list):
                for i, item in enumerate(node):
                    _walk(item, sub, f"{where}[{i}]", out)
        elif isinstance(node, dict) and head in node:
            _walk(node[head], sub, f"{where}.{head}", out)


def _field_problems(r: Resource) -> list[str]:
    """Each set deprecated field (e.g. spec.http[1].fault.delay.percent): in DEPRECATED_FIELDS'
    order, and for one path in the order of the object's lists."""
    trie = _TRIES.get(r.kind)
    if trie is None:
        return []
    found: list[tuple[int, str, str]] = []
    _walk(spec_of(r), trie, "spec", found)
    found.sort(key=lambda hit: hit[0])  # stable: one path's places keep the walk's order
    return [f"{where} is deprecated; use {replacement}" if replacement else f"{where} ignored"
            for _, where, replacement in found]


def check_deprecated_fields(ix: MeshIndex) -> Iterator[Finding]:
    """IST0002 for deprecated fields in VirtualService, Sidecar and DestinationRule."""
    for kind in DEPRECATED_FIELDS:
        for r in ix.of(kind):
            for detail in ix.cached("deprecated", r, _field_problems):
                yield ix.finding("IST0002", r, f"Deprecated: {detail}")


def check_removed_kinds(ix: MeshIndex) -> Iterator[Finding]:
    """IST0002: objects of the rbac.istio.io kinds Istio removed, and CRDs that still define them."""
    for r in ix.of(REMOVED):
        group = r.api_version.rpartition("/")[0]
        if r.kind == "CustomResourceDefinition":
            spec = as_dict(r.obj.get("spec"))
            group, kind = spec.get("group"), as_dict(spec.get("names")).get("kind")
        else:
            kind = r.kind
        if (group, kind) in REMOVED_KINDS:
            yield ix.finding("IST0002", r, f"Deprecated: Custom resource type {group} {kind} is removed")


def check_lightstep(ix: MeshIndex) -> Iterator[Finding]:
    """IST0002: a Telemetry traces to a Lightstep provider (deprecated: use OpenTelemetry)."""
    lightstep = {name for name, kind in ix.mesh.extension_providers.items() if kind == "lightstep"}
    if not lightstep:
        return
    for r in ix.of("Telemetry"):
        for tracing in as_list(spec_of(r).get("tracing")):
            for p in as_list(as_dict(tracing).get("providers")):
                name = as_dict(p).get("name")
                if name in lightstep:
                    yield ix.finding("IST0002", r, f"Deprecated: The Lightstep provider {name} is deprecated, please "
                                     "migrate to OpenTelemetry provider.")
