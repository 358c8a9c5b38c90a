"""`meshcode import`: existing Istio YAML → an idiomatic stack, with nothing lost.

Each object becomes intent (a `Service` with its versions, routes, canary and resilience; an
`Ingress`; an `ExternalService`; a `SidecarScope`; a `ZeroTrust` mTLS mode) only when the
compiled intent means the same as the object: every candidate is evaluated, compiled and compared
with the input in canonical form (`normalize.py`). Everything else is kept as `Verbatim(...)`,
and the report says why, at the object's file and line. Pure: resources in, source and report out.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from meshcode.intent.edge import ExternalService, Ingress, ServerTLS, SidecarScope
from meshcode.intent.resilience import CircuitBreaker, ClientTLS, LoadBalancer, OutlierDetection
from meshcode.intent.security import ZeroTrust
from meshcode.intent.service import Port, Service, Version
from meshcode.intent.topology import Cluster, Mesh
from meshcode.intent.traffic import Abort, Canary, Delay, Dest, Exact, Fault, Match, Mirror, Prefix, Regex, Retries, Route
from meshcode.intent.verbatim import Verbatim
from meshcode.compile import compile_mesh
from meshcode.errors import Finding, MeshcodeError
from meshcode.importer import mapping, normalize
from meshcode.importer.mapping import Names, NoMapping
from meshcode.importer.source import Call, NotALiteral, Ref, call, evaluate, literal, render, used_names
from meshcode.inference import comment, docstring_text, identifier, infer_services
from meshcode.intent.base import DNS_LABEL_RE
from meshcode.intent.verbatim import KUBECTL_ANNOTATION, SERVER_FIELDS
from meshcode.istio import fqdn, service_key
from meshcode.plan import MANAGED_BY, Plan, Resource

ISTIO_GROUPS = ("networking.istio.io/", "security.istio.io/", "telemetry.istio.io/", "extensions.istio.io/",
                "gateway.networking.k8s.io/", "gateway.networking.x-k8s.io/")
FACT_KINDS = frozenset({"Service", "Namespace", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod",
                        "Job", "CronJob", "ServiceAccount"})
ROOT_NAMESPACE = "istio-system"


@dataclass
class Item:
    """One input object and what became of it."""

    where: str  # file:line
    kind: str
    namespace: str
    name: str
    outcome: str = "verbatim"  # imported | verbatim | skipped | refused
    detail: str = ""  # what it became, or why it did not

    @property
    def title(self) -> str:
        return f"{self.kind} {self.namespace + '/' if self.namespace else ''}{self.name}"


@dataclass
class ImportResult:
    source: str
    items: list[Item] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for i in self.items if i.outcome == outcome)

    @property
    def ok(self) -> bool:
        return not self.count("refused")


# ---- the SDK names the stack may call ------------------------------------------------------------
SDK: dict[str, Callable[..., Any]] = {c.__name__: c for c in (
    Abort, Canary, CircuitBreaker, ClientTLS, Cluster, Delay, Dest, Exact, ExternalService, Fault, Ingress,
    LoadBalancer, Match, Mesh, Mirror, OutlierDetection, Port, Prefix, Regex, Retries, Route, ServerTLS, Service,
    SidecarScope, Verbatim, Version, ZeroTrust)}


def sdk() -> dict[str, Callable[..., Any]]:
    return SDK


# ---- reading the input -----------------------------------------------------------------------------
@dataclass
class Obj:
    obj: dict[str, Any]
    item: Item

    @property
    def kind(self) -> str:
        return self.item.kind

    @property
    def namespace(self) -> str:
        return self.item.namespace

    @property
    def name(self) -> str:
        return self.item.name

    @property
    def spec(self) -> dict[str, Any]:
        spec = self.obj.get("spec")
        return spec if isinstance(spec, dict) else {}


def clean(obj: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The object as its author wrote it: API-server bookkeeping (status, uid, resourceVersion, …),
    kubectl's last-applied copy and another tool's managed-by label dropped (each named)."""
    obj = copy.deepcopy(obj)
    dropped = []
    if "status" in obj:
        obj.pop("status")
        dropped.append("status")
    meta = obj["metadata"]
    for key in sorted(set(meta) & SERVER_FIELDS):
        meta.pop(key)
        dropped.append(f"metadata.{key}")
    notes = meta.get("annotations")
    if isinstance(notes, dict) and KUBECTL_ANNOTATION in notes:
        notes.pop(KUBECTL_ANNOTATION)
        dropped.append(f"annotation {KUBECTL_ANNOTATION}")
        if not notes:
            meta.pop("annotations")
    labels = meta.get("labels")
    if isinstance(labels, dict) and MANAGED_BY in labels:
        dropped.append(f"label {MANAGED_BY}={labels.pop(MANAGED_BY)}")
        if not labels:
            meta.pop("labels")
    literal(obj)  # raises NotALiteral for what no stack can hold
    return obj, dropped


# ---- the importer ------------------------------------------------------------------------------------
class Importer:
    def __init__(self, resources: list[Resource], where: Callable[[Resource], str]):
        self.items: list[Item] = []
        self.objects: list[Obj] = []
        self.facts: list[Resource] = []
        self.taken: set[str] = set(sdk()) | {"mesh"}
        latest: dict[tuple[str, str, str], Obj] = {}
        for r in resources:
            ns = r.namespace or ("" if r.kind == "Namespace" else "default")
            item = Item(where(r), r.kind, ns, r.name)
            self.items.append(item)
            if r.kind in FACT_KINDS and (r.api_version == "v1" or r.api_version.startswith(("apps/", "batch/"))):
                item.outcome, item.detail = "skipped", ("read for facts (ports, versions, service accounts); "
                                                        "workload objects stay with your workload manifests")
                if r.kind != "Namespace":
                    self.facts.append(r)
                continue
            if not r.api_version.startswith(ISTIO_GROUPS):
                item.outcome, item.detail = "skipped", "not service-mesh configuration; left where it is"
                continue
            try:
                obj, dropped = clean(r.obj)
            except NotALiteral as e:
                item.outcome, item.detail = "refused", f"cannot be kept: {e}"
                continue
            obj["metadata"].setdefault("namespace", ns)
            if dropped:
                item.detail = f"dropped what the API server or kubectl wrote: {', '.join(dropped)}"
            o = Obj(obj, item)
            key = (r.kind, ns, r.name)
            if key in latest:
                first = latest[key]
                first.item.outcome, first.item.detail = "skipped", (
                    f"replaced by the later definition at {item.where}, as applying the files in this order would")
                self.objects.remove(first)
            latest[key] = o
            self.objects.append(o)
        self.services = {}
        for s in infer_services(self.facts)[0]:
            try:
                evaluate(self.skeleton_of(s), SDK, {})
            except MeshcodeError as e:
                for item in self.items:
                    if item.kind == "Service" and (item.namespace, item.name) == (s.namespace, s.name):
                        item.detail = f"not imported as a Service: {first_line(e)}"
                continue
            self.services[(s.namespace, s.name)] = s
        self.vars: dict[tuple[str, str], Ref] = {}
        for key in sorted(self.services):
            self.vars[key] = Ref(identifier(key[1] if sum(1 for k in self.services if k[1] == key[1]) == 1
                                            else f"{key[1]}_{key[0]}", self.taken))
        self.externals: dict[str, Ref] = {}
        self.service_exprs: dict[tuple[str, str], Call] = {}
        self.skeletons: dict[str, Call] = {}
        self.statements: list[tuple[str, Call, list[str]]] = []  # (variable, expression, comments)
        self.mesh_fields: dict[str, list[Any]] = {k: [] for k in (
            "services", "ingresses", "external_services", "sidecars", "zero_trust", "verbatim")}

    # -- helpers ------------------------------------------------------------------------------------
    def names(self) -> Names:
        return Names(self.vars, self.externals)

    def port_count(self, host: str) -> int | None:
        key = service_key(host, "")
        s = self.services.get(key) if key else None
        return len(s.ports) if s else None

    def pending(self, kinds: Iterable[str]) -> list[Obj]:
        return [o for o in self.objects if o.kind in kinds and o.item.outcome == "verbatim" and not o.item.detail.startswith("as ")]

    def imported(self, o: Obj, what: str) -> None:
        o.item.outcome = "imported"
        o.item.detail = what + (f" ({o.item.detail})" if o.item.detail else "")
        o.item.detail = o.item.detail

    def keep(self, o: Obj, why: str) -> None:
        o.item.outcome = "verbatim"
        o.item.detail = why

    def evaluate(self, exprs: dict[str, Call], extra: dict[str, list[Call]]) -> Plan:
        """Compile a mesh of the given service variables plus `extra` Mesh fields; raises on any error."""
        names = sdk()
        refs: dict[str, Any] = {}
        for var, expr in exprs.items():
            refs[var] = evaluate(expr, names, refs)
        fields = {k: [evaluate(e, names, refs) for e in v] for k, v in extra.items()}
        mesh = names["Mesh"]("check", clusters=[names["Cluster"]("c")], services=list(refs.values()), argocd=None,
                             **fields)
        return compile_mesh(mesh)

    def skeleton(self, key: tuple[str, str], versions: list[Any] | None = None) -> Call:
        return self.skeleton_of(self.services[key], versions)

    @staticmethod
    def skeleton_of(s: Any, versions: list[Any] | None = None) -> Call:
        ports = [call("Port", p.number, p.protocol, name=p.name, target_port=p.target_port) for p in s.ports]
        return call("Service", s.name, namespace=s.namespace, ports=ports, versions=versions,
                    service_account=s.service_account)

    # -- services: DestinationRule, then the mesh VirtualService ----------------------------------------
    def _host_objects(self, kind: str) -> dict[tuple[str, str], list[Obj]]:
        out: dict[tuple[str, str], list[Obj]] = {}
        for o in self.pending({kind}):
            if kind == "VirtualService":
                gateways = o.spec.get("gateways")
                hosts = o.spec.get("hosts")
                if gateways not in (None, [], ["mesh"]) or not isinstance(hosts, list) or len(hosts) != 1:
                    continue
                key = service_key(hosts[0], o.namespace) if isinstance(hosts[0], str) else None
            else:
                host = o.spec.get("host")
                key = service_key(host, o.namespace) if isinstance(host, str) else None
            if key in self.services:
                out.setdefault(key, []).append(o)
        return out

    def import_services(self) -> None:
        self.skeletons = {self.vars[k].name: self.skeleton(k) for k in self.services}
        drs = self._host_objects("DestinationRule")
        vss = self._host_objects("VirtualService")
        chosen_dr: dict[tuple[str, str], tuple[Obj, list[Any], dict[str, Any]]] = {}
        for key, objs in drs.items():
            for extra in objs[1:]:
                self.keep(extra, f"a second DestinationRule for {fqdn(key[1], key[0])} (first at {objs[0].item.where}): "
                                 "Istio applies one per host; kept as written")
            o = objs[0]
            if o.namespace != key[0]:
                self.keep(o, f"it sits in namespace {o.namespace}, not in the service's ({key[0]}); meshcode writes a "
                             "service's DestinationRule beside it")
                continue
            try:
                versions, kw = mapping.versions(o.obj)
            except UNREADABLE as e:
                self.keep(o, f"{e}; kept as written")
                continue
            candidate = self.skeleton(key, versions).with_kwargs(**kw, **({"default_to": "all"} if versions else {}))
            why = self.check_service(key, candidate, {"DestinationRule": o})
            if why:
                self.keep(o, why)
                continue
            chosen_dr[key] = (o, versions, kw)
        skeletons = {self.vars[k].name: self.skeleton(k, chosen_dr[k][1] if k in chosen_dr else None)
                     for k in self.services}
        self.skeletons = skeletons
        for key in self.services:
            dr = chosen_dr.get(key)
            base = self.skeleton(key, dr[1] if dr else None)
            if dr:
                base = base.with_kwargs(**dr[2])
            expected: dict[str, Obj | None] = {"DestinationRule": dr[0] if dr else None}
            final = None
            vs_objs = vss.get(key, [])
            for extra in vs_objs[1:]:
                self.keep(extra, f"a second VirtualService for {fqdn(key[1], key[0])} (first at "
                                 f"{vs_objs[0].item.where}); kept as written")
            if vs_objs:
                vs = vs_objs[0]
                try:
                    candidates = self.service_routes(key, vs, base)
                    why = "no candidate"
                    for candidate in candidates:
                        why = self.check_service(key, candidate, {**expected, "VirtualService": vs})
                        if not why:
                            final = candidate
                            self.imported(vs, f"as the routes of Service {key[1]}" + (
                                " (a Canary)" if any(k == "canary" for k, _ in candidate.kwargs) else ""))
                            if vs.name != key[1]:
                                vs.item.detail += f"; the VirtualService is now named {key[1]}"
                            break
                    if final is None:
                        self.keep(vs, why)
                except UNREADABLE as e:
                    self.keep(vs, f"{e}; kept as written")
            if final is None:
                final = base.with_kwargs(default_to="all") if dr and dr[1] else base
                why = self.check_service(key, final, expected)
                if why:  # never expected: the DestinationRule alone was checked above
                    raise AssertionError(why)
            if dr:
                self.imported(dr[0], f"as the {'versions' if dr[1] else ''}{' and ' if dr[1] and dr[2] else ''}"
                                     f"{'traffic policy' if dr[2] else ''} of Service {key[1]}")
            self.service_exprs[key] = final

    def service_routes(self, key: tuple[str, str], vs: Obj, base: Call) -> list[Call]:
        """Candidate Service expressions carrying the VirtualService (a canary first, when one fits)."""
        spec = vs.spec
        mapping._only(spec, {"hosts", "gateways", "http", "tcp", "tls", "exportTo"} - {"exportTo"}, "spec.")
        names = self.names()
        http, tcp, tls = spec.get("http") or [], spec.get("tcp") or [], spec.get("tls") or []
        if sum(1 for s in (http, tcp, tls) if s) != 1:
            raise NoMapping("only one of http, tcp, tls routes has a one-to-one meshcode intent")
        if http:
            for i, r in enumerate(http[:-1]):
                if isinstance(r, dict) and not r.get("match"):
                    raise NoMapping(f"http[{i + 1}] is never reached: http[{i}] matches every request (IST0130)")
            if not isinstance(http[-1], dict) or http[-1].get("match"):
                raise NoMapping("no rule matches every request: Istio answers 404 to requests no rule matches, "
                                "meshcode always routes them")
            routes = [mapping.http_route(r, vs.namespace, names, key, f"http[{i}]") for i, r in enumerate(http)]
        else:
            rules = tcp or tls
            if len(rules) != 1:
                raise NoMapping("more than one tcp/tls rule has no one-to-one meshcode intent")
            routes = [mapping.l4_route(rules[0], vs.namespace, names, key, "tcp[0]" if tcp else "tls[0]")]
        plain = base.with_kwargs(routes=routes)
        out = [plain]
        canary = self.canary(routes, base)
        if canary is not None:
            out.insert(0, canary)
        return out

    @staticmethod
    def canary(routes: list[Call], base: Call) -> Call | None:
        """A two-version split as the default route is a Canary; a matched rule right before it
        sending to the candidate alone is its testers."""
        last = dict(routes[-1].kwargs)
        split = last.get("to")
        if set(last) != {"to"} or not isinstance(split, dict) or len(split) != 2:
            return None
        (a, wa), (b, wb) = split.items()
        if not all(isinstance(w, int) and not isinstance(w, bool) for w in (wa, wb)) or wa + wb != 100:
            return None
        stable, candidate, weight = (a, b, wb) if wa >= wb else (b, a, wa)
        rest = routes[:-1]
        testers = None
        if rest:
            prev = dict(rest[-1].kwargs)
            if set(prev) == {"match", "to"} and prev["to"] == candidate:
                testers = prev["match"]
                rest = rest[:-1]
        return base.with_kwargs(**({"routes": rest} if rest else {}),
                                canary=call("Canary", stable=stable, candidate=candidate, weight=weight, testers=testers))

    def check_service(self, key: tuple[str, str], candidate: Call, expected: dict[str, Obj | None]) -> str | None:
        """None when the candidate compiles to exactly the expected objects' meaning, else why not."""
        exprs = {**self.skeletons, self.vars[key].name: candidate}
        try:
            plan = self.evaluate(exprs, {})
        except MeshcodeError as e:
            return f"its intent does not compile ({first_line(e)}); kept as written"
        compiled = {r.kind: r for r in plan.folders["c"] if r.namespace == key[0] and r.name == key[1]
                    and r.kind in ("VirtualService", "DestinationRule")}
        for kind in ("DestinationRule", "VirtualService"):
            want = expected.get(kind)
            got = compiled.get(kind)
            if want is None:
                if got is not None:
                    return f"meshcode would add a {kind} the input does not have"
                continue
            if got is None:
                return f"meshcode writes no {kind} for it; kept as written"
            if kind == "VirtualService":
                a = normalize.virtual_service(want.spec, want.namespace, self.port_count)
                b = normalize.virtual_service(got.spec, got.namespace, self.port_count)
            else:
                a = normalize.destination_rule(want.spec, want.namespace)
                b = normalize.destination_rule(got.spec, got.namespace)
            if a != b:
                return f"fields meshcode's {kind} would say differently: {difference(a, b)}; kept as written"
        return None

    # -- external services --------------------------------------------------------------------------------
    def import_externals(self) -> None:
        for o in self.pending({"ServiceEntry"}):
            try:
                expr = self.external(o)
                why = self.check_single(expr, "external_services", o, "ServiceEntry", normalize.service_entry)
            except UNREADABLE as e:
                why = f"{e}; kept as written"
            if why:
                self.keep(o, why)
                continue
            var = identifier(o.name, self.taken)
            self.statements.append((var, expr, []))
            self.mesh_fields["external_services"].append(Ref(var))
            for h in o.spec.get("hosts") or []:
                self.externals[h] = Ref(var)
            self.imported(o, f"as ExternalService {o.name}")

    def external(self, o: Obj) -> Call:
        spec = o.spec
        mapping._only(spec, {"hosts", "ports", "resolution", "location", "addresses", "endpoints", "exportTo"}, "spec.")
        mapping._label(o.name, "name")
        ports = []
        for p in spec.get("ports") or []:
            if not isinstance(p, dict):
                raise NoMapping("a port is not a mapping")
            mapping._only(p, {"number", "protocol", "name", "targetPort"}, "ports[].")
            name = p.get("name")
            protocol = str(p.get("protocol", "TCP")).upper()
            default = f"{protocol.lower()}-{p.get('number')}"
            ports.append(call("Port", p.get("number"), protocol,
                              name=name if name != default and isinstance(name, str) and DNS_LABEL_RE.match(name) else None,
                              target_port=p.get("targetPort")))
        endpoints = []
        for e in spec.get("endpoints") or []:
            if not isinstance(e, dict) or set(e) != {"address"}:
                raise NoMapping("endpoints with ports, labels, network or locality have no meshcode intent")
            endpoints.append(e["address"])
        return call("ExternalService", o.name, namespace=o.namespace, hosts=spec.get("hosts"), ports=ports,
                    resolution=spec.get("resolution") if spec.get("resolution", "NONE") != "DNS" else None,
                    location=spec.get("location") if spec.get("location") not in (None, "MESH_EXTERNAL") else None,
                    addresses=spec.get("addresses"), endpoints=endpoints, export_to=spec.get("exportTo"))

    def check_single(self, expr: Call, field_name: str, o: Obj, kind: str,
                     norm: Callable[[dict[str, Any]], dict[str, Any]]) -> str | None:
        """The expression alone in a mesh of the imported services compiles to one object of `kind`
        equal (normalised) to the input."""
        try:
            plan = self.evaluate(dict(self.final_exprs()), {field_name: [expr]})
        except MeshcodeError as e:
            return f"its intent does not compile ({first_line(e)}); kept as written"
        base = self.evaluate(dict(self.final_exprs()), {})
        before = {r.key for r in base.folders["c"]}
        new = [r for r in plan.folders["c"] if r.key not in before and r.kind != "Namespace"]
        if len(new) != 1 or new[0].kind != kind:
            return (f"meshcode would write {', '.join(f'{r.kind} {r.name}' for r in new) or 'nothing'} for it; "
                    "kept as written")
        a, b = norm(o.spec), norm(new[0].spec)
        if a != b:
            return f"fields meshcode's {kind} would say differently: {difference(a, b)}; kept as written"
        return None

    def final_exprs(self) -> list[tuple[str, Call]]:
        return [(self.vars[k].name, e) for k, e in self.service_exprs.items()]

    # -- ingress: a Gateway and the one VirtualService bound to it -------------------------------------------
    def import_ingresses(self) -> None:
        gateways = self.pending({"Gateway"})
        bound: dict[int, list[Obj]] = {}
        vs_gateways: dict[int, list[str]] = {}
        for vs in self.pending({"VirtualService"}):
            refs = vs.spec.get("gateways")
            if not isinstance(refs, list):
                continue
            vs_gateways[id(vs)] = [g for g in refs if isinstance(g, str)]
            for g in gateways:
                if any(self.gateway_ref(ref, vs.namespace) == (g.namespace, g.name) for ref in refs if isinstance(ref, str)):
                    bound.setdefault(id(g), []).append(vs)
        for g in gateways:
            vss = bound.get(id(g), [])
            if len(vss) != 1:
                if vss:
                    self.keep(g, f"{len(vss)} VirtualServices are bound to it; an Ingress is one Gateway with its "
                                 "routes; kept as written")
                else:
                    self.keep(g, "no VirtualService among the inputs is bound to it; kept as written")
                continue
            vs = vss[0]
            if len(vs_gateways[id(vs)]) != 1:
                self.keep(g, f"its VirtualService {vs.namespace}/{vs.name} is bound to other gateways too; kept as written")
                continue
            try:
                expr = self.ingress(g, vs)
                why = self.check_ingress(expr, g, vs)
            except UNREADABLE as e:
                why = f"{e}; kept as written"
            if why:
                self.keep(g, why)
                self.keep(vs, f"its Gateway {g.namespace}/{g.name} is kept as written: {why}")
                continue
            var = identifier(f"ingress_{vs.name}", self.taken)
            self.statements.append((var, expr, []))
            self.mesh_fields["ingresses"].append(Ref(var))
            self.imported(g, f"as the gateway of Ingress {vs.name}" + ("" if g.name == vs.name else f" (now named {vs.name})"))
            self.imported(vs, f"as the routes of Ingress {vs.name}")

    @staticmethod
    def gateway_ref(ref: str, namespace: str) -> tuple[str, str]:
        ns, _, name = ref.rpartition("/")
        return (ns or namespace, name)

    def ingress(self, g: Obj, vs: Obj) -> Call:
        mapping._only(g.spec, {"selector", "servers"}, "Gateway spec.")
        mapping._only(vs.spec, {"hosts", "gateways", "http", "tcp", "tls"}, "VirtualService spec.")
        mapping._label(vs.name, "VirtualService name")
        servers = g.spec.get("servers")
        if not isinstance(servers, list) or not servers or not all(isinstance(s, dict) for s in servers):
            raise NoMapping("Gateway servers are missing")
        hosts = vs.spec.get("hosts")
        kw: dict[str, Any] = {}
        main = servers[0]
        redirect = [s for s in servers[1:]]
        if len(servers) == 2 and (redirect[0].get("tls") or {}) == {"httpsRedirect": True} \
                and (redirect[0].get("port") or {}).get("number") == 80:
            kw["http_redirect"] = True
        elif len(servers) != 1:
            raise NoMapping("a Gateway with several servers has no one-to-one meshcode intent")
        for s in servers:
            mapping._only(s, {"port", "hosts", "tls", "name"}, "Gateway servers[].")
            if sorted(s.get("hosts") or []) != sorted(hosts or []):
                raise NoMapping("the Gateway's hosts and the VirtualService's hosts differ")
        port = main.get("port") or {}
        protocol = str(port.get("protocol", "")).upper()
        number = port.get("number")
        tls = main.get("tls")
        if protocol == "HTTP" and not tls:
            kw.update(port=None if number == 80 else number)
        elif protocol == "HTTPS" and isinstance(tls, dict) and tls.get("mode") in ("SIMPLE", "MUTUAL") \
                and set(tls) <= {"mode", "credentialName", "minProtocolVersion"} and tls.get("credentialName"):
            kw.update(port=None if number == 443 else number,
                      tls=call("ServerTLS", tls["credentialName"], mode=None if tls["mode"] == "SIMPLE" else tls["mode"],
                               min_protocol_version=tls.get("minProtocolVersion")))
        elif protocol == "TCP" and not tls:
            kw.update(protocol="TCP", port=number)
        elif protocol == "TLS" and tls == {"mode": "PASSTHROUGH"}:
            kw.update(protocol="TLS", port=None if number == 443 else number)
        else:
            raise NoMapping(f"a {protocol} server with tls {tls!r} has no meshcode Ingress intent")
        selector = g.spec.get("selector")
        names = self.names()
        http, tcp, tls_rules = vs.spec.get("http") or [], vs.spec.get("tcp") or [], vs.spec.get("tls") or []
        if http:
            routes = [mapping.http_route(r, vs.namespace, names, None, f"http[{i}]") for i, r in enumerate(http)]
        elif len(tcp or tls_rules) == 1:
            routes = [mapping.l4_route((tcp or tls_rules)[0], vs.namespace, names, None, "tcp[0]")]
        else:
            raise NoMapping("the VirtualService needs one kind of routes (http, or one tcp/tls rule)")
        return call("Ingress", vs.name, namespace=vs.namespace, hosts=hosts, routes=routes,
                    selector=None if selector == {"istio": "ingressgateway"} else selector,
                    gateway_namespace=g.namespace if g.namespace != vs.namespace else None, **kw)

    def check_ingress(self, expr: Call, g: Obj, vs: Obj) -> str | None:
        try:
            plan = self.evaluate(dict(self.final_exprs()), {"ingresses": [expr],
                                                            "external_services": self.external_exprs()})
        except MeshcodeError as e:
            return f"its intent does not compile ({first_line(e)})"
        got = {r.kind: r for r in plan.folders["c"] if r.name == vs.name and r.kind in ("Gateway", "VirtualService")
               and r.namespace in (g.namespace, vs.namespace)}
        if set(got) != {"Gateway", "VirtualService"}:
            return "meshcode would not write one Gateway and one VirtualService for it"
        new_ref = f"{got['Gateway'].namespace}/{got['Gateway'].name}"
        old = (g.namespace, g.name)

        def ref(r: str, ns: str = vs.namespace) -> str:
            return new_ref if self.gateway_ref(r, ns) == old or r == new_ref else r

        a = normalize.gateway_spec(g.spec), normalize.virtual_service(vs.spec, vs.namespace, self.port_count, ref)
        b = (normalize.gateway_spec(got["Gateway"].spec),
             normalize.virtual_service(got["VirtualService"].spec, vs.namespace, self.port_count, ref))
        if a != b:
            return f"meshcode's Ingress would say differently: {difference(a, b)}"
        return None

    def external_exprs(self) -> list[Any]:
        by_var = {var: e for var, e, _ in self.statements}
        return [by_var[r.name] for r in self.mesh_fields["external_services"]]

    # -- sidecars, mTLS ---------------------------------------------------------------------------------------
    def import_sidecars(self) -> None:
        namespaces = [o.namespace for o in self.pending({"Sidecar"}) if "workloadSelector" not in o.spec]
        for o in self.pending({"Sidecar"}):
            spec = o.spec
            try:
                mapping._only(spec, {"egress", "outboundTrafficPolicy"}, "spec.")
                egress = spec.get("egress")
                if not isinstance(egress, list) or len(egress) != 1 or not isinstance(egress[0], dict) \
                        or set(egress[0]) != {"hosts"}:
                    raise NoMapping("egress other than one list of hosts has no meshcode intent")
                outbound = spec.get("outboundTrafficPolicy")
                if outbound is not None and (not isinstance(outbound, dict) or set(outbound) != {"mode"}):
                    raise NoMapping("outboundTrafficPolicy other than mode has no meshcode intent")
                if namespaces.count(o.namespace) > 1:
                    raise NoMapping(f"namespace {o.namespace} has several Sidecars without selector (IST0111)")
                expr = call("SidecarScope", o.namespace, egress_hosts=egress[0]["hosts"],
                            outbound=outbound["mode"] if outbound else None)
                why = self.check_single(expr, "sidecars", o, "Sidecar", lambda s: s)
            except UNREADABLE as e:
                why = f"{e}; kept as written"
            if why:
                self.keep(o, why)
                continue
            self.mesh_fields["sidecars"].append(expr)
            self.imported(o, f"as SidecarScope {o.namespace}" + ("" if o.name == "default" else " (now named default)"))

    def import_peer_authentications(self) -> None:
        plain = [o.namespace for o in self.pending({"PeerAuthentication"}) if not o.spec.get("selector")]
        for o in self.pending({"PeerAuthentication"}):
            try:
                mapping._only(o.spec, {"mtls"}, "spec.")
                mode = (o.spec.get("mtls") or {}).get("mode") if isinstance(o.spec.get("mtls"), dict) else None
                if mode not in ("STRICT", "PERMISSIVE", "DISABLE") or set(o.spec["mtls"]) != {"mode"}:
                    raise NoMapping(f"mTLS mode {mode!r} has no ZeroTrust intent (STRICT, PERMISSIVE, DISABLE)")
                if plain.count(o.namespace) > 1:
                    raise NoMapping(f"namespace {o.namespace} has several PeerAuthentications without selector")
                scope = {} if o.namespace == ROOT_NAMESPACE else {"namespace": o.namespace}
                expr = call("ZeroTrust", **scope, mtls=mode, default_deny=False, egress_lockdown=False)
                why = self.check_single(expr, "zero_trust", o, "PeerAuthentication", lambda s: s)
            except UNREADABLE as e:
                why = f"{e}; kept as written"
            if why:
                self.keep(o, why)
                continue
            self.mesh_fields["zero_trust"].append(expr)
            self.imported(o, f"as ZeroTrust({'namespace ' + o.namespace if o.namespace != ROOT_NAMESPACE else 'the mesh'}, "
                             f"mtls={mode})" + ("" if o.name == "default" else " (now named default)"))

    # -- the rest, kept as written ---------------------------------------------------------------------------
    def keep_rest(self) -> None:
        for o in self.objects:
            if o.item.outcome != "verbatim":
                continue
            if not o.item.detail or o.item.detail.startswith("dropped what"):
                why = (f"{o.kind} has no meshcode intent" if o.kind not in MAPPED_KINDS else
                       "its host is no Kubernetes Service among the inputs (give the Service YAML too)"
                       if o.kind in ("VirtualService", "DestinationRule") else "no intent fits it")
                o.item.detail = f"{why}; kept as written" + (f" ({o.item.detail})" if o.item.detail else "")
            try:
                evaluate(call("Verbatim", o.obj), SDK, {})
            except MeshcodeError as e:
                o.item.outcome, o.item.detail = "refused", f"cannot be kept: {first_line(e).split(': ', 2)[-1]}"
                continue
            self.mesh_fields["verbatim"].append(call("Verbatim", o.obj))

    def run(self) -> None:
        self.import_services()
        self.import_externals()
        self.import_ingresses()
        self.import_sidecars()
        self.import_peer_authentications()
        self.keep_rest()


#: what reading an object may raise: no intent fits (NoMapping), or a field of an unexpected type
#: (a list where Istio has a map, a number as a host): the object is kept as written, never a traceback
UNREADABLE = (NoMapping, TypeError, ValueError, KeyError, AttributeError, IndexError)
MAPPED_KINDS = frozenset({"VirtualService", "DestinationRule", "Gateway", "ServiceEntry", "Sidecar", "PeerAuthentication"})


def first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def difference(a: Any, b: Any, path: str = "") -> str:
    """The first place two canonical specs differ, as 'path: input ≠ meshcode'."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if a.get(k) != b.get(k):
                return difference(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return difference(x, y, f"{path}[{i}]")
    return f"{path or 'spec'}: {short(a)} in the input, {short(b)} from meshcode"


def short(value: Any) -> str:
    text = "absent" if value is None else literal(value) if not isinstance(value, tuple) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# ---- rendering ----------------------------------------------------------------------------------------
def render_source(imp: Importer, *, mesh: str, cluster: str, source: str) -> str:
    lines = [f'"""Imported by `meshcode import {docstring_text(source)}` from existing Istio YAML.',
             "",
             "Each object became intent only where the compiled intent means the same; the rest is kept",
             "as Verbatim(...) with the reason above it. Review, then replace verbatim objects with intent.",
             '"""']
    body: list[str] = []
    for key, expr in imp.service_exprs.items():
        body += ["", f"{imp.vars[key].name} = {render(expr)}"]
    for var, expr, comments in imp.statements:
        body += [""] + [comment(c) for c in comments] + [f"{var} = {render(expr)}"]
    names = {"Mesh", "Cluster"}
    for _, expr in imp.service_exprs.items():
        used_names(expr, names)
    for _, expr, _ in imp.statements:
        used_names(expr, names)
    for values in imp.mesh_fields.values():
        used_names(values, names)
    lines.append(f"from meshcode import {', '.join(sorted(names))}")
    lines += body
    verbatim_items = [o for o in imp.objects if o.item.outcome == "verbatim"]
    if verbatim_items:
        lines += ["", "VERBATIM = ["]
        for o in verbatim_items:
            lines.append(f"    {comment(o.item.where + ': ' + o.item.title + ': ' + o.item.detail)}")
            lines.append(f"    {render(call('Verbatim', o.obj), 4)},")
        lines.append("]")
    args = [literal(mesh), f"clusters=[Cluster({literal(cluster)})]"]
    if imp.service_exprs:
        args.append(f"services=[{', '.join(imp.vars[k].name for k in imp.service_exprs)}]")
    for field_name in ("ingresses", "external_services", "sidecars", "zero_trust"):
        values = imp.mesh_fields[field_name]
        if values:
            args.append(f"{field_name}=[{', '.join(render(v, 4) for v in values)}]")
    if verbatim_items:
        args.append("verbatim=VERBATIM")
    lines += ["", "mesh = Mesh(" + ",\n     ".join(args) + ")"]
    return "\n".join(lines) + "\n"


def import_resources(resources: list[Resource], findings: list[Finding], *, mesh: str = "imported",
                     cluster: str = "default", source: str = "",
                     where: Callable[[Resource], str] | None = None) -> ImportResult:
    """The stack source and the report for the objects loaded from `source` (pure)."""
    locate = where or (lambda r: f"{r.origin.file}:{r.origin.line}" if r.origin else "?")
    imp = Importer(resources, locate)
    imp.run()
    items = list(imp.items)
    for f in findings:
        loc = f"{f.location.file}:{f.location.line}" if f.location else "?"
        items.append(Item(loc, f.kind or "document", "", "", "refused" if f.level == "error" else "skipped",
                          f"{f.code}: {f.message}"))
    return ImportResult(render_source(imp, mesh=mesh, cluster=cluster, source=source), items)


__all__ = ["ImportResult", "Item", "import_resources"]
