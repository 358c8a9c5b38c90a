"""Ingress on the Kubernetes Gateway API: a `Gateway` (class `istio`) and the routes attached to it.

- The Gateway sits where the Istio API's would (`gateway_namespace`, else the ingress namespace);
  Istio deploys its pods and Service, which run as `<gateway>-istio` (ZeroTrust admits that
  identity for the exposed services).
- Listeners: HTTPS (TLS terminated with `certificateRefs` to the credential Secret) or HTTP, one
  per host (its `hostname`), plus HTTP on 80 with a `RequestRedirect` route when `http_redirect`;
  a TCP ingress gets one TCP listener and a TCPRoute, a TLS (passthrough) ingress a TLS listener
  per host and a TLSRoute routed by SNI.
  Routes from another namespace are allowed by name through `allowedRoutes`.
- The HTTPRoute has the ingress's routes, rendered like a service's (see `gateway_api`), with the
  routed services' default splits; backends in other namespaces get a ReferenceGrant.
"""
from __future__ import annotations

import copy
from typing import Any

from meshcode.compile.context import CompileContext
from meshcode.compile.edge import _NO_SERVICE, check_ingress_routes, edge_target, gateway_namespace
from meshcode.compile.gateway_api import (
    API,
    Backends,
    Refusals,
    _check_order,
    _rule,
    alternative_for,
    reference_grant,
    version_service,
)
from meshcode.compile.routing import Destinations, RuleStep
from meshcode.compile.security import zero_trust_index
from meshcode.intent.edge import Ingress
from meshcode.plan import Resource, make_resource

GATEWAY_CLASS = "istio"
NAME_LABEL = "kubernetes.io/metadata.name"


def _listeners(ing: Ingress, allowed: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """Listeners, and the names of the ones the main route and the redirect route attach to."""
    listeners: list[dict[str, Any]] = []
    main: list[str] = []
    redirect: list[str] = []
    if ing.protocol == "TCP":  # opaque bytes: one listener, no host to tell connections apart
        listeners.append({"name": "tcp", "port": ing.listen_port, "protocol": "TCP",
                          "allowedRoutes": copy.deepcopy(allowed)})
        return listeners, ["tcp"], []
    several = len(ing.hosts) > 1
    for i, host in enumerate(ing.hosts):
        suffix = f"-{i}" if several else ""
        base: dict[str, Any] = {}
        if host != "*":
            base["hostname"] = host
        if ing.protocol == "TLS":  # passthrough: routed by SNI, the service terminates TLS
            name = f"tls{suffix}"
            listeners.append({"name": name, **base, "port": ing.listen_port, "protocol": "TLS",
                              "tls": {"mode": "Passthrough"}, "allowedRoutes": copy.deepcopy(allowed)})
        elif ing.tls:
            name = f"https{suffix}"
            listeners.append({"name": name, **base, "port": ing.listen_port, "protocol": "HTTPS",
                              "tls": {"mode": "Terminate", "certificateRefs": [
                                  {"kind": "Secret", "group": "", "name": ing.tls.credential_name}]},
                              "allowedRoutes": copy.deepcopy(allowed)})
        else:
            name = f"http{suffix}"
            listeners.append({"name": name, **base, "port": ing.listen_port, "protocol": "HTTP",
                              "allowedRoutes": copy.deepcopy(allowed)})
        main.append(name)
        if ing.http_redirect:
            listeners.append({"name": f"http{suffix}", **base, "port": 80, "protocol": "HTTP",
                              "allowedRoutes": copy.deepcopy(allowed)})
            redirect.append(f"http{suffix}")
    return listeners, main, redirect


def _parents(ing: Ingress, sections: list[str]) -> list[dict[str, Any]]:
    out = []
    for section in sections:
        ref: dict[str, Any] = {"name": ing.name}
        if gateway_namespace(ing) != ing.namespace:
            ref["namespace"] = gateway_namespace(ing)
        ref["sectionName"] = section
        out.append(ref)
    return out


def _check_edge_policies(ctx: CompileContext, ing: Ingress, no: Refusals) -> None:
    """Policies written for the gateway pods `ing.selector` picks would miss the gateway Istio deploys
    for this Gateway: refuse them at their line rather than let them guard nothing."""
    gw_ns = gateway_namespace(ing)
    for gw in zero_trust_index(ctx).gateways.values():
        if dict(gw.selector) != dict(ing.selector):
            continue
        selector = {"gateway.networking.k8s.io/gateway-name": ing.name}
        no.refuse(f"ingress {ing.name} runs on the gateway Istio deploys for its Gateway API Gateway, whose pods "
                  f"these gateway policies (selector {dict(gw.selector)}) do not select; write "
                  f"IngressGateway(selector={selector}, namespace={gw_ns!r}, service_account='{ing.name}-istio', ...)",
                  gw.origin)


def compile_gateway_ingress(ctx: CompileContext, ing: Ingress) -> list[Resource]:
    """Gateway + HTTPRoute (+ redirect HTTPRoute, ReferenceGrants, version Services)."""
    no = Refusals(ctx, "Gateway", ing.namespace, ing.name,
                  f"or keep namespace {ing.namespace} on the Istio API (DataPlane(routing='istio', "
                  f"namespace={ing.namespace!r}))")
    if "selector" in ing.model_fields_set:
        no.refuse("a Gateway API ingress runs the gateway Istio deploys for its Gateway, so selector= (pods of "
                  "an existing gateway) cannot apply; drop selector=", ing.origin)
    _check_edge_policies(ctx, ing, no)
    if ing.tls and ing.tls.mode == "MUTUAL":
        no.refuse("client-certificate validation (ServerTLS mode MUTUAL) is not in the Gateway API standard "
                  "listener TLS; use mode SIMPLE", ing.tls.origin or ing.origin)
    if ing.tls and ing.tls.min_protocol_version:
        no.refuse("Gateway API listeners have no minimum TLS version; drop min_protocol_version",
                  ing.tls.origin or ing.origin)
    # TCPRoute and TLSRoute are v1 in the standard channel since Gateway API 1.5 (the bundled 1.6.1 CRDs)
    ok = check_ingress_routes(ctx, ing, {"HTTP": "HTTPRoute", "TCP": "TCPRoute", "TLS": "TLSRoute"}[ing.protocol])
    gw_ns = gateway_namespace(ing)
    allowed: dict[str, Any] = {"namespaces": {"from": "Same"}}
    if gw_ns != ing.namespace:
        allowed = {"namespaces": {"from": "Selector", "selector": {"matchLabels": {NAME_LABEL: ing.namespace}}}}
    listeners, main, redirect = _listeners(ing, allowed)
    gateway = make_resource(API, "Gateway", ing.name, gw_ns,
                            {"gatewayClassName": GATEWAY_CLASS, "listeners": listeners},
                            ing.origin, ctx.rel(ing.origin))
    # routes, rendered like a service's
    kind = {"HTTP": "HTTPRoute", "TCP": "TCPRoute", "TLS": "TLSRoute"}[ing.protocol]
    routes_no = Refusals(ctx, kind, ing.namespace, ing.name, alternative_for(ctx, ing.namespace))
    dests = Destinations(ctx, None, ing.namespace, ing.name, kind=kind)
    backends = Backends(ctx, ing.namespace, kind)
    steps: list[RuleStep] = []
    if ok:
        for r in ing.routes:
            target = edge_target(ctx, ing, r)
            if target is None:
                ok = False
            else:
                steps.append(RuleStep(r, r.match, target, r.origin))
    if ing.protocol == "HTTP":
        rules = [_rule(ctx, _NO_SERVICE, step, dests, backends, routes_no, False) for step in steps]
    else:  # one route, checked above: its backends
        routes = [dests.many(step.target, step.origin) for step in steps]
        rules = [None if route is None else {"backendRefs": backends.refs(route)} for route in routes]
    if any(r is None for r in rules):
        ok = False
    done = [r for r in rules if r is not None]
    if ok and ing.protocol == "HTTP":
        _check_order(ctx, steps, done, False, routes_no)
    if no.failed or routes_no.failed or not ok:
        return []
    out = [gateway]
    spec: dict[str, Any] = {"parentRefs": _parents(ing, main)}
    if "*" not in ing.hosts and ing.protocol != "TCP":
        spec["hostnames"] = list(ing.hosts)
    spec["rules"] = done
    out.append(make_resource(API, kind, ing.name, ing.namespace, spec, ing.origin, ctx.rel(ing.origin)))
    if redirect:
        spec = {"parentRefs": _parents(ing, redirect), "hostnames": list(ing.hosts), "rules": [{"filters": [
            {"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}]}]}
        out.append(make_resource(API, "HTTPRoute", f"{ing.name}-redirect", ing.namespace, spec, ing.origin,
                                 ctx.rel(ing.origin)))
    for target, version in backends.versions:
        v = target.version(version)
        if v is not None:
            out.append(version_service(ctx, target, v))
    for ns in sorted(backends.cross):
        out.append(reference_grant(ctx, ns, ing.namespace, kind, ing.origin))
    return out
