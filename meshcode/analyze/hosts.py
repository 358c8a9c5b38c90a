"""Host names the way Istio reads them: short names, wildcards, `ns/host` forms, exportTo scopes."""
from __future__ import annotations

from typing import Generic, Iterable, Iterator, TypeVar

DEFAULT_DOMAIN = "cluster.local"
ALL = "*"
O = TypeVar("O")


def fqdn(host: str, namespace: str, domain: str = DEFAULT_DOMAIN) -> str:
    """A short name (no dot, no wildcard) is a Service in the referring object's namespace."""
    if "." in host or host.startswith("*"):
        return host
    return f"{host}.{namespace or 'default'}.svc.{domain}"


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


def namespace_matches(pattern: str, namespace: str) -> bool:
    """AuthorizationPolicy namespace patterns: exact, '*', 'prefix*' or '*suffix'."""
    if pattern == ALL:
        return True
    if pattern.startswith("*"):
        return namespace.endswith(pattern[1:])
    if pattern.endswith("*"):
        return namespace.startswith(pattern[:-1])
    return namespace.lower() == pattern.lower()


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
