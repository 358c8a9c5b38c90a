"""Progressive-delivery intent: how a canary's weight moves and what must hold at each step."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, HttpUrl, model_validator

from meshcode.intent.base import Duration, IntentModel
from meshcode.intent.traffic import Match


class SuccessRate(IntentModel):
    """Candidate's non-5xx share of requests (istio_requests_total, reporter=destination)."""

    positional = ("min",)
    min: float = Field(default=99.0, ge=0, le=100)
    min_requests: int = Field(default=20, ge=0)


class LatencyP99(IntentModel):
    """Candidate's p99 request duration in ms (istio_request_duration_milliseconds_bucket)."""

    positional = ("max_ms",)
    max_ms: float = Field(gt=0)
    min_requests: int = Field(default=20, ge=0)


class PromQL(IntentModel):
    """A custom query; template variables: {namespace} {service} {workload} {version} {interval}."""

    positional = ("name", "query")
    name: str
    query: str
    min: float | None = None
    max: float | None = None
    min_requests: int = Field(default=0, ge=0)
    requests_query: str | None = None


class Baseline(IntentModel):
    """Candidate vs stable error rate over the same window, with false alarms controlled."""

    alpha: float = Field(default=0.05, gt=0, lt=1)
    min_requests: int = Field(default=100, ge=1)
    max_latency_ratio: float | None = Field(default=None, gt=1)


class Webhook(IntentModel):
    positional = ("name", "url")
    name: str
    url: HttpUrl
    type: Literal["pre-rollout", "rollout", "confirm-promotion", "post-rollout", "rollback"] = "rollout"
    timeout: Duration = "10s"


class Rollout(IntentModel):
    """The canary's plan: steps, pace, gates and hooks. Its state lives in git, not here."""

    steps: tuple[int, ...] = ()
    step_weight: int | None = Field(default=None, ge=1, le=100)
    max_weight: int | None = Field(default=None, ge=1, le=100)
    interval: Duration = "1m"
    threshold: int = Field(default=2, ge=1)
    gates: tuple[SuccessRate | LatencyP99 | PromQL | Baseline, ...] = ()
    webhooks: tuple[Webhook, ...] = ()
    mirror_intervals: int = Field(default=0, ge=0)
    ab_intervals: int = Field(default=0, ge=0)
    ab_match: tuple[Match, ...] = ()
    manual_approval: bool = False

    @model_validator(mode="after")
    def _steps(self) -> "Rollout":
        if self.steps and (self.step_weight or self.max_weight):
            raise ValueError("give steps, or step_weight with max_weight, not both")
        if not self.steps and not self.step_weight:
            raise ValueError("a rollout needs steps=[...] or step_weight=")
        if list(self.steps) != sorted(set(self.steps)) or any(not 0 < s <= 100 for s in self.steps):
            raise ValueError(f"steps must be strictly increasing weights in 1..100, got {list(self.steps)}")
        if self.ab_intervals and not self.ab_match:
            raise ValueError("ab_intervals needs ab_match (which requests see the candidate)")
        return self

    @property
    def weights(self) -> tuple[int, ...]:
        """The candidate weights step by step; never past the last step or max_weight."""
        if self.steps:
            return self.steps
        top = self.max_weight or 100
        out, w = [], 0
        while w < top:
            w = min(w + (self.step_weight or top), top)
            out.append(w)
        return tuple(out)
