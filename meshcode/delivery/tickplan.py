"""What a tick reads of a canary's intent, as plain data: its plan, gates, hooks and names.

A tick needs only this much of the stacks, so it can be kept between ticks (meshcode.app.plancache)
and a hold read from it without importing the intent models or running the stacks. Both paths
build the same TickTarget (CanaryTarget.tick), so the decision sees identical inputs either way.
Never a secret here: a webhook is kept by the environment variable holding its URL; a target
whose webhook URL is written in the stack is not kept (tick_json returns None).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol, TypeVar, get_args

from meshcode.errors import StateError
from meshcode.state.plan import DecisionPlan, GateKind, HookType

Reporter = Literal["destination", "waypoint"]


@dataclass(frozen=True)
class GateView:
    """A metric gate as the Prometheus queries read it (fields of every kind; unused ones None)."""

    kind: GateKind
    name: str
    min: float | None = None
    max: float | None = None
    max_ms: float | None = None
    min_requests: int = 0
    query: str | None = None
    requests_query: str | None = None
    alpha: float | None = None
    max_error_ratio: float | None = None
    max_latency_ratio: float | None = None


@dataclass(frozen=True)
class HookView:
    """A webhook as the tick calls it: by name, with its URL or the environment variable holding it."""

    name: str
    type: HookType
    label: str  # how records name it: never the URL's path, query or user info
    timeout: float  # seconds
    url: str | None = None
    url_env: str | None = None


@dataclass(frozen=True)
class TickTarget:
    """One canary as a tick decides it: `key` is '<mesh>/<namespace>/<name>' (its state file)."""

    key: str
    mesh: str
    namespace: str
    service: str
    stable: str
    candidate: str
    workload_template: str
    reporter: Reporter
    argocd_namespace: str
    plan: DecisionPlan
    gates: tuple[GateView, ...]
    hooks: tuple[HookView, ...]

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[1]

    def workload(self, version: str) -> str:
        """Istio's destination_workload of a version (e.g. reviews-v3)."""
        return self.workload_template.replace("{service}", self.service).replace("{version}", version)


def tick_json(target: TickTarget) -> dict[str, Any] | None:
    """Plain data to keep between ticks, or None when the target holds a URL written in the stack."""
    if any(h.url is not None for h in target.hooks):
        return None
    data = asdict(target)
    data["plan"] = target.plan.model_dump(mode="json")
    return data


def tick_from_json(data: dict[str, Any]) -> TickTarget:
    """The target kept by tick_json (raises KeyError, TypeError or ValueError on anything else)."""
    target = TickTarget(**{**data, "plan": DecisionPlan.model_validate(data["plan"]),
                           "gates": tuple(GateView(**g) for g in data["gates"]),
                           "hooks": tuple(HookView(**h) for h in data["hooks"])})
    if target.reporter not in get_args(Reporter) or any(g.kind not in get_args(GateKind) for g in target.gates) \
            or any(h.type not in get_args(HookType) or h.url is not None for h in target.hooks) \
            or [g.name for g in target.gates] != [g.name for g in target.plan.gates] \
            or [(h.name, h.type) for h in target.hooks] != [(h.name, h.type) for h in target.plan.hooks]:
        raise ValueError(f"not a kept tick plan: {target.key}")
    return target


class _Keyed(Protocol):
    @property
    def key(self) -> str: ...


K = TypeVar("K", bound=_Keyed)


def resolve(targets: dict[str, K], name: str) -> K:
    """`reviews`, `bookinfo/reviews` (namespace/name) or `mesh/namespace/name`."""
    hits = [t for k, t in targets.items() if k == name or k.endswith("/" + name)]
    if len(hits) == 1:
        return hits[0]
    known = ", ".join(sorted(targets)) or "none"
    if not hits:
        raise StateError(f"no canary with a rollout plan is named {name!r} (canaries: {known})")
    raise StateError(f"canary name {name!r} is ambiguous: {', '.join(sorted(t.key for t in hits))}; "
                     "write <namespace>/<name> or <mesh>/<namespace>/<name>")
