"""Canary state: data committed in the repository, read by the compiler to render weights.

Besides where the rollout stands it keeps every decision with its evidence (the raw samples,
their verdicts and why), so a restarted job or a new cluster resumes exactly where the rollout
stood and `meshcode canary replay` can re-run each decision.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

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

    time: AwareDatetime
    kind: Literal["tick", "command"]
    action: str
    reason: str
    plan: str  # DecisionPlan digest; the plan itself is in CanaryState.plans
    phase: Phase
    step: int = Field(ge=-1)
    weight: int = Field(ge=0, le=100)
    failed_checks: int = Field(ge=0)
    evidence: tuple[Evidence, ...] = ()
    notifications: tuple[Evidence, ...] = ()  # post-rollout / rollback webhooks fired after it


class CanaryState(_Data):
    """Where one canary's rollout stands; the compiler renders weights from it."""

    name: str
    stable: str = ""
    candidate: str = ""
    phase: Phase = "waiting"
    paused_phase: Phase | None = None  # the phase `resume` returns to
    step: int = Field(default=-1, ge=-1)  # index into the plan's stages; -1: not started
    weight: int = Field(default=0, ge=0, le=100)
    mirror: bool = False
    ab_testing: bool = False
    failed_checks: int = Field(default=0, ge=0)
    baseline_tests: int = Field(default=0, ge=0)  # baseline tests made so far; each spends its share of alpha
    since: AwareDatetime | None = None  # when the current stage began
    window_start: AwareDatetime | None = None  # start of the evidence window of the next check
    checked_at: AwareDatetime | None = None  # last check; the next is due one interval later
    plans: dict[str, DecisionPlan] = Field(default_factory=dict)
    history: tuple[Entry, ...] = ()

    @model_validator(mode="after")
    def _shape(self) -> "CanaryState":
        unknown = sorted({e.plan for e in self.history} - set(self.plans))
        if unknown:
            raise ValueError(f"history refers to plans that are not recorded: {', '.join(unknown)}")
        edited = sorted(k for k, p in self.plans.items() if p.digest != k)
        if edited:
            raise ValueError(f"recorded plan {', '.join(edited)} does not match its digest (edited by hand?)")
        return self

    @property
    def done(self) -> bool:
        return self.phase in TERMINAL


def state_problems(state: CanaryState) -> list[str]:
    """Why a state cannot be where its own history and plan say it is (empty: consistent).

    The controller and the compiler act on this state: a weight no stage of the plan has, a
    step past the plan's end or fields that disagree with the last recorded decision are hand
    edits or corruption, and acting on them could promote what was never judged.
    """
    if not state.history:  # seeded by hand (e.g. a migration): the controller checks it against the stack's plan
        return []
    last = state.history[-1]
    plan = state.plans[last.plan]
    out: list[str] = []
    for field in ("phase", "step", "weight", "failed_checks"):
        if getattr(state, field) != getattr(last, field):
            out.append(f"{field} is {getattr(state, field)!r} but the last recorded decision ({last.action} at "
                       f"{last.time.isoformat()}) left {getattr(last, field)!r}")
    if state.phase == "paused":
        if state.paused_phase is None or state.paused_phase in TERMINAL or state.paused_phase == "paused":
            out.append("a paused rollout must record the phase it resumes to (waiting, progressing or "
                       f"promoting), got {state.paused_phase!r}")
            return out
    elif state.paused_phase is not None:
        out.append(f"paused_phase is {state.paused_phase!r} but the phase is {state.phase!r}, not paused")
    stages = len(plan.stages)
    if state.step >= stages:
        out.append(f"step {state.step} is past the end of its plan ({stages} stages)")
        return out
    active = state.paused_phase if state.phase == "paused" else state.phase
    if state.phase == "succeeded" and state.weight != 100:
        out.append(f"a succeeded rollout routes 100% to the candidate, not {state.weight}%")
    if state.phase == "failed" and state.weight != 0:
        out.append(f"a failed rollout routes 0% to the candidate, not {state.weight}%")
    if active in ("progressing", "promoting"):
        if state.step < 0:
            out.append(f"phase {active} needs a started rollout (step ≥ 0), got step {state.step}")
        else:
            stage = plan.stages[state.step]
            want = (stage.weight, stage.kind == "mirror", stage.kind == "ab")
            if (state.weight, state.mirror, state.ab_testing) != want:
                out.append(f"stage {state.step + 1}/{stages} ({stage.label}) routes {stage.weight}% "
                           f"(mirror={want[1]}, A/B={want[2]}), but the state says {state.weight}% "
                           f"(mirror={state.mirror}, A/B={state.ab_testing})")
        if state.checked_at is None or state.window_start is None:
            out.append(f"phase {active} needs checked_at and window_start")
    if active == "promoting" and state.step != stages - 1:
        out.append(f"phase promoting needs the last stage ({stages}), got stage {state.step + 1}")
    if active == "waiting" and state.step != -1:
        out.append(f"phase waiting needs step -1 (not started), got step {state.step}")
    return out


@dataclass(frozen=True, slots=True)
class CanaryRouting:
    """What the compiler needs from a canary: the candidate's weight and which phase extras apply."""

    weight: int
    mirror: bool = False
    ab_testing: bool = False
    testers: bool = True  # after a rollback nobody is sent to the failed candidate


class RoutingInputs(NamedTuple):
    """Every field of a canary state the compiler reads (through canary_routing, its only reader).

    Two states with equal RoutingInputs compile to byte-identical output, so a decision that
    changes only the rest (history, evidence, check times, failed checks) needs no recompile.
    """

    stable: str
    candidate: str
    succeeded: bool
    failed: bool
    weight: int
    mirror: bool
    ab_testing: bool


def routing_inputs(state: CanaryState) -> RoutingInputs:
    return RoutingInputs(state.stable, state.candidate, state.phase == "succeeded", state.phase == "failed",
                         state.weight, state.mirror, state.ab_testing)


def canary_routing(static_weight: int, state: CanaryState | None,
                   stable: str | None = None, candidate: str | None = None) -> CanaryRouting:
    """Routing from committed state when there is some, else the stack's static weight.

    State recorded for other versions (the stack has moved on to a new candidate) is ignored
    until the controller starts the new rollout. Reads the state only through routing_inputs.
    """
    seen = routing_inputs(state) if state is not None else None
    if seen is None or (candidate and seen.candidate and seen.candidate != candidate) \
            or (stable and seen.stable and seen.stable != stable):
        return CanaryRouting(static_weight)
    if seen.succeeded:
        return CanaryRouting(100)
    if seen.failed:
        return CanaryRouting(0, testers=False)
    return CanaryRouting(seen.weight, mirror=seen.mirror, ab_testing=seen.ab_testing)
