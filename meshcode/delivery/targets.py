"""Which canaries the stacks define, where they run, and the decision plan of each."""
from __future__ import annotations

from dataclasses import dataclass

from meshcode.state.plan import DecisionPlan, GateSpec, HookSpec, Stage
from meshcode.delivery.tickplan import GateView, HookView, TickTarget, resolve
from meshcode.intent.base import duration_seconds
from meshcode.intent.dataplane import metrics_reporter
from meshcode.intent.rollout import (
    Baseline,
    LatencyP99,
    PromQL,
    Rollout,
    SuccessRate,
    Webhook,
    gate_name,
)
from meshcode.intent.service import Service
from meshcode.intent.topology import Mesh
from meshcode.intent.traffic import Canary


@dataclass(frozen=True)
class CanaryTarget:
    """One canary with a rollout plan: `key` is '<mesh>/<namespace>/<name>' (its state file)."""

    key: str
    mesh: Mesh
    service: Service
    canary: Canary
    rollout: Rollout
    plan: DecisionPlan

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[1]

    @property
    def namespace(self) -> str:
        return self.service.namespace

    def workload(self, version: str) -> str:
        """Istio's destination_workload of a version (e.g. reviews-v3)."""
        return self.rollout.workload.replace("{service}", self.service.name).replace("{version}", version)

    @property
    def tick(self) -> TickTarget:
        """What a tick reads of this canary, as plain data (the same whether kept or freshly loaded)."""
        return TickTarget(
            key=self.key, mesh=self.mesh.name, namespace=self.namespace, service=self.service.name,
            stable=self.canary.stable, candidate=self.canary.candidate, workload_template=self.rollout.workload,
            reporter="waypoint" if metrics_reporter(self.mesh.data_plane, self.namespace) == "waypoint"
            else "destination",
            argocd_namespace=self.mesh.argocd.namespace if self.mesh.argocd is not None else "argocd",
            plan=self.plan, gates=tuple(gate_view(g) for g in self.rollout.gates),
            hooks=tuple(hook_view(h) for h in self.rollout.webhooks))


def running_clusters(mesh: Mesh, service: Service) -> tuple[str, ...]:
    """Clusters whose pods run the service: its placement, or every cluster that runs workloads."""
    names = [c.name for c in mesh.clusters if c.role != "config"]
    if service.clusters is not None:
        names = [n for n in names if n in service.clusters]
    return tuple(names)


def stages(rollout: Rollout) -> tuple[Stage, ...]:
    return (*(Stage(kind="mirror") for _ in range(rollout.mirror_intervals)),
            *(Stage(kind="ab") for _ in range(rollout.ab_intervals)),
            *(Stage(kind="weight", weight=w) for w in rollout.weights))


def gate_spec(gate: SuccessRate | LatencyP99 | PromQL | Baseline) -> GateSpec:
    name = gate_name(gate)
    if isinstance(gate, SuccessRate):
        return GateSpec(name=name, kind="success-rate", min=gate.min, min_requests=gate.min_requests)
    if isinstance(gate, LatencyP99):
        return GateSpec(name=name, kind="latency-p99", max=gate.max_ms, min_requests=gate.min_requests)
    if isinstance(gate, PromQL):
        return GateSpec(name=name, kind="promql", min=gate.min, max=gate.max, min_requests=gate.min_requests)
    return GateSpec(name=name, kind="baseline", min_requests=gate.min_requests, alpha=gate.alpha,
                    max_error_ratio=gate.max_error_ratio, max_latency_ratio=gate.max_latency_ratio)


def gate_view(gate: SuccessRate | LatencyP99 | PromQL | Baseline) -> GateView:
    name = gate_name(gate)
    if isinstance(gate, SuccessRate):
        return GateView(kind="success-rate", name=name, min=gate.min, min_requests=gate.min_requests)
    if isinstance(gate, LatencyP99):
        return GateView(kind="latency-p99", name=name, max_ms=gate.max_ms, min_requests=gate.min_requests)
    if isinstance(gate, PromQL):
        return GateView(kind="promql", name=name, min=gate.min, max=gate.max, min_requests=gate.min_requests,
                        query=gate.query, requests_query=gate.requests_query)
    return GateView(kind="baseline", name=name, min_requests=gate.min_requests, alpha=gate.alpha,
                    max_error_ratio=gate.max_error_ratio, max_latency_ratio=gate.max_latency_ratio)


def hook_view(hook: Webhook) -> HookView:
    return HookView(name=hook.name, type=hook.type, label=hook.label, timeout=duration_seconds(hook.timeout),
                    url=str(hook.url) if hook.url is not None else None, url_env=hook.url_env)


def decision_plan(mesh: Mesh, service: Service, canary: Canary, rollout: Rollout) -> DecisionPlan:
    return DecisionPlan(
        stable=canary.stable, candidate=canary.candidate, clusters=running_clusters(mesh, service),
        stages=stages(rollout), interval=duration_seconds(rollout.interval), threshold=rollout.threshold,
        gates=tuple(gate_spec(g) for g in rollout.gates),
        hooks=tuple(HookSpec(name=h.name, type=h.type) for h in rollout.webhooks),
        manual_approval=rollout.manual_approval, initial_weight=canary.weight,
        progress_deadline=duration_seconds(rollout.progress_deadline) if rollout.progress_deadline
        else 10 * duration_seconds(rollout.interval),
        inconclusive_limit=rollout.inconclusive_limit, on_stall=rollout.on_stall,
    )


def find_canaries(meshes: list[Mesh]) -> dict[str, CanaryTarget]:
    """Every canary with a rollout plan, keyed like its state file."""
    out: dict[str, CanaryTarget] = {}
    for mesh in meshes:
        for s in mesh.services:
            c = s.canary
            if c is None or c.rollout is None:
                continue
            key = f"{mesh.name}/{s.namespace}/{c.name or s.name}"
            out.setdefault(key, CanaryTarget(key, mesh, s, c, c.rollout, decision_plan(mesh, s, c, c.rollout)))
    return out
