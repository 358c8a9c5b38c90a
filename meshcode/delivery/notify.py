"""Notifications (I/O edge): tell people what the controller decided, in Slack, Microsoft Teams
or any JSON webhook. A failed notification is a warning; it never blocks or changes a decision.

Where to: URLs from the environment or files (they carry tokens, so never from the stacks):
MESHCODE_SLACK_WEBHOOK(_FILE), MESHCODE_TEAMS_WEBHOOK(_FILE) (a Teams workflow "post to a
channel when a webhook request is received") and MESHCODE_NOTIFY_WEBHOOK(_FILE) (generic JSON).

What: every recorded decision that moves or stops a rollout (start, each stage, failed check,
rollback, promotion, stall, replan, and the operator's commands), and a hold that has lasted
`HOLD_ALERT_INTERVALS` intervals (sent by the tick that crosses that age).
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import httpx

from meshcode.delivery.http import _secret
from meshcode.errors import MeshcodeError
from meshcode.redact import redact
from meshcode.state.canary import CanaryState
from meshcode.state.plan import DecisionPlan

HOLD_ALERT_INTERVALS = 3
EVENTS = {"start", "advance", "promote-next", "fail-check", "rollback", "promote", "stall", "abort", "replan",
          "pause", "resume", "retry", "await-approval"}
CRITICAL = {"rollback", "abort"}
WARNING = {"fail-check", "hold-long"}
SINKS = {"slack": "MESHCODE_SLACK_WEBHOOK", "teams": "MESHCODE_TEAMS_WEBHOOK", "webhook": "MESHCODE_NOTIFY_WEBHOOK"}


@dataclass(frozen=True)
class Event:
    kind: str  # a decision's kind, or "hold-long"
    canary: str
    phase: str
    weight_from: int
    weight_to: int
    reason: str
    time: str
    severity: str  # info, warning, critical
    commit: str | None = None

    @property
    def title(self) -> str:
        move = f"{self.weight_from}% → {self.weight_to}%" if self.weight_from != self.weight_to \
            else f"at {self.weight_to}%"
        return f"canary {self.canary}: {self.kind} {move}"


def event_for(kind: str, changed: bool, weight_from: int, weight_to: int, reason: str, key: str,
              state: CanaryState, plan: DecisionPlan, now: datetime, commit: str | None) -> Event | None:
    """The event a tick's outcome is worth, or None (waits, quiet holds below the age limit)."""
    severity = "critical" if kind in CRITICAL or (kind == "stall" and state.phase == "failed") else \
        "warning" if kind in WARNING or kind == "stall" else "info"
    if changed and kind in EVENTS:
        return Event(kind, key, state.phase, weight_from, weight_to, reason, now.isoformat(), severity, commit)
    if kind != "hold":
        return None
    first = None
    for e in reversed(state.history):  # the holds in a row at this stage
        if e.action != "hold" or e.step != state.step:
            break
        first = e.time
    if first is None:
        return None
    limit = HOLD_ALERT_INTERVALS * plan.interval
    age = (now - first).total_seconds()
    if limit <= age < limit + plan.interval:
        return Event("hold-long", key, state.phase, weight_from, weight_to,
                     f"holding for {age:.0f}s at {state.weight}%: {reason}", now.isoformat(), "warning", commit)
    return None


_COLOURS = {"info": "#2eb67d", "warning": "#ecb22e", "critical": "#e01e5a"}


def slack(e: Event) -> dict[str, Any]:
    """Slack incoming-webhook message: a text fallback and a coloured attachment with the details."""
    fields = [{"title": "phase", "value": e.phase, "short": True}, {"title": "weight", "value": f"{e.weight_to}%",
                                                                     "short": True}]
    if e.commit:
        fields.append({"title": "commit", "value": e.commit[:10], "short": True})
    return {"text": f"{e.title}: {e.reason}",
            "attachments": [{"color": _COLOURS[e.severity], "title": e.title, "text": e.reason, "fields": fields,
                             "ts": int(datetime.fromisoformat(e.time).timestamp())}]}


def teams(e: Event) -> dict[str, Any]:
    """Microsoft Teams (workflow webhook): a message carrying an Adaptive Card."""
    colour = {"info": "Good", "warning": "Warning", "critical": "Attention"}[e.severity]
    facts = [{"title": "Phase", "value": e.phase}, {"title": "Weight", "value": f"{e.weight_to}%"},
             {"title": "Time", "value": e.time}]
    if e.commit:
        facts.append({"title": "Commit", "value": e.commit[:10]})
    card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4",
            "body": [{"type": "TextBlock", "text": e.title, "weight": "Bolder", "size": "Medium", "color": colour,
                      "wrap": True},
                     {"type": "TextBlock", "text": e.reason, "wrap": True},
                     {"type": "FactSet", "facts": facts}]}
    return {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                                                "contentUrl": None, "content": card}]}


def generic(e: Event) -> dict[str, Any]:
    return {"source": "meshcode", **asdict(e)}


FORMATS = {"slack": slack, "teams": teams, "webhook": generic}


def send(event: Event, environ: dict[str, str] | None = None, timeout: float = 5.0) -> list[str]:
    """POST the event to every configured sink; returns warnings, never raises."""
    env = dict(os.environ if environ is None else environ)
    warnings = []
    for sink, var in SINKS.items():
        try:
            url = _secret(env, var)
        except MeshcodeError as e:
            warnings.append(f"{sink} notification not sent: {redact(str(e))}")
            continue
        if not url:
            continue
        try:
            with httpx.Client(timeout=timeout, follow_redirects=False) as client:
                r = client.post(url, json=FORMATS[sink](event))
            if r.status_code >= 300:
                warnings.append(f"{sink} notification not accepted: HTTP {r.status_code}")
        except httpx.HTTPError as e:
            warnings.append(f"{sink} notification not sent: {type(e).__name__}")  # the URL is a secret
    return warnings
