"""Istio objects → intent expressions, one kind at a time; `None` when the object does not map.

Each function reads one object (a plain dict) and returns the `Call` a stack would write, or
None with the reason. Whether the result really means the same is not decided here: the
importer compiles every candidate and compares it with the input (see `check.py`), so a
mapping may be optimistic without ever changing meaning.
"""
from __future__ import annotations

from typing import Any

from meshcode.importer.source import Call, Ref, call
from meshcode.intent.base import DNS_LABEL_RE
from meshcode.istio import service_key

Why = str


class NoMapping(Exception):
    """This part of an object has no intent; the message says which and why."""


def _only(obj: dict[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        raise NoMapping(f"{where}{extra[0]} has no meshcode intent")


def _label(value: Any, what: str) -> str:
    if not isinstance(value, str) or len(value) > 63 or not DNS_LABEL_RE.match(value):
        raise NoMapping(f"{what} {value!r} is not a DNS label meshcode names accept")
    return value


# ---- string matches, destinations -------------------------------------------------------------
def string_match(spec: Any, where: str) -> Any:
    if not isinstance(spec, dict) or len(spec) != 1:
        raise NoMapping(f"{where}: a string match has exactly one of exact, prefix, regex")
    (kind, value), = spec.items()
    if not isinstance(value, str):
        raise NoMapping(f"{where}: match value {value!r} is not a string")
    if kind == "exact":
        return value
    if kind == "prefix":
        return call("Prefix", value)
    if kind == "regex":
        return call("Regex", value)
    raise NoMapping(f"{where}: string match {kind!r} has no meshcode intent")


def match(m: Any, where: str) -> Call:
    if not isinstance(m, dict):
        raise NoMapping(f"{where} is not a mapping")
    _only(m, {"uri", "headers", "queryParams", "method", "sourceLabels", "sourceNamespace", "port",
              "ignoreUriCase"}, f"{where}.")
    kw: dict[str, Any] = {}
    if "uri" in m:
        uri = string_match(m["uri"], f"{where}.uri")
        kw["uri"] = call("Exact", uri) if isinstance(uri, str) else uri
    for field, arg in (("headers", "headers"), ("queryParams", "query")):
        if field in m:
            if not isinstance(m[field], dict):
                raise NoMapping(f"{where}.{field} is not a mapping")
            kw[arg] = {k: string_match(v, f"{where}.{field}.{k}") for k, v in m[field].items()}
    if "method" in m:
        kw["method"] = string_match(m["method"], f"{where}.method")
    if "sourceLabels" in m:
        kw["source_labels"] = m["sourceLabels"]
    if "sourceNamespace" in m:
        kw["source_namespace"] = m["sourceNamespace"]
    if "port" in m:
        kw["port"] = m["port"]
    if m.get("ignoreUriCase"):
        kw["ignore_uri_case"] = True
    return call("Match", **kw)


class Names:
    """What a destination host can refer to: the imported Services (by variable) and externals."""

    def __init__(self, services: dict[tuple[str, str], Ref], externals: dict[str, Ref]):
        self.services = services
        self.externals = externals

    def target(self, host: Any, namespace: str) -> tuple[Ref, bool]:
        """(the variable, is it a Service) for a destination host."""
        if not isinstance(host, str):
            raise NoMapping(f"destination host {host!r} is not a string")
        key = service_key(host, namespace)
        if key in self.services:
            return self.services[key], True
        if host in self.externals:
            return self.externals[host], False
        raise NoMapping(f"destination host {host} is neither a Kubernetes Service nor a ServiceEntry among the "
                        "inputs")


def dest(d: Any, namespace: str, names: Names, owner: tuple[str, str] | None, weight: Any,
         where: str) -> Any:
    """One route destination: a version name of the owning service, or Dest(...)."""
    if not isinstance(d, dict):
        raise NoMapping(f"{where}.destination is not a mapping")
    _only(d, {"host", "subset", "port"}, f"{where}.destination.")
    ref, is_service = names.target(d.get("host"), namespace)
    subset = d.get("subset")
    if subset is not None:
        if not is_service:
            raise NoMapping(f"{where}: subsets of external hosts have no meshcode intent")
        _label(subset, "subset")
    port = d.get("port")
    number = None
    if port is not None:
        if not isinstance(port, dict) or set(port) != {"number"} or not isinstance(port["number"], int):
            raise NoMapping(f"{where}.destination.port: only port.number has meshcode intent")
        number = port["number"]
    own = owner is not None and service_key(d["host"], namespace) == owner
    if own and number is None and weight is None and subset is not None:
        return subset
    if own:
        return call("Dest", version=subset, port=number, weight=weight)
    return call("Dest", ref, version=subset, port=number, weight=weight)


def targets(routes: Any, namespace: str, names: Names, owner: tuple[str, str] | None, where: str) -> Any:
    """A rule's `route` list as `to=`: one destination, {version: weight}, or a list of Dest."""
    if not isinstance(routes, list) or not routes:
        raise NoMapping(f"{where}.route is empty")
    for r in routes:
        if not isinstance(r, dict):
            raise NoMapping(f"{where}.route entry is not a mapping")
        _only(r, {"destination", "weight"}, f"{where}.route[].")
    if len(routes) == 1:
        d = dest(routes[0].get("destination"), namespace, names, owner, None, where)
        return d
    own_versions = all(owner is not None and isinstance(r.get("destination"), dict)
                       and service_key(str(r["destination"].get("host")), namespace) == owner
                       and set(r["destination"]) <= {"host", "subset"} and r["destination"].get("subset")
                       for r in routes)
    if own_versions:
        split = {}
        for r in routes:
            subset = _label(r["destination"]["subset"], "subset")
            if subset in split:
                raise NoMapping(f"{where}: subset {subset} is listed twice")
            split[subset] = r.get("weight", 0)
        return split
    return [dest(r.get("destination"), namespace, names, owner, r.get("weight", 0), where) for r in routes]


# ---- HTTP rule extras ---------------------------------------------------------------------------
def retries(r: Any, where: str) -> Call:
    if not isinstance(r, dict):
        raise NoMapping(f"{where}.retries is not a mapping")
    _only(r, {"attempts", "perTryTimeout", "retryOn"}, f"{where}.retries.")
    on = r.get("retryOn")
    return call("Retries", r.get("attempts", 0), per_try_timeout=r.get("perTryTimeout"),
                retry_on=on.split(",") if isinstance(on, str) else on)


def _percent(p: Any, where: str) -> Any:
    if p is None:
        raise NoMapping(f"{where}: a fault without percentage has no meshcode intent (give percentage.value)")
    if not isinstance(p, dict) or set(p) != {"value"}:
        raise NoMapping(f"{where}.percentage: only percentage.value has meshcode intent")
    return p["value"]


def fault(f: Any, where: str) -> Call:
    if not isinstance(f, dict):
        raise NoMapping(f"{where}.fault is not a mapping")
    _only(f, {"delay", "abort"}, f"{where}.fault.")
    kw: dict[str, Any] = {}
    if "delay" in f:
        d = f["delay"]
        if not isinstance(d, dict):
            raise NoMapping(f"{where}.fault.delay is not a mapping")
        _only(d, {"fixedDelay", "percentage"}, f"{where}.fault.delay.")
        pct = _percent(d.get("percentage"), f"{where}.fault.delay")
        kw["delay"] = call("Delay", d.get("fixedDelay"), percent=None if pct == 100 else pct)
    if "abort" in f:
        a = f["abort"]
        if not isinstance(a, dict):
            raise NoMapping(f"{where}.fault.abort is not a mapping")
        _only(a, {"httpStatus", "percentage"}, f"{where}.fault.abort.")
        pct = _percent(a.get("percentage"), f"{where}.fault.abort")
        kw["abort"] = call("Abort", a.get("httpStatus"), percent=None if pct == 100 else pct)
    return call("Fault", **kw)


def mirror(rule: dict[str, Any], namespace: str, names: Names, owner: tuple[str, str] | None,
           where: str) -> Call | None:
    if "mirror" not in rule:
        if "mirrorPercentage" in rule:
            raise NoMapping(f"{where}: mirrorPercentage without mirror")
        return None
    target = dest(rule["mirror"], namespace, names, owner, None, f"{where}.mirror")
    pct = rule.get("mirrorPercentage")
    percent = None
    if pct is not None:
        if not isinstance(pct, dict) or set(pct) != {"value"}:
            raise NoMapping(f"{where}.mirrorPercentage: only value has meshcode intent")
        percent = pct["value"]
    return call("Mirror", target, percent=None if percent == 100 else percent)


def http_route(r: Any, namespace: str, names: Names, owner: tuple[str, str] | None, where: str) -> Call:
    """One HTTP rule as a Route."""
    if not isinstance(r, dict):
        raise NoMapping(f"{where} is not a mapping")
    _only(r, {"name", "match", "route", "timeout", "retries", "fault", "mirror", "mirrorPercentage", "rewrite"},
          f"{where}.")
    if "route" not in r:
        raise NoMapping(f"{where}: a rule without route (redirect, direct response, delegate) has no meshcode intent")
    matches = r.get("match") or []
    if not isinstance(matches, list):
        raise NoMapping(f"{where}.match is not a list")
    rewrite = r.get("rewrite")
    if rewrite is not None and (not isinstance(rewrite, dict) or set(rewrite) != {"uri"}):
        raise NoMapping(f"{where}.rewrite: only rewrite.uri has meshcode intent")
    name = r.get("name")
    if name is not None:
        _label(name, "route name")
    ms = [match(m, f"{where}.match[{i}]") for i, m in enumerate(matches)]
    return call("Route", match=ms[0] if len(ms) == 1 else ms,
                to=targets(r["route"], namespace, names, owner, where),
                name=name, timeout=r.get("timeout"),
                retries=retries(r["retries"], where) if "retries" in r else None,
                fault=fault(r["fault"], where) if "fault" in r else None,
                mirror=mirror(r, namespace, names, owner, where),
                rewrite_uri=rewrite["uri"] if rewrite else None)


def l4_route(r: Any, namespace: str, names: Names, owner: tuple[str, str] | None, where: str) -> Call:
    """A tcp/tls rule as a Route without match (the compile derives the port/SNI match)."""
    if not isinstance(r, dict):
        raise NoMapping(f"{where} is not a mapping")
    _only(r, {"match", "route"}, f"{where}.")
    return call("Route", to=targets(r.get("route"), namespace, names, owner, where))


# ---- service parts --------------------------------------------------------------------------------
def connection_pool(cp: Any) -> dict[str, Any]:
    if not isinstance(cp, dict):
        raise NoMapping("connectionPool is not a mapping")
    _only(cp, {"tcp", "http"}, "connectionPool.")
    tcp, http = cp.get("tcp") or {}, cp.get("http") or {}
    _only(tcp, {"maxConnections", "connectTimeout"}, "connectionPool.tcp.")
    _only(http, {"http1MaxPendingRequests", "http2MaxRequests", "maxRequestsPerConnection", "maxRetries"},
          "connectionPool.http.")
    return {"max_connections": tcp.get("maxConnections"), "connect_timeout": tcp.get("connectTimeout"),
            "max_pending_requests": http.get("http1MaxPendingRequests"),
            "max_requests": http.get("http2MaxRequests"),
            "max_requests_per_connection": http.get("maxRequestsPerConnection"),
            "max_retries": http.get("maxRetries")}


def outlier(od: Any) -> Call:
    if not isinstance(od, dict):
        raise NoMapping("outlierDetection is not a mapping")
    _only(od, {"consecutive5xxErrors", "consecutiveGatewayErrors", "interval", "baseEjectionTime",
               "maxEjectionPercent"}, "outlierDetection.")
    return call("OutlierDetection", consecutive_5xx_errors=od.get("consecutive5xxErrors"),
                consecutive_gateway_errors=od.get("consecutiveGatewayErrors"), interval=od.get("interval"),
                base_ejection_time=od.get("baseEjectionTime"), max_ejection_percent=od.get("maxEjectionPercent"))


def load_balancer(lb: Any) -> Call:
    if not isinstance(lb, dict):
        raise NoMapping("loadBalancer is not a mapping")
    _only(lb, {"simple", "consistentHash"}, "loadBalancer.")
    if "simple" in lb:
        return call("LoadBalancer", lb["simple"])
    ch = lb.get("consistentHash")
    if not isinstance(ch, dict) or len(ch) != 1:
        raise NoMapping("loadBalancer.consistentHash: one hash key has meshcode intent")
    (key, value), = ch.items()
    if key == "httpHeaderName":
        return call("LoadBalancer", hash_header=value)
    if key == "useSourceIp" and value is True:
        return call("LoadBalancer", hash_source_ip=True)
    if key == "httpQueryParameterName":
        return call("LoadBalancer", hash_query_param=value)
    if key == "httpCookie" and isinstance(value, dict) and set(value) <= {"name", "ttl"}:
        return call("LoadBalancer", hash_cookie=value.get("name"), hash_cookie_ttl=value.get("ttl"))
    raise NoMapping(f"loadBalancer.consistentHash.{key} has no meshcode intent")


def client_tls(tls: Any) -> Call:
    if not isinstance(tls, dict):
        raise NoMapping("tls is not a mapping")
    _only(tls, {"mode", "sni", "credentialName", "caCertificates", "subjectAltNames", "insecureSkipVerify"}, "tls.")
    return call("ClientTLS", tls.get("mode"), sni=tls.get("sni"), credential_name=tls.get("credentialName"),
                ca_certificates=tls.get("caCertificates"), subject_alt_names=tls.get("subjectAltNames"),
                insecure_skip_verify=True if tls.get("insecureSkipVerify") else None)


def policy(tp: Any, allow_tls: bool) -> dict[str, Any]:
    """A DestinationRule trafficPolicy as Service (or Version) keyword arguments."""
    if not isinstance(tp, dict):
        raise NoMapping("trafficPolicy is not a mapping")
    _only(tp, {"loadBalancer", "connectionPool", "outlierDetection"} | ({"tls"} if allow_tls else set()),
          "trafficPolicy.")
    kw: dict[str, Any] = {}
    if "loadBalancer" in tp:
        kw["load_balancer"] = load_balancer(tp["loadBalancer"])
    if "connectionPool" in tp:
        kw["circuit_breaker"] = call("CircuitBreaker", **connection_pool(tp["connectionPool"]))
    if "outlierDetection" in tp:
        kw["outlier_detection"] = outlier(tp["outlierDetection"])
    if "tls" in tp:
        kw["tls"] = client_tls(tp["tls"])
    return kw


def versions(dr: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """(Service versions, Service keyword arguments) a DestinationRule's spec says."""
    spec = dr.get("spec") or {}
    _only(spec, {"host", "subsets", "trafficPolicy"}, "spec.")
    out: list[Any] = []
    for i, s in enumerate(spec.get("subsets") or []):
        if not isinstance(s, dict):
            raise NoMapping(f"subsets[{i}] is not a mapping")
        _only(s, {"name", "labels", "trafficPolicy"}, f"subsets[{i}].")
        name = _label(s.get("name"), "subset name")
        labels = s.get("labels") or {}
        kw = policy(s["trafficPolicy"], False) if "trafficPolicy" in s else {}
        if labels == {"version": name} and not kw:
            out.append(name)
        else:
            out.append(call("Version", name, labels=None if labels == {"version": name} else labels, **kw))
    return out, policy(spec["trafficPolicy"], True) if "trafficPolicy" in spec else {}


__all__ = ["NoMapping", "Names", "http_route", "l4_route", "targets", "versions", "match", "client_tls",
           "string_match", "Ref", "Why"]
