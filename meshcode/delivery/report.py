"""What the controller reports about its canaries: `canary status --json`, and its own metrics
in Prometheus' text format for a node-exporter textfile collector or a Pushgateway (pure).

Metrics (one series per canary, labels canary, mesh, namespace, name):

    meshcode_canary_weight                         candidate weight (%) the committed state routes
    meshcode_canary_phase{phase=...}               1 for the current phase, 0 for the others
    meshcode_canary_step / _stages                 current stage (1-based; 0 before the start), stages
    meshcode_canary_failed_checks / _threshold     failed checks so far, and the rollback threshold
    meshcode_canary_last_decision_timestamp_seconds when the last decision was recorded
    meshcode_canary_state_valid                    0 when the committed state cannot be read
    meshcode_canary_controller_last_run_timestamp_seconds  when this report was written (liveness)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from meshcode.delivery.targets import CanaryTarget
from meshcode.state.canary import CanaryState

PHASES = ("waiting", "progressing", "paused", "promoting", "succeeded", "failed")


@dataclass(frozen=True)
class CanaryStatus:
    canary: str
    mesh: str
    namespace: str
    name: str
    stable: str
    candidate: str
    phase: str
    weight: int
    step: int  # 1-based; 0 before the start
    stages: int
    stage: str  # e.g. "25%", "mirror", "-"
    failed_checks: int
    threshold: int
    last_time: str | None = None
    last_action: str | None = None
    last_reason: str | None = None
    last_age_seconds: float | None = None
    error: str | None = None  # the committed state could not be read

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def canary_status(target: CanaryTarget, state: CanaryState | None, now: datetime,
                  error: str | None = None) -> CanaryStatus:
    mesh, namespace, name = target.key.split("/")
    stages = len(target.plan.stages)
    common = {"canary": target.key, "mesh": mesh, "namespace": namespace, "name": name,
              "stable": target.canary.stable, "candidate": target.canary.candidate, "stages": stages,
              "threshold": target.plan.threshold}
    if error is not None or state is None:
        return CanaryStatus(**common, phase="invalid" if error else "waiting", weight=target.canary.weight, step=0,
                            stage="-", failed_checks=0, error=error)
    stage = target.plan.stages[min(state.step, stages - 1)].label if state.step >= 0 and stages else "-"
    last = state.history[-1] if state.history else None
    return CanaryStatus(
        **common, phase=state.phase, weight=state.weight, step=state.step + 1, stage=stage,
        failed_checks=state.failed_checks,
        last_time=last.time.isoformat() if last else None, last_action=last.action if last else None,
        last_reason=last.reason if last else None,
        last_age_seconds=round((now - last.time).total_seconds(), 3) if last else None)


def _labels(s: CanaryStatus, **extra: str) -> str:
    pairs = {"canary": s.canary, "mesh": s.mesh, "namespace": s.namespace, "name": s.name, **extra}
    return ",".join(f'{k}="{_escape(v)}"' for k, v in pairs.items())


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def metrics_text(rows: list[CanaryStatus], now: datetime) -> str:
    """Prometheus' text exposition format (0.0.4), sorted, one family at a time."""
    families: list[tuple[str, str, list[str]]] = []

    def family(name: str, help_: str, lines: list[str]) -> None:
        families.append((name, help_, lines))

    family("meshcode_canary_weight", "Candidate weight (percent) the committed canary state routes.",
           [f"meshcode_canary_weight{{{_labels(s)}}} {s.weight}" for s in rows])
    family("meshcode_canary_phase", "1 for the canary's current phase, 0 for the others.",
           [f"meshcode_canary_phase{{{_labels(s, phase=p)}}} {int(s.phase == p)}" for s in rows for p in PHASES])
    family("meshcode_canary_step", "Current stage of the rollout, 1-based (0: not started).",
           [f"meshcode_canary_step{{{_labels(s)}}} {s.step}" for s in rows])
    family("meshcode_canary_stages", "Stages in the rollout plan.",
           [f"meshcode_canary_stages{{{_labels(s)}}} {s.stages}" for s in rows])
    family("meshcode_canary_failed_checks", "Failed checks of the current rollout.",
           [f"meshcode_canary_failed_checks{{{_labels(s)}}} {s.failed_checks}" for s in rows])
    family("meshcode_canary_threshold", "Failed checks that roll the canary back.",
           [f"meshcode_canary_threshold{{{_labels(s)}}} {s.threshold}" for s in rows])
    family("meshcode_canary_last_decision_timestamp_seconds", "When the canary's last decision was recorded.",
           [f"meshcode_canary_last_decision_timestamp_seconds{{{_labels(s)}}} "
            f"{datetime.fromisoformat(s.last_time).timestamp():.3f}" for s in rows if s.last_time])
    family("meshcode_canary_state_valid", "0 when the committed canary state cannot be read.",
           [f"meshcode_canary_state_valid{{{_labels(s)}}} {int(s.error is None)}" for s in rows])
    family("meshcode_canary_controller_last_run_timestamp_seconds", "When the controller last reported.",
           [f"meshcode_canary_controller_last_run_timestamp_seconds {now.timestamp():.3f}"])
    out = []
    for name, help_, lines in families:
        out += [f"# HELP {name} {help_}", f"# TYPE {name} gauge", *sorted(lines)]
    return "\n".join(out) + "\n"
