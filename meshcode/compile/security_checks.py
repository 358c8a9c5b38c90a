"""Contradictions in ZeroTrust intent: each one would break a declared call or weaken a promise.

All checks are pure and read the `ZeroTrustIndex`; each reports at the user's line:
- MC2502 a DENY rule blocks (part of) a declared call or an ingress route;
- MC2503 a DestinationRule turns TLS off toward a STRICT workload;
- MC2504 a namespace Sidecar hides a declared dependency;
- MC2505 a JWT requirement on a service that has only TCP ports;
- MC2506 a service exposed through an ingress, under default deny, that no gateway identity reaches;
- MC2507 an mTLS mode that jumps DISABLE ↔ STRICT against what `generated/` holds (see
  `mtls_step_findings`, run by the project layer, which reads `generated/`);
- MC2510 an allow-any (`AllowRule(anyone=True)`) under the default deny of a namespace marked `strict`;
- MC2511 (warning) a rule port that is a service port whose pod port is unknown (no `target_port`,
  no workload manifests): the rule assumes the pods listen on the service port;
- MC2512 a rule that can never match: ports that are not the service's, methods/paths/tokens on
  TCP ports only, or request principals of an issuer no RequestAuthentication on the pods validates;
- MC2513 a gateway that validates and strips the end-user token a service behind it requires;
- MC2514 gateway ALLOW rules that admit no request of a declared ingress route.
"""
from __future__ import annotations

from typing import Mapping

from meshcode.compile.context import CompileContext
from meshcode.compile.security import (
    Flow,
    Operation,
    Posture,
    ZeroTrustIndex,
    _namespace_deny,
    deny_principals,
    flow_principals,
    flow_sources,
    ingress_gateways,
    mtls_step,
    port_known,
    rule_ports,
    workload_port,
)
from meshcode.errors import Finding, SourceLocation
from meshcode.intent.security import AllowRule, DenyRule, Jwt, ZeroTrust
from meshcode.intent.service import Port, Service
from meshcode.istio import egress_visible
from meshcode.istio import string_covers as covers
from meshcode.istio import string_matches as matches
from meshcode.istio import string_overlap as overlap
from meshcode.plan import STACK_ANNOTATION, Plan


# ---- MC2502: DENY rules against declared flows ------------------------------------------------
def _operation_blocked(rule: DenyRule, op: Operation) -> bool:
    """Explicitly declared methods/paths that the rule hits; an undeclared dimension is hit only
    when the rule takes all of it (a DENY on DELETE refines 'any method', it does not block it)."""
    if rule.methods and not (op.methods and set(op.methods) & set(rule.methods)):
        return False
    if rule.not_methods and not (op.methods and set(op.methods) - set(rule.not_methods)):
        return False
    if rule.paths:
        if op.paths:
            if not any(overlap(a, b) for a in op.paths for b in rule.paths):
                return False
        elif "*" not in rule.paths:
            return False
    if rule.not_paths:
        declared = op.paths or ("*",)
        if all(any(covers(q, p) for q in rule.not_paths) for p in declared):
            return False
    return True


def source_blocked(ctx: CompileContext, rule: DenyRule, principal: str, namespace: str) -> bool:
    """Do the rule's source conditions hold for this caller identity?"""
    if rule.namespaces and not any(matches(p, namespace) for p in rule.namespaces):
        return False
    if rule.not_namespaces and any(matches(p, namespace) for p in rule.not_namespaces):
        return False
    if rule.principals and not any(matches(d, principal) for d in deny_principals(ctx, rule.principals)):
        return False
    if rule.not_principals and any(matches(s, principal) for s in deny_principals(ctx, rule.not_principals)):
        return False
    return True


def _narrows_callers(rule: DenyRule) -> bool:
    """Conditions a declared call says nothing about (peer IPs, non-request attributes): the rule
    refines the call (some requests), it cannot make it impossible."""
    return bool(rule.ip_blocks or rule.not_ip_blocks or rule.remote_ip_blocks or rule.not_remote_ip_blocks
                or any(not c.is_http for c in rule.when))


def flow_blocked(ctx: CompileContext, rule: DenyRule, flow: Flow, sources: list[tuple[str, str]],
                 s: Service | None = None, scope: ZeroTrust | None = None) -> bool:
    """Does the DENY rule refuse some request this flow declares (from any of its identities)?

    `s` is the destination service (its ports translate the rule's for service/version scopes).
    """
    if _narrows_callers(rule) or not any(source_blocked(ctx, rule, p, ns) for p, ns in sources):
        return False
    ports = [p for p in flow.ports if p.is_http or not flow.operations]
    if rule.ports:
        translate = s if s is not None and scope is not None and scope.scope in ("service", "version") else None
        wanted = {int(n) for n in rule_ports(ctx, translate, rule.ports)}
        by_number = {workload_port(ctx, s, p) if s is not None else p.target_port or p.number: p for p in ports}
        hit = wanted & set(by_number)
        if not hit or (not flow.explicit_ports and hit != set(by_number)):
            return False
        ports = [by_number[n] for n in sorted(hit)]
    if any(not p.is_http for p in ports):
        return True  # on TCP, Istio drops a DENY rule's HTTP conditions: it matches every connection
    if rule.request_principals or rule.not_request_principals or rule.when:
        return False  # tokens and request attributes refine the call's requests; some still pass
    return any(_operation_blocked(rule, op) for op in flow.operations or (Operation(),))


def _check_deny(ctx: CompileContext, index: ZeroTrustIndex, key: tuple[str, str], posture: Posture) -> None:
    flows = index.inbound.get(key, ())
    s = ctx.services[key]
    for zt in posture.deny_scopes:
        for rule in zt.deny:
            for flow in flows:
                sources = flow_sources(ctx, flow, posture)
                if sources and flow_blocked(ctx, rule, flow, sources, s, zt):
                    ctx.error("MC2502", f"this DENY rule ({zt.scope_text}) blocks the declared {flow.what} to "
                              f"{key[0]}/{key[1]} (declared at {ctx.where(flow.origin)}); narrow the rule or "
                              "drop the call", rule.origin, "AuthorizationPolicy", key[0], key[1])


# ---- MC2504: namespace Sidecars that hide dependencies ----------------------------------------
def _check_sidecars(ctx: CompileContext, index: ZeroTrustIndex) -> None:
    for sc in ctx.mesh.sidecars:
        for key, by_version in index.dependencies.items():
            posture = index.postures.get(key)
            if key[0] != sc.namespace or (posture is not None and posture.egress_lockdown):
                continue
            for deps in by_version.values():
                for call, target in deps:
                    hosts = [target.host] if isinstance(target, Service) else list(target.hosts)
                    for h in hosts:
                        if not egress_visible(sc.egress_hosts, sc.namespace, target.namespace, h):
                            ctx.error("MC2504", f"Sidecar {sc.namespace}/default hides {target.namespace}/{h}, a "
                                      f"declared dependency of {key[1]} (call at {ctx.where(call.origin)}); add it "
                                      "to egress_hosts", sc.origin, "Sidecar", sc.namespace, "default")


# ---- MC2510-MC2513: the new sources and conditions against the rest ---------------------------
def _scoped_services(ctx: CompileContext, index: ZeroTrustIndex) -> list[tuple[ZeroTrust, Service]]:
    pairs = [(zt, ctx.services[key]) for key, zt in index.service_scopes.items()]
    return pairs + [(zt, ctx.services[(ns, name)]) for (ns, name, _), zt in index.version_scopes.items()]


def _token_rule_findings(ctx: CompileContext, rule: AllowRule | DenyRule, jwt: Jwt | None, where: str) -> None:
    """Request principals exist only where a RequestAuthentication validated the token."""
    claims = [c.key for c in rule.when if c.key.startswith("request.auth.")]
    if not (rule.request_principals or rule.not_request_principals or claims):
        return
    if jwt is None:
        effect = "every request counts as token-less" if rule.not_request_principals else \
            "this rule never matches" if isinstance(rule, AllowRule) else "its token conditions never hold"
        ctx.error("MC2512", f"{where}: no RequestAuthentication validates tokens there, so no request has a request "
                  f"principal and {effect}; add jwt=Jwt(issuer, jwks_uri) to that scope", rule.origin,
                  "AuthorizationPolicy")
        return
    for pattern in rule.request_principals + rule.not_request_principals:
        if pattern == "*" or pattern.startswith("*"):
            continue
        head = pattern[:-1] if pattern.endswith("*") else pattern
        issuer = jwt.issuer + "/"
        if not (head.startswith(issuer) or (pattern.endswith("*") and issuer.startswith(head))):
            ctx.error("MC2512", f"{where}: request principal {pattern!r} is not of issuer {jwt.issuer!r}, the only "
                      "one validated there; a token's request principal is '<iss>/<sub>'", rule.origin,
                      "AuthorizationPolicy")


def _check_rules(ctx: CompileContext, index: ZeroTrustIndex) -> None:
    """Rules of service and version scopes against the service they select."""
    for zt, s in _scoped_services(ctx, index):
        posture = index.postures.get((s.namespace, s.name))
        jwt = posture.jwt if posture is not None else None
        by_number = {p.number: p for p in s.ports}
        pod_ports = {workload_port(ctx, s, p): p for p in s.ports}
        for rule in tuple(zt.allow) + tuple(zt.deny):
            kind = "AllowRule" if isinstance(rule, AllowRule) else "DenyRule"
            where = f"{kind} of {zt.scope_text}"
            bad = [n for n in rule.ports if n not in by_number and n not in pod_ports]
            if bad:
                ctx.error("MC2512", f"{where} names port {', '.join(map(str, bad))}, which is not a port of {s.name} "
                          f"(service ports: {', '.join(str(p.number) for p in s.ports)}); the rule could never match",
                          rule.origin, "AuthorizationPolicy", s.namespace, s.name)
                continue
            for n in rule.ports:
                if n in by_number and not port_known(ctx, s, by_number[n]):
                    _port_warning(ctx, s, by_number[n], rule.origin, where)
            covered = [by_number.get(n) or pod_ports[n] for n in rule.ports] or list(s.ports)
            if isinstance(rule, AllowRule) and rule.has_http_conditions and not any(p.is_http for p in covered):
                ctx.error("MC2512", f"{where} has HTTP conditions (methods, paths, tokens or request attributes) but "
                          f"the ports it covers on {s.name} are TCP: Istio never matches such an ALLOW rule there",
                          rule.origin, "AuthorizationPolicy", s.namespace, s.name)
            _token_rule_findings(ctx, rule, jwt, where)
    for key, deps in index.dependencies.items():
        for calls in deps.values():
            for call, target in calls:
                if isinstance(target, Service) and call.ports and (target.namespace, target.name) in index.postures:
                    for p in target.ports:
                        if p.number in call.ports and not port_known(ctx, target, p):
                            _port_warning(ctx, target, p, call.origin, f"call from {key[1]}")
    for gw in index.gateways.values():
        for rule in gw.allow + gw.deny:
            _token_rule_findings(ctx, rule, gw.jwt, f"gateway {gw.namespace}/{gw.policy_name}")


def _port_warning(ctx: CompileContext, s: Service, p: Port, origin: SourceLocation | None, where: str) -> None:
    ctx.report("warning", "MC2511", f"{where}: port {p.number} of {s.name} has no known pod port, so the rule "
               f"assumes its pods listen on {p.number}; if they listen elsewhere every request is refused — write "
               f"Port({p.number}, target_port=…) or compile with --workloads", origin, "AuthorizationPolicy",
               s.namespace, s.name)


def _check_strict(ctx: CompileContext, index: ZeroTrustIndex) -> None:
    """MC2510: a namespace marked strict accepts named identities only."""
    for ns, scope in index.namespace_scopes.items():
        if not scope.strict or not _namespace_deny(index, ns):
            continue
        scopes = [z for z in (index.mesh_scope, scope) if z is not None]
        scopes += [zt for zt, s in _scoped_services(ctx, index) if s.namespace == ns]
        for zt in scopes:
            for rule in zt.allow:
                if rule.anyone:
                    ctx.error("MC2510", f"AllowRule(anyone=True) of {zt.scope_text} allows every caller into namespace "
                              f"{ns}, which is marked strict (default deny, named identities only, at "
                              f"{ctx.where(scope.origin)}); name the callers, or expose it through an ingress",
                              rule.origin, "AuthorizationPolicy", ns)


def _check_gateway_tokens(ctx: CompileContext, index: ZeroTrustIndex, key: tuple[str, str], posture: Posture) -> None:
    """MC2513: a gateway that validates the token and does not forward it leaves the service none."""
    if posture.jwt is None or not posture.default_deny:
        return
    for flow in index.inbound.get(key, ()):
        if flow.ingress is None:
            continue
        for gw in ingress_gateways(flow.ingress, posture):
            g = index.gateways.get((gw.namespace, gw.policy_name), gw)
            if g.jwt is not None and g.jwt.issuer == posture.jwt.issuer and not g.jwt.forward_original_token:
                ctx.error("MC2513", f"gateway {g.namespace}/{g.policy_name} validates {g.jwt.issuer} tokens and "
                          f"removes them, but {key[1]} requires one on every request from ingress {flow.ingress.name}; set "
                          "forward_original_token=True on the gateway's Jwt", g.jwt.origin, "RequestAuthentication",
                          *key)


def _admits(rule: AllowRule, op: Operation) -> bool:
    """Could this gateway ALLOW rule admit some request of a route operation from an outside client?"""
    if rule.principals or rule.namespaces or rule.authenticated:
        return False  # clients of the ingress have no mesh identity
    if rule.methods and op.methods and not set(op.methods) & set(rule.methods):
        return False
    if rule.not_methods and op.methods and set(op.methods) <= set(rule.not_methods):
        return False
    if rule.paths and op.paths and not any(overlap(a, b) for a in op.paths for b in rule.paths):
        return False
    if rule.not_paths and op.paths and all(any(covers(q, p) for q in rule.not_paths) for p in op.paths):
        return False
    return True


def _check_gateway_rules(ctx: CompileContext, index: ZeroTrustIndex) -> None:
    """Gateway rules against the ingress routes its pods serve: a DENY that refuses a route's
    declared requests (MC2502), an ALLOW list that admits none of them (MC2514)."""
    for gw in index.gateways.values():
        flows = [f for key, fl in index.inbound.items() for f in fl
                 if f.ingress is not None and f.ingress.selector == gw.selector
                 and (f.ingress.gateway_namespace is None or f.ingress.gateway_namespace == gw.namespace)]
        for flow in flows:
            ops = flow.operations or (Operation(),)
            for rule in gw.deny:
                if (rule.ports or _narrows_callers(rule) or rule.request_principals or rule.not_request_principals
                        or rule.when or not source_blocked(ctx, rule, "", "")):
                    continue
                if any(_operation_blocked(rule, op) for op in ops):
                    ctx.error("MC2502", f"this DENY rule of gateway {gw.namespace}/{gw.policy_name} blocks the "
                              f"declared {flow.what} (route at {ctx.where(flow.origin)}); narrow the rule or drop "
                              "the route", rule.origin, "AuthorizationPolicy", gw.namespace, gw.policy_name)
            if gw.allow and not any(_admits(rule, op) for rule in gw.allow for op in ops):
                ctx.error("MC2514", f"the ALLOW rules of gateway {gw.namespace}/{gw.policy_name} admit no request of "
                          f"the declared {flow.what} (route at {ctx.where(flow.origin)}): once a gateway has ALLOW "
                          "rules, what none admits is refused", gw.allow[0].origin, "AuthorizationPolicy",
                          gw.namespace, gw.policy_name)


# ---- the rest, per covered service ------------------------------------------------------------
def check_zero_trust(ctx: CompileContext, index: ZeroTrustIndex) -> None:
    _check_sidecars(ctx, index)
    _check_rules(ctx, index)
    _check_strict(ctx, index)
    _check_gateway_rules(ctx, index)
    for key, posture in index.postures.items():
        s = ctx.services[key]
        for vz in posture.versions:
            if s.tls is not None and s.tls.mode == "DISABLE" and "mtls" in vz.model_fields_set \
                    and vz.mtls_mode == "STRICT":
                ctx.error("MC2503", f"TLS DISABLE toward {s.name}, whose {vz.version} pods accept only mTLS (STRICT "
                          f"at {ctx.where(vz.origin)}): every call to them would fail; drop tls= or use "
                          "ISTIO_MUTUAL", s.tls.origin, "DestinationRule", *key)
        if s.tls is not None and s.tls.mode == "DISABLE" and posture.mtls == "STRICT":
            ctx.error("MC2503", f"TLS DISABLE toward {s.name}, whose workloads accept only mTLS (STRICT from "
                      f"{posture.mtls_scope.scope_text} at {ctx.where(posture.mtls_scope.origin)}): every call "
                      "would fail; drop tls= or use ISTIO_MUTUAL", s.tls.origin, "DestinationRule", *key)
        if posture.jwt is not None and not s.http_ports:
            if posture.jwt_scope.scope == "service":
                ctx.error("MC2505", f"JWT rule on {s.name}, which has only TCP ports: request principals and "
                          "claims exist only for HTTP, so the rule could never hold", posture.jwt.origin,
                          "RequestAuthentication", *key)
            else:
                ctx.note("MC2505", f"{s.name} has only TCP ports: the JWT rule of {posture.jwt_scope.scope_text} "
                         "does not apply to it", posture.jwt.origin, "RequestAuthentication", *key)
        if posture.default_deny:
            reported: set[str] = set()
            for flow in index.inbound.get(key, ()):
                if flow.ingress is not None and not flow_principals(ctx, flow, posture) \
                        and flow.ingress.name not in reported:
                    reported.add(flow.ingress.name)
                    ctx.error("MC2506", f"{s.name} is exposed through ingress {flow.ingress.name} but default deny "
                              f"allows no ingress gateway to reach it: no ZeroTrust gateway identity has selector "
                              f"{flow.ingress.selector}; add IngressGateway(selector=..., service_account=...) to "
                              "ZeroTrust(gateways=[...])", flow.origin, "AuthorizationPolicy", *key)
        _check_deny(ctx, index, key, posture)
        _check_gateway_tokens(ctx, index, key, posture)


# ---- MC2507: mTLS steps against what generated/ holds -----------------------------------------
def mtls_step_findings(plan: Plan, deployed: Mapping[tuple[str, str, str], str]) -> list[Finding]:
    """PeerAuthentications whose mode jumps a stage from the one meshcode wrote last.

    `deployed` maps (cluster folder, namespace, name) → mode, read from `generated/` by the
    project layer: that folder is what Argo CD applies, so it is the honest "previous" mode.
    """
    findings: list[Finding] = []
    for folder, r in plan.resources():
        if r.kind != "PeerAuthentication":
            continue
        before = deployed.get((folder, r.namespace, r.name))
        mode = (r.spec.get("mtls") or {}).get("mode")
        if before in ("DISABLE", "PERMISSIVE", "STRICT") and mode in ("DISABLE", "PERMISSIVE", "STRICT") \
                and mtls_step(before, mode) > 1:
            stack = (r.metadata.get("annotations") or {}).get(STACK_ANNOTATION)
            loc = SourceLocation(stack, r.origin.line) if stack and r.origin else None
            findings.append(Finding(
                "MC2507", "error", f"mTLS jumps {before} → {mode} (generated/ holds {before}, what Argo CD "
                f"applies); set PERMISSIVE first, compile and deploy, then {mode}",
                r.kind, r.namespace, r.name, loc, folder))
    return findings


__all__ = ["check_zero_trust", "covers", "matches", "mtls_step_findings", "overlap"]
