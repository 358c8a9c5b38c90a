"""The rule "no intent is ever dropped", checked structurally.

For every field of every intent model: build the model with the field set (on the line in
`build`), place it in an otherwise fixed mesh, compile, and require the declared outcome:

- shown:   the output (every generated file, plus each canary's decision plan) differs from the
           same mesh without the field;
- refused: the constructor or the compile fails with an error at the line that built the model
           (or built the intent object given as the field's value);
- pending: dropped today while another issue builds its output (a strict xfail);
- checked: a fact other intent is checked against (a cluster's region, a gateway's selector):
           this value makes the compile fail where the baseline compiles.

A field without an entry in VARIANTS fails the test, so a new field must say where it goes.
RUNTIME_ONLY lists the few fields the canary controller reads while it runs (a query, a URL)
rather than the compiler; the test checks that list stays exactly those.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

import pytest

import meshcode
from meshcode import (
    AccessLog, Baseline, Call, Canary, CircuitBreaker, ClientTLS, Cluster, CompileError, Delay, Dest, EnvoyLog,
    Exact, ExternalService, Fault, HeaderTag, Ingress, IntentError, Jwt, LatencyP99, LoadBalancer, Locality,
    LocalityDistribute, LocalityFailover, Match, Mesh, Metrics, Mirror, OutlierDetection, Port, Prefix, PromQL,
    Retries, Rollout, Route, ServerTLS, Service, SuccessRate, Tracing, Version, Webhook, Zipkin, compile_mesh,
)
from meshcode.render import render_tree
from meshcode.delivery.targets import find_canaries
from meshcode.intent.base import IntentModel
from meshcode.intent.telemetry import TelemetryScope

NS = "shop"
JASON = Match(headers={"end-user": "jason"})


def build(cls: type[IntentModel], kw: dict[str, Any]) -> IntentModel:
    return cls(**kw)  # every walked object is built on this line


BUILD_LINE = build.__code__.co_firstlineno + 1


# ---- the fixed surroundings ---------------------------------------------------------------------
RATINGS = Service("ratings", namespace=NS, ports=[Port(9080)], versions=["v1", "v2"])
HTTPBIN = ExternalService("httpbin", namespace=NS, hosts=["httpbin.org"], ports=[Port(80)])
CLUSTERS = [Cluster("prod"), Cluster("dr")]
ARGO = meshcode.ArgoCD(repo_url="https://example.com/mesh.git")
OTHER = Service("other", namespace="other", ports=[Port(9080)], versions=["v1"])
IMPORTED = meshcode.ImportedService("httpbin-bar", namespace=NS, host="httpbin.bar.global",
                                    remote_host="httpbin.bar.svc.cluster.local", ports=[Port(8000)],
                                    gateway="203.0.113.10", trust_domain="mesh-b.example")
ECHO = Service("echo", namespace=NS, ports=[Port(9000, "TCP")])
DUO = Service("duo", namespace=NS, ports=[Port(9080), Port(9090)])


def reviews(**kw: Any) -> Service:
    base: dict[str, Any] = {"namespace": NS, "ports": [Port(9080)], "versions": ["v1", "v2"],
                            "service_account": "reviews", "calls": [RATINGS]}
    return Service("reviews", **{**base, **kw})


def mesh(**kw: Any) -> Mesh:
    base: dict[str, Any] = {"clusters": CLUSTERS, "services": [reviews(), RATINGS],
                            "external_services": [HTTPBIN], "argocd": ARGO}
    return Mesh("walk", **{**base, **kw})


def regional_mesh(lb: LoadBalancer) -> Mesh:
    clusters = [Cluster("east", network="n1", region="us-east1", zones=["us-east1-b"]),
                Cluster("west", network="n1", region="us-west1", zones=["us-west1-a"])]
    return Mesh("walk", clusters=clusters, services=[reviews(load_balancer=lb), RATINGS])


def canary_mesh(rollout: Rollout) -> Mesh:
    return mesh(services=[reviews(canary=Canary(stable="v1", candidate="v2", rollout=rollout)), RATINGS])


def rollout(**kw: Any) -> Rollout:
    return Rollout(**{"steps": [10, 50], **kw})


def zt(**kw: Any) -> Mesh:
    from meshcode import ZeroTrust

    return mesh(zero_trust=[ZeroTrust(namespace=NS, **kw)])


ENVOY_FILTER = {"apiVersion": "networking.istio.io/v1alpha3", "kind": "EnvoyFilter",
                "metadata": {"name": "lua", "namespace": NS}, "spec": {"configPatches": []}}
ING = dict(name="front", namespace=NS, hosts=["shop.example.com"], routes=[Route(to="reviews")])


# model → (base keyword arguments, where to put the built object)
PLACE: dict[type, tuple[dict[str, Any], Callable[[Any], Mesh]]] = {
    Mesh: ({"name": "walk", "clusters": CLUSTERS, "services": [reviews(), RATINGS], "argocd": ARGO}, lambda m: m),
    Cluster: ({"name": "prod"}, lambda c: mesh(clusters=[c, Cluster("dr", region="us-west1")], services=[
        reviews(load_balancer=LoadBalancer(locality=Locality(distribute=[
            LocalityDistribute("us-west1/*", {"us-west1/us-west1-b/*": 100})]))), RATINGS])),
    Service: ({"name": "reviews", "namespace": NS, "ports": [Port(9080)], "versions": ["v1", "v2"],
               "calls": [RATINGS]}, lambda s: zt_with(s)),
    Version: ({"name": "v1"}, lambda v: zt_with(reviews(versions=[v, "v2"]))),
    Port: ({"number": 9080}, lambda p: zt_with(reviews(ports=[p]))),
    Route: ({"match": JASON, "to": "v2"}, lambda r: mesh(services=[reviews(routes=[r]), RATINGS])),
    Match: ({"uri": Prefix("/a")}, lambda m: mesh(services=[reviews(routes=[Route(match=m, to="v2")]), RATINGS])),
    Exact: ({"value": "/a"}, lambda x: mesh(services=[reviews(routes=[Route(match=Match(uri=x), to="v2")]), RATINGS])),
    Prefix: ({"value": "/a"}, lambda x: mesh(services=[reviews(routes=[Route(match=Match(uri=x), to="v2")]), RATINGS])),
    meshcode.Regex: ({"value": "/a"},
                     lambda x: mesh(services=[reviews(routes=[Route(match=Match(uri=x), to="v2")]), RATINGS])),
    Dest: ({"version": "v2"}, lambda d: mesh(services=[reviews(routes=[Route(match=JASON, to=d)]), RATINGS, OTHER,
                                                       Service("other", namespace=NS, ports=[Port(9080)])])),
    Delay: ({"fixed": "1s"}, lambda d: mesh(services=[reviews(fault=Fault(delay=d)), RATINGS])),
    meshcode.Abort: ({"status": 500}, lambda a: mesh(services=[reviews(fault=Fault(abort=a)), RATINGS])),
    Fault: ({"delay": Delay("1s")}, lambda f: mesh(services=[reviews(fault=f), RATINGS])),
    Retries: ({"attempts": 1}, lambda r: mesh(services=[reviews(retries=r), RATINGS])),
    Mirror: ({"to": "v2"}, lambda m: mesh(services=[reviews(mirror=m), RATINGS])),
    Canary: ({"stable": "v1", "candidate": "v2"},
             lambda c: mesh(services=[reviews(canary=c, versions=["v1", "v2", "v3"]), RATINGS])),
    Rollout: ({"steps": [10, 50]}, canary_mesh),
    SuccessRate: ({}, lambda g: canary_mesh(rollout(gates=[g]))),
    LatencyP99: ({"max_ms": 500}, lambda g: canary_mesh(rollout(gates=[g]))),
    PromQL: ({"name": "cpu", "query": "up"}, lambda g: canary_mesh(rollout(gates=[g]))),
    Baseline: ({}, lambda g: canary_mesh(rollout(gates=[g]))),
    Webhook: ({"name": "load", "url": "http://load.test/"}, lambda h: canary_mesh(rollout(webhooks=[h]))),
    CircuitBreaker: ({"max_connections": 1}, lambda cb: mesh(services=[reviews(circuit_breaker=cb), RATINGS])),
    OutlierDetection: ({"interval": "1s"}, lambda od: mesh(services=[reviews(outlier_detection=od), RATINGS])),
    LoadBalancer: ({"policy": "RANDOM"}, regional_mesh),
    ClientTLS: ({"mode": "SIMPLE"}, lambda t: mesh(services=[reviews(tls=t), RATINGS])),
    Locality: ({"failover": [LocalityFailover("us-east1", "us-west1")]},
               lambda loc: regional_mesh(LoadBalancer(locality=loc))),
    LocalityFailover: ({"from_": "us-east1", "to": "us-west1"},
                       lambda f: regional_mesh(LoadBalancer(locality=Locality(failover=[f])))),
    LocalityDistribute: ({"from_": "us-east1/*", "to": {"us-east1/*": 80, "us-west1/*": 20}},
                         lambda d: regional_mesh(LoadBalancer(locality=Locality(distribute=[d])))),
    Ingress: (ING, lambda i: mesh(ingresses=[i], services=[reviews(), RATINGS, ECHO])),
    ServerTLS: ({"credential_name": "cert"}, lambda t: mesh(ingresses=[Ingress(**ING, tls=t)])),
    ExternalService: ({"name": "api", "namespace": NS, "hosts": ["api.example.com"], "ports": [Port(443, "TLS")]},
                      lambda e: mesh(external_services=[HTTPBIN, e])),
    meshcode.OriginateTLS: ({}, lambda o: mesh(external_services=[ExternalService(
        "api", namespace=NS, hosts=["api.example.com"], ports=[Port(443, "HTTPS"), Port(8443, "HTTPS")],
        originate_tls=o)])),
    meshcode.SidecarScope: ({"namespace": NS}, lambda sc: mesh(sidecars=[sc])),
    meshcode.VirtualHost: ({"name": "shop-com", "namespace": NS, "hosts": ["shop.com"], "routes": [Route(to="reviews")],
                            "addresses": ["240.0.0.1"]}, lambda v: mesh(virtual_hosts=[v])),
    meshcode.Namespace: ({"name": "tools"}, lambda n: mesh(namespaces=[n])),
    meshcode.ImportedService: ({"name": "httpbin-bar", "namespace": NS, "host": "httpbin.bar.global",
                                "remote_host": "httpbin.bar.svc.cluster.local", "ports": [Port(8000)],
                                "gateway": "203.0.113.10", "trust_domain": "mesh-b.example"},
                               lambda i: mesh(imported_services=[i])),
    meshcode.LocalRateLimit: ({"tokens": 4, "fill_interval": "60s"},
                              lambda rl: mesh(services=[reviews(rate_limit=rl, ports=[Port(9080), Port(9090)]),
                                                        RATINGS])),
    meshcode.EgressGateway: ({}, lambda g: mesh(external_services=[ExternalService(
        "cnn", namespace=NS, hosts=["edition.cnn.com"], ports=[Port(80)], egress_gateway=g)])),
    Call: ({"target": DUO}, lambda c: mesh(services=[reviews(calls=[c]), DUO, RATINGS],
                                            zero_trust=[meshcode.ZeroTrust(namespace=NS)])),
    meshcode.ZeroTrust: ({"namespace": NS}, lambda z: mesh(ingresses=[Ingress(**ING)], zero_trust=[z])),
    meshcode.DenyRule: ({"not_namespaces": [NS, "istio-system"]}, lambda d: zt(deny=[d])),
    meshcode.AllowRule: ({"namespaces": ["other"]}, lambda a: zt(allow=[a])),
    meshcode.Condition: ({"key": "request.headers[x-team]", "values": ["a"]},
                         lambda c: zt(allow=[meshcode.AllowRule(namespaces=["other"], when=[c])])),
    # one cluster: Istio 1.30 runs ambient across clusters only multi-primary on several networks
    meshcode.DataPlane: ({"namespace": NS}, lambda d: mesh(data_plane=[d], clusters=[Cluster("prod")])),
    meshcode.PathPrefix: ({"value": "/a"},
                          lambda x: mesh(services=[reviews(routes=[Route(match=Match(uri=x), to="v2")]), RATINGS])),
    Jwt: ({"issuer": "issuer.example", "jwks_uri": "https://issuer.example/jwks.json"}, lambda j: zt(jwt=j)),
    meshcode.IngressGateway: ({"selector": {"istio": "gw"}}, lambda g: zt_ingress(g)),
    meshcode.MtlsMigration: ({"from_mode": "PERMISSIVE", "to": "STRICT"}, lambda m: zt(mtls=m)),
    AccessLog: ({"provider": "envoy"}, lambda a: mesh(telemetry=[a])),
    Tracing: ({"sampling": 10}, lambda t: mesh(telemetry=[t])),
    Metrics: ({"disable": ["REQUEST_SIZE"]}, lambda m: mesh(telemetry=[m])),
    EnvoyLog: ({}, lambda p: mesh(telemetry=[AccessLog(p)])),
    meshcode.OtelLog: ({"service": "otel.observability.svc.cluster.local"}, lambda p: mesh(telemetry=[AccessLog(p)])),
    Zipkin: ({"service": "zipkin.observability.svc.cluster.local"}, lambda p: mesh(telemetry=[Tracing(p)])),
    meshcode.OpenTelemetry: ({"service": "otel.observability.svc.cluster.local"},
                             lambda p: mesh(telemetry=[Tracing(p)])),
    HeaderTag: ({"header": "x-user"}, lambda t: mesh(telemetry=[Tracing(tags={"user": t})])),
    meshcode.EnvTag: ({"variable": "POD_NAME"}, lambda t: mesh(telemetry=[Tracing(tags={"pod": t})])),
    meshcode.Patch: ({"kind": "VirtualService", "name": "reviews", "ops": [
        {"op": "add", "path": "/spec/http/0/timeout", "value": "3s"}]}, lambda p: mesh(patches=[p])),
    meshcode.ApiVersions: ({}, lambda a: mesh(api_versions=a, telemetry=[Tracing(sampling=1)],
                                              zero_trust=[meshcode.ZeroTrust(namespace=NS)])),
    meshcode.ArgoCD: ({"repo_url": "https://example.com/mesh.git"}, lambda a: mesh(argocd=a)),
    meshcode.IstioInstall: ({}, lambda i: mesh(install=i)),
    meshcode.ProxyOptions: ({}, lambda o: mesh(install=meshcode.IstioInstall(proxy=o))),
    meshcode.Verbatim: ({"obj": ENVOY_FILTER}, lambda v: mesh(verbatim=[v])),
}


def zt_with(service: Service) -> Mesh:
    """A zero-trust namespace where productpage calls the service: its ports and identity show."""
    caller = Service("productpage", namespace=NS, ports=[Port(9080)], calls=[service])
    return mesh(services=[caller, service, RATINGS], zero_trust=[meshcode.ZeroTrust(namespace=NS)])


def zt_ingress(gateway: Any) -> Mesh:
    ingress = Ingress(**ING, selector={"istio": "gw"})
    return mesh(ingresses=[ingress], zero_trust=[meshcode.ZeroTrust(namespace=NS, gateways=[gateway])])


@dataclass(frozen=True)
class Refused:
    """This value is refused with an error at the line that built the object."""

    kw: dict[str, Any]


@dataclass(frozen=True)
class Pending:
    """Known to be dropped today, being built elsewhere: a strict xfail, so it fails once it shows."""

    kw: dict[str, Any]
    reason: str


@dataclass(frozen=True)
class Checked:
    """A fact other intent is checked against: this value makes the compile fail."""

    kw: dict[str, Any]



# the source and operation fields both AllowRule and DenyRule have
RULE: dict[str, Any] = {
    "namespaces": {"namespaces": ["bad"]}, "not_namespaces": {"not_namespaces": [NS]},
    "principals": {"principals": ["cluster.local/ns/bad/sa/x"]},
    "not_principals": {"not_principals": ["cluster.local/ns/shop/sa/reviews"]},
    "request_principals": {"request_principals": ["issuer.example/alice"]},
    "not_request_principals": {"not_request_principals": ["issuer.example/bob"]},
    "ip_blocks": {"ip_blocks": ["10.0.0.0/8"]}, "not_ip_blocks": {"not_ip_blocks": ["10.1.0.0/16"]},
    "remote_ip_blocks": {"remote_ip_blocks": ["192.0.2.0/24"]},
    "not_remote_ip_blocks": {"not_remote_ip_blocks": ["192.0.2.7/32"]},
    "ports": {"ports": [9080]}, "methods": {"methods": ["DELETE"]}, "not_methods": {"not_methods": ["GET"]},
    "paths": {"paths": ["/admin"]}, "not_paths": {"not_paths": ["/health"]},
    "when": {"when": [meshcode.Condition("request.headers[x-team]", values=["a"])]},
}

# model → field → the override that sets it (a dict means: expected to show in the output)
VARIANTS: dict[type, dict[str, Any]] = {
    Mesh: {
        "name": {"name": "walk2"}, "clusters": {"clusters": [Cluster("prod")]},
        "services": {"services": [reviews()]},
        "ingresses": {"ingresses": [Ingress(**ING)]},
        "external_services": {"external_services": [HTTPBIN]},
        "sidecars": {"sidecars": [meshcode.SidecarScope(NS)]},
        "patches": {"patches": [meshcode.Patch("DestinationRule", "reviews", [
            {"op": "add", "path": "/spec/trafficPolicy", "value": {"tls": {"mode": "ISTIO_MUTUAL"}}}])]},
        "telemetry": {"telemetry": [Tracing(sampling=5)]},
        "argocd": {"argocd": None},
        "zero_trust": {"zero_trust": [meshcode.ZeroTrust(namespace=NS)]},
        "trust_domain": {"trust_domain": "example.org"},
        "mesh_id": {"mesh_id": "other-id"},
        "api_versions": {"api_versions": meshcode.ApiVersions(networking="v1beta1")},
        "root_namespace": {"root_namespace": "istio-root"},
        "install": {"install": meshcode.IstioInstall(method="istioctl")},
        "verbatim": {"verbatim": [meshcode.Verbatim(ENVOY_FILTER)]},
        "data_plane": {"data_plane": [meshcode.DataPlane("ambient")],
                       "clusters": [Cluster("prod", network="n1"), Cluster("dr", network="n2")]},
        "outbound": {"outbound": "REGISTRY_ONLY"},
        "trust_domain_aliases": [{"trust_domain_aliases": ["old.example"]},
                                 Refused({"trust_domain_aliases": ["cluster.local"]})],
        "imported_services": {"imported_services": [IMPORTED]},
        "virtual_hosts": {"virtual_hosts": [meshcode.VirtualHost("shop-com", hosts=["shop.com"], routes=[
            Route(to=RATINGS)], addresses=["240.0.0.1"])]},
        "namespaces": {"namespaces": [meshcode.Namespace("tools")]},
    },
    Cluster: {
        "name": {"name": "east"}, "network": {"network": "net2"},
        # facts the locality intent is checked against: us-west1-b is not a zone of us-west1 now
        "region": Checked({"region": "us-west1", "zones": ["us-west1-a"]}),
        "zones": Checked({"region": "us-west1", "zones": ["us-west1-a"]}),
        "role": {"role": "config", "remote_pilot_address": "istiod.example.com"},
        "primary": Refused({"primary": "dr"}),  # only a remote has a primary
        "revision": {"revision": "1-30-3"},
        "revision_tags": {"revision": "1-30-3", "revision_tags": {"stable": "1-30-3"}},
        "injection": {"revision": "1-30-3", "revision_tags": {"stable": "1-30-3"}, "injection": "stable"},
        "remote_pilot_address": Refused({"remote_pilot_address": "istiod.example.com"}),
        "install": {"install": meshcode.IstioInstall(profile="stable")},
    },
    meshcode.Verbatim: {
        "obj": {"obj": {**ENVOY_FILTER, "spec": {"priority": 1}}},
        "clusters": {"clusters": ["dr"]},
    },
    meshcode.IstioInstall: {
        "method": {"method": "istioctl"}, "version": {"version": "1.30.2"},
        "chart_repository": {"chart_repository": "oci://registry.example.com/istio"},
        "profile": {"profile": "stable"}, "cni": {"cni": True},
        "proxy": {"proxy": meshcode.ProxyOptions(dns_capture=True)},
    },
    meshcode.ProxyOptions: {
        "dns_capture": {"dns_capture": True}, "dns_auto_allocate": {"dns_capture": True, "dns_auto_allocate": True},
        "metadata": {"metadata": {"ISTIO_META_IDLE_TIMEOUT": "30s"}},
    },
    Service: {
        "name": {"name": "reviews2"}, "namespace": {"namespace": "shop2"},
        "ports": {"ports": [Port(9090)]}, "versions": {"versions": ["v1"]},
        "service_account": {"service_account": "reviews-sa"},
        "routes": [{"routes": [Route(match=JASON, to="v2")]}, {"versions": (), "routes": [Route(timeout="3s")]},
                   Refused({"routes": [Route(match=JASON, to="v9")]})],
        "default_to": {"default_to": "v2"},
        "canary": {"canary": Canary(stable="v1", candidate="v2", weight=10)},
        # each also on a service without versions (then the rule goes to its host)
        "mirror": [{"mirror": Mirror("v2")}, {"versions": (), "mirror": Mirror(RATINGS)},
                   Refused({"versions": (), "mirror": Mirror("v2")})],
        "timeout": [{"timeout": "2s"}, {"versions": (), "timeout": "2s"}],
        "retries": [{"retries": Retries(2)}, {"versions": (), "retries": Retries(2)}],
        "fault": [{"fault": Fault(abort=meshcode.Abort(500))}, {"versions": (), "fault": Fault(delay=Delay("1s"))}],
        "circuit_breaker": {"circuit_breaker": CircuitBreaker(max_connections=3)},
        "outlier_detection": {"outlier_detection": OutlierDetection(interval="5s")},
        "load_balancer": {"load_balancer": LoadBalancer("LEAST_REQUEST")},
        "tls": {"tls": ClientTLS("ISTIO_MUTUAL")}, "clusters": {"clusters": ["prod"]},
        "rate_limit": {"rate_limit": meshcode.LocalRateLimit(4, "60s")},
        "cluster_local": {"cluster_local": True}, "calls": {"calls": [HTTPBIN]},
    },
    Version: {
        "name": {"name": "v0"}, "labels": {"labels": {"track": "stable"}},
        "load_balancer": {"load_balancer": LoadBalancer("RANDOM")},
        "circuit_breaker": {"circuit_breaker": CircuitBreaker(max_connections=2)},
        "outlier_detection": {"outlier_detection": OutlierDetection(interval="2s")},
        "service_account": {"service_account": "reviews-v1"},
        "calls": {"service_account": "reviews-v1", "calls": [RATINGS]},
    },
    Port: {
        "number": {"number": 9081}, "protocol": {"protocol": "TCP"}, "name": Refused({"name": "tcp-web"}),
        "target_port": {"target_port": 8080},
    },
    Route: {
        "match": {"match": Match(uri=Prefix("/b"))}, "to": {"to": "v1"}, "name": {"name": "jason"},
        "timeout": {"timeout": "1s"}, "retries": {"retries": Retries(1)},
        "fault": {"fault": Fault(delay=Delay("2s"))}, "mirror": {"mirror": Mirror("v1")},
        "rewrite_uri": {"rewrite_uri": "/v2"},
    },
    Match: {
        "uri": {"uri": Prefix("/b")}, "headers": {"headers": {"x": "1"}}, "query": {"query": {"q": "1"}},
        "method": {"method": "POST"}, "source_labels": {"source_labels": {"app": "x"}},
        "source_namespace": {"source_namespace": "other"}, "port": {"port": 9080},
        "ignore_uri_case": {"ignore_uri_case": True},
    },
    Exact: {"value": {"value": "/b"}},
    Prefix: {"value": {"value": "/b"}},
    meshcode.Regex: {"value": {"value": "/b.*"}},
    Dest: {
        "service": {"service": RATINGS, "version": None}, "version": {"version": "v1"},
        "namespace": {"service": "other", "namespace": "other", "version": None},
        "port": {"port": 9080}, "weight": Refused({"weight": 50}),  # one destination: weights must sum to 100
    },
    Delay: {"fixed": {"fixed": "2s"}, "percent": {"percent": 50}},
    meshcode.Abort: {"status": {"status": 503}, "percent": {"percent": 50}},
    Fault: {"delay": {"delay": Delay("2s")}, "abort": {"abort": meshcode.Abort(500)}},
    Retries: {"attempts": {"attempts": 2}, "per_try_timeout": {"per_try_timeout": "1s"},
              "retry_on": {"retry_on": ["5xx"]}},
    Mirror: {"to": {"to": "v1"}, "percent": {"percent": 10}},
    Canary: {
        "stable": {"stable": "v3"}, "candidate": [{"candidate": "v3"}, Refused({"candidate": "v4"})],
        "weight": {"weight": 20}, "testers": {"testers": [JASON]}, "name": {"name": "reviews-canary", "rollout": rollout()},
        "rollout": {"rollout": rollout()},
    },
    Rollout: {
        "steps": {"steps": [20]}, "step_weight": {"steps": (), "step_weight": 10, "max_weight": 50},
        "max_weight": {"steps": (), "step_weight": 10, "max_weight": 30},
        "interval": {"interval": "5m"}, "threshold": {"threshold": 3},
        "gates": {"gates": [SuccessRate(99)]}, "webhooks": {"webhooks": [Webhook("l", "http://l.test/")]},
        "mirror_intervals": {"mirror_intervals": 1},
        "ab_intervals": {"ab_intervals": 1, "ab_match": [JASON]},
        "ab_match": {"ab_intervals": 1, "ab_match": [Match(headers={"x-beta": "1"})]},
        "manual_approval": {"manual_approval": True},
        "progress_deadline": {"progress_deadline": "30m"}, "inconclusive_limit": {"inconclusive_limit": 3},
        "on_stall": {"on_stall": "pause"},
        "workload": None,  # RUNTIME_ONLY
    },
    SuccessRate: {"min": {"min": 95}, "min_requests": {"min_requests": 5}},
    LatencyP99: {"max_ms": {"max_ms": 100}, "min_requests": {"min_requests": 5}},
    PromQL: {"name": {"name": "mem"}, "query": None, "min": {"min": 1}, "max": {"max": 2},
             "min_requests": {"min_requests": 3}, "requests_query": None},
    Baseline: {"alpha": {"alpha": 0.01}, "min_requests": {"min_requests": 10},
               "max_error_ratio": {"max_error_ratio": 2}, "max_latency_ratio": {"max_latency_ratio": 2}},
    Webhook: {"name": {"name": "other"}, "url": None, "url_env": None, "type": {"type": "pre-rollout"}, "timeout": None},
    CircuitBreaker: {
        "max_connections": {"max_connections": 2}, "max_pending_requests": {"max_pending_requests": 1},
        "max_requests": {"max_requests": 1}, "max_requests_per_connection": {"max_requests_per_connection": 1},
        "max_retries": {"max_retries": 1}, "connect_timeout": {"connect_timeout": "1s"},
    },
    OutlierDetection: {
        "consecutive_5xx_errors": {"consecutive_5xx_errors": 3},
        "consecutive_gateway_errors": {"consecutive_gateway_errors": 3},
        "interval": {"interval": "2s"}, "base_ejection_time": {"base_ejection_time": "1m"},
        "max_ejection_percent": {"max_ejection_percent": 50},
    },
    LoadBalancer: {
        "policy": {"policy": "ROUND_ROBIN"}, "hash_header": {"policy": None, "hash_header": "x-user"},
        "hash_cookie": {"policy": None, "hash_cookie": "s"},
        "hash_cookie_ttl": {"policy": None, "hash_cookie": "s", "hash_cookie_ttl": "10s"},
        "hash_source_ip": {"policy": None, "hash_source_ip": True},
        "hash_query_param": {"policy": None, "hash_query_param": "u"},
        "locality": {"locality": Locality(failover=[LocalityFailover("us-east1", "us-west1")])},
    },
    ClientTLS: {
        "mode": {"mode": "ISTIO_MUTUAL"}, "sni": {"sni": "reviews.example"},
        "credential_name": {"credential_name": "c"}, "ca_certificates": {"ca_certificates": "/etc/ca.pem"},
        "subject_alt_names": {"subject_alt_names": ["reviews.example"]},
        "insecure_skip_verify": {"insecure_skip_verify": True},
        "client_certificate": [{"mode": "MUTUAL", "private_key": "/k.pem", "client_certificate": "/c.pem"},
                               Refused({"client_certificate": "/c.pem"})],
        "private_key": [{"mode": "MUTUAL", "client_certificate": "/c.pem", "private_key": "/k.pem"},
                        Refused({"private_key": "/k.pem"})],
    },
    Locality: {
        "failover": {"failover": [LocalityFailover("us-west1", "us-east1")]},
        "distribute": {"failover": (), "distribute": [LocalityDistribute("us-east1/*", {"us-west1/*": 100})]},
        "failover_priority": {"failover_priority": ["topology.kubernetes.io/region"]},
    },
    LocalityFailover: {"from_": {"from_": "us-west1", "to": "us-east1"}, "to": Refused({"to": "eu-west1"})},
    LocalityDistribute: {"from_": {"from_": "us-west1/*"}, "to": {"to": {"us-east1/*": 100}}},
    Ingress: {
        "name": {"name": "front2"}, "namespace": {"namespace": "edge"}, "hosts": {"hosts": ["www.example.com"]},
        "routes": {"routes": [Route(to=RATINGS)]}, "selector": {"selector": {"istio": "other"}},
        "tls": {"tls": ServerTLS("cert")}, "http_redirect": {"tls": ServerTLS("cert"), "http_redirect": True},
        "port": {"port": 8080}, "gateway_namespace": {"gateway_namespace": "istio-ingress"},
        "clusters": {"clusters": ["prod"]},
        "protocol": [{"protocol": "TCP", "port": 31400, "routes": [Route(to=ECHO)]},
                     Refused({"protocol": "TCP", "port": 31400, "routes": [Route(to=RATINGS)]})],
    },
    ServerTLS: {"credential_name": {"credential_name": "other"}, "mode": {"mode": "MUTUAL"},
                "min_protocol_version": {"min_protocol_version": "TLSV1_3"}},
    ExternalService: {
        "name": {"name": "api2"}, "namespace": {"namespace": "edge"}, "hosts": {"hosts": ["api2.example.com"]},
        "ports": {"ports": [Port(8443, "TLS")]}, "resolution": {"resolution": "NONE"},
        "location": {"location": "MESH_INTERNAL"}, "addresses": {"addresses": ["10.0.0.1"]},
        "endpoints": {"endpoints": ["10.0.0.2"]},
        "originate_tls": {"ports": [Port(443, "HTTPS")], "originate_tls": meshcode.OriginateTLS()},
        "tls": {"tls": ClientTLS("SIMPLE")}, "export_to": {"export_to": ["."]}, "clusters": {"clusters": ["prod"]},
        "routes": {"ports": [Port(80)], "routes": [Route(match=JASON, timeout="1s")]},
        "timeout": [{"ports": [Port(80)], "timeout": "3s"}, Refused({"timeout": "3s"})],  # a TLS port: no HTTP
        "retries": {"ports": [Port(80)], "retries": Retries(2)},
        "fault": {"ports": [Port(80)], "fault": Fault(abort=meshcode.Abort(503))},
        "egress_gateway": [{"egress_gateway": meshcode.EgressGateway()},
                           {"ports": [Port(80)], "egress_gateway": meshcode.EgressGateway()},
                           Refused({"ports": [Port(5432, "TCP")], "egress_gateway": meshcode.EgressGateway()})],
    },
    meshcode.OriginateTLS: {
        "port": {"port": 8080}, "target_port": {"target_port": 8443}, "mode": {
            "mode": "MUTUAL", "credential_name": "client"}, "credential_name": {"credential_name": "client"},
        "ca_certificates": {"ca_certificates": "/etc/ca.pem"}, "sni": {"sni": "api.example.org"},
        "client_certificate": {"mode": "MUTUAL", "private_key": "/k.pem", "client_certificate": "/c.pem"},
        "private_key": {"mode": "MUTUAL", "client_certificate": "/c.pem", "private_key": "/k.pem"},
    },
    meshcode.VirtualHost: {
        "name": {"name": "shop-net"}, "namespace": {"namespace": "edge"}, "hosts": {"hosts": ["shop.net"]},
        "routes": {"routes": [Route(to=RATINGS)]}, "port": {"port": 8080},
        "addresses": [{"addresses": ["240.0.0.2"]}, Refused({"addresses": ()})],  # no DNS capture in this mesh
        "clusters": {"clusters": ["prod"]},
    },
    meshcode.ImportedService: {
        "name": {"name": "httpbin-b"}, "namespace": {"namespace": "edge"}, "host": {"host": "httpbin.b.global"},
        "remote_host": {"remote_host": "httpbin.b.svc.cluster.local"}, "ports": {"ports": [Port(8080)]},
        "gateway": {"gateway": "gw.mesh-b.example"}, "gateway_port": {"gateway_port": 15444},
        "trust_domain": {"service_account": "httpbin", "trust_domain": "other.example"},
        "service_account": {"service_account": "httpbin"}, "address": {"address": "240.0.0.3"},
        "clusters": {"clusters": ["prod"]},
    },
    meshcode.Namespace: {
        "name": {"name": "ops"}, "injection": {"injection": False}, "labels": {"labels": {"team": "ops"}},
        "annotations": {"annotations": {"owner": "ops"}}, "clusters": {"clusters": ["prod"]},
    },
    meshcode.LocalRateLimit: {
        "tokens": {"tokens": 10}, "fill_interval": {"fill_interval": "1s"}, "tokens_per_fill": {"tokens_per_fill": 2},
        "port": [{"port": 9090}, Refused({"port": 9999})],
    },
    meshcode.EgressGateway: {"selector": {"selector": {"istio": "egress-b"}}, "service": {"service": "egress-b"},
                             "namespace": {"namespace": "egress"}, "port": {"port": 8080},
                             "mtls": {"mtls": True}},
    meshcode.SidecarScope: {"namespace": {"namespace": "other"}, "egress_hosts": {"egress_hosts": ["./*"]},
                            "outbound": {"outbound": "REGISTRY_ONLY"}},
    Call: {"target": {"target": HTTPBIN}, "ports": {"ports": [9090]}, "methods": {"methods": ["GET"]},
           "paths": {"paths": ["/ratings/*"]}},
    meshcode.ZeroTrust: {
        "namespace": {"namespace": None}, "service": {"namespace": None, "service": reviews()},
        "mtls": {"mtls": "PERMISSIVE"}, "default_deny": {"default_deny": False},
        "deny": {"deny": [meshcode.DenyRule(not_namespaces=[NS, "istio-system"])]},
        "jwt": {"jwt": Jwt("issuer.example", "https://issuer.example/jwks.json")},
        "egress_lockdown": {"egress_lockdown": False},
        "version": {"namespace": None, "service": reviews(), "version": "v1", "mtls": "PERMISSIVE"},
        "allow": {"allow": [meshcode.AllowRule(namespaces=["other"])]},
        "strict": Refused({"allow": [meshcode.AllowRule(anyone=True)], "strict": True}),
        "gateways": {"gateways": [meshcode.IngressGateway(service_account="gw")]},
    },
    meshcode.DenyRule: {**RULE, "anyone": Refused({"not_namespaces": (), "anyone": True})},  # blocks a call
    meshcode.AllowRule: {**RULE, "anyone": {"namespaces": (), "anyone": True},
                         "authenticated": {"namespaces": (), "authenticated": True}},
    meshcode.Condition: {"key": {"key": "request.headers[x-other]"}, "values": {"values": ["b"]},
                         "not_values": {"not_values": ["c"]}},
    meshcode.DataPlane: {"mode": {"mode": "ambient"}, "namespace": {"routing": "gateway-api", "namespace": "other"},
                         "routing": {"routing": "gateway-api"},
                         "waypoint": {"mode": "ambient", "waypoint": "service"}},
    meshcode.PathPrefix: {"value": {"value": "/b"}},
    Jwt: {"issuer": {"issuer": "other.example"}, "jwks_uri": {"jwks_uri": "https://other.example/jwks"},
          "audiences": {"audiences": ["shop"]}, "required_claims": {"required_claims": {"group": "a"}},
          "forward_original_token": {"forward_original_token": True}},
    meshcode.IngressGateway: {"selector": Checked({"selector": {"istio": "other"}}),  # matched to ingresses
                              "namespace": {"namespace": "istio-ingress"}, "service_account": {"service_account": "gw"},
                              "name": {"allow": [meshcode.AllowRule(anyone=True)], "name": "edge"},
                              "allow": {"allow": [meshcode.AllowRule(remote_ip_blocks=["192.0.2.0/24"])]},
                              "deny": {"deny": [meshcode.DenyRule(remote_ip_blocks=["192.0.2.0/24"])]},
                              "jwt": {"jwt": Jwt("issuer.example", "https://issuer.example/jwks.json")},
                              "require_jwt": {"jwt": Jwt("issuer.example", "https://issuer.example/jwks.json"),
                                              "require_jwt": False}},
    meshcode.MtlsMigration: {"from_mode": Refused({"from_mode": "DISABLE"}), "to": {"to": "PERMISSIVE"}},
    AccessLog: {"namespace": {"namespace": NS}, "service": {"service": RATINGS},
                "selector": {"namespace": NS, "selector": {"app": "x"}}, "mode": {"mode": "CLIENT"},
                "clusters": {"clusters": ["prod"]}, "provider": {"provider": EnvoyLog(encoding="JSON")},
                "filter": {"filter": "response.code >= 400"}, "disabled": {"disabled": True}},
    Tracing: {"namespace": {"namespace": NS}, "service": {"service": RATINGS},
              "selector": {"namespace": NS, "selector": {"app": "x"}}, "mode": {"mode": "SERVER"},
              "clusters": {"clusters": ["prod"]}, "provider": {"provider": Zipkin("zipkin.o.svc.cluster.local")},
              "sampling": {"sampling": 20}, "tags": {"tags": {"team": "shop"}},
              "disable_span_reporting": {"disable_span_reporting": True}},
    Metrics: {"namespace": {"namespace": NS}, "service": {"service": RATINGS},
              "selector": {"namespace": NS, "selector": {"app": "x"}}, "mode": {"mode": "SERVER"},
              "clusters": {"clusters": ["prod"]}, "disable": {"disable": True}, "tags": {"tags": {"x": "'1'"}},
              "tag_metrics": {"tags": {"x": "'1'"}, "tag_metrics": ["REQUEST_COUNT"]},
              "provider": {"provider": "stackdriver"}, "reporting_interval": {"reporting_interval": "10s"}},
    EnvoyLog: {"name": {"name": "mylog"}, "encoding": {"encoding": "JSON"}, "format": {"format": "%START_TIME%\n"},
               "path": {"path": "/dev/stderr"}},
    meshcode.OtelLog: {"service": {"service": "otel2.observability.svc.cluster.local"}, "port": {"port": 4318},
                       "name": {"name": "otel2"}, "log_name": {"log_name": "x"}, "format": {"format": "%REQ(:PATH)%"},
                       "attributes": {"attributes": {"a": "%REQ(:PATH)%"}}},
    Zipkin: {"service": {"service": "zipkin2.o.svc.cluster.local"}, "port": {"port": 9412}, "name": {"name": "z2"},
             "max_tag_length": {"max_tag_length": 99}, "trace_id_64bit": {"trace_id_64bit": True}},
    meshcode.OpenTelemetry: {"service": {"service": "otel2.o.svc.cluster.local"}, "port": {"port": 4318},
                             "name": {"name": "o2"}, "max_tag_length": {"max_tag_length": 99},
                             "http_path": {"http_path": "/v1/traces"},
                             "http_timeout": {"http_path": "/v1/traces", "http_timeout": "3s"},
                             "http_headers": {"http_path": "/v1/traces", "http_headers": {"x": "y"}}},
    HeaderTag: {"header": {"header": "x-other"}, "default": {"default": "none"}},
    meshcode.EnvTag: {"variable": {"variable": "NODE"}, "default": {"default": "none"}},
    meshcode.Patch: {"kind": Refused({"kind": "Gateway"}), "name": Refused({"name": "nothing"}),
                     "ops": {"ops": [{"op": "add", "path": "/spec/http/0/timeout", "value": "4s"}]},
                     "namespace": Refused({"namespace": "other"}), "cluster": {"cluster": "prod"}},
    meshcode.ApiVersions: {"networking": {"networking": "v1beta1"}, "security": {"security": "v1beta1"},
                           "telemetry": {"telemetry": "v1alpha1"}},
    meshcode.ArgoCD: {
        "repo_url": {"repo_url": "https://example.com/other.git"}, "target_revision": {"target_revision": "main"},
        "namespace": {"namespace": "gitops"}, "project": {"project": "shop"}, "automated": {"automated": False},
        "prune": {"prune": False}, "self_heal": {"self_heal": False}, "sync_options": {"sync_options": ["PruneLast=true"]},
        "cluster_names": {"cluster_names": {"prod": "in-cluster"}},
    },
}

# Read by the canary controller while it runs, not by the compiler: the PromQL it sends, the
# webhooks it calls, the workload name it queries for.
RUNTIME_ONLY = {(Rollout, "workload"), (PromQL, "query"), (PromQL, "requests_query"), (Webhook, "url"), (Webhook, "url_env"),
                (Webhook, "timeout")}


def models() -> list[type[IntentModel]]:
    """Every intent model of the public SDK (and the models they hold)."""
    seen: set[type] = set()

    def walk(cls: type) -> None:
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                walk(sub)

    walk(IntentModel)
    return sorted((c for c in seen if c is not TelemetryScope and not c.__name__.startswith("_") and c.__module__.startswith("meshcode.intent")),
                  key=lambda c: c.__name__)


def output(m: Mesh) -> str:
    plan = compile_mesh(m)
    files = render_tree(plan)
    canaries = {k: t.plan.model_dump(mode="json") for k, t in find_canaries([m]).items()}
    return json.dumps({"files": {k: v.decode() for k, v in sorted(files.items())}, "canaries": canaries},
                      sort_keys=True)


def own_lines(kw: dict[str, Any]) -> set[int]:
    """The line that built the object, and the lines of the intent objects given as its fields."""
    lines = {BUILD_LINE}
    for value in kw.values():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, IntentModel) and item.origin:
                lines.add(item.origin.line)
    return lines


def outcome(cls: type[IntentModel], kw: dict[str, Any], baseline: str | None) -> tuple[str, str]:
    """('shown' | 'same' | 'compiled' | 'refused' | 'refused elsewhere' | 'failed', output or why)."""
    _, place = PLACE[cls]
    try:
        obj = build(cls, kw)
    except IntentError as e:
        line = e.location.line if e.location else None
        return ("refused" if line == BUILD_LINE else "refused elsewhere", str(e))
    try:
        text = output(place(obj))
    except IntentError as e:
        return "refused elsewhere", str(e)
    except CompileError as e:
        lines = {f.location.line for f in e.findings if f.location}
        return ("refused" if lines & own_lines(kw) else "failed", str(e))
    if baseline is None:
        return "compiled", text
    return ("shown" if text != baseline else "same"), ""


def cases() -> list[Any]:
    out = []
    for cls, fields in VARIANTS.items():
        for field, variants in fields.items():
            for i, variant in enumerate(variants if isinstance(variants, list) else [variants]):
                if isinstance(variant, Pending):
                    out.append(pytest.param(cls, field, variant.kw, id=f"{cls.__name__}.{field}-{i}",
                                            marks=pytest.mark.xfail(strict=True, reason=variant.reason)))
                elif variant is not None:
                    out.append(pytest.param(cls, field, variant, id=f"{cls.__name__}.{field}-{i}"))
    return out


def test_every_field_of_every_model_has_a_variant() -> None:
    missing = [f"{cls.__name__}.{f}" for cls in models() for f in cls.model_fields
               if f not in VARIANTS.get(cls, {})]
    assert not missing, f"say where these fields go (add them to VARIANTS): {missing}"
    unplaced = [cls.__name__ for cls in models() if cls not in PLACE]
    assert not unplaced, f"no placement for {unplaced}"
    runtime = {(cls, f) for cls, fields in VARIANTS.items() for f, v in fields.items() if v is None}
    assert runtime == RUNTIME_ONLY


@pytest.mark.parametrize("cls, field, variant", cases())
def test_a_set_field_shows_in_the_output_or_is_refused_at_its_line(cls: type, field: str, variant: Any) -> None:
    """The variant's other keys are context: the baseline is the same object without `field`."""
    base, place = PLACE[cls]
    kw = variant.kw if isinstance(variant, (Refused, Checked)) else variant
    assert field in kw, f"{cls.__name__}.{field}: the variant does not set {field}"
    context = {**base, **{k: v for k, v in kw.items() if k != field}}
    context.pop(field, None) if field not in base else context.update({field: base[field]})
    baseline = outcome(cls, context, None)
    if baseline[0] != "compiled" or isinstance(variant, Checked):
        baseline = outcome(cls, base, None)  # the field is needed by its context: compare with the base
    assert baseline[0] == "compiled", f"{cls.__name__}: the base {base} does not compile: {baseline}"
    result, detail = outcome(cls, {**base, **kw}, baseline[1])
    expected = {Refused: "refused", Checked: "failed"}.get(type(variant), "shown")
    if isinstance(variant, Checked) and result == "refused":
        result = "failed"
    assert result == expected, f"{cls.__name__}.{field}={kw}: expected {expected}, got {result}: {detail}"
