"""Gateway and ServiceEntry checks: listener conflicts, TCP entries without addresses, protocols."""
from __future__ import annotations

from typing import Iterator

from meshcode.analyze.hosts import ALL, export_scopes, fqdn, gateway_host, wildcard_key, wildcard_keys
from meshcode.analyze.index import MeshIndex, as_dict, as_list, namespace_of, port_number, spec_of
from meshcode.errors import Finding
from meshcode.plan import Resource


def _selector_text(selector: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))


class _Listener:
    """All servers of all Gateways on one (selector, port): hosts indexed for overlap lookups."""

    def __init__(self) -> None:
        self.exact: dict[str, set[tuple[str, str]]] = {}
        self.wild: dict[str, set[tuple[str, str]]] = {}
        self.suffixes: dict[str, set[tuple[str, str]]] | None = None

    def add(self, host: str, owner: tuple[str, str]) -> None:
        if host.startswith("*"):
            self.wild.setdefault(wildcard_key(host), set()).add(owner)
        else:
            self.exact.setdefault(host, set()).add(owner)

    def overlapping(self, host: str) -> set[tuple[str, str]]:
        """Owners of the hosts that overlap `host` (Istio's host.Name.Matches)."""
        out: set[tuple[str, str]] = set()
        if not host.startswith("*"):
            out |= self.exact.get(host, set())
        for k in wildcard_keys(host):
            out |= self.wild.get(k, set())
        if host.startswith("*"):
            if self.suffixes is None:
                self.suffixes = {}
                for h, owners in list(self.exact.items()) + [("*" + k, o) for k, o in self.wild.items()]:
                    for k in wildcard_keys(h):
                        self.suffixes.setdefault(k, set()).update(owners)
            out |= self.suffixes.get(wildcard_key(host), set())
        return out


def check_gateway_conflicts(ix: MeshIndex) -> Iterator[Finding]:
    """IST0145: two Gateways with the same selector and port serve overlapping hosts."""
    listeners: dict[tuple[str, int], _Listener] = {}
    servers: list[tuple[Resource, tuple[str, str], tuple[str, int], list[str]]] = []
    for gw in ix.of("Gateway"):
        spec = spec_of(gw)
        selector = _selector_text(as_dict(spec.get("selector")))
        owner = (namespace_of(gw), gw.name)
        for server in as_list(spec.get("servers")):
            server = as_dict(server)
            port = port_number(server.get("port"))
            if port is None:
                continue
            hosts = [gateway_host(h, owner[0])[1] for h in as_list(server.get("hosts")) if isinstance(h, str)]
            key = (selector, port)
            listener = listeners.setdefault(key, _Listener())
            for h in hosts:
                listener.add(h, owner)
            servers.append((gw, owner, key, hosts))
    for gw, owner, key, hosts in servers:
        listener = listeners[key]
        others: set[tuple[str, str]] = set()
        for h in hosts:
            others |= listener.overlapping(h)
        others.discard(owner)
        if others:
            names = ",".join(f"{ns}/{name}" for ns, name in sorted(others))
            yield ix.finding("IST0145", gw, f"Conflict with gateways {names} (workload selector {key[0]}, port "
                             f"{key[1]}, hosts {','.join(hosts)}).")


def check_service_entry_addresses(ix: MeshIndex) -> Iterator[Finding]:
    """IST0134: a TCP (or protocol-less) port needs addresses, or sidecars cannot tell hosts apart."""
    for r in ix.of("ServiceEntry"):
        spec = spec_of(r)
        if spec.get("addresses"):
            continue
        ports = [as_dict(p) for p in as_list(spec.get("ports"))]
        tcp = [str(p.get("number")) for p in ports if str(p.get("protocol") or "TCP").upper() == "TCP"]
        if tcp:
            yield ix.finding("IST0134", r, "ServiceEntry addresses are required for this protocol "
                             f"(TCP port {', '.join(tcp)}).")


def check_service_entry_protocols(ix: MeshIndex) -> Iterator[Finding]:
    """IST0177: ServiceEntries visible in one namespace give one host and port different protocols."""
    index: dict[tuple[str, str, int], dict[str, set[tuple[str, str]]]] = {}
    entries: dict[tuple[str, str], list[Resource]] = {}
    for r in ix.of("ServiceEntry"):
        spec = spec_of(r)
        ns = namespace_of(r)
        owner = (ns, r.name)
        entries.setdefault(owner, []).append(r)
        for scope in export_scopes(spec.get("exportTo"), ns):
            for h in as_list(spec.get("hosts")):
                if not isinstance(h, str):
                    continue
                for p in as_list(spec.get("ports")):
                    number = port_number(as_dict(p).get("number"))
                    if number is not None:
                        protocol = str(as_dict(p).get("protocol") or "").upper()
                        index.setdefault((scope, fqdn(h, ns, ix.domain), number), {}) \
                            .setdefault(protocol, set()).add(owner)
    reported: set[tuple[str, str]] = set()
    for (scope, host, port), protocols in index.items():
        merged = {p: set(o) for p, o in protocols.items()}
        if scope != ALL:
            for p, o in index.get((ALL, host, port), {}).items():
                merged.setdefault(p, set()).update(o)
        owners = sorted(set().union(*merged.values()))
        if len(merged) < 2 or len(owners) < 2:  # one object defined twice is not a conflict
            continue
        names = ", ".join(f"{ns}/{name}" for ns, name in owners)
        shown = ", ".join(sorted(p or "(unset)" for p in merged))
        for owner in owners:
            if owner in reported:
                continue
            reported.add(owner)
            for r in entries[owner]:
                yield ix.finding("IST0177", r, f"Multiple ServiceEntries ({names}) define the same host \"{host}\" "
                                 f"and port {port} with conflicting protocols ({shown}).")
