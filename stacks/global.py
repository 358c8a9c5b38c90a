"""A global shop: one mesh over three clusters, two networks and two regions.

- east-1 (primary) and east-2 (its remote) share network-east in us-east1; west-1 (primary)
  is on network-west in us-west1. east-1 and west-1 form a multi-primary mesh; east-2's proxies
  read config from east-1's istiod, so its folder holds only namespaces and install input.
- Every cluster gets one east-west gateway (multi-network); the AUTO_PASSTHROUGH Gateway lives
  in each primary's istio-system and serves east-2's gateway too.
- Revisions: all clusters run 1-30-3 behind the `prod-stable` tag that namespaces use; west-1
  also runs 1-31-0 as `prod-canary` (a canary control-plane upgrade: flip the tag to move).
- payments is a ZeroTrust namespace on both primaries: STRICT mTLS, and only cart's identity
  (the same trust domain in every cluster) is allowed in, whichever cluster it calls from.
- cart runs a canary in every cluster (the same split in both primaries) and fails over
  east ↔ west; catalog spreads us-west1 traffic 80/20 across regions.
"""
from meshcode import (
    Call,
    Canary,
    Cluster,
    Ingress,
    LoadBalancer,
    Locality,
    LocalityDistribute,
    LocalityFailover,
    Match,
    Mesh,
    OutlierDetection,
    Port,
    Prefix,
    Retries,
    Route,
    Service,
    ZeroTrust,
)

SHOP = "shop"
PAYMENTS = "payments"  # a ZeroTrust namespace spanning east-1 and west-1
STABLE = {"prod-stable": "1-30-3"}

east_1 = Cluster(
    "east-1", network="network-east", region="us-east1", zones=["us-east1-b"],
    revision="1-30-3", revision_tags=STABLE, injection="prod-stable",
)
east_2 = Cluster(
    "east-2", role="remote", primary="east-1", network="network-east", region="us-east1",
    zones=["us-east1-c"], revision="1-30-3", revision_tags=STABLE, injection="prod-stable",
    remote_pilot_address="eastwest.east-1.shop.example.com",
)
west_1 = Cluster(
    "west-1", network="network-west", region="us-west1", zones=["us-west1-a"],
    revision="1-30-3", revision_tags={**STABLE, "prod-canary": "1-31-0"}, injection="prod-stable",
)

payments = Service(
    "payments", namespace=PAYMENTS, ports=[Port(8080)], versions=["v1"],
    clusters=["east-1", "west-1"],
    retries=Retries(2, per_try_timeout="1s", retry_on=["5xx", "reset"]),
    load_balancer=LoadBalancer(locality=Locality(failover=[
        LocalityFailover("us-east1", "us-west1"), LocalityFailover("us-west1", "us-east1"),
    ])),
    outlier_detection=OutlierDetection(consecutive_5xx_errors=3, interval="5s", base_ejection_time="1m",
                                       max_ejection_percent=50),
)

sessions = Service(
    "sessions", namespace=SHOP, ports=[Port(6379, "TCP")], cluster_local=True,
)

catalog = Service(
    "catalog", namespace=SHOP, ports=[Port(8080)], versions=["v1"],
    load_balancer=LoadBalancer(locality=Locality(distribute=[
        LocalityDistribute("us-west1/*", {"us-west1/*": 80, "us-east1/*": 20}),
    ])),
)

cart = Service(
    "cart", namespace=SHOP, ports=[Port(8080)], versions=["v1", "v2"],
    clusters=["east-1", "east-2", "west-1"],
    canary=Canary(stable="v1", candidate="v2", weight=10, testers=[Match(headers={"end-user": "qa"})]),
    load_balancer=LoadBalancer(locality=Locality(failover=[
        LocalityFailover("us-east1", "us-west1"), LocalityFailover("us-west1", "us-east1"),
    ])),
    calls=[Call(payments), Call(sessions)],
)

frontend = Service(
    "frontend", namespace=SHOP, ports=[Port(8080)], versions=["v1"],
    timeout="3s",
    calls=[Call(cart), Call(catalog), Call(sessions)],
)

storefront = Ingress(
    "storefront", namespace=SHOP, hosts=["shop.example.com"], clusters=["east-1", "west-1"],
    routes=[Route(match=Match(uri=Prefix("/")), to=frontend)],
)

mesh = Mesh(
    "global", mesh_id="shop-global", trust_domain="shop.example.com",
    clusters=[east_1, east_2, west_1],
    services=[frontend, cart, catalog, sessions, payments],
    ingresses=[storefront],
    zero_trust=[ZeroTrust(namespace=PAYMENTS, mtls="STRICT")],  # only cart (any cluster) may call payments
)
