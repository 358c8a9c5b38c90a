"""How Istio orders Gateway API route matches, and whether that can differ from first-match order.

A VirtualService takes the first rule that matches. Gateway API ranks matches by specificity
instead; Istio implements the ranking (pilot/pkg/config/kube/gateway/conversion.go,
`sortHTTPRoutes`) as a stable sort of every match, most specific first, by:
path kind (Exact > PathPrefix > RegularExpression), path length, method given, number of
header matches, number of query matches; ties keep route order, then rule order, then match
order. A match without a path has the CRD default `PathPrefix /`, and so has a rule without
matches.

The compiler keeps the intent's first-match meaning: when two matches of rules with different
actions can both take a request and the later one ranks higher, the output would route it
differently, and the compile refuses (see `inversions`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meshcode.regex import RegexError, compile_re2

DEFAULT_PATH = {"type": "PathPrefix", "value": "/"}
_RANK = {"Exact": 3, "PathPrefix": 2, "RegularExpression": 1}


def path_of(match: dict[str, Any]) -> dict[str, str]:
    return match.get("path") or DEFAULT_PATH


def prefix_value(value: str) -> str:
    """Istio ignores a PathPrefix's trailing '/' (except the root)."""
    return value if value == "/" else value.rstrip("/") or "/"


def precedence(match: dict[str, Any]) -> tuple[int, int, bool, int, int]:
    """Istio's sort key of one HTTPRoute match (larger sorts first)."""
    path = path_of(match)
    kind = path.get("type", "PathPrefix")
    value = path.get("value", "/")
    if kind == "PathPrefix":
        value = prefix_value(value)
    return (_RANK[kind], len(value), "method" in match, len(match.get("headers", ())),
            len(match.get("queryParams", ())))


def _segment_prefix(path: str, prefix: str) -> bool:
    return prefix == "/" or path == prefix or path.startswith(prefix + "/")


def _full(pattern: str, value: str) -> bool:
    """RE2 full match, as Envoy matches (unknown: assume they may overlap)."""
    try:
        return compile_re2(pattern).fullmatch(value) is not None
    except RegexError:
        return True


def _paths_overlap(a: dict[str, str], b: dict[str, str]) -> bool:
    ka, kb = a.get("type", "PathPrefix"), b.get("type", "PathPrefix")
    va, vb = a.get("value", "/"), b.get("value", "/")
    if ka == "PathPrefix":
        va = prefix_value(va)
    if kb == "PathPrefix":
        vb = prefix_value(vb)
    if ka == kb == "Exact":
        return va == vb
    if ka == kb == "PathPrefix":
        return _segment_prefix(va, vb) or _segment_prefix(vb, va)
    if {ka, kb} == {"Exact", "PathPrefix"}:
        path, prefix = (va, vb) if ka == "Exact" else (vb, va)
        return _segment_prefix(path, prefix)
    if {ka, kb} == {"Exact", "RegularExpression"}:
        path, pattern = (va, vb) if ka == "Exact" else (vb, va)
        return _full(pattern, path)
    return True  # a regex against a prefix or another regex: assume they may overlap


def _values_overlap(a: dict[str, str], b: dict[str, str]) -> bool:
    ka, kb = a.get("type", "Exact"), b.get("type", "Exact")
    if ka == kb == "Exact":
        return a["value"] == b["value"]
    if ka == "Exact":
        return _full(b["value"], a["value"])
    if kb == "Exact":
        return _full(a["value"], b["value"])
    return True


def _by_name(items: list[dict[str, str]], fold: bool) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for item in items:
        out.setdefault(item["name"].lower() if fold else item["name"], item)
    return out


def may_overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """False only when no request can satisfy both matches."""
    if not _paths_overlap(path_of(a), path_of(b)):
        return False
    if "method" in a and "method" in b and a["method"] != b["method"]:
        return False
    for field, fold in (("headers", True), ("queryParams", False)):
        ha, hb = _by_name(a.get(field, []), fold), _by_name(b.get(field, []), fold)
        for name in ha.keys() & hb.keys():
            if not _values_overlap(ha[name], hb[name]):
                return False
    return True


@dataclass(frozen=True, slots=True)
class Inversion:
    """Rule `later` would take requests that first-match order gives to rule `earlier`."""

    earlier: int
    later: int
    reason: str


def _why(a: tuple, b: tuple) -> str:
    names = ("a more specific path kind", "a longer path", "a method match", "more header matches",
             "more query matches")
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return names[i]
    return "the same rank"


def inversions(rules: list[dict[str, Any]]) -> list[Inversion]:
    """Pairs of rules whose Gateway API ranking contradicts their order, for some request.

    Rules with the same action (backends, filters, timeouts) may swap freely.
    """
    def action(rule: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in rule.items() if k not in ("matches", "name")}

    entries = [(i, m) for i, rule in enumerate(rules) for m in (rule.get("matches") or [{}])]
    found: dict[tuple[int, int], Inversion] = {}
    for x, (i, ma) in enumerate(entries):
        ka = precedence(ma)
        for j, mb in entries[x + 1:]:
            if j == i or (i, j) in found:
                continue
            kb = precedence(mb)
            if kb > ka and action(rules[i]) != action(rules[j]) and may_overlap(ma, mb):
                found[(i, j)] = Inversion(i, j, _why(kb, ka))
    return list(found.values())
