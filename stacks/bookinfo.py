"""Istio's bookinfo application, plus httpbin and tcp-echo, on one cluster.

This is the stack `meshcode compile` turns into generated/prod/. It shows the everyday
intent: versions, a canary with a tester, fault injection for one user, retries, timeouts,
a circuit breaker, traffic mirroring, a TCP split, an HTTPS ingress and an external API,
all under ZeroTrust (mTLS, least privilege from the declared calls, egress lock-down).
"""
from meshcode import (
    Abort, Canary, CircuitBreaker, Cluster, Delay, Dest, ExternalService, Fault, Ingress, Match,
    Mesh, Mirror, OriginateTLS, OutlierDetection, Port, Prefix, Retries, Route, ServerTLS, Service,
    SidecarScope, Rollout, SuccessRate, LatencyP99, IstioInstall,
)
from meshcode import AccessLog, EnvoyLog, OpenTelemetry, Tracing
from meshcode import Call, DenyRule, Jwt, Version, ZeroTrust

NS = "bookinfo"
jason = Match(headers={"end-user": "jason"})

productpage = Service(
    "productpage", namespace=NS, ports=[Port(9080)], versions=["v1"],
    service_account="bookinfo-productpage",
    calls=[Call("details", methods=["GET"], paths=["/details/*"]),
           Call("reviews", methods=["GET"], paths=["/reviews/*"])],
)

details = Service(
    "details", namespace=NS, ports=[Port(9080)], versions=["v1"],
    service_account="bookinfo-details",
    calls=["httpbin-org"],
)

reviews = Service(
    "reviews", namespace=NS, ports=[Port(9080)], versions=["v1", "v2", "v3"],
    service_account="bookinfo-reviews",
    calls=[Call("ratings", methods=["GET"], paths=["/ratings/*"])],
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
    "ratings", namespace=NS, ports=[Port(9080)],
    versions=["v1", Version("v2", service_account="bookinfo-ratings-v2", calls=[Call("mongodb", ports=[27017])])],
    service_account="bookinfo-ratings",
    routes=[Route(match=jason, to="v1", fault=Fault(delay=Delay("7s", percent=100)))],
    retries=Retries(3, per_try_timeout="2s", retry_on=["5xx", "connect-failure"]),
)

mongodb = Service("mongodb", namespace=NS, ports=[Port(27017, "MONGO", target_port=27017)], service_account="bookinfo-mongodb")

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
    originate_tls=OriginateTLS(port=80, target_port=443, ca_certificates="/etc/ssl/certs/ca-certificates.crt"),
)

# Observability: JSON access logs from every bookinfo proxy, and 10% of requests traced to the
# OpenTelemetry collector (one Telemetry for the namespace; the providers go into the mesh config).
otel_collector = OpenTelemetry("opentelemetry-collector.observability.svc.cluster.local", 4317)
observability = [
    AccessLog(EnvoyLog(encoding="JSON"), namespace=NS),
    Tracing(otel_collector, sampling=10, namespace=NS),
]

# Zero trust: STRICT mTLS, and each workload accepts exactly the calls declared above (plus the
# ingress routes) and reaches only its declared dependencies; nothing from outside bookinfo and
# istio-system gets in; productpage's users must carry a JWT from the Istio test issuer in group1.
zero_trust = [
    ZeroTrust(namespace=NS, mtls="STRICT", deny=[DenyRule(not_namespaces=[NS, "istio-system"])]),
    ZeroTrust(service=productpage, jwt=Jwt(
        "testing@secure.istio.io",
        "https://raw.githubusercontent.com/istio/istio/release-1.30/security/tools/jwt/samples/jwks.json",
        required_claims={"groups": "group1"})),
]

mesh = Mesh(
    "bookinfo",
    clusters=[Cluster("prod", network="network1", region="us-east1")],
    services=[productpage, details, reviews, ratings, mongodb, httpbin, tcp_echo],
    ingresses=[bookinfo_ingress, api_ingress],
    external_services=[httpbin_org],
    sidecars=[SidecarScope(NS, egress_hosts=["./*", "istio-system/*"])],
    zero_trust=zero_trust,
    telemetry=observability,
    install=IstioInstall(method="istioctl"),  # one cluster installed by hand: an IstioOperator for istioctl
)
