"""Istio specs in one canonical form, so an imported object and its compiled intent compare equal
exactly when they mean the same (short hosts vs FQDNs, a lone destination's weight 100, a port
named on a one-port service, '1m' vs '60s', Istio's documented defaults such as a mirror's 100%).
"""
from __future__ import annotations

import copy
import re
from typing import Any, Callable

from meshcode.intent.base import parse_duration
from meshcode.istio import fqdn

_DURATION = re.compile(r"^\d+(\.\d+)?(ms|s|m|h)\Z")
#: (namespace, name) of a Service → how many ports it has (None: not a known Service)
PortCount = Callable[[str], int | None]


def durations(value: Any) -> Any:
    """Every duration-looking string as `parse_duration` writes it."""
    if isinstance(value, dict):
        return {k: durations(v) for k, v in value.items()}
    if isinstance(value, list):
        return [durations(v) for v in value]
    if isinstance(value, str) and _DURATION.match(value):
        try:
            return parse_duration(value)
        except ValueError:
            return value
    return value


def destination(d: dict[str, Any], namespace: str, ports: PortCount) -> dict[str, Any]:
    out = dict(d)
    if isinstance(out.get("host"), str):
        out["host"] = fqdn(out["host"], namespace)
        if ports(out["host"]) == 1:
            out.pop("port", None)  # one port: naming it changes nothing
    return out


def route_list(routes: list[Any], namespace: str, ports: PortCount) -> list[Any]:
    out = []
    for r in routes:
        r = dict(r) if isinstance(r, dict) else r
        if isinstance(r, dict) and isinstance(r.get("destination"), dict):
            r["destination"] = destination(r["destination"], namespace, ports)
        out.append(r)
    if len(out) == 1 and isinstance(out[0], dict) and out[0].get("weight") == 100:
        out[0] = {k: v for k, v in out[0].items() if k != "weight"}
    if len(out) > 1 and all(isinstance(r, dict) for r in out):
        out = [r for r in out if r.get("weight") != 0]  # a 0% destination receives nothing
        out.sort(key=lambda r: repr(sorted((r.get("destination") or {}).items())))
        if len(out) == 1:
            out[0] = {k: v for k, v in out[0].items() if k != "weight"}
    return out


def rule(r: Any, namespace: str, ports: PortCount) -> Any:
    if not isinstance(r, dict):
        return r
    out = dict(r)
    if isinstance(out.get("route"), list):
        out["route"] = route_list(out["route"], namespace, ports)
    if isinstance(out.get("mirror"), dict):
        out["mirror"] = destination(out["mirror"], namespace, ports)
        out.setdefault("mirrorPercentage", {"value": 100})  # Istio: absent means all traffic
    if isinstance(out.get("match"), list) and not out["match"]:
        out.pop("match")
    return out


def virtual_service(spec: dict[str, Any], namespace: str, ports: PortCount,
                    gateway: Callable[[str], str] | None = None) -> dict[str, Any]:
    spec = durations(copy.deepcopy(spec))
    if isinstance(spec.get("hosts"), list):
        spec["hosts"] = sorted(fqdn(h, namespace) if isinstance(h, str) else h for h in spec["hosts"])
    if gateway is not None and isinstance(spec.get("gateways"), list):
        spec["gateways"] = sorted(gateway(g) if isinstance(g, str) else g for g in spec["gateways"])
    for section in ("http", "tcp", "tls"):
        if isinstance(spec.get(section), list):
            spec[section] = [rule(r, namespace, ports) for r in spec[section]]
    return spec


def destination_rule(spec: dict[str, Any], namespace: str) -> dict[str, Any]:
    spec = durations(copy.deepcopy(spec))
    if isinstance(spec.get("host"), str):
        spec["host"] = fqdn(spec["host"], namespace)
    return spec


def gateway_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """A Gateway's servers without port names (names are labels, not behaviour), in a stable order."""
    spec = copy.deepcopy(spec)
    servers = spec.get("servers")
    if isinstance(servers, list):
        for s in servers:
            if isinstance(s, dict) and isinstance(s.get("port"), dict):
                s["port"].pop("name", None)
                if isinstance(s.get("hosts"), list):
                    s["hosts"] = sorted(s["hosts"])
        spec["servers"] = sorted(servers, key=repr)
    return spec


def service_entry(spec: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    spec.setdefault("location", "MESH_EXTERNAL")  # Istio's defaults
    spec.setdefault("resolution", "NONE")
    for p in spec.get("ports") or []:
        if isinstance(p, dict):
            p.pop("name", None)
    return spec
