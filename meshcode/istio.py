"""Istio's matching semantics, in one place for the compiler and the analysis.

Host names the way Istio reads them (short names, wildcards, `ns/host` forms, Service FQDNs),
exportTo scopes, Sidecar egress visibility, AuthorizationPolicy string patterns (exact,
`prefix*`, `*suffix`, `*`) and the walk over a VirtualService's route destinations. Pure
functions over strings and plain dicts; imports nothing from meshcode.
"""
from __future__ import annotations

from typing import Any, Generic, Iterable, Iterator, TypeVar

DEFAULT_DOMAIN = "cluster.local"
ALL = "*"
O = TypeVar("O")


def fqdn(host: str, namespace: str, domain: str = DEFAULT_DOMAIN) -> str:
    """A short name (no dot, no wildcard) is a Service in the referring object's namespace."""
    if "." in host or host.startswith("*"):
        return host
    return f"{host}.{namespace or 'default'}.svc.{domain}"


def service_key(host: str, namespace: str) -> tuple[str, str] | None:
    """(namespace, name) of the Kubernetes Service a host names, or None for other hosts.

    Like Istio: a short name is relative to the referring object's namespace; otherwise only
    `<name>.<namespace>.svc[.<domain>]` names a Service.
    """
    if not host or host.startswith("*"):
        return None
    if "." not in host:
        return namespace or "default", host
    parts = host.split(".")
    if len(parts) >= 3 and parts[2] == "svc":
        return parts[1], parts[0]
    return None


def service_of(host: str, domain: str = DEFAULT_DOMAIN) -> tuple[str, str] | None:
    """(namespace, name) when `host` is a Kubernetes Service FQDN `name.ns.svc.<domain>`."""
    suffix = ".svc." + domain
    if not host.endswith(suffix):
        return None
    parts = host[: -len(suffix)].split(".")
    if len(parts) != 2 or not all(parts) or "*" in parts[0]:
        return None
    return parts[1], parts[0]


def matches(a: str, b: str) -> bool:
    """Istio's host.Name.Matches: the two names (either may be a wildcard) overlap."""
    aw, bw = a.startswith("*"), b.startswith("*")
    if aw and bw:
        return b[1:].endswith(a[1:]) if len(a) < len(b) else a[1:].endswith(b[1:])
    if aw:
        return b.endswith(a[1:])
    if bw:
        return a.endswith(b[1:])
    return a == b


def wildcard_keys(host: str) -> Iterator[str]:
    """Keys of the wildcard hosts that may cover `host`: '.b.c', '.c', '' for 'a.b.c' or '*.b.c'.

    A wildcard host '*.b.c' is stored under '.b.c' ('*' under ''), so covering wildcards are
    found with one lookup per label instead of a scan over every wildcard.
    """
    s = host[1:] if host.startswith("*") else host
    i = s.find(".")
    while i != -1:
        yield s[i:]
        i = s.find(".", i + 1)
    yield ""


def wildcard_key(host: str) -> str:
    return host[1:]


def export_scopes(export_to: Iterable[str] | None, namespace: str) -> frozenset[str]:
    """The namespaces an object is visible in; {'*'} for all (the default)."""
    items = list(export_to or ())
    if not items or ALL in items:
        return frozenset({ALL})
    return frozenset(namespace if e == "." else e for e in items if e != "~")


def visible(scopes: frozenset[str], namespace: str) -> bool:
    return ALL in scopes or namespace in scopes


# ---- AuthorizationPolicy string patterns (exact, `prefix*`, `*suffix`, `*`) -------------------
def string_matches(pattern: str, value: str) -> bool:
    """Istio's string match: '*' is any non-empty value, else exact, prefix or suffix."""
    if pattern == ALL:
        return bool(value)
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    if pattern.startswith("*"):
        return value.endswith(pattern[1:])
    return value == pattern


def namespace_matches(pattern: str, namespace: str) -> bool:
    """AuthorizationPolicy namespace patterns (the string patterns over a namespace name)."""
    return string_matches(pattern, namespace)


def _pattern_kind(p: str) -> str:
    return "any" if p == ALL else "prefix" if p.endswith("*") else "suffix" if p.startswith("*") else "exact"


def string_overlap(a: str, b: str) -> bool:
    """Can one value match both patterns?"""
    ka, kb = _pattern_kind(a), _pattern_kind(b)
    if "any" in (ka, kb):
        return True
    if ka == "exact":
        return string_matches(b, a)
    if kb == "exact":
        return string_matches(a, b)
    if ka == kb == "prefix":
        return a[:-1].startswith(b[:-1]) or b[:-1].startswith(a[:-1])
    if ka == kb == "suffix":
        return a[1:].endswith(b[1:]) or b[1:].endswith(a[1:])
    return True  # a prefix and a suffix: some value has both


def string_covers(outer: str, inner: str) -> bool:
    """Does every value matching `inner` match `outer`?"""
    ko, ki = _pattern_kind(outer), _pattern_kind(inner)
    if ko == "any":
        return True
    if ki == "any":
        return False
    if ko == "exact":
        return ki == "exact" and inner == outer
    if ko == "prefix":
        return ki in ("exact", "prefix") and inner.rstrip("*").startswith(outer[:-1])
    return ki in ("exact", "suffix") and inner.lstrip("*").endswith(outer[1:])


# ---- Sidecar egress -----------------------------------------------------------------------------
def egress_visible(egress_hosts: Iterable[str], sidecar_namespace: str, namespace: str, host: str) -> bool:
    """Does a Sidecar in `sidecar_namespace` with these `ns/host` egress entries see `host` in `namespace`?"""
    for entry in egress_hosts:
        ns, _, pattern = entry.partition("/")
        if ns == "~" or not (ns == ALL or (ns == "." and namespace == sidecar_namespace) or ns == namespace):
            continue
        if pattern == ALL or pattern == host or (pattern.startswith("*.") and host.endswith(pattern[1:])):
            return True
    return False


def gateway_host(host: str, gateway_namespace: str) -> tuple[str, str]:
    """A Gateway server host → (namespace it serves or '*', host): 'ns/h', './h', '*/h' or 'h'."""
    ns, sep, name = host.partition("/")
    if not sep:
        return ALL, host
    if ns == ".":
        return gateway_namespace, name
    return ns, name


class HostOverlaps(Generic[O]):
    """Owners of host names, indexed so the owners of every host overlapping a given one (Istio's
    host.Name.Matches, wildcards either side) are found in O(labels), not by a scan."""

    def __init__(self) -> None:
        self.exact: dict[str, set[O]] = {}
        self.wild: dict[str, set[O]] = {}
        self.suffixes: dict[str, set[O]] | None = None

    def add(self, host: str, owner: O) -> None:
        self.suffixes = None
        if host.startswith("*"):
            self.wild.setdefault(wildcard_key(host), set()).add(owner)
        else:
            self.exact.setdefault(host, set()).add(owner)

    def overlapping(self, host: str) -> set[O]:
        """Owners of the hosts that overlap `host` (Istio's host.Name.Matches)."""
        out: set[O] = set()
        if not host.startswith("*"):
            out |= self.exact.get(host, set())
        for k in wildcard_keys(host):
            out |= self.wild.get(k, set())
        if host.startswith("*"):
            if self.suffixes is None:
                self.suffixes = {}
                for h, owners in [*self.exact.items(), *(("*" + k, o) for k, o in self.wild.items())]:
                    for k in wildcard_keys(h):
                        self.suffixes.setdefault(k, set()).update(owners)
            out |= self.suffixes.get(wildcard_key(host), set())
        return out


# ---- VirtualService route destinations -------------------------------------------------------
ROUTE_SECTIONS = ("http", "tcp", "tls")


def _list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def route_destinations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(where, what, destination) for every route and mirror destination of a VirtualService."""
    for section in ROUTE_SECTIONS:
        for i, rule in enumerate(_list(spec.get(section))):
            rule = _dict(rule)
            for j, rd in enumerate(_list(rule.get("route"))):
                # a route entry without destination routes to host "" (Istio reports it as not found)
                yield f"{section}[{i}].route[{j}]", "host", _dict(_dict(rd).get("destination"))
            if section != "http":
                continue
            if isinstance(rule.get("mirror"), dict):
                yield f"http[{i}].mirror", "mirror host", rule["mirror"]
            for j, m in enumerate(_list(rule.get("mirrors"))):
                d = _dict(m).get("destination")
                if isinstance(d, dict):
                    yield f"http[{i}].mirrors[{j}]", "mirror host", d
