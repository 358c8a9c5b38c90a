"""Checks over resources: on a compiled Plan (findings point at stack lines) or on YAML from disk.

`analyze_plan` runs on every `meshcode compile`; `analyze_resources` is what `meshcode lint` runs
on loaded YAML. Both build one index per cluster and run the same CHECKS over it.
"""
from __future__ import annotations

import hashlib
import marshal
from collections import Counter
from dataclasses import replace
from typing import Callable, Iterable, Iterator

from meshcode.analyze.charts import check_istio_charts
from meshcode.analyze.destinations import check_ca_certificates, check_host_exists, check_locality_failover
from meshcode.analyze.edge import (
    check_duplicate_certificates,
    check_gateway_conflicts,
    check_gateway_route_protocols,
    check_service_entry_addresses,
    check_service_entry_protocols,
)
from meshcode.analyze.facts import FactStore
from meshcode.analyze.index import MeshIndex, build_index, kind_of
from meshcode.analyze.routing import (
    check_destination_protocols,
    check_destinations,
    check_gateways,
    check_ingress_subsets,
    check_mesh_host_conflicts,
    check_rule_order,
    check_weights,
)
from meshcode.analyze.deprecation import check_deprecated_fields, check_lightstep, check_removed_kinds
from meshcode.analyze.gateway_api import GROUP as GATEWAY_GROUP
from meshcode.analyze.gateway_api import (
    check_listeners,
    check_mixed_routing,
    check_route_references,
    check_waypoints,
    check_ztunnel_policies,
)
from meshcode.analyze.regexes import REGEX_KINDS, check_regexes
from meshcode.analyze.scope import check_sidecars, check_telemetries, check_telemetry_providers
from meshcode.analyze.security import check_authorization_namespaces, check_mtls_conflicts
from meshcode.analyze.services import check_service_ports
from meshcode.codes import check_failed
from meshcode.errors import Finding, SourceLocation
from meshcode.plan import STACK_ANNOTATION, Plan, Resource

Check = Callable[[MeshIndex], Iterator[Finding]]

CHECKS: list[Check] = [
    check_destinations,
    check_destination_protocols,
    check_weights,
    check_rule_order,
    check_gateways,
    check_ingress_subsets,
    check_mesh_host_conflicts,
    check_host_exists,
    check_ca_certificates,
    check_locality_failover,
    check_gateway_conflicts,
    check_gateway_route_protocols,
    check_service_entry_addresses,
    check_service_entry_protocols,
    check_sidecars,
    check_telemetries,
    check_authorization_namespaces,
    check_mtls_conflicts,
    check_regexes,
    check_service_ports,
    check_route_references,
    check_listeners,
    check_waypoints,
    check_ztunnel_policies,
    check_mixed_routing,
    check_duplicate_certificates,
    check_telemetry_providers,
    check_deprecated_fields,
    check_removed_kinds,
    check_lightstep,
]


def run_checks(ix: MeshIndex) -> list[Finding]:
    findings: list[Finding] = []
    for check in CHECKS:
        found: list[Finding] = []
        try:
            found.extend(check(ix))
        except Exception as e:  # noqa: BLE001 - any input gives findings, never a traceback
            found = [check_failed(check.__name__, e, ix.cluster)]
        findings.extend(found)
    return findings


def _charts(resources: list[Resource], cluster: str, locate: Callable[[Resource], SourceLocation | None] | None = None
            ) -> list[Finding]:
    """check_istio_charts, guarded like every check: any input gives findings, never a traceback."""
    try:
        return check_istio_charts(resources, cluster, locate) if locate else check_istio_charts(resources, cluster)
    except Exception as e:  # noqa: BLE001
        return [check_failed(check_istio_charts.__name__, e, cluster)]


def analyze_resources(resources: Iterable[Resource], cluster: str = "", **index_options) -> list[Finding]:
    """Every check over one set of objects (one cluster's worth), findings in a stable order."""
    resources = list(resources)
    found = run_checks(build_index(resources, cluster, **index_options))
    found += _charts(resources, cluster)
    return sorted(found, key=Finding.sort_key)


def stack_location(r: Resource) -> SourceLocation | None:
    """A compiled object's intent line, with the stack path as the compiler recorded it (relative)."""
    origin = r.origin
    if origin is None:
        return None
    notes = r.obj.get("metadata", {}).get("annotations")
    stack = notes.get(STACK_ANNOTATION) if isinstance(notes, dict) else None
    return SourceLocation(stack, origin.line) if stack else origin


def _tokens(plan: Plan) -> Callable[[Resource], object]:
    """What stands for a checked object in a cluster's signature: the object itself (its id) when
    clusters share it (the compiler builds each once); for an object built for one cluster only
    (its east-west gateway, …), its content and intent line, so two clusters whose own objects
    come out equal (clusters on one network and in one region) are analysed once.

    The checks read nothing else of an object: what they derive from it and the line they
    report (stack_location: the origin's line and the stack annotation, part of the content).
    Content is compared as marshal writes it (format 2: a list is not a tuple, True is not 1,
    no back-references); an object marshal cannot write stands for itself.
    """
    count: Counter[int] = Counter(id(r) for items in plan.folders.values() for r in items)
    tokens: dict[int, object] = {}

    def token(r: Resource) -> object:
        if count[id(r)] > 1:
            return id(r)
        found = tokens.get(id(r))
        if found is None:
            try:
                content: object = hashlib.blake2b(marshal.dumps(r.obj, 2), digest_size=16).digest()
            except ValueError:
                content = id(r)
            origin = (r.origin.file, r.origin.line) if r.origin is not None else None
            found = tokens[id(r)] = ("own", content, origin)
        return found
    return token


def _signature(resources: list[Resource], token: Callable[[Resource], object] = id) -> tuple:
    """Equal for two clusters whose checks must give the same findings: the same checked objects
    (`token`), and the same namespaces for everything else (the checks read only the namespace of a
    Namespace, an IstioOperator, an Application, …; the regex check also reads the objects of
    REGEX_KINDS, the Gateway API checks every Gateway API object and the namespaces' labels)."""
    return tuple(token(r) if kind_of(r) not in ("", "Namespace") or r.kind in REGEX_KINDS
                 or r.api_version.startswith(GATEWAY_GROUP + "/")
                 else ("ns", r.name, tuple(sorted(r.metadata.get("labels", {}).items()))) if r.kind == "Namespace"
                 else ("ns", r.namespace) for r in resources)


def analyze_plan(plan: Plan, facts: FactStore | None = None) -> list[Finding]:
    """Cross-reference and policy checks over every cluster's resources (each cluster on its own).

    Kept cheap for the compile path: clusters with the same (or equal) objects are analysed once,
    and what a check derives from one object alone is computed once for all clusters sharing it
    (with `facts`: looked up when the last compile saw an object with the same content).
    """
    findings: list[Finding] = []
    memo: dict = {}
    done: dict[tuple, str] = {}
    by_cluster: dict[str, list[Finding]] = {}
    token = _tokens(plan)
    for folder in sorted(plan.folders):
        resources = plan.folders[folder]
        signature = _signature(resources, token)
        same = done.get(signature)
        if same is not None:
            found = [replace(f, cluster=folder) for f in by_cluster[same]]
        else:
            found = run_checks(build_index(resources, folder, locate=stack_location, memo=memo, facts=facts))
            found += _charts(resources, folder, stack_location)
            done[signature] = folder
        by_cluster[folder] = found
        findings += found
    return sorted(findings, key=Finding.sort_key)


__all__ = ["CHECKS", "analyze_plan", "analyze_resources", "run_checks", "stack_location"]
