"""VirtualService checks: destinations, subsets, ports, weights, rule order, gateways, mesh hosts."""
from __future__ import annotations

from typing import Any, Iterator

from meshcode.istio import (
    ALL,
    ROUTE_SECTIONS,
    HostOverlaps,
    fqdn,
    gateway_host,
    route_destinations,
    wildcard_key,
    wildcard_keys,
)
from meshcode.analyze.index import (
    ASSUMED,
    MeshIndex,
    as_dict,
    as_list,
    managed,
    namespace_of,
    port_number,
    spec_of,
)
from meshcode.errors import Finding, listing
from meshcode.plan import Resource

Destination = tuple[str, str, str, "int | None", "str | None"]


def _destinations(r: Resource) -> tuple[list[str], list[Destination]]:
    """(exportTo, [(where, what, host, port, subset)]) of a VirtualService: read once per object."""
    spec = spec_of(r)
    export_to = [e for e in as_list(spec.get("exportTo")) if isinstance(e, str)]
    out: list[Destination] = []
    for where, what, d in route_destinations(spec):
        host = d.get("host")
        host = host if isinstance(host, str) else ""
        subset = d.get("subset")
        out.append((where, what, host, port_number(d.get("port")), subset if isinstance(subset, str) else None))
    return export_to, out


def check_destinations(ix: MeshIndex) -> Iterator[Finding]:
    """IST0101 / IST0112: route and mirror hosts must resolve (exportTo-aware), with a valid port
    and a subset some DestinationRule for that host defines (checked whether or not the host
    resolves, as Istio's DestinationRuleAnalyzer does)."""
    for r in ix.of("VirtualService"):
        ns = namespace_of(r)
        export_to, destinations = ix.cached("destinations", r, _destinations)
        assume = managed(r)
        for where, what, host, port, subset in destinations:
            entry = ix.resolve(host, ns, export_to, assume=assume) if host else None
            if subset and subset not in ix.subsets.get(fqdn(host, ns, ix.domain), ()):
                yield ix.finding("IST0101", r, "Referenced host+subset in destinationrule not found: "
                                 f'"{host}+{subset}" ({where})')
            if entry is None:
                yield ix.finding("IST0101", r, f'Referenced {what} not found: "{host}" ({where})')
                continue
            if entry is not ASSUMED and entry.ports:
                if port is None and len(entry.ports) > 1:
                    ports = listing((str(p) for p in sorted(entry.ports)), " ")
                    yield ix.finding("IST0112", r, f'This VirtualService routes to a service "{host}" that exposes '
                                     f"multiple ports [{ports}]. Specifying a port in the destination is "
                                     f"required to disambiguate. ({where})")
                elif port is not None and port not in entry.ports:
                    yield ix.finding("IST0101", r, f'Referenced host:port not found: "{host}:{port}" ({where})')


_HTTP_FAMILY = frozenset({"HTTP", "HTTP2", "GRPC", "GRPC-WEB", "HTTP_PROXY"})
_L4_FAMILY = frozenset({"TCP", "TLS", "HTTPS", "MONGO", "REDIS", "MYSQL"})
_OPAQUE = frozenset({"TCP", "MONGO", "REDIS", "MYSQL"})


def _port_protocol(label: str) -> str | None:
    """A Service port's protocol from its appProtocol/name ('HTTP-WEB' → HTTP), a ServiceEntry's as is."""
    head = label.split("-", 1)[0]
    return head if head in _HTTP_FAMILY | _L4_FAMILY else None


def check_destination_protocols(ix: MeshIndex) -> Iterator[Finding]:
    """MC5132: an `http` rule that sends to a TCP (Mongo, Redis, MySQL) port: sidecars handle it as TCP and
    never apply the rule; a gateway would speak HTTP to it."""
    for r in ix.of("VirtualService"):
        ns = namespace_of(r)
        export_to, destinations = ix.cached("destinations", r, _destinations)
        for where, what, host, port, _ in destinations:
            entry = ix.resolve(host, ns, export_to, assume=managed(r))
            if entry is None or entry is ASSUMED or not entry.ports:
                continue
            number = port if port is not None else (next(iter(entry.ports)) if len(entry.ports) == 1 else None)
            protocol = _port_protocol(entry.ports.get(number, "")) if number is not None else None
            if protocol is None:
                continue
            section = where.split("[", 1)[0]
            if section != "http" or protocol not in _OPAQUE:  # HTTPS/TLS: a DestinationRule may originate TLS
                continue
            yield ix.finding("MC5132", r, f'{where} sends {section} traffic to "{host}" port {number}, which '
                             f"speaks {protocol}: sidecars ignore this rule, gateways forward the wrong protocol")


Problem = tuple[str, str]  # (code, message) about one object, whatever cluster it is in


def _weight_problems(r: Resource) -> list[Problem]:
    out: list[Problem] = []
    spec = spec_of(r)
    for section in ROUTE_SECTIONS:
        for i, rule in enumerate(as_list(spec.get(section))):
            route = [as_dict(rd) for rd in as_list(as_dict(rule).get("route"))]
            weights = [rd.get("weight") for rd in route]
            if len(route) > 1:
                total = sum(w for w in weights if isinstance(w, int))
                if total != 100:
                    shown = " + ".join(str(w if isinstance(w, int) else 0) for w in weights)
                    out.append(("MC5101", f"{section}[{i}]: destination weights sum to {shown} = {total}, not 100"))
            elif len(route) == 1 and isinstance(weights[0], int) and weights[0] != 100:
                out.append(("MC5102", f"{section}[{i}]: the only destination has weight {weights[0]} but receives "
                            "all traffic; remove the weight or add the other destinations"))
    return out


def check_weights(ix: MeshIndex) -> Iterator[Finding]:
    """MC5101 / MC5102: a split's weights sum to 100; a lone destination's weight means nothing."""
    for r in ix.of("VirtualService"):
        for code, message in ix.cached("weights", r, _weight_problems):
            yield ix.finding(code, r, message)


def _rule_name(rule: dict[str, Any], i: int) -> str:
    name = rule.get("name")
    return f'"{name}"' if isinstance(name, str) and name else f"#{i}"


def _match_name(match: dict[str, Any], i: int) -> str:
    name = match.get("name")
    return f'"{name}"' if isinstance(name, str) and name else f"#{i}"


def _freeze(value: Any) -> Any:
    """A hashable, key-order-independent form of a JSON value (Istio compares matches as JSON)."""
    if isinstance(value, dict):
        return tuple(sorted(((k, _freeze(v)) for k, v in value.items()), key=_by_key))
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _by_key(item: tuple[Any, Any]) -> tuple[str, str]:
    """Sort order of mapping keys, whatever their type (YAML allows 1, null or true as keys)."""
    return (type(item[0]).__name__, str(item[0]))


def _key(match: dict[str, Any], drop: tuple[str, ...]) -> Any:
    return tuple(sorted(((k, _freeze(v)) for k, v in match.items() if k not in drop), key=_by_key))


SUBSUMABLE = ("uri", "method", "authority", "headers", "queryParams")  # a broader condition covers a narrower one


def _string_covers(a: Any, b: Any) -> bool:
    """StringMatch `a` accepts everything `b` does (a missing `a` accepts anything)."""
    if a is None:
        return True
    a, b = as_dict(a), as_dict(b)
    if a == b:
        return True
    prefix = a.get("prefix")
    if len(a) != 1 or not isinstance(prefix, str):
        return False
    value = b.get("exact", b.get("prefix"))
    return len(b) == 1 and "regex" not in b and isinstance(value, str) and value.startswith(prefix)


def _map_covers(a: Any, b: Any) -> bool:
    """Header/query conditions `a` accept every request `b` does: each of a's keys is in b, covered."""
    a, b = as_dict(a), as_dict(b)
    return all(k in b and _string_covers(v, b[k]) for k, v in a.items())


def _covers(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """HTTP match `a` accepts every request match `b` accepts (same other conditions, broader or
    equal URI prefix, method, authority, headers and query parameters)."""
    return (_string_covers(a.get("method"), b.get("method")) and _string_covers(a.get("authority"), b.get("authority"))
            and _map_covers(a.get("headers"), b.get("headers"))
            and _map_covers(a.get("queryParams"), b.get("queryParams")))


def _uri_prefix(match: dict[str, Any]) -> str | None:
    """The URI prefix a match accepts ('' for any URI), or None when it is exact/regex."""
    uri = match.get("uri")
    if uri is None:
        return ""
    uri = as_dict(uri)
    prefix = uri.get("prefix")
    return prefix if isinstance(prefix, str) and len(uri) == 1 else None


def _uri_value(match: dict[str, Any]) -> tuple[str, str] | None:
    """('prefix' | 'exact', value) of a match's URI condition, or None (regex, or no URI)."""
    uri = as_dict(match.get("uri"))
    for how in ("prefix", "exact"):
        if isinstance(uri.get(how), str) and len(uri) == 1:
            return how, uri[how]
    return None


def _unreachable(section: str, rules: list[Any]) -> Iterator[Problem]:
    """IST0130 / IST0131, as Istio's validation finds them, plus covered matches for HTTP.

    A later HTTP match is covered when an earlier one has the same other conditions and broader
    or equal URI prefix, method, authority, headers and query parameters: a match without a
    method accepts every method, so it covers a GET match (Istio's method-less rule). Matches of
    one rule cover each other too (Istio's overlap inside a single match); an exact URI is only
    judged against earlier rules. Candidates are looked up by every prefix of the later URI, so
    the check stays linear in the number of matches for realistic rule sets.
    """
    seen: dict[Any, int] = {}
    covering: dict[tuple[Any, str], list[tuple[int, int, dict[str, Any]]]] = {}
    catch_all = -1
    for i, rule in enumerate(rules):
        rule = as_dict(rule)
        ruleno = f"{section}{_rule_name(rule, i)}" if section != "http" else _rule_name(rule, i)
        match_list = [as_dict(m) for m in as_list(rule.get("match"))]
        if not match_list:
            if catch_all >= 0:
                yield "IST0130", f"VirtualService rule {ruleno} not used (only the last rule can have no matches)."
            catch_all = i
            continue
        if catch_all >= 0:
            yield "IST0130", f"VirtualService rule {ruleno} not used (route without matches defined before)."
            continue
        used = 0
        for j, m in enumerate(match_list):
            key = _key(m, ("name",))
            if key in seen:
                dup = seen[key]
                yield "IST0131", (f"VirtualService rule {ruleno} match {_match_name(m, j)} is not used "
                                  f"(duplicate/overlapping match in rule {_rule_name(as_dict(rules[dup]), dup)}).")
                used += 1
                continue
            seen[key] = i
            if section != "http":
                continue
            rest = _key(m, ("name", "statPrefix", *SUBSUMABLE))
            uri = _uri_value(m) if "uri" in m else ("prefix", "")
            if uri is not None:
                how, value = uri
                by = next(((k, n, a) for cut in range(len(value) + 1)
                           for k, n, a in covering.get((rest, value[:cut]), ())
                           if (k != i or how == "prefix") and _covers(a, m)), None)
                if by is not None:
                    k, n, a = by
                    yield "IST0131", (f"VirtualService rule {ruleno} match {_match_name(m, j)} of {how} {value!r} "
                                      f"is not used (duplicate/overlapping match in rule "
                                      f"{_rule_name(as_dict(rules[k]), k)} match {_match_name(a, n)} of prefix "
                                      f"{_uri_prefix(a)!r}).")
                    used += k != i
                    continue
            prefix = _uri_prefix(m)
            if prefix is not None:
                covering.setdefault((rest, prefix), []).append((i, j, m))
        if used == len(match_list):
            yield "IST0130", f"VirtualService rule {ruleno} not used (all matches used by prior rules)."


def _order_problems(r: Resource) -> list[Problem]:
    spec = spec_of(r)
    out: list[Problem] = []
    for section in ROUTE_SECTIONS:
        rules = as_list(spec.get(section))
        if len(rules) > 1 or (rules and len(as_list(as_dict(rules[0]).get("match"))) > 1):
            out.extend(_unreachable(section, rules))
    return out


def check_rule_order(ix: MeshIndex) -> Iterator[Finding]:
    """IST0130 / IST0131: rules after a catch-all, duplicate matches, prefix-covered matches."""
    for r in ix.of("VirtualService"):
        for code, message in ix.cached("rule-order", r, _order_problems):
            yield ix.finding(code, r, message)


class GatewayHosts:
    """The hosts one Gateway serves, indexed so a VirtualService host is matched in O(labels)."""

    def __init__(self, gw: Resource):
        gw_ns = namespace_of(gw)
        self.exact: dict[str, set[str]] = {}
        self.wild: dict[str, set[str]] = {}
        self.suffixes: dict[str, set[str]] = {}
        for server in as_list(spec_of(gw).get("servers")):
            for h in as_list(as_dict(server).get("hosts")):
                if not isinstance(h, str):
                    continue
                scope, host = gateway_host(h, gw_ns)
                if host.startswith("*"):
                    key = wildcard_key(host)
                    self.wild.setdefault(key, set()).add(scope)
                    for k in wildcard_keys("*" + key):
                        self.suffixes.setdefault(k, set()).add(scope)
                else:
                    self.exact.setdefault(host, set()).add(scope)
                    for k in wildcard_keys(host):
                        self.suffixes.setdefault(k, set()).add(scope)

    def serves(self, host: str, namespace: str) -> bool:
        def ok(scopes: set[str] | None) -> bool:
            return bool(scopes) and (ALL in scopes or namespace in scopes)  # type: ignore[operator]

        if not host.startswith("*") and ok(self.exact.get(host)):
            return True
        if any(ok(self.wild.get(k)) for k in wildcard_keys(host)):
            return True
        return host.startswith("*") and ok(self.suffixes.get(wildcard_key(host)))


def gateway_ref(ref: str, namespace: str) -> tuple[str, str]:
    ns, sep, name = ref.partition("/")
    return (ns, name) if sep else (namespace, ref)


INTERNAL_GATEWAY_MARK = "~istio-autogenerated-k8s-gateway~"


def internal_gateway(ref: str) -> bool:
    """A reference to a Gateway istiod generates for a Kubernetes Gateway API Gateway: not for users."""
    return INTERNAL_GATEWAY_MARK in ref.partition("/")[2 if "/" in ref else 0]


def check_gateways(ix: MeshIndex) -> Iterator[Finding]:
    """IST0101 / IST0132 / IST0165: a bound Gateway exists, is not an internal generated one, and
    serves the VirtualService's hosts (`ns/host`, `./host`, `*/host` and wildcard forms).

    A missing Gateway is reported once (IST0101; istioctl adds an IST0132 for it as well). Beyond
    istioctl, a host that none of the bound Gateways serves is reported when others are served."""
    cache: dict[int, GatewayHosts] = {}
    for r in ix.of("VirtualService"):
        spec = spec_of(r)
        refs = [g for g in as_list(spec.get("gateways")) if isinstance(g, str)]
        if not refs:
            continue
        ns = namespace_of(r)
        hosts = [h for h in as_list(spec.get("hosts")) if isinstance(h, str)]
        served_any: set[str] = set()
        bound: list[str] = []
        for ref in refs:
            if ref == "mesh":
                continue
            if internal_gateway(ref):
                yield ix.finding("IST0165", r, f"Gateway reference in VirtualService {ns}/{r.name} is to an "
                                 f"implementation-generated internal Gateway: {ref}.")
                continue
            gns, gname = gateway_ref(ref, ns)
            gw = ix.by_name.get(("Gateway", gns, gname))
            if gw is None:
                yield ix.finding("IST0101", r, f'Referenced gateway not found: "{ref}"')
                continue
            index = cache.get(id(gw))
            if index is None:
                index = cache[id(gw)] = GatewayHosts(gw)
            served = {h for h in hosts if index.serves(h, ns)}
            bound.append(f"{gns}/{gname}")
            if hosts and not served:
                yield ix.finding("IST0132", r, f"one or more host [{listing(hosts, ' ')}] defined in VirtualService "
                                 f"{ns}/{r.name} not found in Gateway {gns}/{gname}.")
            served_any |= served
        if "mesh" in refs or not served_any:
            continue
        missing = [h for h in hosts if h not in served_any]
        if missing:
            yield ix.finding("IST0132", r, f"one or more host [{listing(missing, ' ')}] defined in VirtualService "
                             f"{ns}/{r.name} not found in any of its Gateways ({listing(bound)}).")


def _subset_hosts(r: Resource) -> list[str]:
    """Hosts a VirtualService splits by subset: an http destination with a subset whose host is
    one of the VirtualService's own hosts (as written)."""
    spec = spec_of(r)
    own = {h for h in as_list(spec.get("hosts")) if isinstance(h, str)}
    out: list[str] = []
    for rule in as_list(spec.get("http")):
        for rd in as_list(as_dict(rule).get("route")):
            d = as_dict(as_dict(rd).get("destination"))
            host = d.get("host")
            if d.get("subset") and isinstance(host, str) and host in own and host not in out:
                out.append(host)
    return out


def check_ingress_subsets(ix: MeshIndex) -> Iterator[Finding]:
    """IST0140: a gateway-bound VirtualService routes to a host without a subset while another
    VirtualService splits that host by subset: requests through the gateway bypass that split
    (the gateway applies only the VirtualServices bound to it)."""
    splitting: dict[str, list[Resource]] = {}
    for r in ix.of("VirtualService"):
        for host in ix.cached("subset-hosts", r, _subset_hosts):
            splitting.setdefault(host, []).append(r)
    if not splitting:
        return
    for r in ix.of("VirtualService"):
        spec = spec_of(r)
        if not as_list(spec.get("gateways")):
            continue
        for rule in as_list(spec.get("http")):
            for rd in as_list(as_dict(rule).get("route")):
                d = as_dict(as_dict(rd).get("destination"))
                host = d.get("host")
                if d.get("subset") or not isinstance(host, str):
                    continue
                for other in splitting.get(host, ()):
                    yield ix.finding("IST0140", r, f"Subset in virtual service {namespace_of(other)}/{other.name} "
                                     f"has no effect on ingress gateway {namespace_of(r)}/{r.name} requests")


def _mesh_claims(domain: str) -> Any:
    def scoped_hosts(r: Resource) -> list[tuple[str, str]]:
        """(scope, FQDN) for each host of a mesh-bound VirtualService: scope '*' when exported to
        every namespace, else each namespace it is exported to."""
        spec = spec_of(r)
        gateways = as_list(spec.get("gateways"))
        if gateways and "mesh" not in gateways:
            return []
        ns = namespace_of(r)
        export_to = [e for e in as_list(spec.get("exportTo")) if isinstance(e, str)]
        scopes = {ALL} if not export_to or ALL in export_to else {ns if e == "." else e for e in export_to}
        return [(scope, fqdn(h, ns, domain)) for h in as_list(spec.get("hosts")) if isinstance(h, str)
                for scope in sorted(scopes)]
    return scoped_hosts


def check_mesh_host_conflicts(ix: MeshIndex) -> Iterator[Finding]:
    """IST0109: two VirtualServices bound to the mesh gateway claim the same host in one scope.

    As istioctl: hosts exported to every namespace conflict when equal; a host exported to some
    namespaces also conflicts with every overlapping host (wildcards included) exported to all.
    Each VirtualService is reported once. Definitions with the same namespace and name are one
    object applied twice, not a conflict.
    """
    claims: dict[tuple[str, str], dict[tuple[str, str], list[Resource]]] = {}
    everywhere: HostOverlaps[tuple[str, str]] = HostOverlaps()
    docs: dict[tuple[str, str], list[Resource]] = {}
    scoped_hosts = _mesh_claims(ix.domain)
    for r in ix.of("VirtualService"):
        owner = (namespace_of(r), r.name)
        for claim in ix.cached(f"mesh-hosts {ix.domain}", r, scoped_hosts):  # the FQDNs depend on the domain
            owners = claims.setdefault(claim, {})
            if owner not in owners:
                owners[owner] = docs.setdefault(owner, [])
                if claim[0] == ALL:
                    everywhere.add(claim[1], owner)
            if not any(d is r for d in owners[owner]):
                owners[owner].append(r)
    reported: set[tuple[str, str]] = set()
    for (scope, host), owners in claims.items():
        conflicting = set(owners)
        if scope != ALL:
            conflicting |= everywhere.overlapping(host)
        if len(conflicting) < 2:
            continue
        names = listing((f"{ns}/{name}" for ns, name in sorted(conflicting)), ",")
        where = host if scope == ALL else f"{host} (as seen from namespace {scope})"
        for owner in sorted(conflicting - reported):
            reported.add(owner)
            for r in docs[owner]:
                yield ix.finding("IST0109", r, f"The VirtualServices {names} associated with mesh gateway define the "
                                 f"same host {where} which can lead to undefined behavior. This can be fixed by "
                                 "merging the conflicting VirtualServices into a single resource.")
