"""A storefront whose authorization is written the way real teams write it (generated/edge/).

- store: api (two versions), orders and the ledger database, under STRICT mTLS and default
  deny, marked strict (no allow-any). Declared calls give least privilege; besides them, any
  authenticated peer may GET /healthz and /debug/*, partner namespaces may read the catalog with a tier
  header, and a batch job authenticated only by its JWT subject (with the batch:write scope
  claim) may POST /batch/*. DELETE needs an admin header, tokens of suspended users and one
  remote IP range are refused, v2 hides /debug/* and runs PERMISSIVE.
- partners holds only a caller (reporter): its namespace is labelled for injection, so the
  reporter has the identity the api's rules name.
- docs is a public endpoint: anyone may GET/HEAD /docs/* (written, never invented).
- The ingress gateway refuses two address ranges, validates end-user JWTs (and forwards them to
  the api, which requires one) and refuses /api/* without a token.
"""
from meshcode import (
    AllowRule, Call, Claim, Cluster, DenyRule, Header, Ingress, IngressGateway, Jwt, Match, Mesh, Port, Prefix,
    Route, Service, ZeroTrust,
)

ISSUER = "testing@secure.istio.io"
JWKS = "https://raw.githubusercontent.com/istio/istio/release-1.30/security/tools/jwt/samples/jwks.json"

api = Service("api", namespace="store", ports=[Port(8000, target_port=8080)], versions=["v1", "v2"],
              service_account="api")
ledger = Service("ledger", namespace="store", ports=[Port(5432, "TCP", target_port=5432)], service_account="ledger")
orders = Service(
    "orders", namespace="store", ports=[Port(9080, target_port=9080)], service_account="orders",
    calls=[Call(api, methods=["GET", "POST"], paths=["/orders/*"]), Call(ledger)],
)
reporter = Service(
    "reporter", namespace="partners", ports=[Port(8080, target_port=8080)], service_account="reporter",
    calls=[Call(api, methods=["GET"], paths=["/reports/*"])],
)
docs = Service("docs", namespace="docs", ports=[Port(80, target_port=8080)], service_account="docs")

storefront = Ingress(
    "storefront", namespace="store", hosts=["shop.example.com"],
    routes=[Route(match=Match(uri=Prefix("/api/")), to=api), Route(match=Match(uri=Prefix("/docs/")), to=docs)],
)

edge = IngressGateway(
    jwt=Jwt(ISSUER, JWKS, forward_original_token=True), require_jwt=False,
    deny=[
        DenyRule(remote_ip_blocks=["198.51.100.0/24"]),  # the client, as X-Forwarded-For says
        DenyRule(ip_blocks=["192.0.2.66"]),  # the peer that connects to the gateway
        DenyRule(not_request_principals=["*"], paths=["/api/*"]),  # the API needs a token at the edge
    ],
)

zero_trust = [
    ZeroTrust(namespace="store", strict=True, gateways=[edge],
              deny=[DenyRule(not_namespaces=["store", "partners", "istio-system"])],
              allow=[AllowRule(authenticated=True, methods=["GET"], paths=["/healthz", "/debug/*"])]),
    ZeroTrust(service=api, jwt=Jwt(ISSUER, JWKS),
              allow=[AllowRule(request_principals=[f"{ISSUER}/batch-job"], methods=["POST"], paths=["/batch/*"],
                               when=[Claim("scope", "batch:write")]),
                     AllowRule(namespaces=["partners"], methods=["GET"], paths=["/catalog/*"],
                               when=[Header("x-partner-tier", ["gold", "silver"])])],
              deny=[DenyRule(methods=["DELETE"], when=[Header("x-admin-token", not_values="let-me-in")]),
                    DenyRule(when=[Claim("suspended", "true")]),
                    DenyRule(remote_ip_blocks=["203.0.113.0/24"])]),
    ZeroTrust(service=api, version="v2", mtls="PERMISSIVE", deny=[DenyRule(paths=["/debug/*"])]),
    ZeroTrust(namespace="docs", gateways=[edge]),
    ZeroTrust(service=docs, allow=[AllowRule(anyone=True, methods=["GET", "HEAD"], paths=["/docs/*"])]),
]

mesh = Mesh(
    "storefront",
    clusters=[Cluster("edge")],
    services=[api, ledger, orders, reporter, docs],
    ingresses=[storefront],
    zero_trust=zero_trust,
)
