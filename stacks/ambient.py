"""A shop on Istio's ambient data plane, beside a namespace still on sidecars (generated/ambient-1/).

- shop runs ambient: ztunnel on every node, one waypoint for the namespace (L7 routing and
  policy), no sidecars. Its routing compiles to Gateway API routes on the Services (GAMMA): the
  cart canary is a weighted HTTPRoute to per-version Services, testers pinned by header, a
  timeout and a mirror of a share of traffic to the candidate.
- ZeroTrust splits by layer: the waypoint enforces who may call what (methods, paths), ztunnel
  keeps STRICT mTLS, the default deny, and admits only the waypoint.
- The storefront ingress is a Gateway API Gateway (HTTPS, HTTP redirected), deployed by Istio.
- legacy stays on sidecars with the Istio API; moving it is one word: DataPlane("ambient", ...).
"""
from meshcode import (
    Call, Canary, Cluster, DataPlane, Ingress, Match, Mesh, Mirror, PathPrefix, Port, Route, ServerTLS, Service,
    ZeroTrust,
)

SHOP = "shop"
LEGACY = "legacy"

catalog = Service("catalog", namespace=SHOP, ports=[Port(8080)], versions=["v1"], timeout="2s")
redis = Service("redis", namespace=SHOP, ports=[Port(6379, "TCP")])
cart = Service(
    "cart", namespace=SHOP, ports=[Port(8080)], versions=["v1", "v2"], timeout="1s",
    canary=Canary(stable="v1", candidate="v2", weight=20, testers=[Match(headers={"x-canary": "always"})]),
    mirror=Mirror("v2", percent=5),
    calls=[Call(redis)],
)
frontend = Service(
    "frontend", namespace=SHOP, ports=[Port(8080)], versions=["v1"],
    calls=[Call(cart, methods=["GET", "POST"], paths=["/cart/*"]), Call(catalog, methods=["GET"])],
)
reports = Service("reports", namespace=LEGACY, ports=[Port(8080)], versions=["v1"], timeout="5s",
                  calls=[Call(catalog, methods=["GET"], paths=["/items/*"])])

storefront = Ingress(
    "storefront", namespace=SHOP, hosts=["shop.example.com"], tls=ServerTLS("storefront-credential"),
    http_redirect=True,
    routes=[Route(match=Match(uri=PathPrefix("/api")), to=cart), Route(to=frontend)],
)

mesh = Mesh(
    "ambient-shop",
    clusters=[Cluster("ambient-1", network="network1")],
    services=[frontend, cart, catalog, redis, reports],
    ingresses=[storefront],
    data_plane=[DataPlane("ambient", namespace=SHOP), DataPlane("sidecar", namespace=LEGACY)],
    zero_trust=[ZeroTrust(namespace=SHOP, mtls="STRICT", egress_lockdown=False)],
)
