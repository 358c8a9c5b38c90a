"""Security checks: AuthorizationPolicy source namespaces exist; client TLS agrees with server mTLS.

istioctl no longer checks DestinationRule TLS against PeerAuthentication (IST0113 was retired),
yet a DISABLE client against a STRICT server still fails every request: meshcode does.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from meshcode.analyze.destinations import traffic_policies
from meshcode.istio import fqdn, namespace_matches, service_of
from meshcode.analyze.index import MeshIndex, as_dict, as_list, managed, namespace_of, spec_of
from meshcode.errors import Finding
from meshcode.plan import Resource


def check_authorization_namespaces(ix: MeshIndex) -> Iterator[Finding]:
    """IST0101: a source namespace (or pattern) in an AuthorizationPolicy that matches no namespace.

    Known namespaces: Namespace objects, the namespaces objects live in, and the ones every cluster
    has. A meshcode-compiled policy is not checked: its namespaces come from the intent, and may
    name namespaces outside the mesh (a DenyRule for a legacy namespace) that no output declares.
    """
    known: dict[str, bool] = {}

    def exists(pattern: str) -> bool:
        if pattern not in known:
            if "*" in pattern:
                known[pattern] = any(namespace_matches(pattern, ns) for ns in ix.namespaces)
            else:
                known[pattern] = pattern.lower() in ix.namespaces
        return known[pattern]

    for r in ix.of("AuthorizationPolicy"):
        if managed(r):
            continue
        for rule in as_list(spec_of(r).get("rules")):
            for source in as_list(as_dict(rule).get("from")):
                src = as_dict(as_dict(source).get("source"))
                for field_name in ("namespaces", "notNamespaces"):
                    for ns in as_list(src.get(field_name)):
                        if isinstance(ns, str) and not exists(ns):
                            yield ix.finding("IST0101", r, f'Referenced namespace not found: "{ns}"')


@dataclass(frozen=True, slots=True)
class ServerMode:
    mode: str  # STRICT | PERMISSIVE | DISABLE
    source: str  # which PeerAuthentication says so


def _mode(r: Resource) -> str:
    mode = as_dict(spec_of(r).get("mtls")).get("mode")
    return mode if isinstance(mode, str) else "UNSET"


class PeerAuthentications:
    """The mTLS mode a Service's workloads accept: workload policy, else namespace, else mesh-wide."""

    def __init__(self, ix: MeshIndex):
        self.ix = ix
        self.mesh: Resource | None = None
        self.namespace: dict[str, Resource] = {}
        self.selected: dict[str, list[Resource]] = {}
        for r in ix.of("PeerAuthentication"):
            ns = namespace_of(r)
            if as_dict(spec_of(r).get("selector")).get("matchLabels"):
                self.selected.setdefault(ns, []).append(r)
            elif ns == ix.root_namespace:
                self.mesh = r
            else:
                self.namespace[ns] = r

    def server_mode(self, ns: str, name: str) -> ServerMode | None:
        """None when it cannot be told (a workload policy may apply but the Service is unknown)."""
        chosen: Resource | None = None
        if ns in self.selected:
            svc = self.ix.services.get((ns, name))
            selector = as_dict(spec_of(svc).get("selector")) if svc is not None else None
            if not selector:
                return None
            for r in self.selected[ns]:
                labels = as_dict(as_dict(spec_of(r).get("selector")).get("matchLabels"))
                if labels.items() <= selector.items():
                    if spec_of(r).get("portLevelMtls"):
                        return None
                    chosen = r
                    break
        for candidate in (chosen, self.namespace.get(ns), self.mesh):
            if candidate is not None and _mode(candidate) != "UNSET":
                return ServerMode(_mode(candidate), f"PeerAuthentication {namespace_of(candidate)}/{candidate.name}")
        return ServerMode("PERMISSIVE", "the default")


def _conflict(client: str, server: ServerMode) -> tuple[str, str] | None:
    if server.mode == "STRICT" and client == "DISABLE":
        return "MC5111", (f"sends plain text (tls.mode DISABLE) but {server.source} requires mTLS (STRICT): "
                          "every request is rejected; use ISTIO_MUTUAL or remove the tls setting")
    if server.mode == "DISABLE" and client == "ISTIO_MUTUAL":
        return "MC5111", (f"sends Istio mTLS (tls.mode ISTIO_MUTUAL) but {server.source} disables mTLS (DISABLE): "
                          "the server sidecar does not terminate it; align the two")
    if server.mode == "STRICT" and client in ("SIMPLE", "MUTUAL"):
        return "MC5112", (f"originates {client} TLS to a mesh service whose {server.source} requires Istio mTLS "
                          "(STRICT): requests fail unless the workload runs without a sidecar")
    return None


def _client_modes(r: Resource) -> tuple[str | None, list[tuple[str, str]]]:
    """(host, [(where, client TLS mode)]) of a DestinationRule: read once per object."""
    spec = spec_of(r)
    host = spec.get("host")
    modes = [(where, mode) for where, policy, _ in traffic_policies(spec)
             if isinstance(mode := as_dict(policy.get("tls")).get("mode"), str)]
    return (host if isinstance(host, str) else None), modes


def check_mtls_conflicts(ix: MeshIndex) -> Iterator[Finding]:
    """MC5111 / MC5112: client TLS mode (DestinationRule) against server mTLS mode (PeerAuthentication)."""
    drs = ix.of("DestinationRule")
    if not drs or not ix.of("PeerAuthentication"):
        return
    peers = PeerAuthentications(ix)
    for r in drs:
        host, modes = ix.cached("client-tls", r, _client_modes)
        if host is None or not modes:
            continue
        name = fqdn(host, namespace_of(r), ix.domain)
        target = service_of(name, ix.domain)
        if target is None or any(e.resource.kind == "ServiceEntry" for e in ix.hosts.get(name, ())):
            continue
        server = peers.server_mode(*target)
        if server is None:
            continue
        for where, client in modes:
            found = _conflict(client, server)
            if found:
                code, why = found
                yield ix.finding(code, r, f"{where}.tls for {name} {why}")
