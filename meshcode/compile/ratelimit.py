"""Local rate limiting: the EnvoyFilter Istio documents (tasks/policy-enforcement/rate-limit),
from `Service(rate_limit=LocalRateLimit(...))`.

The filter is inserted in the inbound HTTP chain of the service's pods; the token bucket goes in
the filter itself (every inbound request) or, with a port, in the per-route config of that
port's inbound virtual host (`inbound|http|<port>`), as the task's per-route example does.
"""
from __future__ import annotations

from typing import Any

from meshcode.compile.context import CompileContext
from meshcode.compile.dataplane import plane
from meshcode.compile.security import app_selector
from meshcode.intent.resilience import LocalRateLimit
from meshcode.intent.service import Service
from meshcode.plan import Resource

FILTER = "envoy.filters.http.local_ratelimit"
TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"


def _always(runtime_key: str) -> dict[str, Any]:
    """A runtime fraction at 100% (a fresh dict each time: output trees share no nodes)."""
    return {"runtime_key": runtime_key, "default_value": {"numerator": 100, "denominator": "HUNDRED"}}


def _config(limit: LocalRateLimit | None) -> dict[str, Any]:
    value: dict[str, Any] = {"stat_prefix": "http_local_rate_limiter"}
    if limit is not None:
        value["token_bucket"] = {"max_tokens": limit.tokens, "tokens_per_fill": limit.tokens_per_fill or limit.tokens,
                                 "fill_interval": limit.fill_interval}
        value["filter_enabled"] = _always("local_rate_limit_enabled")
        value["filter_enforced"] = _always("local_rate_limit_enforced")
        value["response_headers_to_add"] = [{"append_action": "APPEND_IF_EXISTS_OR_ADD",
                                             "header": {"key": "x-local-rate-limit", "value": "true"}}]
    return {"@type": "type.googleapis.com/udpa.type.v1.TypedStruct", "type_url": TYPE_URL, "value": value}


def rate_limit_filter(ctx: CompileContext, s: Service) -> list[Resource]:
    limit = s.rate_limit
    if limit is None:
        return []
    origin = limit.origin or s.origin
    if plane(ctx, s.namespace).ambient:
        ctx.error("MC2110", f"{s.name}: a local rate limit is an EnvoyFilter on the pods' sidecars; namespace "
                  f"{s.namespace} is ambient (no sidecar)", origin, "EnvoyFilter", s.namespace, s.name)
        return []
    if limit.port is not None and limit.port not in {p.number for p in s.http_ports}:
        ctx.error("MC2110", f"{s.name}: rate_limit port {limit.port} is not an HTTP port of the service "
                  f"(HTTP ports: {', '.join(str(p.number) for p in s.http_ports) or 'none'})",
                  origin, "EnvoyFilter", s.namespace, s.name)
        return []
    if not s.http_ports:
        ctx.error("MC2110", f"{s.name}: a local rate limit counts HTTP requests; the service has no HTTP port",
                  origin, "EnvoyFilter", s.namespace, s.name)
        return []
    patches: list[dict[str, Any]] = [{
        "applyTo": "HTTP_FILTER",
        "match": {"context": "SIDECAR_INBOUND", "listener": {"filterChain": {"filter": {
            "name": "envoy.filters.network.http_connection_manager"}}}},
        "patch": {"operation": "INSERT_BEFORE",
                  "value": {"name": FILTER, "typed_config": _config(None if limit.port else limit)}},
    }]
    if limit.port is not None:
        target = next(p for p in s.http_ports if p.number == limit.port)
        patches.append({
            "applyTo": "HTTP_ROUTE",
            "match": {"context": "SIDECAR_INBOUND", "routeConfiguration": {"vhost": {
                "name": f"inbound|http|{target.target_port or target.number}", "route": {"action": "ANY"}}}},
            "patch": {"operation": "MERGE", "value": {"typed_per_filter_config": {FILTER: _config(limit)}}},
        })
    spec = {"workloadSelector": {"labels": app_selector(s)}, "configPatches": patches}
    return [ctx.resource("networking", "EnvoyFilter", f"{s.name}-local-ratelimit", s.namespace, spec, origin,
                         api_version="networking.istio.io/v1alpha3")]
