"""A synthetic fleet built through the public SDK, as a user's stack would build it.

Imported by the fleet benchmark's generated stack file: `mesh = fleet_mesh(N, C)`.
Every service has 3 versions, a canary, resilience settings and ~3 declared calls; some
have a mirror or a fault; all sit under mesh-wide ZeroTrust (STRICT mTLS, default deny,
least-privilege allows from the declared calls, egress lock-down).
"""
from __future__ import annotations

from meshcode import (
    Abort, Canary, CircuitBreaker, Cluster, Delay, Fault, Match, Mesh, Mirror, OutlierDetection, Port,
    Retries, Route, Service, ZeroTrust,
)

SERVICES_PER_NAMESPACE = 25


def fleet_services(n: int, changed: int | None = None) -> list[Service]:
    names = [f"svc-{i:05d}" for i in range(n)]
    out = []
    for i, name in enumerate(names):
        ns = f"team-{i // SERVICES_PER_NAMESPACE:03d}"
        calls = [f"team-{j // SERVICES_PER_NAMESPACE:03d}/{names[j]}" for j in ((i + k) % n for k in (1, 2, 3)) if j != i]
        extra: dict = {}
        if i % 5 == 0:
            extra["mirror"] = Mirror("v3", percent=10)
        if i % 7 == 0:
            extra["routes"] = [Route(match=Match(headers={"x-chaos": "on"}), to="v1",
                                     fault=Fault(delay=Delay("2s", percent=50), abort=Abort(503, percent=10)))]
        out.append(Service(
            name, namespace=ns, ports=[Port(8080), Port(9090, "GRPC")], versions=["v1", "v2", "v3"],
            timeout="3s" if i != changed else "4s",
            retries=Retries(3, per_try_timeout="1s", retry_on=["5xx", "reset"]),
            circuit_breaker=CircuitBreaker(max_connections=100, max_pending_requests=50),
            outlier_detection=OutlierDetection(consecutive_5xx_errors=5, interval="10s", base_ejection_time="30s"),
            canary=Canary(stable="v1", candidate="v2", weight=10, testers=[Match(headers={"x-canary": "1"})]),
            calls=calls,
            **extra,
        ))
    return out


def fleet_mesh(n: int, clusters: int = 3, changed: int | None = None) -> Mesh:
    cls = [Cluster(f"fleet-{c}", network=f"net{c % 2 + 1}", region=("us-east1", "europe-west1")[c % 2])
           for c in range(clusters)]
    return Mesh("fleet", clusters=cls, services=fleet_services(n, changed), zero_trust=[ZeroTrust()])
