"""Istio's security tasks, written as meshcode intent: same meaning as the task's own YAML.

Each test holds the policies a task on istio.io applies (Authorization: HTTP traffic, TCP
traffic, JWT, ingress gateway, explicit deny, allow-nothing/deny-all/allow-all; the
authorization concepts' per-version example; end-user JWT at the ingress), transcribed as
YAML, next to the intent a meshcode user writes for it. Both go through the evaluator
(tests/support/authz.py) for every request of a grid; the verdicts must agree everywhere.
"""
from __future__ import annotations

import itertools
from typing import Any, Iterable

import pytest
import yaml

from meshcode import (
    AllowRule, Call, Claim, Cluster, DenyRule, Header, Ingress, IngressGateway, Jwt, Mesh, Port, Prefix, Match,
    Route, Service, ZeroTrust,
)
from meshcode.errors import CompileError
from tests.support.authz import Authorizer, Request, Token, Workload, through_gateway
from tests.support.meshes import compiled

ISSUER = "testing@secure.istio.io"
JWKS = "https://raw.githubusercontent.com/istio/istio/release-1.30/security/tools/jwt/samples/jwks.json"
GATEWAY = Workload("istio-system", {"app": "istio-ingressgateway", "istio": "ingressgateway"})
GATEWAY_SA = "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"


def sa(ns: str, name: str) -> str:
    return f"cluster.local/ns/{ns}/sa/{name}"


def task_yaml(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def same_meaning(task: list[dict[str, Any]], mesh: Mesh,
                 cases: Iterable[tuple[Workload, Request]]) -> int:
    """Assert both policy sets decide every case alike; returns how many cases were compared."""
    ours = Authorizer(list(compiled(mesh).values()))
    theirs = Authorizer(task)
    n = 0
    for workload, request in cases:
        expected, why = theirs.decide(workload, request)
        got, our_why = ours.decide(workload, request)
        assert got == expected, f"{workload} {request}: task says {expected} ({why}), meshcode {got} ({our_why})"
        n += 1
    assert n
    return n


def http(principal: str | None, port: int, method: str = "GET", path: str = "/", **kw: Any) -> Request:
    ns = principal.split("/")[2] if principal else None
    return Request(principal, ns, port, "http", method, path, **kw)


# ---- Authorization for HTTP traffic (bookinfo in `default`) --------------------------------------
HTTP_TASK = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-nothing, namespace: default}
spec: {}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: productpage-viewer, namespace: default}
spec:
  selector: {matchLabels: {app: productpage}}
  action: ALLOW
  rules:
  - to:
    - operation: {methods: ["GET"]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: details-viewer, namespace: default}
spec:
  selector: {matchLabels: {app: details}}
  action: ALLOW
  rules:
  - from:
    - source: {principals: ["cluster.local/ns/default/sa/bookinfo-productpage"]}
    to:
    - operation: {methods: ["GET"]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-viewer, namespace: default}
spec:
  selector: {matchLabels: {app: reviews}}
  action: ALLOW
  rules:
  - from:
    - source: {principals: ["cluster.local/ns/default/sa/bookinfo-productpage"]}
    to:
    - operation: {methods: ["GET"]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ratings-viewer, namespace: default}
spec:
  selector: {matchLabels: {app: ratings}}
  action: ALLOW
  rules:
  - from:
    - source: {principals: ["cluster.local/ns/default/sa/bookinfo-reviews"]}
    to:
    - operation: {methods: ["GET"]}
"""


def test_http_traffic_task() -> None:
    def svc(name: str, calls: list[Any] = ()) -> Service:  # type: ignore[assignment]
        return Service(name, namespace="default", ports=[Port(9080)], service_account=f"bookinfo-{name}",
                       calls=calls)
    ratings = svc("ratings")
    reviews = svc("reviews", [Call(ratings, methods="GET")])
    details = svc("details")
    productpage = svc("productpage", [Call(details, methods="GET"), Call(reviews, methods="GET")])
    mesh = Mesh("bookinfo", clusters=[Cluster("prod")], services=[productpage, details, reviews, ratings], zero_trust=[
        ZeroTrust(namespace="default", egress_lockdown=False),
        ZeroTrust(service=productpage, allow=[AllowRule(anyone=True, methods="GET")]),  # the public page
    ])
    sources = [sa("default", f"bookinfo-{n}") for n in ("productpage", "reviews", "details", "ratings")]
    sources += [sa("other", "curl"), None]
    cases = [(Workload("default", {"app": app, "version": "v1"}), http(p, 9080, m))
             for app in ("productpage", "details", "reviews", "ratings")
             for p in sources for m in ("GET", "POST", "DELETE")]
    assert same_meaning(task_yaml(HTTP_TASK), mesh, cases) == 72


# ---- TCP traffic ----------------------------------------------------------------------------------
TCP_TASK = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: tcp-policy, namespace: foo}
spec:
  selector: {matchLabels: {app: tcp-echo}}
  action: ALLOW
  rules:
  - to:
    - operation: {ports: ["9000", "9001"]}
"""
TCP_DENY_TASK = TCP_TASK + """
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: tcp-policy-deny, namespace: foo}
spec:
  selector: {matchLabels: {app: tcp-echo}}
  action: DENY
  rules:
  - to:
    - operation: {methods: ["GET"], ports: ["9000"]}
"""


def tcp_echo() -> Service:
    return Service("tcp-echo", namespace="foo", ports=[Port(9000, "TCP"), Port(9001, "TCP")])


def tcp_cases() -> list[tuple[Workload, Request]]:
    return [(Workload("foo", {"app": "tcp-echo"}), Request(p, "foo" if p else None, port, "tcp"))
            for p in (sa("foo", "curl"), None) for port in (9000, 9001, 9002)]


def test_tcp_traffic_task() -> None:
    echo = tcp_echo()
    allow = AllowRule(anyone=True, ports=[9000, 9001])
    mesh = Mesh("tcp", clusters=[Cluster("prod")], services=[echo],
                zero_trust=[ZeroTrust(service=echo, egress_lockdown=False, allow=[allow])])
    same_meaning(task_yaml(TCP_TASK), mesh, tcp_cases())
    denied = Mesh("tcp", clusters=[Cluster("prod")], services=[echo], zero_trust=[ZeroTrust(
        service=echo, egress_lockdown=False, allow=[allow], deny=[DenyRule(methods="GET", ports=[9000])])])
    same_meaning(task_yaml(TCP_DENY_TASK), denied, tcp_cases())
    # the task's middle step, an ALLOW with methods on a TCP port, never matches: meshcode refuses it
    with pytest.raises(CompileError, match="MC2512"):
        compiled(Mesh("tcp", clusters=[Cluster("prod")], services=[echo], zero_trust=[ZeroTrust(
            service=echo, allow=[AllowRule(anyone=True, methods="GET", ports=[9000])])]))


# ---- Authorization with JWT -----------------------------------------------------------------------
JWT_TASK = f"""
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: jwt-example, namespace: foo}}
spec:
  selector: {{matchLabels: {{app: httpbin}}}}
  jwtRules:
  - issuer: "{ISSUER}"
    jwksUri: "{JWKS}"
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: require-jwt, namespace: foo}}
spec:
  selector: {{matchLabels: {{app: httpbin}}}}
  action: ALLOW
  rules:
  - from:
    - source: {{requestPrincipals: ["{ISSUER}/{ISSUER}"]}}
    when:
    - key: request.auth.claims[groups]
      values: ["group1"]
"""


def httpbin(**kw: Any) -> Service:
    return Service("httpbin", namespace="foo", ports=[Port(8000, target_port=8080)], versions=["v1", "v2"], **kw)


TOKENS = [None, Token(ISSUER, ISSUER, {"groups": ["group1", "group2"]}), Token(ISSUER, ISSUER, {"groups": ["group2"]}),
          Token(ISSUER, "someone-else", {"groups": ["group1"]}), Token(ISSUER, ISSUER, {"groups": ["group1"]}, valid=False)]


def test_jwt_task() -> None:
    svc = httpbin()
    mesh = Mesh("jwt", clusters=[Cluster("prod")], services=[svc], zero_trust=[ZeroTrust(
        service=svc, egress_lockdown=False, jwt=Jwt(ISSUER, JWKS),
        allow=[AllowRule(request_principals=[f"{ISSUER}/{ISSUER}"], when=[Claim("groups", "group1")])])])
    cases = [(Workload("foo", {"app": "httpbin", "version": v}), http(p, 8080, m, "/headers", token=t))
             for v in ("v1", "v2") for p in (sa("foo", "curl"), None) for m in ("GET", "POST") for t in TOKENS]
    same_meaning(task_yaml(JWT_TASK), mesh, cases)


# ---- Explicit deny ------------------------------------------------------------------------------
DENY_TASK = f"""
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: deny-method-get, namespace: foo}}
spec:
  selector: {{matchLabels: {{app: httpbin}}}}
  action: DENY
  rules:
  - to:
    - operation: {{methods: ["GET"]}}
    when:
    - key: request.headers[x-token]
      notValues: ["admin"]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: allow-path-ip, namespace: foo}}
spec:
  selector: {{matchLabels: {{app: httpbin}}}}
  action: ALLOW
  rules:
  - to:
    - operation: {{methods: ["GET"], paths: ["/ip"]}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: deny-path-headers, namespace: foo}}
spec:
  selector: {{matchLabels: {{app: httpbin}}}}
  action: DENY
  rules:
  - from:
    - source: {{notPrincipals: ["{sa('foo', 'curl')}"]}}
    to:
    - operation: {{paths: ["/headers"]}}
"""


def test_explicit_deny_task() -> None:
    curl = Service("curl", namespace="foo", ports=[Port(80)])
    svc = httpbin()
    mesh = Mesh("deny", clusters=[Cluster("prod")], services=[svc, curl], zero_trust=[ZeroTrust(
        service=svc, default_deny=False, egress_lockdown=False,
        deny=[DenyRule(methods="GET", when=[Header("x-token", not_values="admin")]),
              DenyRule(not_principals=[curl], paths="/headers")],
        allow=[AllowRule(anyone=True, methods="GET", paths="/ip")])])
    cases = [(Workload("foo", {"app": "httpbin", "version": "v1"}), http(p, 8080, m, path, headers=h))
             for p in (sa("foo", "curl"), sa("foo", "other"), None) for m in ("GET", "POST")
             for path in ("/ip", "/headers", "/status/200") for h in ({}, {"x-token": "admin"}, {"x-token": "guest"})]
    assert same_meaning(task_yaml(DENY_TASK), mesh, cases) == 54


# ---- allow-nothing, deny-all, allow-all (authorization policy reference) ------------------------
@pytest.mark.parametrize("task,zero_trust", [
    ("metadata: {name: allow-nothing, namespace: foo}\nspec: {}", ZeroTrust(namespace="foo")),
    ("metadata: {name: deny-all, namespace: foo}\nspec: {action: DENY, rules: [{}]}",
     ZeroTrust(namespace="foo", default_deny=False, deny=[DenyRule(anyone=True)])),
    ("metadata: {name: allow-all, namespace: foo}\nspec: {action: ALLOW, rules: [{}]}",
     ZeroTrust(namespace="foo", default_deny=False, allow=[AllowRule(anyone=True)])),
])
def test_allow_nothing_deny_all_allow_all(task: str, zero_trust: ZeroTrust) -> None:
    doc = yaml.safe_load(f"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n{task}")
    mesh = Mesh("all", clusters=[Cluster("prod")], services=[httpbin()],
                zero_trust=[zero_trust.model_copy(update={"egress_lockdown": False})])
    cases = [(Workload("foo", {"app": app}), http(p, port, m))
             for app in ("httpbin", "other") for p in (sa("foo", "curl"), None) for port in (8080, 9000)
             for m in ("GET", "POST")]
    same_meaning([doc], mesh, cases)


# ---- per-version policies (authorization concepts: selector with app and version) ---------------
VERSION_TASK = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: httpbin-v1-deny, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin, version: v1}}
  action: DENY
  rules:
  - from:
    - source: {notNamespaces: ["foo"]}
"""


def test_per_version_policy_and_peer_authentication() -> None:
    svc = httpbin()
    mesh = Mesh("v", clusters=[Cluster("prod")], services=[svc], zero_trust=[
        ZeroTrust(service=svc, version="v1", mtls="STRICT", deny=[DenyRule(not_namespaces="foo")])])
    cases = [(Workload("foo", {"app": "httpbin", "version": v}), http(p, 8080))
             for v in ("v1", "v2") for p in (sa("foo", "curl"), sa("bar", "curl"), None)]
    same_meaning(task_yaml(VERSION_TASK), mesh, cases)
    peer = compiled(mesh)[("PeerAuthentication", "foo", "httpbin-v1")]
    assert peer["spec"] == {"selector": {"matchLabels": {"app": "httpbin", "version": "v1"}}, "mtls": {"mode": "STRICT"}}


# ---- namespaces, any authenticated peer (authorization concepts) --------------------------------
SOURCES_TASK = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-dev-get, namespace: foo}
spec:
  action: ALLOW
  rules:
  - from:
    - source: {namespaces: ["dev"]}
    to:
    - operation: {methods: ["GET"]}
  - from:
    - source: {principals: ["*"]}
    to:
    - operation: {paths: ["/healthz"]}
"""


def test_namespace_sources_and_any_authenticated_peer() -> None:
    mesh = Mesh("src", clusters=[Cluster("prod")], services=[httpbin()], zero_trust=[ZeroTrust(
        namespace="foo", default_deny=False, egress_lockdown=False,
        allow=[AllowRule(namespaces="dev", methods="GET"), AllowRule(authenticated=True, paths="/healthz")])])
    cases = [(Workload("foo", {"app": a}), http(p, 8080, m, path)) for a in ("httpbin", "x")
             for p in (sa("dev", "a"), sa("prod", "b"), None) for m in ("GET", "POST") for path in ("/healthz", "/x")]
    same_meaning(task_yaml(SOURCES_TASK), mesh, cases)


# ---- ingress gateway: IP allow and deny lists -----------------------------------------------------
def gateway_task(action: str, field: str, blocks: list[str]) -> str:
    return f"""
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: ingress-policy, namespace: istio-system}}
spec:
  selector: {{matchLabels: {{app: istio-ingressgateway}}}}
  action: {action}
  rules:
  - from:
    - source: {{{field}: {blocks}}}
"""


def exposed_httpbin(*zero_trust: ZeroTrust) -> Mesh:
    svc = httpbin()
    ingress = Ingress("httpbin-gateway", namespace="foo", hosts=["httpbin.example.com"],
                      routes=[Route(match=Match(uri=Prefix("/")), to=svc)])
    return Mesh("edge", clusters=[Cluster("prod")], services=[svc], ingresses=[ingress], zero_trust=list(zero_trust))


BACKEND = Workload("foo", {"app": "httpbin", "version": "v1"})
CLIENTS = [("1.2.3.4", None), ("5.6.7.8", None), ("9.9.9.9", None), ("10.0.0.99", "1.2.3.4"), ("10.0.0.99", "9.9.9.9")]


@pytest.mark.parametrize("action,field", [("ALLOW", "ipBlocks"), ("ALLOW", "remoteIpBlocks"),
                                          ("DENY", "ipBlocks"), ("DENY", "remoteIpBlocks")])
def test_ingress_gateway_ip_lists(action: str, field: str) -> None:
    blocks = ["1.2.3.4", "5.6.7.0/24"]
    kw = {"ip_blocks" if field == "ipBlocks" else "remote_ip_blocks": blocks}
    rules = {"allow": [AllowRule(**kw)]} if action == "ALLOW" else {"deny": [DenyRule(**kw)]}
    gw = IngressGateway(**rules)  # selects `istio: ingressgateway`; the chart's pods carry both labels
    mesh = exposed_httpbin(ZeroTrust(namespace="foo", egress_lockdown=False, gateways=[gw]))
    task = task_yaml(gateway_task(action, field, blocks))
    ours, theirs = Authorizer(list(compiled(mesh).values())), Authorizer(task)
    n = 0
    for (ip, remote), path in itertools.product(CLIENTS, ("/headers", "/ip")):
        request = http(None, 8080, "GET", path, ip=ip, remote_ip=remote)
        # the task's backend has no policy; ours is under default deny and admits the gateway
        expected = theirs.decide(GATEWAY, request)[0] and theirs.allowed(BACKEND, http(GATEWAY_SA, 8080, "GET", path))
        assert through_gateway(ours, GATEWAY, GATEWAY_SA, BACKEND, 8080, request)[0] == expected
        n += 1
    assert n == 10


# ---- end-user JWT at the ingress gateway -------------------------------------------------------
INGRESS_JWT_TASK = f"""
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: ingress-jwt, namespace: istio-system}}
spec:
  selector: {{matchLabels: {{istio: ingressgateway}}}}
  jwtRules:
  - issuer: "{ISSUER}"
    jwksUri: "{JWKS}"
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: frontend-ingress, namespace: istio-system}}
spec:
  selector: {{matchLabels: {{istio: ingressgateway}}}}
  action: DENY
  rules:
  - from:
    - source: {{notRequestPrincipals: ["*"]}}
"""
PER_PATH = INGRESS_JWT_TASK.replace('notRequestPrincipals: ["*"]}\n', 'notRequestPrincipals: ["*"]}\n    to:\n'
                                    '    - operation: {paths: ["/headers"]}\n')
assert PER_PATH != INGRESS_JWT_TASK


@pytest.mark.parametrize("task,gateway", [
    (INGRESS_JWT_TASK, IngressGateway(jwt=Jwt(ISSUER, JWKS))),
    (PER_PATH, IngressGateway(jwt=Jwt(ISSUER, JWKS), require_jwt=False,
                              deny=[DenyRule(not_request_principals="*", paths="/headers")])),
])
def test_jwt_at_the_ingress_gateway(task: str, gateway: IngressGateway) -> None:
    mesh = exposed_httpbin(ZeroTrust(namespace="foo", egress_lockdown=False, gateways=[gateway]))
    ours, theirs = Authorizer(list(compiled(mesh).values())), Authorizer(task_yaml(task))
    for token, path in itertools.product(TOKENS, ("/headers", "/ip")):
        request = http(None, 8080, "GET", path, ip="1.2.3.4", token=token)
        expected = theirs.decide(GATEWAY, request)[0] and theirs.allowed(BACKEND, http(GATEWAY_SA, 8080, "GET", path))
        assert through_gateway(ours, GATEWAY, GATEWAY_SA, BACKEND, 8080, request)[0] == expected, (token, path)
