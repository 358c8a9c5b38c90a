"""Gateway and ServiceEntry checks: listener conflicts, TCP entries without addresses, protocols."""
from __future__ import annotations

from bisect import bisect_left
from typing import Iterator

from meshcode.istio import ALL, HostOverlaps, export_scopes, fqdn, gateway_host, matches
from meshcode.analyze.index import MeshIndex, as_dict, as_list, namespace_of, port_number, spec_of
from meshcode.errors import MAX_LISTED, Finding, listing
from meshcode.plan import Resource


def _selector_text(selector: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items(), key=lambda kv: str(kv[0])))


def check_gateway_conflicts(ix: MeshIndex) -> Iterator[Finding]:
    """IST0145: two Gateways with the same selector and port serve overlapping hosts."""
    listeners: dict[tuple[str, int], HostOverlaps] = {}
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
            listener = listeners.setdefault(key, HostOverlaps())
            for h in hosts:
                listener.add(h, owner)
            servers.append((gw, owner, key, hosts))
    groups: dict[tuple[tuple[str, int], tuple[str, ...]], list[tuple[str, str]]] = {}
    for gw, owner, key, hosts in servers:
        # servers of one listener with the same hosts overlap the same gateways: found and sorted
        # once, so a thousand Gateways for one host cost a thousand lookups, not a million
        ordered = groups.get((key, tuple(hosts)))
        if ordered is None:
            listener = listeners[key]
            found: set[tuple[str, str]] = set()
            for h in hosts:
                found |= listener.overlapping(h)
            ordered = groups[(key, tuple(hosts))] = sorted(found)
        count = len(ordered) - (1 if _contains(ordered, owner) else 0)
        if count:
            first = [o for o in ordered[:MAX_LISTED + 1] if o != owner]
            names = listing((f"{ns}/{name}" for ns, name in first), ",", total=count)
            yield ix.finding("IST0145", gw, f"Conflict with gateways {names} (workload selector {key[0]}, port "
                             f"{key[1]}, hosts {listing(hosts, ',')}).")


def _contains(ordered: list[tuple[str, str]], owner: tuple[str, str]) -> bool:
    i = bisect_left(ordered, owner)
    return i < len(ordered) and ordered[i] == owner


def check_service_entry_addresses(ix: MeshIndex) -> Iterator[Finding]:
    """IST0134: a TCP (or protocol-less) port needs addresses, or sidecars cannot tell hosts apart.

    Not when istiod already allocated addresses (status.addresses), nor when the mesh config
    turns on DNS capture with address auto-allocation (as istioctl)."""
    if ix.mesh.auto_allocates_addresses:  # sidecars capture DNS and allocate addresses themselves
        return
    for r in ix.of("ServiceEntry"):
        spec = spec_of(r)
        if spec.get("addresses") or as_list(as_dict(r.obj.get("status")).get("addresses")):
            continue
        ports = [as_dict(p) for p in as_list(spec.get("ports"))]
        tcp = [str(p.get("number")) for p in ports if str(p.get("protocol") or "TCP").upper() == "TCP"]
        if tcp:
            yield ix.finding("IST0134", r, "ServiceEntry addresses are required for this protocol "
                             f"(TCP port {listing(tcp)}).")


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
        names = listing(f"{ns}/{name}" for ns, name in owners)
        shown = listing(sorted(p or "(unset)" for p in merged))
        for owner in owners:
            if owner in reported:
                continue
            reported.add(owner)
            for r in entries[owner]:
                yield ix.finding("IST0177", r, f"Multiple ServiceEntries ({names}) define the same host \"{host}\" "
                                 f"and port {port} with conflicting protocols ({shown}).")


def _certificate(tls: dict) -> tuple[str, ...] | None:
    """What identifies a server's certificate (Istio's haveSameCertificate): its credentialName,
    else its serverCertificate and privateKey files; None without either."""
    name = tls.get("credentialName")
    if isinstance(name, str) and name:
        return ("credentialName", name)
    cert, key = tls.get("serverCertificate"), tls.get("privateKey")
    if isinstance(cert, str) and cert and isinstance(key, str) and key:
        return ("files", cert, key)
    return None


def _selects_superset(selector: dict, other: dict) -> bool:
    return all(other.get(k) == v for k, v in selector.items())


def check_duplicate_certificates(ix: MeshIndex) -> Iterator[Finding]:
    """IST0138: two Gateways for the same gateway workloads serve one certificate: clients that
    reuse an HTTP/2 connection for the other Gateway's host get 404s.

    As istioctl: gateway B counts for gateway A when A's selector is a subset of B's (an empty
    selector selects every gateway), across namespaces. Gateways are grouped by certificate first,
    so only Gateways sharing one are compared.
    """
    by_certificate: dict[tuple[str, ...], dict[tuple[str, str], Resource]] = {}
    for gw in ix.of("Gateway"):
        for server in as_list(spec_of(gw).get("servers")):
            cert = _certificate(as_dict(as_dict(server).get("tls")))
            if cert is not None:
                by_certificate.setdefault(cert, {}).setdefault((namespace_of(gw), gw.name), gw)
    for cert, gateways in by_certificate.items():
        if len(gateways) < 2:
            continue
        ordered = sorted(gateways.items())
        selectors = [as_dict(spec_of(gw).get("selector")) for _, gw in ordered]
        supersets: dict[object, list[tuple[str, str]]] = {}  # per distinct selector: gateways selecting a superset
        for (owner, gw), selector in zip(ordered, selectors):
            key = _selector_key(selector, gw)
            matching = supersets.get(key)
            if matching is None:
                matching = supersets[key] = [o for (o, _), other in zip(ordered, selectors)
                                             if _selects_superset(selector, other)]
            count = len(matching) - (1 if _contains(matching, owner) else 0)
            if count:
                first = [f"{ns}/{name}" for ns, name in matching[:MAX_LISTED + 1] if (ns, name) != owner]
                names = f"{owner[0]}/{owner[1]} {listing(first, ' ', total=count)}"
                yield ix.finding("IST0138", gw, f"Duplicate certificate in multiple gateways [{names}] may cause 404s "
                                 f"if clients re-use HTTP2 connections ({cert[0]} {cert[1]}).")


def _selector_key(selector: dict, gw: Resource) -> object:
    """Equal for selectors that select the same gateways; the Gateway itself when unhashable."""
    try:
        key = tuple(sorted(selector.items(), key=lambda kv: str(kv[0])))
        hash(key)
        return key
    except TypeError:
        return id(gw)


_PASSTHROUGH = ("PASSTHROUGH", "AUTO_PASSTHROUGH")


def _server_accepts(server: dict, section: str) -> bool:
    """Whether a Gateway server hands connections to a VirtualService's `http`, `tcp` or `tls` rules."""
    protocol = str(as_dict(server.get("port")).get("protocol") or "").upper()
    mode = str(as_dict(server.get("tls")).get("mode") or "").upper()
    if section == "http":
        return protocol in ("HTTP", "HTTP2", "GRPC") or (protocol == "HTTPS" and mode not in _PASSTHROUGH)
    if section == "tls":
        return protocol in ("TLS", "HTTPS") and mode in _PASSTHROUGH
    return protocol in ("TCP", "MONGO", "REDIS", "MYSQL") or (protocol == "TLS" and mode not in _PASSTHROUGH)


def check_gateway_route_protocols(ix: MeshIndex) -> Iterator[Finding]:
    """MC5131: a gateway-bound VirtualService's http/tcp/tls rules need a server of that protocol
    for its hosts; otherwise the gateway never uses them (e.g. http routes behind a TCP server)."""
    for r in ix.of("VirtualService"):
        spec = spec_of(r)
        refs = [g for g in as_list(spec.get("gateways")) if isinstance(g, str) and g != "mesh"]
        if not refs:
            continue
        ns = namespace_of(r)
        hosts = [h for h in as_list(spec.get("hosts")) if isinstance(h, str)]
        servers: list[dict] = []
        for ref in refs:
            gns, _, gname = ref.partition("/") if "/" in ref else (ns, "", ref)
            gw = ix.by_name.get(("Gateway", gns, gname))
            if gw is None:
                continue  # IST0101 reports it
            for server in as_list(spec_of(gw).get("servers")):
                server = as_dict(server)
                served = [gateway_host(h, gns)[1] for h in as_list(server.get("hosts")) if isinstance(h, str)]
                if any(matches(h, s) for h in hosts for s in served):
                    servers.append(server)
        if not servers:
            continue  # IST0132 reports hosts no server serves
        for section in ("http", "tcp", "tls"):
            if as_list(spec.get(section)) and not any(_server_accepts(s, section) for s in servers):
                kinds = sorted({str(as_dict(s.get("port")).get("protocol") or "?").upper()
                                + (" PASSTHROUGH" if str(as_dict(s.get("tls")).get("mode") or "").upper()
                                   in _PASSTHROUGH else "") for s in servers})
                yield ix.finding("MC5131", r, f"{section} routes bound to gateway(s) {', '.join(refs)}, whose "
                                 f"servers for these hosts are {', '.join(kinds)}: the gateway never uses them "
                                 f"(a {section} route needs a {_WANTS[section]} server)")


_WANTS = {"http": "HTTP or HTTPS", "tcp": "TCP (or terminated TLS)", "tls": "TLS/HTTPS PASSTHROUGH"}
