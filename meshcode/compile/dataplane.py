"""Which data plane and routing API each namespace uses: the one fact the concerns branch on.

Resolved once per compile from `Mesh.data_plane` (the mesh default, then per-namespace
overrides); every concern asks `plane(ctx, namespace)` and chooses its objects from the answer.
"""
from __future__ import annotations

from dataclasses import dataclass

from meshcode.compile.context import CompileContext
from meshcode.errors import SourceLocation
from meshcode.intent.dataplane import DataPlane

AMBIENT_LABEL = "istio.io/dataplane-mode"
USE_WAYPOINT_LABEL = "istio.io/use-waypoint"
WAYPOINT_NAME = "waypoint"  # istioctl's default name for a namespace waypoint
WAYPOINT_CLASS = "istio-waypoint"
HBONE_PORT = 15008


@dataclass(frozen=True, slots=True)
class Plane:
    """A namespace's effective data plane."""

    mode: str  # "sidecar" | "ambient"
    routing: str  # "istio" | "gateway-api"
    waypoint: str  # "namespace" | "service" | "none" (meaningful in ambient only)
    origin: SourceLocation | None  # the DataPlane line that chose it (None: the built-in default)

    @property
    def ambient(self) -> bool:
        return self.mode == "ambient"

    @property
    def gateway_api(self) -> bool:
        return self.routing == "gateway-api"


SIDECAR = Plane("sidecar", "istio", "none", None)


def _of(dp: DataPlane) -> Plane:
    return Plane(dp.mode, dp.routing_api, dp.waypoint if dp.mode == "ambient" else "none", dp.origin)


def _resolve(ctx: CompileContext) -> tuple[Plane, dict[str, Plane]]:
    return ctx.once("data_planes", lambda: _build(ctx))


def _build(ctx: CompileContext) -> tuple[Plane, dict[str, Plane]]:
    default: DataPlane | None = None
    spaces: dict[str, DataPlane] = {}
    for dp in ctx.mesh.data_plane:
        first = default if dp.namespace is None else spaces.get(dp.namespace)
        if first is not None:
            ctx.error("MC2801", f"the data plane of {dp.scope_text} is declared twice (first at "
                      f"{ctx.where(first.origin)})", dp.origin, "Namespace", dp.namespace or "")
            continue
        if dp.namespace is None:
            default = dp
        else:
            spaces[dp.namespace] = dp
        if dp.namespace == ctx.mesh.root_namespace and dp.mode == "ambient":
            ctx.error("MC2802", f"{dp.namespace} is the control plane's namespace; it stays out of "
                      "ambient capture", dp.origin, "Namespace", dp.namespace)
    base = _of(default) if default else SIDECAR
    return (base, {ns: _of(dp) for ns, dp in spaces.items()})


def plane(ctx: CompileContext, namespace: str) -> Plane:
    """The data plane of `namespace` (the mesh default when it has no DataPlane of its own)."""
    base, spaces = _resolve(ctx)
    return spaces.get(namespace, base)


def any_gateway_api(ctx: CompileContext) -> bool:
    base, spaces = _resolve(ctx)
    return base.gateway_api or any(p.gateway_api for p in spaces.values())


def ambient_namespaces(ctx: CompileContext) -> frozenset[str]:
    """Namespaces explicitly or by default on ambient, among those that have services (once per compile)."""
    return ctx.once("ambient_namespaces",
                    lambda: frozenset(s.namespace for s in ctx.services.values() if plane(ctx, s.namespace).ambient))


def check_data_planes(ctx: CompileContext) -> None:
    """Resolve once so duplicate declarations are reported even when nothing else asks."""
    _resolve(ctx)
