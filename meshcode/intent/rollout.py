"""Progressive-delivery intent: how a canary's weight moves and what must hold at each step."""
from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, HttpUrl, model_validator

from meshcode.intent.base import Duration, IntentModel, Many, duration_seconds, no_credentials
from meshcode.redact import redact_url
from meshcode.intent.traffic import Match


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


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
    """A custom query and the range its value must fall in.

    Template variables (written `{name}`, PromQL's own braces are left alone): {namespace}
    {service} {workload} {version} {stable_workload} {stable_version} {cluster}, {reporter} (the proxy
    reporting the workload's metrics: `destination`, or `waypoint` in ambient), and {window}
    (alias {interval}): the check's own window, e.g. `37s`. `requests_query` gives the request
    count `min_requests` is checked against; without it the candidate's Istio request count is used.
    """

    positional = ("name", "query")
    name: str
    query: str
    min: float | None = None
    max: float | None = None
    min_requests: int = Field(default=0, ge=0)
    requests_query: str | None = None


class Baseline(IntentModel):
    """Candidate vs stable error rate over the same window, with false alarms controlled.

    Each check is an exact one-sided test (errors conditioned on their total: binomial) of
    "candidate error rate > max_error_ratio × stable's"; `alpha` is the false-alarm rate for
    the whole rollout, split evenly (Bonferroni) over the checks the plan can make.
    `max_latency_ratio` adds a plain bound on candidate p99 / stable p99.
    """

    alpha: float = Field(default=0.05, gt=0, lt=1)
    min_requests: int = Field(default=100, ge=1)
    max_error_ratio: float = Field(default=1.0, ge=1)
    max_latency_ratio: float | None = Field(default=None, gt=1)


class Webhook(IntentModel):
    """An HTTP call at a point of the rollout; non-2xx or no answer within `timeout` = failed check.

    pre-rollout: before the first step; rollout: every check (e.g. start a load test);
    confirm-promotion: before promoting (holds, does not count towards rollback);
    post-rollout: after success or rollback; rollback: after a rollback (both informational).
    """

    positional = ("name", "url")
    name: str
    url: HttpUrl | None = None
    url_env: str | None = None  # name of an environment variable holding the URL, read when the hook is called
    type: Literal["pre-rollout", "rollout", "confirm-promotion", "post-rollout", "rollback"] = "rollout"
    timeout: Duration = "10s"

    @model_validator(mode="after")
    def _one_url(self) -> "Webhook":
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give url= or url_env= (an environment variable holding the URL), exactly one")
        if self.url is not None:
            no_credentials(str(self.url))
        if self.url_env is not None and not _ENV_NAME.match(self.url_env):
            raise ValueError(f"url_env {self.url_env!r} is not an environment variable name")
        return self

    @property
    def label(self) -> str:
        """How records name the hook's target: never its URL's path, query or user info (secrets live there)."""
        if self.url_env is not None:
            return f"${self.url_env}"
        return redact_url(str(self.url), keep_path=False)


class Rollout(IntentModel):
    """The canary's plan: steps, pace, gates and hooks. Its state lives in git, not here."""

    steps: Many[int] = ()
    step_weight: int | None = Field(default=None, ge=1, le=100)
    max_weight: int | None = Field(default=None, ge=1, le=100)
    interval: Duration = "60s"  # already in the emitted form: defaults are not validated
    threshold: int = Field(default=2, ge=1)
    gates: Many[SuccessRate | LatencyP99 | PromQL | Baseline] = ()
    webhooks: Many[Webhook] = ()
    mirror_intervals: int = Field(default=0, ge=0)
    ab_intervals: int = Field(default=0, ge=0)
    ab_match: Many[Match] = ()
    manual_approval: bool = False
    workload: str = "{service}-{version}"  # Istio's destination_workload (the Deployment's name)
    # Holds end: a stage that has not passed within progress_deadline (default: 10 intervals), or
    # inconclusive_limit inconclusive checks in a row, stalls: the rollout rolls back or pauses.
    progress_deadline: Duration | None = None
    inconclusive_limit: int | None = Field(default=None, ge=1)
    on_stall: Literal["rollback", "pause"] = "rollback"

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
        if self.max_weight and self.step_weight and self.step_weight > self.max_weight:
            raise ValueError(f"step_weight {self.step_weight} is above max_weight {self.max_weight}")
        for label, names in (("gate", [gate_name(g) for g in self.gates]), ("webhook", [w.name for w in self.webhooks])):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"{label} names must be unique, got {', '.join(dupes)} more than once")
        if self.progress_deadline is not None and \
                duration_seconds(self.progress_deadline) <= duration_seconds(self.interval):
            raise ValueError(f"progress_deadline {self.progress_deadline} must be longer than the interval "
                             f"{self.interval} (a stage needs at least one check)")
        if "{version}" not in self.workload:
            raise ValueError(f"workload {self.workload!r} must contain {{version}} (e.g. '{{service}}-{{version}}') "
                             "so stable and candidate are told apart")
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


Gate = SuccessRate | LatencyP99 | PromQL | Baseline


def gate_name(gate: Gate) -> str:
    """The name a gate's checks carry in the canary's history."""
    if isinstance(gate, PromQL):
        return gate.name
    return {SuccessRate: "success-rate", LatencyP99: "latency-p99", Baseline: "baseline"}[type(gate)]
