"""A picture of the declared mesh: what talks to what, how traffic splits, who may call whom.

Built from the intent (plus the committed canary state, for where each rollout stands), so the
picture is what the user declared, in their names: services with their versions and current
split, declared calls (and whether ZeroTrust enforces them), routes with their matches,
ingress hosts, external services, and the clusters and networks the mesh spans. Pure: the
mesh in, a `MeshGraph` out; `to_dot` and `to_mermaid` turn it into Graphviz or Mermaid text
(the CLI runs Graphviz for SVG/PNG).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from meshcode.compile.context import CompileContext
from meshcode.intent.edge import ExternalService
from meshcode.intent.service import Service
from meshcode.intent.topology import Mesh
from meshcode.intent.traffic import Canary, Dest, Match, Route
from meshcode.state.canary import CanaryState


@dataclass(frozen=True)
class Node:
    id: str
    label: str
    kind: str  # service | external | host | cluster
    group: str = ""  # namespace (services), network (clusters)


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str
    kind: str  # call | call-allowed | route | placement


@dataclass
class MeshGraph:
    name: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def add(self, node: Node) -> str:
        self.nodes.setdefault(node.id, node)
        return node.id


def _sid(namespace: str, name: str) -> str:
    return f"svc_{namespace}_{name}".replace("-", "_")


def _weights(service: Service, canary: Canary | None, state: CanaryState | None) -> str:
    """The service's current split, as the compiler renders it."""
    if canary is not None:
        weight = state.weight if state is not None and state.step >= 0 else canary.weight
        where = f" ({state.phase}, stage {state.step + 1})" if state is not None and state.step >= 0 else ""
        return f"{canary.stable} {100 - weight}% / {canary.candidate} {weight}%{where}"
    if service.versions:
        default = service.default_to
        return "all pods" if default == "ALL_PODS" else f"{default or service.versions[0].name} 100%"
    return ""


def _string(match: object) -> str:
    """'exact /x', 'prefix /x', 'regex …' (a plain string is an exact match)."""
    if isinstance(match, str):
        return match
    return f"{type(match).__name__.lower()} {getattr(match, 'value', '')}"


def _match_text(matches: tuple[Match, ...]) -> str:
    parts = []
    for m in matches:
        bits = []
        if m.uri is not None:
            bits.append(_string(m.uri))
        bits += [f"{k}: {_string(v)}" for k, v in sorted(m.headers.items())]
        if m.method is not None:
            bits.append(_string(m.method))
        parts.append(", ".join(bits) or "any")
    return " | ".join(parts)


def _targets(route: Route) -> list[tuple[Dest | str | Service, int | None]]:
    to = route.to
    if to is None:
        return []
    if isinstance(to, Mapping):
        return [(k, v) for k, v in to.items()]
    if isinstance(to, (list, tuple)):
        return [(d, getattr(d, "weight", None)) for d in to]
    return [(to, None)]


def build_graph(mesh: Mesh, states: Mapping[str, CanaryState] | None = None, *, namespace: str | None = None,
                service: str | None = None, cluster: str | None = None,
                around: frozenset[str] | None = None) -> MeshGraph:
    """The graph of one mesh, optionally focused on a namespace, a service's (or several services')
    neighbourhood, or what runs in one cluster."""
    ctx = CompileContext(mesh, states=states or {})
    graph = MeshGraph(mesh.name)
    for c in mesh.clusters:
        role = c.role + (f" of {c.primary}" if c.primary else "")
        graph.add(Node(f"cluster_{c.name}".replace("-", "_"), f"{c.name}\\n{role}", "cluster", c.network))
    services = [s for s in ctx.services.values() if cluster is None or s.clusters is None or cluster in s.clusters]
    guarded = _zero_trust_scopes(mesh)

    def node_of(target: object, owner_namespace: str) -> str | None:
        found = ctx.find_service(target, owner_namespace) if isinstance(target, (str, Service, ExternalService)) \
            else None
        if isinstance(found, Service):
            return _sid(found.namespace, found.name)
        if isinstance(found, ExternalService):
            return graph.add(Node(f"ext_{found.namespace}_{found.name}".replace("-", "_"),
                                  f"{found.name}\\n{', '.join(found.hosts)}", "external", found.namespace))
        return None

    for s in services:
        canary = s.canary
        state = ctx.canary_state(s.namespace, s.name)
        versions = ", ".join(v.name for v in s.versions)
        catch_all = any(not r.match and _targets(r) for r in s.routes)
        split = "" if catch_all and canary is None else _weights(s, canary, state)
        rules = [f"{_match_text(r.match) or 'all'} → "
                 + ", ".join(f"{t} {w}%" if w is not None else str(t) for t, w in _targets(r))
                 for r in s.routes if _targets(r) and all(isinstance(t, str) for t, _ in _targets(r))]
        if canary is not None and canary.testers:
            rules.append(f"{_match_text(canary.testers)} → {canary.candidate} (testers)")
        if s.mirror is not None:
            rules.append(f"mirror {s.mirror.percent:g}% → {s.mirror.to if isinstance(s.mirror.to, str) else 'service'}")
        where = f"clusters: {', '.join(s.clusters)}" if s.clusters is not None else ""
        if s.cluster_local:
            where = (where + " " if where else "") + "(cluster-local)"
        label = "\\n".join(x for x in (s.name, f"versions: {versions}" if versions else "", split, *rules, where)
                            if x)
        graph.add(Node(_sid(s.namespace, s.name), label, "service", s.namespace))
    for s in services:
        me = _sid(s.namespace, s.name)
        for call in s.calls:
            target = node_of(call.target, s.namespace)
            if target is None:
                continue
            what = ", ".join([*(str(p) for p in call.ports), *call.methods, *call.paths])
            allowed = bool({"*", graph.nodes[target].group, target} & guarded) if target in graph.nodes else False
            graph.edges.append(Edge(me, target, ("allowed by ZeroTrust" if allowed else "call")
                                    + (f": {what}" if what else ""), "call-allowed" if allowed else "call"))
        for route in s.routes:
            for dest, weight in _targets(route):
                ref = dest.service if isinstance(dest, Dest) else None
                if ref is None:
                    continue
                target = node_of(ref, s.namespace)
                if target is not None:
                    text = _match_text(route.match) + (f" {weight}%" if weight is not None else "")
                    graph.edges.append(Edge(me, target, text.strip() or "route", "route"))
    for ing in mesh.ingresses:
        if cluster is not None and ing.clusters is not None and cluster not in ing.clusters:
            continue
        host = graph.add(Node(f"host_{ing.namespace}_{ing.name}".replace("-", "_"),
                              "\\n".join([*ing.hosts, f"{ing.protocol} :{ing.listen_port}"]), "host", ing.namespace))
        for route in ing.routes:
            for dest, weight in _targets(route):
                target = node_of(dest.service if isinstance(dest, Dest) else dest, ing.namespace)
                if target is not None:
                    text = _match_text(route.match) + (f" {weight}%" if weight is not None else "")
                    graph.edges.append(Edge(host, target, text.strip() or "all", "route"))
    return _focus(graph, namespace, {service} if service else around)


def _zero_trust_scopes(mesh: Mesh) -> set[str]:
    """'*' (mesh-wide), namespaces and service node ids a ZeroTrust default-deny covers."""
    scopes: set[str] = set()
    for zt in mesh.zero_trust:
        if not getattr(zt, "default_deny", True):
            continue
        if zt.service is not None:
            svc = zt.service
            if isinstance(svc, Service):
                scopes.add(_sid(svc.namespace, svc.name))
            elif isinstance(svc, str):
                ns, _, name = svc.rpartition("/")
                scopes.add(_sid(ns or (zt.namespace or "default"), name))
        elif zt.namespace is not None:
            scopes.add(zt.namespace)
        else:
            scopes.add("*")
    return scopes


def _focus(graph: MeshGraph, namespace: str | None, services: set[str] | frozenset[str] | None) -> MeshGraph:
    """Keep one namespace, and/or the given services ('name' or 'namespace/name') with their neighbours."""
    keep: set[str] | None = None
    if namespace is not None:
        keep = {n.id for n in graph.nodes.values() if n.kind != "cluster" and n.group == namespace}
    if services is not None:
        centre = set()
        for service in services:
            ns, _, name = service.rpartition("/")
            centre |= {n.id for n in graph.nodes.values() if n.kind == "service" and
                       n.label.split("\\n")[0] == name and (not ns or n.group == ns)}
        keep = (keep or set()) | centre
        keep |= {e.target for e in graph.edges if e.source in centre} | {e.source for e in graph.edges
                                                                          if e.target in centre}
    if keep is None:
        return graph
    focused = MeshGraph(graph.name)
    for node in graph.nodes.values():
        if node.id in keep or node.kind == "cluster":
            focused.add(node)
    focused.edges = [e for e in graph.edges if e.source in keep and e.target in keep]
    return focused


_STYLE = {
    "service": 'shape=box style="rounded,filled" fillcolor="#e8f0fe"',
    "external": 'shape=cds style=filled fillcolor="#fde7e9"',
    "host": 'shape=house style=filled fillcolor="#e6f4ea"',
    "cluster": 'shape=component style=filled fillcolor="#f1f3f4"',
}
_EDGE = {"call": 'style=dashed color="#5f6368"', "call-allowed": 'style=dashed color="#188038"',
         "route": 'color="#1a73e8"', "placement": "style=dotted"}


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\\\\n", "\\n") + '"'


def to_dot(graph: MeshGraph) -> str:
    """Graphviz DOT: namespaces and networks as boxes around their nodes."""
    lines = [f"digraph {_quote(graph.name)} {{", "  rankdir=LR;", '  node [fontname="Helvetica" fontsize=10];',
             '  edge [fontname="Helvetica" fontsize=9];', f"  label={_quote('mesh ' + graph.name)};"]
    groups: dict[tuple[str, str], list[Node]] = {}
    for node in graph.nodes.values():
        key = ("network" if node.kind == "cluster" else "namespace", node.group)
        groups.setdefault(key, []).append(node)
    for i, ((kind, name), nodes) in enumerate(sorted(groups.items())):
        lines.append(f"  subgraph cluster_{i} {{")
        lines.append(f"    label={_quote(f'{kind} {name}')}; style=dashed;")
        for node in sorted(nodes, key=lambda n: n.id):
            lines.append(f"    {node.id} [label={_quote(node.label)} {_STYLE[node.kind]}];")
        lines.append("  }")
    for e in graph.edges:
        lines.append(f"  {e.source} -> {e.target} [label={_quote(e.label)} {_EDGE[e.kind]}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


_MERMAID_SAFE = re.compile(r'["<>{}\[\]|#]')


def _mermaid_text(text: str) -> str:
    return _MERMAID_SAFE.sub(" ", text).replace("\\n", "<br/>")


def to_mermaid(graph: MeshGraph) -> str:
    """Mermaid flowchart text for Markdown (GitHub renders it in READMEs and pull requests)."""
    shapes = {"service": ('("', '")'), "external": ('[/"', '"/]'), "host": ('[["', '"]]'), "cluster": ('[("', '")]')}
    lines = ["flowchart LR"]
    groups: dict[tuple[str, str], list[Node]] = {}
    for node in graph.nodes.values():
        groups.setdefault(("network" if node.kind == "cluster" else "namespace", node.group), []).append(node)
    for i, ((kind, name), nodes) in enumerate(sorted(groups.items())):
        lines.append(f'  subgraph g{i}["{kind} {_mermaid_text(name)}"]')
        for node in sorted(nodes, key=lambda n: n.id):
            left, right = shapes[node.kind]
            lines.append(f"    {node.id}{left}{_mermaid_text(node.label)}{right}")
        lines.append("  end")
    arrows = {"call": "-.->", "call-allowed": "-.->", "route": "-->", "placement": "-.-"}
    for e in graph.edges:
        lines.append(f'  {e.source} {arrows[e.kind]}|"{_mermaid_text(e.label)}"| {e.target}')
    return "\n".join(lines) + "\n"
