"""ZeroTrust → PeerAuthentication, AuthorizationPolicy, RequestAuthentication and per-workload Sidecars.

The declared call graph is the whole truth: each covered service gets one ALLOW policy whose
rules are exactly its inbound calls (source principals `<trust-domain>/ns/<ns>/sa/<sa>`, the
ports, methods and paths the call declares) plus the ingress routes that expose it; each caller
gets a Sidecar that sees exactly its dependencies. Workloads are selected by their `app: <service>`
label (and the version's labels where a version has its own calls), the labels Istio's samples
and meshcode's DestinationRule subsets already assume.

Scopes layer field by field (mesh, then namespace, then service; only fields the user wrote
override). Namespace-wide objects use Istio's conventional names: PeerAuthentication `default`,
AuthorizationPolicy `allow-nothing`. A mesh-wide ZeroTrust puts its PeerAuthentication in the
root namespace but its default deny and DENY rules in each namespace that has services, so the
gateways in istio-system keep working.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meshcode.compile.context import CompileContext, placed, served_clusters
from meshcode.compile.edge import deployed_gateway
from meshcode.errors import SourceLocation
from meshcode.intent.edge import ExternalService, Ingress
from meshcode.intent.security import (
    MTLS_LADDER,
    AllowRule,
    Call,
    DenyRule,
    IngressGateway,
    Jwt,
    MtlsMigration,
    ZeroTrust,
)
from meshcode.intent.service import Port, Service, Version
from meshcode.intent.topology import Cluster
from meshcode.intent.traffic import Dest, Exact, PathPrefix, Prefix, Route
from meshcode.plan import Resource

Key = tuple[str, str]  # (namespace, service name)

VersionKey = tuple[str, str, str]  # (namespace, service name, version name)

ALLOW_NOTHING = "allow-nothing"
SCOPE_DENY = {"mesh": "mesh-deny", "namespace": "namespace-deny"}
SCOPE_ALLOW = {"mesh": "mesh-allow", "namespace": "namespace-allow"}


# ---- what the index holds ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Operation:
    """HTTP restrictions of one flow (empty fields: not restricted)."""

    methods: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Flow:
    """One declared way into a service: a call from a workload, or an ingress route."""

    what: str  # for messages: "call from bookinfo/productpage", "ingress bookinfo/bookinfo-gateway"
    principals: tuple[str, ...]  # empty for ingress flows: resolved per destination (gateway identity)
    source_namespace: str
    ports: tuple[Port, ...]  # the destination's service ports the flow uses
    explicit_ports: bool
    operations: tuple[Operation, ...]  # () = any HTTP request (and any connection on TCP ports)
    origin: SourceLocation | None
    ingress: Ingress | None = None


@dataclass(slots=True)
class Posture:
    """A covered service's effective ZeroTrust settings (scopes layered widest first)."""

    scopes: tuple[ZeroTrust, ...]
    mtls: str
    mtls_scope: ZeroTrust
    default_deny: bool
    default_deny_scope: ZeroTrust
    namespace_deny: bool  # an `allow-nothing` covers the whole namespace
    jwt: Jwt | None
    jwt_scope: ZeroTrust
    egress_lockdown: bool
    gateways: tuple[IngressGateway, ...]
    namespace_allow: bool = False  # a namespace-wide ALLOW policy (mesh or namespace `allow`) applies
    versions: tuple[ZeroTrust, ...] = ()  # version scopes of this service

    @property
    def allow_rules(self) -> tuple[AllowRule, ...]:
        """The service scope's own ALLOW rules (namespace and mesh rules are namespace-wide)."""
        return self.scopes[-1].allow if self.scopes[-1].scope == "service" else ()

    @property
    def deny_scopes(self) -> tuple[ZeroTrust, ...]:
        """Every scope whose DENY rules reach (some of) the service's pods."""
        return self.scopes + self.versions


@dataclass(slots=True)
class ZeroTrustIndex:
    """Everything resolved once per compile; the concern and the checks read it."""

    mesh_scope: ZeroTrust | None = None
    namespace_scopes: dict[str, ZeroTrust] = field(default_factory=dict)
    service_scopes: dict[Key, ZeroTrust] = field(default_factory=dict)
    version_scopes: dict[VersionKey, ZeroTrust] = field(default_factory=dict)
    gateways: dict[tuple[str, str], IngressGateway] = field(default_factory=dict)  # with policies only
    postures: dict[Key, Posture] = field(default_factory=dict)
    inbound: dict[Key, list[Flow]] = field(default_factory=dict)
    # caller → version name (None: every version) → [(call, resolved target)]
    dependencies: dict[Key, dict[str | None, list[tuple[Call, Service | ExternalService]]]] = \
        field(default_factory=dict)

    @property
    def active(self) -> bool:
        return bool(self.mesh_scope or self.namespace_scopes or self.service_scopes or self.version_scopes)


# ---- small helpers ----------------------------------------------------------------------------
def principal(ctx: CompileContext, namespace: str, account: str) -> str:
    return f"{ctx.mesh.trust_domain}/ns/{namespace}/sa/{account}"


def service_principals(ctx: CompileContext, s: Service) -> tuple[str, ...]:
    """Every identity the service's pods run as (versions may have their own accounts)."""
    accounts = [s.version_account(v) for v in s.versions] or [s.account]
    return tuple(principal(ctx, s.namespace, a) for a in dict.fromkeys(accounts))


def gateway_principal(ctx: CompileContext, gw: IngressGateway) -> str:
    return principal(ctx, gw.namespace, gw.service_account)


def workload_port(ctx: CompileContext, s: Service, p: Port) -> int:
    """Authorization sees the port the pod listens on, not the service port: the intent's
    `target_port`, else the one the workload manifests give (`--workloads`, cdk8s), else the number."""
    return p.target_port or ctx.workload_ports.get((s.namespace, s.name, p.number)) or p.number


def port_known(ctx: CompileContext, s: Service, p: Port) -> bool:
    """Is the pod's port for service port `p` known (written, or read from the workloads)?"""
    return p.target_port is not None or (s.namespace, s.name, p.number) in ctx.workload_ports


def rule_ports(ctx: CompileContext, s: Service | None, ports: tuple[int, ...]) -> list[str]:
    """A rule's ports as the pods see them: a service port becomes its pod port; others stay."""
    if s is None:
        return [str(p) for p in ports]
    by_number = {p.number: p for p in s.ports}
    out = [str(workload_port(ctx, s, by_number[n])) if n in by_number else str(n) for n in ports]
    return list(dict.fromkeys(out))


def app_selector(s: Service, version: Version | None = None) -> dict[str, str]:
    """`app: <service>` (+ the version's pod labels): the labels Istio's samples carry."""
    labels = {"app": s.name}
    if version is not None:
        labels.update(version.pod_labels)
    return labels


def mtls_step(a: str, b: str) -> int:
    """How many stages apart two mTLS modes are (DISABLE → PERMISSIVE → STRICT)."""
    return abs(MTLS_LADDER.index(a) - MTLS_LADDER.index(b))


def _pick(scopes: tuple[ZeroTrust, ...], name: str) -> tuple[Any, ZeroTrust]:
    """The most specific scope that wrote `name`; else the widest scope's default."""
    for zt in reversed(scopes):
        if name in zt.model_fields_set:
            return getattr(zt, name), zt
    return getattr(scopes[0], name), scopes[0]


def deny_principals(ctx: CompileContext, values: tuple[Any, ...]) -> list[str]:
    out: list[str] = []
    for v in values:
        out += service_principals(ctx, v) if isinstance(v, Service) else [v]
    return list(dict.fromkeys(out))


# ---- the index --------------------------------------------------------------------------------
def zero_trust_index(ctx: CompileContext) -> ZeroTrustIndex:
    """Built on first use and kept on the context."""
    return ctx.once("zero_trust_index", lambda: _build_index(ctx))


def _build_index(ctx: CompileContext) -> ZeroTrustIndex:
    index = ZeroTrustIndex()
    _resolve_scopes(ctx, index)
    if not index.active and not any(s.calls or any(v.calls for v in s.versions) for s in ctx.services.values()):
        return index
    _resolve_calls(ctx, index)
    if not index.active:
        return index
    for key, s in ctx.services.items():
        posture = _posture(ctx, index, s)
        if posture is not None:
            index.postures[key] = posture
    _resolve_ingress(ctx, index)
    return index


def _resolve_scopes(ctx: CompileContext, index: ZeroTrustIndex) -> None:
    for zt in ctx.mesh.zero_trust:
        if zt.scope == "mesh":
            if index.mesh_scope is not None:
                ctx.error("MC2509", f"ZeroTrust for the mesh is declared twice (first at "
                          f"{ctx.where(index.mesh_scope.origin)})", zt.origin, "ZeroTrust")
                continue
            index.mesh_scope = zt
        elif zt.scope == "namespace":
            first = index.namespace_scopes.setdefault(zt.namespace, zt)
            if first is not zt:
                ctx.error("MC2509", f"ZeroTrust for namespace {zt.namespace} is declared twice (first at "
                          f"{ctx.where(first.origin)})", zt.origin, "ZeroTrust", zt.namespace)
        else:
            svc = ctx.find_service(zt.service, zt.namespace or "")
            if isinstance(svc, Service) and zt.version is not None:
                if svc.version(zt.version) is None:
                    ctx.error("MC2509", f"ZeroTrust for version {zt.version!r} of {svc.name}: {svc.name} has no such "
                              f"version (versions: {', '.join(v.name for v in svc.versions) or 'none'})",
                              zt.origin, "ZeroTrust", svc.namespace, svc.name)
                    continue
                vkey = (svc.namespace, svc.name, zt.version)
                vfirst = index.version_scopes.setdefault(vkey, zt)
                if vfirst is not zt:
                    ctx.error("MC2509", f"ZeroTrust for {zt.scope_text} is declared twice (first at "
                              f"{ctx.where(vfirst.origin)})", zt.origin, "ZeroTrust", svc.namespace, svc.name)
                continue
            if not isinstance(svc, Service):
                ref = zt.service if isinstance(zt.service, str) else zt.service.name
                what = "an external service, which has no workloads in the mesh" if svc else \
                    f"not a service of mesh {ctx.mesh.name!r}"
                ctx.error("MC2509", f"ZeroTrust for service {ref!r}: {what}", zt.origin, "ZeroTrust",
                          zt.namespace or "", ref)
                continue
            key = (svc.namespace, svc.name)
            first = index.service_scopes.setdefault(key, zt)
            if first is not zt:
                ctx.error("MC2509", f"ZeroTrust for service {svc.namespace}/{svc.name} is declared twice "
                          f"(first at {ctx.where(first.origin)})", zt.origin, "ZeroTrust", *key)
    for zt in ctx.mesh.zero_trust:
        for gw in zt.gateways:
            if not gw.has_policies:
                continue
            gfirst = index.gateways.setdefault((gw.namespace, gw.policy_name), gw)
            if gfirst != gw:
                ctx.error("MC2509", f"gateway policies {gw.namespace}/{gw.policy_name} are declared twice, "
                          f"differently (first at {ctx.where(gfirst.origin)}); declare the gateway once and "
                          "reuse it", gw.origin, "AuthorizationPolicy", gw.namespace, gw.policy_name)
        if isinstance(zt.mtls, MtlsMigration) and mtls_step(zt.mtls.from_mode, zt.mtls.to) > 1:
            ctx.error("MC2507", f"mTLS for {zt.scope_text} jumps {zt.mtls.from_mode} → {zt.mtls.to}; "
                      "move through PERMISSIVE first (deploy it, then take the next step)",
                      zt.mtls.origin, "PeerAuthentication")


def _namespace_deny(index: ZeroTrustIndex, namespace: str) -> bool:
    scopes = tuple(z for z in (index.mesh_scope, index.namespace_scopes.get(namespace)) if z is not None)
    return bool(scopes) and _pick(scopes, "default_deny")[0]


def _posture(ctx: CompileContext, index: ZeroTrustIndex, s: Service) -> Posture | None:
    scopes = tuple(z for z in (index.mesh_scope, index.namespace_scopes.get(s.namespace),
                               index.service_scopes.get((s.namespace, s.name))) if z is not None)
    versions = tuple(z for v in s.versions if (z := index.version_scopes.get((s.namespace, s.name, v.name)))
                     is not None)
    if not scopes and versions:
        # a version scope alone: mTLS and its own rules; nothing else of ZeroTrust's defaults
        scopes = (ZeroTrust.model_construct(service=s, default_deny=False, egress_lockdown=False, deny=(), allow=(),
                                            gateways=(), jwt=None, mtls="PERMISSIVE", namespace=None, version=None,
                                            strict=False).with_origin(versions[0].origin),)
    if not scopes:
        return None
    mtls, mtls_scope = _pick(scopes, "mtls")
    default_deny, deny_scope = _pick(scopes, "default_deny")
    jwt, jwt_scope = _pick(scopes, "jwt")
    namespace_deny = _namespace_deny(index, s.namespace)
    if namespace_deny and not default_deny:
        ctx.error("MC2509", f"ZeroTrust for {deny_scope.scope_text} sets default_deny=False inside a namespace "
                  f"whose default deny covers every workload; declare the calls it should accept instead",
                  deny_scope.origin, "AuthorizationPolicy", s.namespace, s.name)
    return Posture(
        scopes=scopes,
        mtls=mtls.to if isinstance(mtls, MtlsMigration) else mtls, mtls_scope=mtls_scope,
        default_deny=default_deny, default_deny_scope=deny_scope, namespace_deny=namespace_deny,
        jwt=jwt, jwt_scope=jwt_scope,
        egress_lockdown=_pick(scopes, "egress_lockdown")[0],
        gateways=_pick(scopes, "gateways")[0],
        namespace_allow=namespace_allow(index, s.namespace),
        versions=versions,
    )


def namespace_allow(index: ZeroTrustIndex, namespace: str) -> bool:
    scopes = (index.mesh_scope, index.namespace_scopes.get(namespace))
    return any(z is not None and z.allow for z in scopes)


def _resolve_calls(ctx: CompileContext, index: ZeroTrustIndex) -> None:
    """Resolve every declared call once; inbound flows are built only when a ZeroTrust needs them."""
    flows = index.active
    for key, s in ctx.services.items():
        if not s.calls and not any(v.calls for v in s.versions):
            continue
        deps: dict[str | None, list[tuple[Call, Service | ExternalService]]] = {}
        callers: list[tuple[Version | None, tuple[Call, ...]]] = [(None, s.calls)] if s.calls else []
        callers += [(v, v.calls) for v in s.versions if v.calls]
        for version, calls in callers:
            principals: tuple[str, ...] = ()
            who = f"{s.namespace}/{s.name}"
            if version is not None:
                account = s.version_account(version)
                shared = [w.name for w in s.versions if w is not version and s.version_account(w) == account]
                if shared:
                    ctx.error("MC2508", f"{s.name} {version.name} has its own calls but shares service account "
                              f"{account!r} with {', '.join(shared)}; give {version.name} its own "
                              "service_account so only its pods are allowed", version.origin,
                              "AuthorizationPolicy", s.namespace, s.name)
                    continue
                if flows:
                    principals = (principal(ctx, s.namespace, account),)
                    who = f"{who} {version.name}"
            elif flows:
                principals = service_principals(ctx, s)
            bucket = deps.setdefault(version.name if version else None, [])
            for call in calls:
                target = _call_target(ctx, s, call)
                if target is None:
                    continue
                bucket.append((call, target))
                if flows and isinstance(target, Service):
                    ports = tuple(p for p in target.ports if p.number in call.ports) if call.ports else target.ports
                    ops = (Operation(call.methods, call.paths),) if call.methods or call.paths else ()
                    index.inbound.setdefault((target.namespace, target.name), []).append(Flow(
                        f"call from {who}", principals, s.namespace, ports, bool(call.ports), ops, call.origin))
        index.dependencies[key] = deps


def _call_target(ctx: CompileContext, s: Service, call: Call) -> Service | ExternalService | None:
    target = ctx.find_service(call.target, s.namespace)
    if target is None:
        ctx.error("MC2501", f"{s.name} calls {call.target_name!r}, which is not a service or external service "
                  f"of mesh {ctx.mesh.name!r}", call.origin, "AuthorizationPolicy", s.namespace, s.name)
        return None
    if call.ports:
        numbers = {p.number for p in target.ports}
        if isinstance(target, ExternalService) and target.originate_tls:
            numbers.add(target.originate_tls.port)
        bad = [p for p in call.ports if p not in numbers]
        if bad:
            ctx.error("MC2501", f"{s.name} calls {target.name} on port {', '.join(map(str, bad))}, which is not a "
                      f"port of {target.name} (ports: {', '.join(map(str, sorted(numbers)))})", call.origin,
                      "AuthorizationPolicy", s.namespace, s.name)
            return None
    if (call.methods or call.paths) and isinstance(target, Service):
        used = [p for p in target.ports if not call.ports or p.number in call.ports]
        if not any(p.is_http for p in used):
            ctx.error("MC2501", f"{s.name} calls {target.name} with methods/paths, but the port(s) it calls "
                      "are TCP: HTTP conditions cannot apply", call.origin, "AuthorizationPolicy",
                      s.namespace, s.name)
            return None
    return target


# ---- ingress ----------------------------------------------------------------------------------
def _route_targets(to: Any) -> list[tuple[Any, int | None]]:
    """(service reference, service port or None) for every destination of an ingress route."""
    if isinstance(to, dict):
        return [(k, None) for k in to]
    items = to if isinstance(to, (list, tuple)) else [to]
    return [(d.service, d.port) if isinstance(d, Dest) else (d, None) for d in items]


def _route_operations(route: Route) -> tuple[Operation, ...]:
    """The paths and methods a route admits, when its matches say so exactly; () = any."""
    if not route.match or route.rewrite_uri:
        return ()
    ops: list[Operation] = []
    for m in route.match:
        path: tuple[str, ...] = ()
        if not m.ignore_uri_case and isinstance(m.uri, PathPrefix):
            seg = m.uri.segments
            path = () if seg == "/" or "*" in seg else (seg, seg + "/*")
        elif not m.ignore_uri_case and m.uri is not None:
            value = m.uri.value if isinstance(m.uri, (Exact, Prefix)) else m.uri if isinstance(m.uri, str) else None
            if value is not None and "*" not in value:
                path = (value + "*",) if isinstance(m.uri, Prefix) else (value,)
        method: tuple[str, ...] = ()
        if isinstance(m.method, (str, Exact)):
            value = m.method if isinstance(m.method, str) else m.method.value
            method = (value.upper(),)
        if not path and not method:
            return ()  # this match admits any request: no restriction overall
        ops.append(Operation(method, path))
    merged: dict[tuple[str, ...], list[str] | None] = {}  # same methods: one operation, paths OR-ed
    for op in ops:
        paths = merged.setdefault(op.methods, [])
        if paths is None or not op.paths:
            merged[op.methods] = None  # one of them admits any path
        else:
            paths += [p for p in op.paths if p not in paths]
    return tuple(Operation(m, tuple(p or ())) for m, p in merged.items())


def _resolve_ingress(ctx: CompileContext, index: ZeroTrustIndex) -> None:
    for ing in ctx.mesh.ingresses:
        for route in ing.routes:
            if route.to is None:
                continue
            ops = _route_operations(route)
            for ref, port in _route_targets(route.to):
                target = ctx.find_service(ref, ing.namespace) if ref is not None else None
                if not isinstance(target, Service) or (target.namespace, target.name) not in index.postures:
                    continue
                chosen = next((p for p in target.ports if p.number == port), None) if port else target.ports[0]
                if chosen is None:
                    continue  # routing reports the bad port
                index.inbound.setdefault((target.namespace, target.name), []).append(Flow(
                    f"ingress {ing.namespace}/{ing.name}", (), "", (chosen,), True, ops, route.origin, ing))


def ingress_gateways(ing: Ingress, posture: Posture) -> list[IngressGateway]:
    """The declared gateway identities whose pods this Ingress's selector picks (Istio API ingresses;
    a Gateway API ingress runs the gateway Istio deploys for it, see `flow_sources`)."""
    return [g for g in posture.gateways if g.selector == ing.selector
            and (ing.gateway_namespace is None or g.namespace == ing.gateway_namespace)]


def flow_sources(ctx: CompileContext, flow: Flow, posture: Posture) -> list[tuple[str, str]]:
    """(principal, namespace) of every identity the flow comes from."""
    if flow.ingress is None:
        return [(p, flow.source_namespace) for p in flow.principals]
    deployed = deployed_gateway(ctx, flow.ingress)
    if deployed is not None:
        return [(principal(ctx, *deployed), deployed[0])]
    gateways = ingress_gateways(flow.ingress, posture)
    return list(dict.fromkeys((gateway_principal(ctx, g), g.namespace) for g in gateways))


def flow_principals(ctx: CompileContext, flow: Flow, posture: Posture) -> tuple[str, ...]:
    return tuple(p for p, _ in flow_sources(ctx, flow, posture))


# ---- emitters ---------------------------------------------------------------------------------
def _claims(jwt: Jwt) -> list[dict[str, Any]]:
    return [{"key": f"request.auth.claims[{k}]", "values": list(v)} for k, v in jwt.required_claims.items()]


def flow_rules(ctx: CompileContext, s: Service, flow: Flow, posture: Posture) -> list[dict[str, Any]]:
    """ALLOW rules for one flow: one for its HTTP ports (with methods, paths, JWT), one for TCP ports."""
    principals = flow_principals(ctx, flow, posture)
    if not principals:
        return []
    rules: list[dict[str, Any]] = []
    http = [str(workload_port(ctx, s, p)) for p in flow.ports if p.is_http]
    tcp = [str(workload_port(ctx, s, p)) for p in flow.ports if not p.is_http]
    if http:
        source: dict[str, Any] = {"principals": list(principals)}
        if posture.jwt:
            source["requestPrincipals"] = [posture.jwt.request_principal]
        operations: list[dict[str, Any]] = []
        for op in flow.operations or (Operation(),):
            operation: dict[str, Any] = {"ports": list(http)}
            if op.methods:
                operation["methods"] = list(op.methods)
            if op.paths:
                operation["paths"] = list(op.paths)
            operations.append({"operation": operation})
        rule: dict[str, Any] = {"from": [{"source": source}], "to": operations}
        if posture.jwt and posture.jwt.required_claims:
            rule["when"] = _claims(posture.jwt)
        rules.append(rule)
    if tcp and not flow.operations:
        rules.append({"from": [{"source": {"principals": list(principals)}}],
                      "to": [{"operation": {"ports": tcp}}]})
    return rules


def rule_spec(ctx: CompileContext, rule: AllowRule | DenyRule, s: Service | None = None) -> dict[str, Any]:
    """One Istio rule, field for field as written (`s`: the service whose ports `ports` names)."""
    source: dict[str, Any] = {}
    if isinstance(rule, AllowRule) and rule.authenticated:
        source["principals"] = ["*"]
    if rule.principals:
        source["principals"] = deny_principals(ctx, rule.principals)
    if rule.not_principals:
        source["notPrincipals"] = deny_principals(ctx, rule.not_principals)
    for name, values in (("requestPrincipals", rule.request_principals),
                         ("notRequestPrincipals", rule.not_request_principals),
                         ("namespaces", rule.namespaces), ("notNamespaces", rule.not_namespaces),
                         ("ipBlocks", rule.ip_blocks), ("notIpBlocks", rule.not_ip_blocks),
                         ("remoteIpBlocks", rule.remote_ip_blocks), ("notRemoteIpBlocks", rule.not_remote_ip_blocks)):
        if values:
            source[name] = list(values)
    operation: dict[str, Any] = {}
    if rule.ports:
        operation["ports"] = rule_ports(ctx, s, rule.ports)
    for name, values in (("methods", rule.methods), ("notMethods", rule.not_methods),
                         ("paths", rule.paths), ("notPaths", rule.not_paths)):
        if values:
            operation[name] = list(values)
    out: dict[str, Any] = {}
    if source:
        out["from"] = [{"source": source}]
    if operation:
        out["to"] = [{"operation": operation}]
    if rule.when:
        out["when"] = [c.spec() for c in rule.when]
    return out


def deny_rule_spec(ctx: CompileContext, rule: DenyRule, s: Service | None = None) -> dict[str, Any]:
    return rule_spec(ctx, rule, s)


def policy(ctx: CompileContext, action: str, name: str, namespace: str, selector: dict[str, str] | None,
           rules: list[dict[str, Any]] | None, origin: SourceLocation | None) -> Resource:
    """An AuthorizationPolicy; `rules=None` (an ALLOW without rules) matches nothing."""
    spec: dict[str, Any] = {}
    if selector:
        spec["selector"] = {"matchLabels": selector}
    spec["action"] = action
    if rules is not None:
        spec["rules"] = rules
    return ctx.resource("security", "AuthorizationPolicy", name, namespace, spec, origin)


def deny_policy(ctx: CompileContext, zt: ZeroTrust, name: str, namespace: str,
                selector: dict[str, str] | None, s: Service | None = None) -> Resource:
    return policy(ctx, "DENY", name, namespace, selector, [rule_spec(ctx, r, s) for r in zt.deny], zt.origin)


def peer_authentication(ctx: CompileContext, zt: ZeroTrust, name: str, namespace: str,
                        selector: dict[str, str] | None) -> Resource:
    spec: dict[str, Any] = {}
    if selector:
        spec["selector"] = {"matchLabels": selector}
    spec["mtls"] = {"mode": zt.mtls_mode}
    origin = zt.mtls.origin if isinstance(zt.mtls, MtlsMigration) else zt.origin
    return ctx.resource("security", "PeerAuthentication", name, namespace, spec, origin)


def service_resources(ctx: CompileContext, index: ZeroTrustIndex, s: Service) -> list[Resource]:
    """Everything one covered service gets: ALLOW, DENY, PeerAuthentication, JWT, Sidecars."""
    key = (s.namespace, s.name)
    posture = index.postures[key]
    selector = app_selector(s)
    out: list[Resource] = []
    zt = index.service_scopes.get(key)
    if zt is not None and ("mtls" in zt.model_fields_set or len(posture.scopes) == 1):
        out.append(peer_authentication(ctx, zt, s.name, s.namespace, selector))
    if posture.jwt and s.http_ports:
        out.append(request_authentication(ctx, f"{s.name}-jwt", s.namespace, selector, posture.jwt))
    allow = service_allow(ctx, index, s)
    if allow is not None:
        out.append(allow)
    if not posture.default_deny and posture.jwt and s.http_ports:
        out.append(require_jwt_policy(ctx, s, posture.jwt, selector))
    if zt is not None and zt.deny:
        out.append(deny_policy(ctx, zt, f"{s.name}-deny", s.namespace, selector, s))
    out += version_resources(ctx, index, s, allow is not None)
    if posture.egress_lockdown:
        out += egress_sidecars(ctx, index, s)
    return out


def _flow_rules(ctx: CompileContext, index: ZeroTrustIndex, s: Service) -> list[dict[str, Any]]:
    posture = index.postures[(s.namespace, s.name)]
    return [r for flow in index.inbound.get((s.namespace, s.name), ()) for r in flow_rules(ctx, s, flow, posture)]


def service_allow(ctx: CompileContext, index: ZeroTrustIndex, s: Service) -> Resource | None:
    """`<service>-allow`: the declared flows and the service's own AllowRules.

    Emitted under default deny, and wherever another ALLOW policy reaches the pods (a service or
    namespace `allow`): any ALLOW policy denies what none allows, so the declared calls must be
    in one of them.
    """
    posture = index.postures[(s.namespace, s.name)]
    if not (posture.default_deny or posture.allow_rules or posture.namespace_allow):
        return None
    rules = _flow_rules(ctx, index, s) + [rule_spec(ctx, r, s) for r in posture.allow_rules]
    if not rules and (posture.namespace_deny or not posture.default_deny):
        return None  # `allow-nothing` (or the namespace-wide ALLOW) already says it
    origin = posture.scopes[-1].origin if posture.allow_rules else posture.default_deny_scope.origin
    return policy(ctx, "ALLOW", f"{s.name}-allow", s.namespace, {"app": s.name}, rules or None, origin)


def version_resources(ctx: CompileContext, index: ZeroTrustIndex, s: Service, service_allowed: bool) -> list[Resource]:
    """A version scope's PeerAuthentication and policies, selecting `app` + the version's labels."""
    out: list[Resource] = []
    for v in s.versions:
        zt = index.version_scopes.get((s.namespace, s.name, v.name))
        if zt is None:
            continue
        selector = app_selector(s, v)
        name = f"{s.name}-{v.name}"
        if "mtls" in zt.model_fields_set:
            out.append(peer_authentication(ctx, zt, name, s.namespace, selector))
        if zt.allow:
            # without the service's own ALLOW policy, this one must also carry the declared calls
            rules = ([] if service_allowed else _flow_rules(ctx, index, s)) + [rule_spec(ctx, r, s) for r in zt.allow]
            out.append(policy(ctx, "ALLOW", f"{name}-allow", s.namespace, selector, rules, zt.origin))
        if zt.deny:
            out.append(deny_policy(ctx, zt, f"{name}-deny", s.namespace, selector, s))
    return out


def request_authentication(ctx: CompileContext, name: str, namespace: str, selector: dict[str, str],
                           jwt: Jwt) -> Resource:
    rule: dict[str, Any] = {"issuer": jwt.issuer, "jwksUri": jwt.jwks_uri}
    if jwt.audiences:
        rule["audiences"] = list(jwt.audiences)
    if jwt.forward_original_token:
        rule["forwardOriginalToken"] = True
    return ctx.resource("security", "RequestAuthentication", name, namespace,
                        {"selector": {"matchLabels": selector}, "jwtRules": [rule]}, jwt.origin)


def gateway_resources(ctx: CompileContext, gw: IngressGateway) -> list[Resource]:
    """Policies on the ingress gateway pods: IP lists and rules, and a JWT requirement at the edge."""
    out: list[Resource] = []
    name, ns, selector = gw.policy_name, gw.namespace, dict(gw.selector)
    if gw.jwt is not None:
        out.append(request_authentication(ctx, f"{name}-jwt", ns, selector, gw.jwt))
    if gw.jwt is not None and gw.require_jwt:
        # no token of this issuer, or a required claim that does not hold: refused at the edge
        rules: list[dict[str, Any]] = [{"from": [{"source": {"notRequestPrincipals": [gw.jwt.request_principal]}}]}]
        rules += [{"when": [{"key": f"request.auth.claims[{k}]", "notValues": list(v)}]}
                  for k, v in gw.jwt.required_claims.items()]
        out.append(policy(ctx, "DENY", f"{name}-require-jwt", ns, selector, rules, gw.jwt.origin))
    if gw.allow:
        out.append(policy(ctx, "ALLOW", f"{name}-allow", ns, selector, [rule_spec(ctx, r) for r in gw.allow],
                          gw.allow[0].origin))
    if gw.deny:
        out.append(policy(ctx, "DENY", f"{name}-deny", ns, selector, [rule_spec(ctx, r) for r in gw.deny],
                          gw.deny[0].origin))
    return out


def require_jwt_policy(ctx: CompileContext, s: Service, jwt: Jwt, selector: dict[str, str]) -> Resource:
    """Without default deny: HTTP needs a token (and the claims); TCP ports stay as they were."""
    http_rule: dict[str, Any] = {
        "from": [{"source": {"requestPrincipals": [jwt.request_principal]}}],
        "to": [{"operation": {"ports": [str(workload_port(ctx, s, p)) for p in s.http_ports]}}],
    }
    if jwt.required_claims:
        http_rule["when"] = _claims(jwt)
    rules = [http_rule]
    if s.tcp_ports:
        rules.append({"to": [{"operation": {"ports": [str(workload_port(ctx, s, p)) for p in s.tcp_ports]}}]})
    spec = {"selector": {"matchLabels": selector}, "action": "ALLOW", "rules": rules}
    return ctx.resource("security", "AuthorizationPolicy", f"{s.name}-require-jwt", s.namespace, spec, jwt.origin)


def egress_hosts(ctx: CompileContext, deps: list[tuple[Call, Service | ExternalService]]) -> list[str]:
    hosts: list[str] = []
    for _, target in deps:
        names = [target.host] if isinstance(target, Service) else list(target.hosts)
        hosts += [f"{target.namespace}/{h}" for h in names]
    hosts.append(f"{ctx.mesh.root_namespace}/*")
    return list(dict.fromkeys(hosts))


def egress_sidecars(ctx: CompileContext, index: ZeroTrustIndex, s: Service) -> list[Resource]:
    """One Sidecar per service, or one per version when versions declare calls of their own."""
    deps = index.dependencies.get((s.namespace, s.name), {})
    origin = index.postures[(s.namespace, s.name)].scopes[-1].origin
    common = deps.get(None, [])
    if not any(k is not None for k in deps):
        return [_sidecar(ctx, f"{s.name}-egress", s.namespace, app_selector(s), egress_hosts(ctx, common), origin)]
    return [_sidecar(ctx, f"{s.name}-{v.name}-egress", s.namespace, app_selector(s, v),
                     egress_hosts(ctx, common + deps.get(v.name, [])), origin) for v in s.versions]


def _sidecar(ctx: CompileContext, name: str, namespace: str, labels: dict[str, str], hosts: list[str],
             origin: SourceLocation | None) -> Resource:
    spec = {"workloadSelector": {"labels": labels}, "egress": [{"hosts": hosts}],
            "outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}}
    return ctx.resource("networking", "Sidecar", name, namespace, spec, origin)


def namespace_resources(ctx: CompileContext, index: ZeroTrustIndex, namespace: str) -> list[Resource]:
    """Namespace-wide objects: PeerAuthentication `default`, `allow-nothing`, scope DENY policies."""
    out: list[Resource] = []
    zt = index.namespace_scopes.get(namespace)
    mesh = index.mesh_scope
    if zt is not None and ("mtls" in zt.model_fields_set or mesh is None):
        out.append(peer_authentication(ctx, zt, "default", namespace, None))
    if _namespace_deny(index, namespace):
        scopes = tuple(z for z in (mesh, zt) if z is not None)
        origin = _pick(scopes, "default_deny")[1].origin
        out.append(ctx.resource("security", "AuthorizationPolicy", ALLOW_NOTHING, namespace, {}, origin))
    if mesh is not None and mesh.deny:
        out.append(deny_policy(ctx, mesh, SCOPE_DENY["mesh"], namespace, None))
    if zt is not None and zt.deny:
        out.append(deny_policy(ctx, zt, SCOPE_DENY["namespace"], namespace, None))
    for scope in (mesh, zt):
        if scope is not None and scope.allow:
            out.append(policy(ctx, "ALLOW", SCOPE_ALLOW[scope.scope], namespace, None,
                              [rule_spec(ctx, r) for r in scope.allow], scope.origin))
    return out
