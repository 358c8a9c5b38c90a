"""Canary state: data committed in the repository, read by the compiler to render weights.

Besides where the rollout stands it keeps every decision with its evidence (the raw samples,
their verdicts and why), so a restarted job or a new cluster resumes exactly where the rollout
stood and `meshcode canary replay` can re-run each decision.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from meshcode.state.plan import DecisionPlan
from meshcode.redact import redact

Phase = Literal["waiting", "progressing", "paused", "promoting", "succeeded", "failed"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed"})
Verdict = Literal["pass", "fail", "inconclusive"]
# ok: one finite value; no-data: empty result; nan: NaN or ±Inf; multiple-series: more than one
# series where one was expected; unreachable: no answer (Prometheus down, webhook timed out);
# error: the server answered with an error (bad query); missing: nothing was collected.
SampleStatus = Literal["ok", "no-data", "nan", "multiple-series", "unreachable", "error", "missing"]


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Sample(_Data):
    """One measurement fed to `decide`: a gate's query in one cluster, or a webhook's answer."""

    check: str  # gate name, or "webhook:<name>"
    cluster: str = ""
    status: SampleStatus = "ok"
    query: str = ""  # PromQL, or the webhook's URL
    window: str = ""  # e.g. "30s"
    value: float | None = None  # gate value, or the webhook's HTTP status
    requests: float | None = None  # requests the value is based on
    counts: dict[str, float] = Field(default_factory=dict)  # baseline: candidate/stable requests, errors, p99
    detail: str = ""

    @field_validator("query", "detail")
    @classmethod
    def _redacted(cls, v: str) -> str:
        """State is committed: a URL in a query or detail never carries its credentials into it."""
        return redact(v)


class Evidence(Sample):
    """A sample with the verdict `decide` gave it and why."""

    verdict: Verdict
    why: str

    def sample(self) -> Sample:
        return Sample(**self.model_dump(exclude={"verdict", "why"}))


class Entry(_Data):
    """One decision (a tick of the controller or an operator command) and the state it left."""

    time: datetime
    kind: Literal["tick", "command"]
    action: str
    reason: str
    plan: str  # DecisionPlan digest; the plan itself is in CanaryState.plans
    phase: Phase
    step: int
    weight: int
    failed_checks: int
    evidence: tuple[Evidence, ...] = ()
    notifications: tuple[Evidence, ...] = ()  # post-rollout / rollback webhooks fired after it


class CanaryState(_Data):
    """Where one canary's rollout stands; the compiler renders weights from it."""

    name: str
    stable: str = ""
    candidate: str = ""
    phase: Phase = "waiting"
    paused_phase: Phase | None = None  # the phase `resume` returns to
    step: int = -1  # index into the plan's stages; -1: not started
    weight: int = Field(default=0, ge=0, le=100)
    mirror: bool = False
    ab_testing: bool = False
    failed_checks: int = 0
    baseline_tests: int = 0  # baseline tests made so far; each spends its share of alpha
    since: datetime | None = None  # when the current stage began
    window_start: datetime | None = None  # start of the evidence window of the next check
    checked_at: datetime | None = None  # last check; the next is due one interval later
    plans: dict[str, DecisionPlan] = Field(default_factory=dict)
    history: tuple[Entry, ...] = ()

    @property
    def done(self) -> bool:
        return self.phase in TERMINAL


@dataclass(frozen=True, slots=True)
class CanaryRouting:
    """What the compiler needs from a canary: the candidate's weight and which phase extras apply."""

    weight: int
    mirror: bool = False
    ab_testing: bool = False
    testers: bool = True  # after a rollback nobody is sent to the failed candidate


def canary_routing(static_weight: int, state: CanaryState | None,
                   stable: str | None = None, candidate: str | None = None) -> CanaryRouting:
    """Routing from committed state when there is some, else the stack's static weight.

    State recorded for other versions (the stack has moved on to a new candidate) is ignored
    until the controller starts the new rollout.
    """
    if state is None or (candidate and state.candidate and state.candidate != candidate) \
            or (stable and state.stable and state.stable != stable):
        return CanaryRouting(static_weight)
    if state.phase == "succeeded":
        return CanaryRouting(100)
    if state.phase == "failed":
        return CanaryRouting(0, testers=False)
    return CanaryRouting(state.weight, mirror=state.mirror, ab_testing=state.ab_testing)
