"""IST0106 for every regex field RE2 rejects: Istio's validation refuses such an object, and Envoy
(which matches with RE2) could never run it.

The fields are every regex an Istio 1.30 or Gateway API 1.6 object takes: VirtualService string
matches and CORS origins, EnvoyFilter proxy versions, and HTTPRoute/GRPCRoute matches of type
RegularExpression.
"""
from __future__ import annotations

from typing import Any, Iterator

from meshcode.analyze.index import MeshIndex, as_dict, as_list, spec_of
from meshcode.errors import Finding
from meshcode.plan import Resource
from meshcode.regex import re2_error

# The fields of an Istio HTTPMatchRequest that are a StringMatch, or a map of StringMatches.
_STRING_MATCHES = ("uri", "scheme", "method", "authority")
_STRING_MATCH_MAPS = ("headers", "queryParams", "withoutHeaders")
GATEWAY_API = "gateway.networking.k8s.io"
# Kinds outside the index (see `MeshIndex.unindexed`) that carry regexes.
REGEX_KINDS = frozenset({"EnvoyFilter", "HTTPRoute", "GRPCRoute"})


def _virtual_service(spec: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for i, route in enumerate(as_list(spec.get("http"))):
        route = as_dict(route)
        for j, match in enumerate(as_list(route.get("match"))):
            match = as_dict(match)
            at = f"spec.http[{i}].match[{j}]"
            for key in _STRING_MATCHES:
                if "regex" in as_dict(match.get(key)):
                    yield f"{at}.{key}.regex", match[key]["regex"]
            for key in _STRING_MATCH_MAPS:
                for name, value in as_dict(match.get(key)).items():
                    if "regex" in as_dict(value):
                        yield f"{at}.{key}.{name}.regex", value["regex"]
        cors = as_dict(route.get("corsPolicy"))
        for j, origin in enumerate(as_list(cors.get("allowOrigins"))):
            if "regex" in as_dict(origin):
                yield f"spec.http[{i}].corsPolicy.allowOrigins[{j}].regex", origin["regex"]


def _envoy_filter(spec: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for i, patch in enumerate(as_list(spec.get("configPatches"))):
        proxy = as_dict(as_dict(as_dict(patch).get("match")).get("proxy"))
        if "proxyVersion" in proxy:
            yield f"spec.configPatches[{i}].match.proxy.proxyVersion", proxy["proxyVersion"]


def _route(spec: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """HTTPRoute and GRPCRoute: every match part whose type is RegularExpression."""
    for i, rule in enumerate(as_list(spec.get("rules"))):
        for j, match in enumerate(as_list(as_dict(rule).get("matches"))):
            match = as_dict(match)
            at = f"spec.rules[{i}].matches[{j}]"
            for key in ("path", "method"):
                part = as_dict(match.get(key))
                if part.get("type") == "RegularExpression":
                    for field in ("value", "service", "method"):
                        if field in part:
                            yield f"{at}.{key}.{field}", part[field]
            for key in ("headers", "queryParams"):
                for k, part in enumerate(as_list(match.get(key))):
                    part = as_dict(part)
                    if part.get("type") == "RegularExpression" and "value" in part:
                        yield f"{at}.{key}[{k}].value", part["value"]


def regex_fields(r: Resource) -> Iterator[tuple[str, Any]]:
    """(field path, value) of every regex the object declares."""
    group = r.api_version.rpartition("/")[0] if isinstance(r.api_version, str) else ""
    spec = spec_of(r)
    if group == "networking.istio.io" and r.kind == "VirtualService":
        yield from _virtual_service(spec)
    elif group == "networking.istio.io" and r.kind == "EnvoyFilter":
        yield from _envoy_filter(spec)
    elif group == GATEWAY_API and r.kind in ("HTTPRoute", "GRPCRoute"):
        yield from _route(spec)


def regex_problems(r: Resource) -> list[str]:
    """Why each regex of the object is refused (a non-string is the schema check's business)."""
    problems = []
    for path, pattern in regex_fields(r):
        if isinstance(pattern, str):
            why = re2_error(pattern)
            if why is not None:
                problems.append(f"{path}: {pattern!r} is not a valid RE2 regular expression: {why}")
    return problems


def check_regexes(ix: MeshIndex) -> Iterator[Finding]:
    for r in (*ix.of("VirtualService"), *ix.unindexed):
        for problem in ix.cached("regexes", r, regex_problems):
            yield ix.finding("IST0106", r, f"Schema validation error: {problem}")
