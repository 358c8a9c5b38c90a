"""The decision plan: the part of a canary's intent that `decide` reads, as plain data.

It is recorded in the canary's state (by digest) so `meshcode canary replay` re-runs every
decision with the plan that made it, even after the stack has changed.
"""
from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

StageKind = Literal["mirror", "ab", "weight"]
GateKind = Literal["success-rate", "latency-p99", "promql", "baseline"]
HookType = Literal["pre-rollout", "rollout", "confirm-promotion", "post-rollout", "rollback"]


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Stage(_Data):
    """One interval of the rollout: shadow traffic, A/B users only, or a live weight."""

    kind: StageKind
    weight: int = 0

    @property
    def label(self) -> str:
        return {"mirror": "mirror", "ab": "A/B"}.get(self.kind, f"{self.weight}%")


class GateSpec(_Data):
    name: str
    kind: GateKind
    min: float | None = None
    max: float | None = None
    min_requests: int = 0
    alpha: float | None = None  # baseline: false-alarm rate over the whole rollout
    max_error_ratio: float = 1.0
    max_latency_ratio: float | None = None


class HookSpec(_Data):
    name: str
    type: HookType


_LATER_FIELDS = {"initial_weight": 0, "progress_deadline": None, "inconclusive_limit": None, "on_stall": "rollback"}


class DecisionPlan(_Data):
    """Stages, gates, hooks and pace of one canary; no URLs or queries (those are I/O)."""

    stable: str
    candidate: str
    clusters: tuple[str, ...]
    stages: tuple[Stage, ...]
    interval: float  # seconds between checks
    threshold: int
    gates: tuple[GateSpec, ...] = ()
    hooks: tuple[HookSpec, ...] = ()
    manual_approval: bool = False
    initial_weight: int = Field(default=0, ge=0, le=100)  # the stack's static weight: live before the start
    progress_deadline: float | None = None  # seconds a stage may hold or fail checks before it stalls
    inconclusive_limit: int | None = Field(default=None, ge=1)  # inconclusive checks in a row before it stalls
    on_stall: Literal["rollback", "pause"] = "rollback"

    @property
    def max_weight(self) -> int:
        return max((s.weight for s in self.stages), default=0)

    def hooks_of(self, hook_type: HookType) -> tuple[HookSpec, ...]:
        return tuple(h for h in self.hooks if h.type == hook_type)

    @property
    def digest(self) -> str:
        fields = self.model_dump(mode="json")
        for name, default in _LATER_FIELDS.items():  # plans recorded before these fields keep their digest
            if fields[name] == default:
                del fields[name]
        data = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(data.encode()).hexdigest()[:12]
