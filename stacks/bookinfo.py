"""Istio's bookinfo application, plus httpbin and tcp-echo, on one cluster.

This is the stack `meshcode compile` turns into generated/prod/. It shows the everyday
intent: versions, a canary with a tester, fault injection for one user, retries, timeouts,
a circuit breaker, traffic mirroring, a TCP split, an HTTPS ingress and an external API.
"""
from meshcode import (
    Abort, Canary, CircuitBreaker, Cluster, Delay, Dest, ExternalService, Fault, Ingress, Match,
    Mesh, Mirror, OriginateTLS, OutlierDetection, Port, Prefix, Retries, Route, ServerTLS, Service,
    SidecarScope, Rollout, SuccessRate, LatencyP99,
)

NS = "bookinfo"
jason = Match(headers={"end-user": "jason"})

productpage = Service(
    "productpage", namespace=NS, ports=[Port(9080)], versions=["v1"],
    service_account="bookinfo-productpage",
)

details = Service(
    "details", namespace=NS, ports=[Port(9080)], versions=["v1"],
    service_account="bookinfo-details",
)

reviews = Service(
    "reviews", namespace=NS, ports=[Port(9080)], versions=["v1", "v2", "v3"],
    service_account="bookinfo-reviews",
    timeout="0.5s",
    routes=[Route(match=Match(headers={"end-user": "qa-team"}), to="v2")],
    canary=Canary(
        stable="v1", candidate="v3", weight=10, testers=[jason],
        rollout=Rollout(
            steps=[10, 25, 50, 75], interval="5m", threshold=2,
            gates=[SuccessRate(min=99.0, min_requests=50), LatencyP99(max_ms=500)],
        ),
    ),
)

ratings = Service(
    "ratings", namespace=NS, ports=[Port(9080)], versions=["v1"],
    service_account="bookinfo-ratings",
    routes=[Route(match=jason, to="v1", fault=Fault(delay=Delay("7s", percent=100)))],
    retries=Retries(3, per_try_timeout="2s", retry_on=["5xx", "connect-failure"]),
)

httpbin = Service(
    "httpbin", namespace=NS, ports=[Port(8000)], versions=["v1", "v2"],
    circuit_breaker=CircuitBreaker(max_connections=1, max_pending_requests=1, max_requests_per_connection=1),
    outlier_detection=OutlierDetection(
        consecutive_5xx_errors=1, interval="1s", base_ejection_time="3m", max_ejection_percent=100,
    ),
    mirror=Mirror("v2", percent=100),
)

tcp_echo = Service(
    "tcp-echo", namespace=NS, ports=[Port(9000, "TCP")], versions=["v1", "v2"],
    routes=[Route(to={"v1": 80, "v2": 20})],
)

bookinfo_ingress = Ingress(
    "bookinfo-gateway", namespace=NS, hosts=["bookinfo.example.com"],
    tls=ServerTLS("bookinfo-credential"), http_redirect=True,
    routes=[
        Route(match=[Match(uri="/productpage"), Match(uri=Prefix("/static")), Match(uri="/login"),
                     Match(uri="/logout"), Match(uri=Prefix("/api/v1/products"))], to=productpage),
    ],
)

api_ingress = Ingress(
    "bookinfo-api", namespace=NS, hosts=["api.bookinfo.example.com"],
    routes=[
        Route(match=Match(uri=Prefix("/reviews")), to=reviews),
        Route(match=Match(uri=Prefix("/ratings")), to=Dest(ratings, version="v1")),
    ],
)

httpbin_org = ExternalService(
    "httpbin-org", namespace=NS, hosts=["httpbin.org"], ports=[Port(443, "HTTPS")],
    originate_tls=OriginateTLS(port=80, target_port=443),
)

mesh = Mesh(
    "bookinfo",
    clusters=[Cluster("prod", network="network1", region="us-east1")],
    services=[productpage, details, reviews, ratings, httpbin, tcp_echo],
    ingresses=[bookinfo_ingress, api_ingress],
    external_services=[httpbin_org],
    sidecars=[SidecarScope(NS, egress_hosts=["./*", "istio-system/*"])],
)
