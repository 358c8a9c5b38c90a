"""Re-run a canary's recorded history through `decide`: every decision must come out the same.

Each entry carries the samples it was made from and the digest of the plan that made it, so
the replay needs nothing but the state file: no Prometheus, no webhooks, no clock.
"""
from __future__ import annotations

from dataclasses import dataclass

from meshcode.delivery.decide import (
    Action,
    apply_command,
    decide,
    fresh_state,
    replan,
    with_notifications,
)
from meshcode.state.canary import CanaryState, Entry
from meshcode.errors import StateError

COMMANDS = {"promote", "promote-next", "abort", "pause", "resume", "retry"}


@dataclass(frozen=True, slots=True)
class Replayed:
    index: int
    recorded: Entry
    replayed: Entry | None  # None: the replay made no decision where one was recorded
    differences: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.differences


def _compare(recorded: Entry, replayed: Entry | None) -> tuple[str, ...]:
    if replayed is None:
        return ("no decision was made on replay",)
    a = recorded.model_dump(exclude={"notifications"})
    b = replayed.model_dump(exclude={"notifications"})
    return tuple(f"{k}: recorded {a[k]!r}, replayed {b[k]!r}" for k in a if a[k] != b[k])


def replay(state: CanaryState) -> tuple[list[Replayed], CanaryState]:
    """Decide every entry again from the start; returns per-entry results and the final state."""
    if not state.history:
        return [], state
    first = state.history[0]
    if first.plan not in state.plans:
        raise StateError(f"canary {state.name}: plan {first.plan} of the first decision is not recorded")
    current = fresh_state(state.plans[first.plan], state.name)
    out: list[Replayed] = []
    for i, entry in enumerate(state.history):
        plan = state.plans.get(entry.plan)
        if plan is None:
            out.append(Replayed(i, entry, None, (f"plan {entry.plan} is not recorded",)))
            continue
        if entry.action == "replan":
            new, replanned = replan(plan, current, entry.time)
            action = replanned or Action("none", "", current.weight, current.weight, changed=False)
        elif entry.kind == "command" and entry.action in COMMANDS:
            reason = entry.reason.rsplit("; next ", 1)[0] if entry.action == "promote-next" else entry.reason
            new, action = apply_command(plan, current, entry.action, entry.time, reason=reason)  # type: ignore[arg-type]
        else:
            samples = [e.sample() for e in entry.evidence if e.status != "missing"]
            new, action = decide(plan, current, samples, entry.time)
        made = new.history[-1] if action.changed and new.history else None
        out.append(Replayed(i, entry, made, _compare(entry, made)))
        if made is not None:
            current = with_notifications(new, list(entry.notifications))
    return out, current
