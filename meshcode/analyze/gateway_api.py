"""Gateway API and ambient checks: route references, listeners, waypoints, ztunnel-only policies,
and VirtualServices mixed with Gateway API routes for one host.

Gateway API objects stay outside the index's Istio lookups (Istio's `Gateway` is another kind);
this module reads them from `MeshIndex.unindexed` once per index.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from meshcode.analyze.index import ASSUMED, MeshIndex, as_dict, as_list, managed, namespace_of, spec_of
from meshcode.errors import Finding
from meshcode.plan import Resource

GROUP = "gateway.networking.k8s.io"
ROUTE_KINDS = ("HTTPRoute", "GRPCRoute", "TCPRoute", "TLSRoute")
WAYPOINT_CLASS = "istio-waypoint"
USE_WAYPOINT = "istio.io/use-waypoint"
AMBIENT = "istio.io/dataplane-mode"
GATEWAY_NAME = "gateway.networking.k8s.io/gateway-name"  # on the pods of a deployed Gateway
L7_SOURCE = frozenset({"requestPrincipals", "notRequestPrincipals", "remoteIpBlocks", "notRemoteIpBlocks"})
L7_OPERATION = frozenset({"methods", "notMethods", "paths", "notPaths", "hosts", "notHosts"})
L4_CONDITIONS = frozenset({"source.ip", "source.namespace", "source.principal", "destination.ip",
                           "destination.port", "connection.sni"})


@dataclass
class GatewayObjects:
    routes: list[Resource] = field(default_factory=list)
    gateways: dict[tuple[str, str], Resource] = field(default_factory=dict)
    grants: list[Resource] = field(default_factory=list)


def objects(ix: MeshIndex) -> GatewayObjects:
    """The Gateway API objects of one index, sorted once (kept on the index itself: `ix.memo` is
    shared by every index of an analysis run)."""
    found = ix.__dict__.get("_gateway_api")
    if found is None:
        found = GatewayObjects()
        for r in ix.unindexed:
            if r.api_version.rpartition("/")[0] != GROUP:
                continue
            if r.kind in ROUTE_KINDS:
                found.routes.append(r)
            elif r.kind == "Gateway":
                found.gateways[(namespace_of(r), r.name)] = r
            elif r.kind == "ReferenceGrant":
                found.grants.append(r)
        ix.__dict__["_gateway_api"] = found
    return found


def _is_service(ref: dict[str, Any]) -> bool:
    """A backendRef to a Service (its group and kind default to the core Service)."""
    return ref.get("group", "") == "" and ref.get("kind", "Service") == "Service"


def _is_service_parent(ref: dict[str, Any]) -> bool:
    """A parentRef to a Service (GAMMA); a parentRef's group and kind default to the Gateway."""
    return ref.get("group", GROUP) == "" and ref.get("kind", "Gateway") == "Service"


def _is_gateway(ref: dict[str, Any]) -> bool:
    return ref.get("group", GROUP) == GROUP and ref.get("kind", "Gateway") == "Gateway"


def _backend_refs(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for i, rule in enumerate(as_list(spec.get("rules"))):
        rule = as_dict(rule)
        for j, ref in enumerate(as_list(rule.get("backendRefs"))):
            yield f"rules[{i}].backendRefs[{j}]", as_dict(ref)
        for j, f in enumerate(as_list(rule.get("filters"))):
            mirror = as_dict(as_dict(f).get("requestMirror")).get("backendRef")
            if isinstance(mirror, dict):
                yield f"rules[{i}].filters[{j}].requestMirror", mirror


def _granted(gw: GatewayObjects, route: Resource, to_ns: str, to_kind: str) -> bool:
    for g in gw.grants:
        if namespace_of(g) != to_ns:
            continue
        spec = spec_of(g)
        froms = [as_dict(f) for f in as_list(spec.get("from"))]
        tos = [as_dict(t) for t in as_list(spec.get("to"))]
        if any(f.get("group") == GROUP and f.get("kind") == route.kind and f.get("namespace") == namespace_of(route)
               for f in froms) and any(t.get("group", "") == "" and t.get("kind") == to_kind for t in tos):
            return True
    return False


def _service(ix: MeshIndex, route: Resource, ref: dict[str, Any], where: str) -> Iterator[Finding]:
    ns = ref.get("namespace") or namespace_of(route)
    name = ref.get("name")
    if not isinstance(name, str):
        return
    entry = ix.resolve(f"{name}.{ns}.svc.{ix.domain}", ns, referrer=route)
    if entry is None:
        yield ix.finding("MC5201", route, f"{where} names Service {ns}/{name}, which does not exist")
        return
    port = ref.get("port")
    if entry is not ASSUMED and isinstance(port, int) and entry.ports and port not in entry.ports:
        yield ix.finding("MC5201", route, f"{where} names port {port} of Service {ns}/{name}, which has "
                         f"ports {', '.join(map(str, sorted(entry.ports)))}")


def check_route_references(ix: MeshIndex) -> Iterator[Finding]:
    """MC5201: parents and backends of Gateway API routes must exist (Services with the port,
    Gateways with the listener); MC5202: a backend in another namespace needs a ReferenceGrant."""
    gw = objects(ix)
    for route in gw.routes:
        spec = spec_of(route)
        for i, parent in enumerate(as_list(spec.get("parentRefs"))):
            parent = as_dict(parent)
            where = f"parentRefs[{i}]"
            if _is_service_parent(parent):
                yield from _service(ix, route, parent, where)
            elif _is_gateway(parent):
                ns = parent.get("namespace") or namespace_of(route)
                gateway = gw.gateways.get((ns, str(parent.get("name"))))
                if gateway is None:
                    # the Gateway may live in files not linted: judge only what meshcode compiled, or a
                    # namespace whose Gateways are among the inputs
                    if managed(route) or any(k[0] == ns for k in gw.gateways):
                        yield ix.finding("MC5201", route, f"{where} names Gateway {ns}/{parent.get('name')}, "
                                         "which does not exist")
                    continue
                section = parent.get("sectionName")
                listeners = {as_dict(x).get("name") for x in as_list(spec_of(gateway).get("listeners"))}
                if section is not None and section not in listeners:
                    yield ix.finding("MC5201", route, f"{where} names listener {section!r} of Gateway {ns}/"
                                     f"{gateway.name}, which has listeners {', '.join(sorted(map(str, listeners)))}")
        for where, ref in _backend_refs(spec):
            if not _is_service(ref):
                continue
            yield from _service(ix, route, ref, where)
            ns = ref.get("namespace")
            if ns and ns != namespace_of(route) and not _granted(gw, route, ns, "Service"):
                yield ix.finding("MC5202", route, f"{where} names Service {ns}/{ref.get('name')} in another "
                                 f"namespace, and no ReferenceGrant in {ns} allows {route.kind}s from "
                                 f"{namespace_of(route)}")


def _hostname_matches(listener: str | None, host: str) -> bool:
    if listener is None:
        return True
    if listener.startswith("*."):
        return host.endswith(listener[1:]) or (host.startswith("*.") and host.endswith(listener[1:]))
    return listener == host


def check_listeners(ix: MeshIndex) -> Iterator[Finding]:
    """MC5203: a listener of an ingress Gateway that no route attaches to; a route hostname that
    no listener it attaches to accepts."""
    gw = objects(ix)
    attached: dict[tuple[str, str], set[str | None]] = {}
    reported: set[tuple[int, str, tuple[str, str]]] = set()
    for route in gw.routes:
        spec = spec_of(route)
        hostnames = [h for h in as_list(spec.get("hostnames")) if isinstance(h, str)]
        for parent in as_list(spec.get("parentRefs")):
            parent = as_dict(parent)
            if not _is_gateway(parent):
                continue
            namespace, section = parent.get("namespace"), parent.get("sectionName")
            key = (namespace if isinstance(namespace, str) and namespace else namespace_of(route),
                   str(parent.get("name")))
            section = section if section is None or isinstance(section, str) else str(section)
            attached.setdefault(key, set()).add(section)
            gateway = gw.gateways.get(key)
            if gateway is None:
                continue
            listeners = [as_dict(x) for x in as_list(spec_of(gateway).get("listeners"))
                         if section in (None, as_dict(x).get("name"))]
            for h in hostnames:
                if (id(route), h, key) in reported:
                    continue
                if listeners and not any(_hostname_matches(x.get("hostname"), h) for x in listeners):
                    reported.add((id(route), h, key))
                    yield ix.finding("MC5203", route, f"hostname {h} matches no listener of Gateway "
                                     f"{key[0]}/{key[1]} it attaches to")
    for key, gateway in sorted(gw.gateways.items()):
        if spec_of(gateway).get("gatewayClassName") == WAYPOINT_CLASS:
            continue
        sections = attached.get(key, set())
        for listener in as_list(spec_of(gateway).get("listeners")):
            name = as_dict(listener).get("name")
            if None not in sections and (not isinstance(name, str) or name not in sections):
                yield ix.finding("MC5203", gateway, f"listener {name!r} has no route attached")


def _labelled(ix: MeshIndex) -> Iterator[tuple[Resource | None, str, str, str]]:
    """(object, namespace, what, waypoint name) for every use-waypoint label."""
    for ns, labels in sorted(ix.namespace_labels.items()):
        value = labels.get(USE_WAYPOINT)
        if isinstance(value, str):
            yield None, ns, f"namespace {ns}", value
    for (ns, name), svc in sorted(ix.services.items()):
        value = as_dict(svc.metadata.get("labels")).get(USE_WAYPOINT)
        if isinstance(value, str):
            yield svc, ns, f"Service {ns}/{name}", value


def check_waypoints(ix: MeshIndex) -> Iterator[Finding]:
    """MC5204: a use-waypoint label names a waypoint (Gateway of class istio-waypoint) that does not exist."""
    gw = objects(ix)
    for obj, ns, what, name in _labelled(ix):
        if name == "none":
            continue
        gateway = gw.gateways.get((ns, name))
        if gateway is not None and spec_of(gateway).get("gatewayClassName") == WAYPOINT_CLASS:
            continue
        subject = obj or ix.namespace_objects[ns]
        yield ix.finding("MC5204", subject, f"{what} uses waypoint {name!r}, but no Gateway of class "
                         f"{WAYPOINT_CLASS} named {name} is in {ns}")


def _l7(rule: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for f in as_list(rule.get("from")):
        found += sorted(L7_SOURCE & as_dict(as_dict(f).get("source")).keys())
    for t in as_list(rule.get("to")):
        found += sorted(L7_OPERATION & as_dict(as_dict(t).get("operation")).keys())
    found += [str(c.get("key")) for c in as_list(rule.get("when")) if as_dict(c).get("key") not in L4_CONDITIONS]
    return found


def check_ztunnel_policies(ix: MeshIndex) -> Iterator[Finding]:
    """MC5205: in an ambient namespace, a policy without targetRefs is enforced by ztunnel, which
    cannot see HTTP: an ALLOW rule with L7 attributes never matches, a DENY rule matches more."""
    for r in ix.of("AuthorizationPolicy"):
        ns = namespace_of(r)
        if ix.namespace_labels.get(ns, {}).get(AMBIENT) != "ambient" or spec_of(r).get("targetRefs"):
            continue
        labels = as_dict(as_dict(spec_of(r).get("selector")).get("matchLabels"))
        if GATEWAY_NAME in labels:
            continue  # a gateway's own pods: its Envoy enforces the policy, L7 included
        attributes = sorted({a for rule in as_list(spec_of(r).get("rules")) for a in _l7(as_dict(rule))})
        if attributes:
            action = spec_of(r).get("action", "ALLOW")
            effect = "its rules never match" if action == "ALLOW" else "its rules match more than they say"
            yield ix.finding("MC5205", r, f"namespace {ns} runs ambient and this policy selects workloads, so ztunnel "
                             f"enforces it without L7 attributes ({', '.join(attributes)}): {effect}; attach it to "
                             "a waypoint with targetRefs")


def check_mixed_routing(ix: MeshIndex) -> Iterator[Finding]:
    """MC5206: a VirtualService and Gateway API routes for the same service host conflict (Istio
    does not merge them; which applies depends on the proxy)."""
    gw = objects(ix)
    routed: dict[str, Resource] = {}
    for route in gw.routes:
        for parent in as_list(spec_of(route).get("parentRefs")):
            parent = as_dict(parent)
            if _is_service_parent(parent) and isinstance(parent.get("name"), str):
                ns = parent.get("namespace") or namespace_of(route)
                routed.setdefault(f"{parent['name']}.{ns}.svc.{ix.domain}", route)
    if not routed:
        return
    for vs in ix.of("VirtualService"):
        spec = spec_of(vs)
        gateways = as_list(spec.get("gateways"))
        if gateways and "mesh" not in gateways:
            continue
        for h in as_list(spec.get("hosts")):
            if not isinstance(h, str):
                continue
            host = h if "." in h and h.endswith(ix.domain) else f"{h.split('.')[0]}.{namespace_of(vs)}.svc.{ix.domain}" \
                if "." not in h else h
            route = routed.get(host)
            if route is not None:
                yield ix.finding("MC5206", vs, f"host {host} is also routed by {route.kind} {namespace_of(route)}/"
                                 f"{route.name}; route each service with one API")
