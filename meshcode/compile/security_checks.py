"""Contradictions in ZeroTrust intent: each one would break a declared call or weaken a promise.

All checks are pure and read the `ZeroTrustIndex`; each reports at the user's line:
- MC2502 a DENY rule blocks (part of) a declared call or an ingress route;
- MC2503 a DestinationRule turns TLS off toward a STRICT workload;
- MC2504 a namespace Sidecar hides a declared dependency;
- MC2505 a JWT requirement on a service that has only TCP ports;
- MC2506 a service exposed through an ingress, under default deny, that no gateway identity reaches;
- MC2507 an mTLS mode that jumps DISABLE ↔ STRICT against what `generated/` holds (see
  `mtls_step_findings`, run by the project layer, which reads `generated/`).
"""
from __future__ import annotations

from typing import Mapping

from meshcode.compile.context import CompileContext
from meshcode.compile.security import (
    Flow,
    Operation,
    Posture,
    ZeroTrustIndex,
    deny_principals,
    flow_principals,
    flow_sources,
    mtls_step,
    workload_port,
)
from meshcode.errors import Finding, SourceLocation
from meshcode.intent.edge import SidecarScope
from meshcode.intent.security import DenyRule
from meshcode.intent.service import Service
from meshcode.plan import STACK_ANNOTATION, Plan


# ---- Istio string and path patterns (exact, `prefix*`, `*suffix`, `*`) ------------------------
def matches(pattern: str, value: str) -> bool:
    if pattern == "*":
        return bool(value)
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    if pattern.startswith("*"):
        return value.endswith(pattern[1:])
    return value == pattern


def _kind(p: str) -> str:
    return "any" if p == "*" else "prefix" if p.endswith("*") else "suffix" if p.startswith("*") else "exact"


def overlap(a: str, b: str) -> bool:
    """Can one path match both patterns?"""
    ka, kb = _kind(a), _kind(b)
    if "any" in (ka, kb):
        return True
    if ka == "exact":
        return matches(b, a)
    if kb == "exact":
        return matches(a, b)
    if ka == kb == "prefix":
        return a[:-1].startswith(b[:-1]) or b[:-1].startswith(a[:-1])
    if ka == kb == "suffix":
        return a[1:].endswith(b[1:]) or b[1:].endswith(a[1:])
    return True  # a prefix and a suffix: some path has both


def covers(outer: str, inner: str) -> bool:
    """Does every path matching `inner` match `outer`?"""
    ko, ki = _kind(outer), _kind(inner)
    if ko == "any":
        return True
    if ki == "any":
        return False
    if ko == "exact":
        return ki == "exact" and inner == outer
    if ko == "prefix":
        return ki in ("exact", "prefix") and inner.rstrip("*").startswith(outer[:-1])
    return ki in ("exact", "suffix") and inner.lstrip("*").endswith(outer[1:])


# ---- MC2502: DENY rules against declared flows ------------------------------------------------
def _operation_blocked(rule: DenyRule, op: Operation) -> bool:
    """Explicitly declared methods/paths that the rule hits; an undeclared dimension is hit only
    when the rule takes all of it (a DENY on DELETE refines 'any method', it does not block it)."""
    if rule.methods and not (op.methods and set(op.methods) & set(rule.methods)):
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


def flow_blocked(ctx: CompileContext, rule: DenyRule, flow: Flow, sources: list[tuple[str, str]]) -> bool:
    """Does the DENY rule refuse some request this flow declares (from any of its identities)?"""
    if not any(source_blocked(ctx, rule, p, ns) for p, ns in sources):
        return False
    ports = [p for p in flow.ports if p.is_http or not flow.operations]
    if rule.ports:
        by_number = {workload_port(p): p for p in ports}
        hit = set(rule.ports) & set(by_number)
        if not hit or (not flow.explicit_ports and hit != set(by_number)):
            return False
        ports = [by_number[n] for n in sorted(hit)]
    if any(not p.is_http for p in ports):
        return True  # on TCP, Istio drops a DENY rule's HTTP conditions: it matches every connection
    return any(_operation_blocked(rule, op) for op in flow.operations or (Operation(),))


def _check_deny(ctx: CompileContext, index: ZeroTrustIndex, key: tuple[str, str], posture: Posture) -> None:
    flows = index.inbound.get(key, ())
    for zt in posture.scopes:
        for rule in zt.deny:
            for flow in flows:
                sources = flow_sources(ctx, flow, posture)
                if sources and flow_blocked(ctx, rule, flow, sources):
                    ctx.error("MC2502", f"this DENY rule ({zt.scope_text}) blocks the declared {flow.what} to "
                              f"{key[0]}/{key[1]} (declared at {ctx.where(flow.origin)}); narrow the rule or "
                              "drop the call", rule.origin, "AuthorizationPolicy", key[0], key[1])


# ---- MC2504: namespace Sidecars that hide dependencies ----------------------------------------
def egress_visible(sc: SidecarScope, namespace: str, host: str) -> bool:
    for entry in sc.egress_hosts:
        ns, _, pattern = entry.partition("/")
        if ns == "~" or not (ns == "*" or (ns == "." and namespace == sc.namespace) or ns == namespace):
            continue
        if pattern == "*" or pattern == host or (pattern.startswith("*.") and host.endswith(pattern[1:])):
            return True
    return False


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
                        if not egress_visible(sc, target.namespace, h):
                            ctx.error("MC2504", f"Sidecar {sc.namespace}/default hides {target.namespace}/{h}, a "
                                      f"declared dependency of {key[1]} (call at {ctx.where(call.origin)}); add it "
                                      "to egress_hosts", sc.origin, "Sidecar", sc.namespace, "default")


# ---- the rest, per covered service ------------------------------------------------------------
def check_zero_trust(ctx: CompileContext, index: ZeroTrustIndex) -> None:
    _check_sidecars(ctx, index)
    for key, posture in index.postures.items():
        s = ctx.services[key]
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
