"""The test evaluator itself, on hand-written policies shaped like istio.io's authorization examples.

If the evaluator were wrong, the bookinfo check would prove nothing; these pin each documented rule.
"""
from __future__ import annotations

from typing import Any

import pytest

from tests.support.authz import Authorizer, Request, Token, Workload, string_match, through_gateway

HTTPBIN = Workload("foo", {"app": "httpbin", "version": "v1"})
TCP_ECHO = Workload("foo", {"app": "tcp-echo"})
CURL = "cluster.local/ns/foo/sa/curl"


def policy(name: str, spec: dict[str, Any] | None, namespace: str = "foo") -> dict[str, Any]:
    return {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec if spec is not None else {}}


def get(path: str = "/ip", method: str = "GET", principal: str | None = CURL, namespace: str | None = "foo",
        port: int = 8000, **kw: Any) -> Request:
    return Request(principal, namespace, port, "http", method, path, **kw)


def tcp(port: int = 9000, principal: str | None = CURL, namespace: str | None = "foo") -> Request:
    return Request(principal, namespace, port, "tcp")


def test_no_policy_allows_and_an_empty_allow_policy_denies_everything() -> None:
    assert Authorizer([]).allowed(HTTPBIN, get())
    authz = Authorizer([policy("allow-nothing", {})])
    assert not authz.allowed(HTTPBIN, get())
    assert not authz.allowed(TCP_ECHO, tcp())
    # a selector without rules: deny for the selected workloads only
    selected = Authorizer([policy("httpbin", {"selector": {"matchLabels": {"app": "httpbin"}}, "action": "ALLOW"})])
    assert not selected.allowed(HTTPBIN, get()) and selected.allowed(TCP_ECHO, tcp())


def test_an_allow_rule_of_empty_braces_matches_everything() -> None:
    assert Authorizer([policy("allow-all", {"rules": [{}]})]).allowed(HTTPBIN, get(principal=None))


def test_deny_wins_over_allow_and_custom_comes_first() -> None:
    allow_all = policy("allow-all", {"rules": [{}]})
    deny_get = policy("deny-get", {"action": "DENY", "rules": [{"to": [{"operation": {"methods": ["GET"]}}]}]})
    authz = Authorizer([allow_all, deny_get])
    assert not authz.allowed(HTTPBIN, get())
    assert authz.allowed(HTTPBIN, get(method="POST"))
    custom = policy("ext", {"action": "CUSTOM", "provider": {"name": "opa"},
                            "rules": [{"to": [{"operation": {"paths": ["/admin*"]}}]}]})
    denied_by_ext = Authorizer([allow_all, custom], ext_authz=lambda r: False)
    assert not denied_by_ext.allowed(HTTPBIN, get("/admin/x", method="POST"))
    assert denied_by_ext.allowed(HTTPBIN, get("/ip", method="POST"))
    allowed_by_ext = Authorizer([allow_all, deny_get, custom], ext_authz=lambda r: True)
    assert not allowed_by_ext.allowed(HTTPBIN, get("/admin/x"))  # then DENY still applies
    assert allowed_by_ext.decide(HTTPBIN, get("/admin/x", method="POST"))[0]


def test_any_allow_policy_denies_what_no_allow_rule_matches() -> None:
    authz = Authorizer([policy("curl-get", {
        "selector": {"matchLabels": {"app": "httpbin"}}, "action": "ALLOW",
        "rules": [{"from": [{"source": {"principals": [CURL]}}], "to": [{"operation": {"methods": ["GET"]}}]}],
    })])
    assert authz.allowed(HTTPBIN, get())
    assert not authz.allowed(HTTPBIN, get(method="POST"))
    assert not authz.allowed(HTTPBIN, get(principal="cluster.local/ns/foo/sa/other"))
    assert not authz.allowed(HTTPBIN, get(principal=None, namespace=None))


def test_root_namespace_and_selectors_decide_which_policies_apply() -> None:
    root = policy("deny-bar", {"action": "DENY", "rules": [{"from": [{"source": {"namespaces": ["bar"]}}]}]},
                  namespace="istio-system")
    other_ns = policy("allow-nothing", {}, namespace="baz")
    authz = Authorizer([root, other_ns])
    assert not authz.allowed(HTTPBIN, get(namespace="bar", principal="cluster.local/ns/bar/sa/x"))
    assert authz.allowed(HTTPBIN, get())  # the baz policy is not in foo
    versioned = Authorizer([policy("v2-only", {"selector": {"matchLabels": {"version": "v2"}}})])
    assert versioned.allowed(HTTPBIN, get())


def test_not_namespaces_denies_everyone_else_including_plaintext() -> None:
    authz = Authorizer([policy("deny-others", {
        "action": "DENY", "rules": [{"from": [{"source": {"notNamespaces": ["foo"]}}]}]})])
    assert authz.allowed(HTTPBIN, get())
    assert not authz.allowed(HTTPBIN, get(namespace="bar", principal="cluster.local/ns/bar/sa/curl"))
    assert not authz.allowed(HTTPBIN, get(namespace=None, principal=None))


@pytest.mark.parametrize("pattern,value,ok", [
    ("/headers", "/headers", True), ("/headers", "/headers/x", False),
    ("/api/*", "/api/v1", True), ("/api/*", "/apix", False), ("*/info", "/v1/info", True),
    ("*/info", "/info/x", False), ("*", "/anything", True), ("*", "", False), ("*", None, False),
])
def test_strings_match_exactly_by_prefix_by_suffix_or_any(pattern: str, value: str | None, ok: bool) -> None:
    assert string_match(pattern, value) is ok


def test_paths_ports_and_methods_with_their_negations() -> None:
    authz = Authorizer([policy("ops", {"rules": [{"to": [{"operation": {
        "ports": ["8000"], "methods": ["GET", "HEAD"], "paths": ["/status/*", "*/info"], "notPaths": ["/status/500"],
    }}]}]})])
    assert authz.allowed(HTTPBIN, get("/status/200"))
    assert authz.allowed(HTTPBIN, get("/v1/info", method="HEAD"))
    assert not authz.allowed(HTTPBIN, get("/status/500"))
    assert not authz.allowed(HTTPBIN, get("/status/200", port=8080))
    assert not authz.allowed(HTTPBIN, get("/status/200", method="POST"))
    not_ports = Authorizer([policy("np", {"rules": [{"to": [{"operation": {"notPorts": ["8000"]}}]}]})])
    assert not not_ports.allowed(HTTPBIN, get()) and not_ports.allowed(HTTPBIN, get(port=8080))


def test_request_principals_and_claims_conditions() -> None:
    """istio.io "Authorization with JWT": require a token of an issuer, then a group claim."""
    authz = Authorizer([policy("require-jwt", {
        "selector": {"matchLabels": {"app": "httpbin"}}, "action": "ALLOW",
        "rules": [{"from": [{"source": {"requestPrincipals": ["testing@secure.istio.io/testing@secure.istio.io"]}}],
                   "when": [{"key": "request.auth.claims[groups]", "values": ["group1"]},
                            {"key": "request.auth.claims[iss]", "values": ["testing@secure.istio.io"]}]}],
    })])
    rp = "testing@secure.istio.io/testing@secure.istio.io"
    claims = {"iss": "testing@secure.istio.io", "groups": ["group1", "group2"]}
    assert authz.allowed(HTTPBIN, get(request_principal=rp, claims=claims))
    assert not authz.allowed(HTTPBIN, get(request_principal=rp, claims={**claims, "groups": ["group2"]}))
    assert not authz.allowed(HTTPBIN, get())
    not_values = Authorizer([policy("nv", {"rules": [{"when": [
        {"key": "request.auth.claims[groups]", "notValues": ["banned"]}]}]})])
    assert not_values.allowed(HTTPBIN, get()) and not not_values.allowed(HTTPBIN, get(claims={"groups": ["banned"]}))
    nested = Authorizer([policy("nested", {"rules": [{"when": [
        {"key": "request.auth.claims[realm][role]", "values": ["admin"]}]}]})])
    assert nested.allowed(HTTPBIN, get(claims={"realm": {"role": "admin"}}))
    assert not nested.allowed(HTTPBIN, get(claims={"realm": {"role": "user"}}))


def test_tcp_allow_rules_with_http_fields_never_match_but_deny_rules_match_more() -> None:
    """istio.io "TCP traffic": an ALLOW with `methods` denies TCP; a DENY with `methods` denies all TCP."""
    allow_ports = Authorizer([policy("tcp", {"selector": {"matchLabels": {"app": "tcp-echo"}},
                                             "rules": [{"to": [{"operation": {"ports": ["9000", "9001"]}}]}]})])
    assert allow_ports.allowed(TCP_ECHO, tcp(9000)) and not allow_ports.allowed(TCP_ECHO, tcp(9002))
    allow_methods = Authorizer([policy("tcp", {"selector": {"matchLabels": {"app": "tcp-echo"}}, "rules": [
        {"to": [{"operation": {"methods": ["GET"], "ports": ["9000"]}}]}]})])
    assert not allow_methods.allowed(TCP_ECHO, tcp(9000))
    deny_methods = Authorizer([
        policy("deny", {"selector": {"matchLabels": {"app": "tcp-echo"}}, "action": "DENY", "rules": [
            {"to": [{"operation": {"methods": ["GET"], "ports": ["9000"]}}]}]})])
    assert not deny_methods.allowed(TCP_ECHO, tcp(9000)) and deny_methods.allowed(TCP_ECHO, tcp(9001))
    claims_allow = Authorizer([policy("c", {"rules": [{"from": [{"source": {"principals": [CURL]}}],
                                                       "when": [{"key": "request.auth.claims[iss]", "values": ["x"]}]}]})])
    assert not claims_allow.allowed(TCP_ECHO, tcp())


def test_source_principal_star_means_any_authenticated_peer() -> None:
    authz = Authorizer([policy("mtls-only", {"rules": [{"from": [{"source": {"principals": ["*"]}}]}]})])
    assert authz.allowed(HTTPBIN, get()) and not authz.allowed(HTTPBIN, get(principal=None))
    deny_plain = Authorizer([policy("no-plain", {"action": "DENY", "rules": [
        {"from": [{"source": {"notPrincipals": ["*"]}}]}]})])
    assert deny_plain.allowed(HTTPBIN, get()) and not deny_plain.allowed(HTTPBIN, get(principal=None))


def test_unknown_fields_are_refused_rather_than_ignored() -> None:
    authz = Authorizer([policy("x", {"rules": [{"from": [{"source": {"serviceAccounts": ["foo/curl"]}}]}]})])
    with pytest.raises(NotImplementedError):
        authz.allowed(HTTPBIN, get())


ISSUER = "testing@secure.istio.io"
GATEWAY = Workload("istio-system", {"app": "istio-ingressgateway", "istio": "ingressgateway"})
GATEWAY_SA = "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"


def request_authn(name: str, namespace: str, selector: dict[str, str], forward: bool = False,
                  audiences: list[str] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"issuer": ISSUER, "jwksUri": "https://example.com/jwks.json"}
    if forward:
        rule["forwardOriginalToken"] = True
    if audiences:
        rule["audiences"] = audiences
    return {"apiVersion": "security.istio.io/v1", "kind": "RequestAuthentication",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"matchLabels": selector}, "jwtRules": [rule]}}


def test_request_authentication_sets_the_request_principal_and_refuses_invalid_tokens() -> None:
    """RequestAuthentication reference: no token passes unauthenticated; an invalid one is refused."""
    authz = Authorizer([request_authn("jwt", "foo", {"app": "httpbin"}), policy("require", {
        "selector": {"matchLabels": {"app": "httpbin"}},
        "rules": [{"from": [{"source": {"requestPrincipals": [f"{ISSUER}/alice"]}}]}]})])
    assert authz.allowed(HTTPBIN, get(token=Token(ISSUER, "alice")))
    assert not authz.allowed(HTTPBIN, get(token=Token(ISSUER, "bob")))
    assert not authz.allowed(HTTPBIN, get())
    ok, why = authz.decide(HTTPBIN, get(token=Token(ISSUER, "alice", valid=False)))
    assert not ok and "401" in why
    open_ = Authorizer([request_authn("jwt", "foo", {"app": "httpbin"})])  # authentication alone
    assert open_.allowed(HTTPBIN, get()) and not open_.allowed(HTTPBIN, get(token=Token(ISSUER, "a", valid=False)))
    # where no RequestAuthentication applies, a token is nobody's business: no request principal
    elsewhere = Authorizer([request_authn("jwt", "foo", {"app": "other"}), policy("require", {
        "rules": [{"from": [{"source": {"requestPrincipals": ["*"]}}]}]})])
    assert not elsewhere.allowed(HTTPBIN, get(token=Token(ISSUER, "alice")))
    aud = Authorizer([request_authn("jwt", "foo", {"app": "httpbin"}, audiences=["shop"])])
    assert aud.allowed(HTTPBIN, get(token=Token(ISSUER, "a", {"aud": "shop"})))
    assert not aud.allowed(HTTPBIN, get(token=Token(ISSUER, "a", {"aud": "other"})))


def test_ip_blocks_see_the_peer_and_remote_ip_blocks_the_original_client() -> None:
    """istio.io "Ingress gateway": behind a load balancer only remoteIpBlocks sees the client."""
    allow_remote = Authorizer([policy("ingress-policy", {
        "selector": {"matchLabels": {"app": "istio-ingressgateway"}}, "action": "ALLOW",
        "rules": [{"from": [{"source": {"remoteIpBlocks": ["1.2.3.4", "5.6.7.0/24"]}}]}]}, "istio-system")])
    via_lb = get(principal=None, namespace=None, ip="10.0.0.99", remote_ip="5.6.7.8")
    assert allow_remote.allowed(GATEWAY, via_lb)
    assert not allow_remote.allowed(GATEWAY, get(principal=None, namespace=None, ip="10.0.0.99", remote_ip="9.9.9.9"))
    assert allow_remote.allowed(GATEWAY, get(principal=None, namespace=None, ip="1.2.3.4"))  # no proxy: the same
    allow_peer = Authorizer([policy("ingress-policy", {
        "selector": {"matchLabels": {"app": "istio-ingressgateway"}},
        "rules": [{"from": [{"source": {"ipBlocks": ["5.6.7.0/24"]}}]}]}, "istio-system")])
    assert not allow_peer.allowed(GATEWAY, via_lb)  # the peer is the load balancer
    deny_cond = Authorizer([policy("d", {"action": "DENY", "rules": [
        {"when": [{"key": "remote.ip", "values": ["5.6.7.0/24"]}]}]}, "istio-system")])
    assert not deny_cond.allowed(GATEWAY, via_lb) and deny_cond.allowed(GATEWAY, get(ip="1.1.1.1"))


def test_header_conditions_with_not_values() -> None:
    """istio.io "Explicit deny": DENY GET unless the header x-token is admin."""
    authz = Authorizer([policy("deny-method-get", {
        "selector": {"matchLabels": {"app": "httpbin"}}, "action": "DENY",
        "rules": [{"to": [{"operation": {"methods": ["GET"]}}],
                   "when": [{"key": "request.headers[x-token]", "notValues": ["admin"]}]}]})])
    assert not authz.allowed(HTTPBIN, get())
    assert not authz.allowed(HTTPBIN, get(headers={"x-token": "guest"}))
    assert authz.allowed(HTTPBIN, get(headers={"x-token": "admin"}))
    assert authz.allowed(HTTPBIN, get(method="POST"))


def test_through_the_gateway_both_hops_decide_and_the_token_is_forwarded_only_when_asked() -> None:
    backend = [request_authn("jwt", "foo", {"app": "httpbin"}), policy("httpbin", {
        "selector": {"matchLabels": {"app": "httpbin"}},
        "rules": [{"from": [{"source": {"principals": [GATEWAY_SA], "requestPrincipals": ["*"]}}]}]})]
    edge = [policy("frontend-ingress", {"selector": {"matchLabels": {"istio": "ingressgateway"}}, "action": "DENY",
                                        "rules": [{"from": [{"source": {"notRequestPrincipals": ["*"]}}]}]},
                   "istio-system")]
    client = get(principal=None, namespace=None, ip="1.2.3.4", token=Token(ISSUER, "alice"))
    for forward, ok in ((False, False), (True, True)):
        authz = Authorizer(backend + edge + [request_authn("gw", "istio-system", {"istio": "ingressgateway"}, forward)])
        assert through_gateway(authz, GATEWAY, GATEWAY_SA, HTTPBIN, 80, client)[0] is ok
    authz = Authorizer(backend + edge + [request_authn("gw", "istio-system", {"istio": "ingressgateway"}, True)])
    ok, why = through_gateway(authz, GATEWAY, GATEWAY_SA, HTTPBIN, 80, get(principal=None, namespace=None))
    assert not ok and why.startswith("gateway")
