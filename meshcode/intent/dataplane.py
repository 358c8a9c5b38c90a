"""Data-plane intent: sidecars or ambient, Istio's routing API or Kubernetes Gateway API.

One `DataPlane` without a namespace sets the mesh default; one per namespace overrides it.
The rest of the intent never changes: the compiler picks the objects each choice needs
(VirtualService or HTTPRoute, Sidecar or waypoint, selector or targetRefs policies).
"""
from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from meshcode.intent.base import DNSLabel, IntentModel

DataPlaneMode = Literal["sidecar", "ambient"]
RoutingApi = Literal["istio", "gateway-api"]
WaypointPlacement = Literal["namespace", "service", "none"]


class DataPlane(IntentModel):
    """How a namespace's workloads (or, without `namespace`, the whole mesh's) carry traffic.

    - `mode`: "sidecar" (an Envoy per pod) or "ambient" (ztunnel per node, waypoints for L7);
    - `routing`: "istio" (VirtualService) or "gateway-api" (HTTPRoute/GRPCRoute/TCPRoute on the
      Service, GAMMA); ambient implies, and defaults to, "gateway-api";
    - `waypoint` (ambient only): one waypoint for the namespace, one per service that needs L7,
      or none (ztunnel only: L4 policy, no L7 routing or policy).
    """

    positional = ("mode",)
    mode: DataPlaneMode = "sidecar"
    namespace: DNSLabel | None = None
    routing: RoutingApi | None = None
    waypoint: WaypointPlacement = "namespace"

    @model_validator(mode="after")
    def _consistent(self) -> "DataPlane":
        if self.mode == "ambient" and self.routing == "istio":
            raise ValueError("ambient mode routes with the Gateway API (VirtualServices are not "
                             "supported on waypoints): drop routing= or use mode='sidecar'")
        if self.mode == "sidecar" and "waypoint" in self.model_fields_set:
            raise ValueError("waypoint= is for ambient mode (sidecars need no waypoint)")
        return self

    @property
    def routing_api(self) -> RoutingApi:
        return self.routing or ("gateway-api" if self.mode == "ambient" else "istio")

    @property
    def scope_text(self) -> str:
        return f"namespace {self.namespace}" if self.namespace else "the mesh"


def namespace_plane(planes: tuple[DataPlane, ...], namespace: str) -> DataPlane | None:
    """The DataPlane that governs `namespace`: its own, else the mesh default (None: sidecars)."""
    own = next((dp for dp in planes if dp.namespace == namespace), None)
    return own or next((dp for dp in planes if dp.namespace is None), None)


def metrics_reporter(planes: tuple[DataPlane, ...], namespace: str) -> str:
    """Which proxy reports a workload's L7 metrics (`istio_requests_total{reporter=...}`): its sidecar
    ("destination"), or in ambient the waypoint in front of it ("waypoint")."""
    dp = namespace_plane(planes, namespace)
    return "waypoint" if dp is not None and dp.mode == "ambient" else "destination"
