"""A small model of how Istio routes a request with Gateway API routes, and a common decision
shape for both APIs, so tests can assert that a VirtualService and an HTTPRoute mean the same.

Written from the Gateway API spec (HTTPRouteRule.matches precedence, PathPrefix segment
semantics, CRD defaults) and Istio's implementation of the ranking (pilot's `sortHTTPRoutes`:
Exact > PathPrefix > RegularExpression, then path length, method, header count, query count;
stable). It shares no code with meshcode.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tests.support.core import http_rule

Backend = tuple[str, tuple[tuple[str, str], ...]]  # (app, version labels): the pods a destination is


# ---- the HTTPRoute side -------------------------------------------------------------------------
def _defaulted(match: dict[str, Any]) -> dict[str, Any]:
    path = dict(match.get("path") or {})
    path.setdefault("type", "PathPrefix")
    path.setdefault("value", "/")
    return {**match, "path": path}


def _path_ok(path: dict[str, str], req_path: str) -> bool:
    kind, value = path["type"], path["value"]
    if kind == "Exact":
        return req_path == value
    if kind == "PathPrefix":
        prefix = value.rstrip("/")
        return not prefix or req_path == prefix or req_path.startswith(prefix + "/")
    return re.fullmatch(value, req_path) is not None


def _value_ok(spec: dict[str, str], value: str | None) -> bool:
    if value is None:
        return False
    if spec.get("type", "Exact") == "Exact":
        return value == spec["value"]
    return re.fullmatch(spec["value"], value) is not None


def _matches(m: dict[str, Any], req: dict[str, Any]) -> bool:
    if not _path_ok(m["path"], req.get("uri", "/")):
        return False
    if "method" in m and req.get("method", "GET") != m["method"]:
        return False
    headers = {k.lower(): v for k, v in req.get("headers", {}).items()}
    if any(not _value_ok(h, headers.get(h["name"].lower())) for h in m.get("headers", [])):
        return False
    query = req.get("query", {})
    return all(_value_ok(q, query.get(q["name"])) for q in m.get("queryParams", []))


def _rank(m: dict[str, Any]) -> tuple:
    path = m["path"]
    kinds = {"Exact": 3, "PathPrefix": 2, "RegularExpression": 1}
    value = path["value"] if path["type"] != "PathPrefix" or path["value"] == "/" else path["value"].rstrip("/")
    return (kinds[path["type"]], len(value), "method" in m, len(m.get("headers", [])),
            len(m.get("queryParams", [])))


def httproute_rule(routes: list[dict[str, Any]], **req: Any) -> dict[str, Any]:
    """The rule Istio picks among `routes` (all attached to one parent) for a request.

    req: uri (path), method, headers, query.
    """
    entries = []
    for route in sorted(routes, key=lambda r: (r["metadata"].get("namespace", ""), r["metadata"]["name"])):
        for rule in route["spec"].get("rules", []):
            for m in rule.get("matches") or [{}]:
                entries.append((_defaulted(m), rule))
    ranked = sorted(entries, key=lambda e: _rank(e[0]), reverse=True)  # stable: ties keep order
    for m, rule in ranked:
        if _matches(m, req):
            return rule
    raise AssertionError(f"no rule takes {req}")


# ---- one decision shape for both APIs -----------------------------------------------------------
@dataclass(frozen=True)
class Decision:
    split: tuple[tuple[Backend, float], ...]  # where requests go, percent per backend (0% dropped)
    timeout: float | None  # seconds
    mirror: tuple[Backend, float] | None  # mirrored backend and percent


def _seconds(text: str | None) -> float | None:
    if text is None:
        return None
    total = 0.0
    for n, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text):
        total += float(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return round(total, 6)


class Objects:
    """The compiled objects of one cluster, to resolve hosts, subsets and Services to pods."""

    def __init__(self, objs: dict[tuple[str, str, str], dict[str, Any]]):
        self.objs = objs

    def vs_backend(self, destination: dict[str, Any]) -> Backend:
        host = destination["host"]
        name, namespace = host.split(".")[:2]
        labels: dict[str, str] = {}
        if "subset" in destination:
            dr = self.objs[("DestinationRule", namespace, name)]
            (subset,) = [s for s in dr["spec"]["subsets"] if s["name"] == destination["subset"]]
            labels = subset["labels"]
        return (name, tuple(sorted(labels.items())))

    def gw_backend(self, ref: dict[str, Any], namespace: str) -> Backend:
        svc = self.objs.get(("Service", ref.get("namespace", namespace), ref["name"]))
        if svc is None:  # the workload's own Service: every pod of the app
            return (ref["name"], ())
        selector = dict(svc["spec"]["selector"])
        app = selector.pop("app")
        return (app, tuple(sorted(selector.items())))

    def vs_decision(self, rule: dict[str, Any]) -> Decision:
        routes = rule["route"]
        split: dict[Backend, float] = {}
        for r in routes:
            b = self.vs_backend(r["destination"])
            split[b] = split.get(b, 0) + r.get("weight", 100 if len(routes) == 1 else 0)
        mirror = None
        if "mirror" in rule:
            mirror = (self.vs_backend(rule["mirror"]), float(rule.get("mirrorPercentage", {}).get("value", 100)))
        return Decision(_normal(split), _seconds(rule.get("timeout")), mirror)

    def gw_decision(self, rule: dict[str, Any], namespace: str) -> Decision:
        refs = rule["backendRefs"]
        total = sum(r.get("weight", 1) for r in refs)
        split: dict[Backend, float] = {}
        for r in refs:
            b = self.gw_backend(r, namespace)
            split[b] = split.get(b, 0) + 100 * r.get("weight", 1) / total
        mirror = None
        for f in rule.get("filters", []):
            if f["type"] == "RequestMirror":
                spec = f["requestMirror"]
                if "fraction" in spec:
                    pct = 100 * spec["fraction"]["numerator"] / spec["fraction"].get("denominator", 100)
                else:
                    pct = float(spec.get("percent", 100))
                mirror = (self.gw_backend(spec["backendRef"], namespace), pct)
        return Decision(_normal(split), _seconds(rule.get("timeouts", {}).get("request")), mirror)

    def decide_vs(self, namespace: str, name: str, missing: Any = "fail", **req: Any) -> Decision | None:
        """The decision for a request to the VirtualService `name` (`missing=None`: no rule → None)."""
        try:
            rule = http_rule(self.objs[("VirtualService", namespace, name)], **req)
        except AssertionError:
            if missing is None:
                return None
            raise
        return self.vs_decision(rule)

    def decide_gw_route(self, namespace: str, name: str, missing: Any = "fail", **req: Any) -> Decision | None:
        """The decision of one HTTPRoute (an ingress route, its Gateway's only one for these hosts)."""
        try:
            rule = httproute_rule([self.objs[("HTTPRoute", namespace, name)]], **req)
        except AssertionError:
            if missing is None:
                return None
            raise
        return self.gw_decision(rule, namespace)

    def decide_gw(self, namespace: str, name: str, **req: Any) -> Decision:
        routes = [o for (k, ns, _), o in self.objs.items() if k == "HTTPRoute" and ns == namespace
                  and any(p.get("kind") == "Service" and p["name"] == name for p in o["spec"]["parentRefs"])]
        return self.gw_decision(httproute_rule(routes, **req), namespace)


def _normal(split: dict[Backend, float]) -> tuple[tuple[Backend, float], ...]:
    return tuple(sorted((b, round(w, 6)) for b, w in split.items() if w))
