"""Canary state: data committed in the repository, read by the compiler to render weights."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Phase = Literal["waiting", "progressing", "paused", "promoting", "succeeded", "failed"]


class CanaryState(BaseModel):
    """Where one canary's rollout stands; the compiler renders weights from it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    phase: Phase = "waiting"
    step: int = -1  # index into the plan's weights; -1: no live step yet
    weight: int = Field(default=0, ge=0, le=100)
    mirror: bool = False
    ab_testing: bool = False
    failed_checks: int = 0
    history: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class CanaryRouting:
    """What the compiler needs from a canary: the candidate's weight and which phase extras apply."""

    weight: int
    mirror: bool = False
    ab_testing: bool = False


def canary_routing(static_weight: int, state: CanaryState | None) -> CanaryRouting:
    """Routing from committed state when there is some, else the stack's static weight."""
    if state is None:
        return CanaryRouting(static_weight)
    if state.phase == "succeeded":
        return CanaryRouting(100)
    if state.phase == "failed":
        return CanaryRouting(0)
    return CanaryRouting(state.weight, mirror=state.mirror, ab_testing=state.ab_testing)
