"""The decision: one pure function from (plan, state, samples, now) to (new state, action).

No I/O and no clock: the runner collects samples and passes the time, so every recorded
decision can be re-run (`replay`) and must come out the same. The rules:

- pass → next stage (mirror intervals, then A/B intervals, then the live weights);
- fail → one more failed check, weight held; failed checks reaching `threshold` → rollback
  (stable 100%, phase failed) in the same tick;
- inconclusive (too few requests), no data, NaN, several series, Prometheus unreachable →
  hold: nothing moves, never a promotion, and the reason is recorded;
- the last stage passed → promote (candidate 100%, phase succeeded), after manual approval
  and confirm-promotion webhooks when the plan has them;
- every cluster the canary spans is judged; any cluster failing fails the check.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from meshcode.delivery.baseline import check_alpha, error_rate_pvalue
from meshcode.state.plan import DecisionPlan, GateSpec, HookSpec, HookType, Stage
from meshcode.state.canary import (
    TERMINAL,
    CanaryState,
    Entry,
    Evidence,
    Sample,
    Verdict,
)

Command = Literal["pause", "resume", "abort", "promote", "promote-next", "retry"]
_NUMBER = re.compile(r"\d+(\.\d+)?(e[-+]?\d+)?")


@dataclass(frozen=True, slots=True)
class Action:
    """What a decision did; `changed` means there is a new state to write and commit."""

    kind: str  # start advance hold fail-check rollback promote await-approval | wait paused done | commands
    reason: str
    weight_from: int
    weight_to: int
    changed: bool = True

    def subject(self, name: str) -> str:
        """The commit subject: `canary reviews: advance 10% → 25% (all 2 checks passed; next 25%)`."""
        move = f"{self.weight_from}% → {self.weight_to}%" if self.weight_from != self.weight_to \
            else f"at {self.weight_to}%"
        reason = self.reason if len(self.reason) <= 100 else self.reason[:99] + "…"
        return f"canary {name}: {self.kind} {move} ({reason})"


@dataclass(frozen=True, slots=True)
class Due:
    """What the next tick needs: gate samples, webhook calls, and from when."""

    at: datetime | None  # not before this time (None: now)
    gates: bool = False
    hooks: tuple[HookType, ...] = ()


# ---- timing ---------------------------------------------------------------------------------
def due(plan: DecisionPlan, state: CanaryState, now: datetime) -> Due:
    """Which samples the runner must collect for `decide` at `now` (none if it would wait)."""
    state = for_plan(plan, state)
    if state.phase in TERMINAL or state.phase == "paused":
        return Due(None)
    if replan(plan, state, now)[1] is not None:
        return Due(None)  # the plan's stages changed under the rollout: re-place it now, no samples needed
    at = None
    if state.checked_at is not None:
        at = state.checked_at + timedelta(seconds=plan.interval)
    if state.phase == "waiting":
        return Due(at, hooks=("pre-rollout",) if plan.hooks_of("pre-rollout") else ())
    if state.phase == "promoting":
        if plan.manual_approval:
            return Due(None)
        return Due(at, hooks=("confirm-promotion",))
    hooks: tuple[HookType, ...] = ("rollout",) if plan.hooks_of("rollout") else ()
    if state.step >= len(plan.stages) - 1 and not plan.manual_approval and plan.hooks_of("confirm-promotion"):
        hooks += ("confirm-promotion",)
    return Due(at, gates=bool(plan.gates), hooks=hooks)


def window_seconds(state: CanaryState, now: datetime, applied_at: datetime | None = None) -> int:
    """Length of the check's evidence window: since the stage began or the last verdict, and never
    before the current weight was applied (a window never straddles two weights)."""
    start = state.window_start or now
    if applied_at is not None and applied_at > start:
        start = applied_at
    return max(1, int((now - start).total_seconds()))


APPLIED = "applied"  # the sample saying when the current weight took effect (see delivery.applied)


def applied_time(sample: Sample) -> datetime | None:
    if sample.status != "ok" or sample.value is None or not math.isfinite(sample.value):
        return None
    return datetime.fromtimestamp(sample.value, timezone.utc)


# ---- verdicts -------------------------------------------------------------------------------
def _evidence(sample: Sample, verdict: Verdict, why: str) -> Evidence:
    return Evidence(**sample.model_dump(), verdict=verdict, why=why)


def _unusable(sample: Sample) -> str | None:
    """Why a sample cannot be judged at all (→ hold), or None when it is usable."""
    if sample.status == "ok":
        return None
    what = "webhook" if sample.check.startswith("webhook:") else "prometheus"
    detail = f": {sample.detail}" if sample.detail else ""
    return {
        "missing": "no sample collected",
        "unreachable": f"{what} unreachable{detail}",
        "error": f"query failed{detail}",
        "multiple-series": f"query returned several series where one was expected{detail}",
        "no-data": f"no data{detail}",
        "nan": f"value is not a number{detail}",
    }[sample.status]


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def judge_gate(gate: GateSpec, sample: Sample, test_number: int = 1) -> Evidence:
    """Pass, fail or inconclusive for one gate in one cluster; never fail on missing data."""
    return _judge(gate, sample, test_number)[0]


def _judge(gate: GateSpec, sample: Sample, test_number: int) -> tuple[Evidence, bool]:
    """The evidence, and whether a baseline test was made (it spends its share of alpha)."""
    if sample.status in ("missing", "unreachable", "error", "multiple-series"):
        return _evidence(sample, "inconclusive", _unusable(sample) or ""), False
    # Too little traffic says more than the NaN it produces, so the count is checked first.
    if gate.min_requests and sample.requests is not None and sample.requests < gate.min_requests:
        return _evidence(sample, "inconclusive",
                         f"{sample.requests:.0f} requests < min_requests {gate.min_requests}"), False
    problem = _unusable(sample)
    if problem is None and gate.kind != "baseline" and (sample.value is None or not math.isfinite(sample.value)):
        problem = "no value"
    if problem:
        return _evidence(sample, "inconclusive", problem), False
    if gate.min_requests and (sample.requests is None or not math.isfinite(sample.requests)):
        return _evidence(sample, "inconclusive", "no request count"), False
    if gate.kind == "baseline":
        return _judge_baseline(gate, sample, test_number)
    value = sample.value
    assert value is not None
    unit = {"success-rate": "%", "latency-p99": "ms"}.get(gate.kind, "")
    label = {"success-rate": "success rate", "latency-p99": "p99"}.get(gate.kind, gate.name)
    if gate.min is not None and value < gate.min:
        return _evidence(sample, "fail", f"{label} {_fmt(value)}{unit} < min {_fmt(gate.min)}{unit}"), False
    if gate.max is not None and value > gate.max:
        return _evidence(sample, "fail", f"{label} {_fmt(value)}{unit} > max {_fmt(gate.max)}{unit}"), False
    return _evidence(sample, "pass", f"{label} {_fmt(value)}{unit} within bounds"), False


def _judge_baseline(gate: GateSpec, sample: Sample, test_number: int) -> tuple[Evidence, bool]:
    c = sample.counts
    need = ("candidate_requests", "candidate_errors", "stable_requests", "stable_errors")
    if any(k not in c or not math.isfinite(c[k]) for k in need):
        return _evidence(sample, "inconclusive", "baseline counts incomplete"), False
    cn, ce = round(c["candidate_requests"]), round(c["candidate_errors"])
    sn, se = round(c["stable_requests"]), round(c["stable_errors"])
    if cn < max(1, gate.min_requests):
        return _evidence(sample, "inconclusive", f"candidate had {cn} requests < min_requests "
                                                 f"{gate.min_requests}"), False
    if sn < gate.min_requests:
        return _evidence(sample, "inconclusive",
                         f"stable had {sn} requests < min_requests {gate.min_requests}"), False
    level = check_alpha(gate.alpha or 0.05, test_number)
    p = error_rate_pvalue(min(ce, cn), cn, min(se, sn), sn, gate.max_error_ratio)
    rates = (f"candidate errors {ce}/{cn} ({_fmt(100 * ce / cn)}%) vs stable {se}/{sn} "
             f"({_fmt(100 * se / sn if sn else 0)}%): p={p:.3g}")
    if p < level:
        return _evidence(sample, "fail", f"{rates} < {level:.3g} (test {test_number})"), True
    if gate.max_latency_ratio is not None:
        cp, sp = c.get("candidate_p99"), c.get("stable_p99")
        if cp is None or sp is None or not (math.isfinite(cp) and math.isfinite(sp)) or sp <= 0:
            return _evidence(sample, "inconclusive", f"{rates}; p99 of candidate or stable missing"), True
        if cp / sp > gate.max_latency_ratio:
            return _evidence(sample, "fail", f"{rates}; p99 {_fmt(cp)}ms is {_fmt(cp / sp)}× stable's "
                                             f"{_fmt(sp)}ms > {_fmt(gate.max_latency_ratio)}×"), True
    return _evidence(sample, "pass", f"{rates} ≥ {level:.3g} (test {test_number})"), True


def judge_hook(hook: HookSpec, sample: Sample) -> Evidence:
    """A webhook passes on 2xx; any other status, a timeout or no answer is a failed check."""
    if sample.status == "ok" and sample.value is not None and 200 <= sample.value < 300:
        return _evidence(sample, "pass", f"{hook.type} webhook {hook.name} returned {sample.value:.0f}")
    if sample.status == "ok" and sample.value is not None:
        return _evidence(sample, "fail", f"{hook.type} webhook {hook.name} returned {sample.value:.0f}")
    detail = f": {sample.detail}" if sample.detail else ""
    return _evidence(sample, "fail", f"{hook.type} webhook {hook.name} failed{detail}")


def _pick(samples: dict[tuple[str, str], list[Sample]], check: str, cluster: str) -> Sample | str:
    found = samples.get((check, cluster), [])
    if len(found) == 1:
        return found[0]
    return "no sample collected" if not found else f"{len(found)} samples for one check"


def _missing(check: str, cluster: str, why: str) -> Evidence:
    """Evidence for a check nobody measured (replay passes no sample for it, as the runner did)."""
    return Evidence(check=check, cluster=cluster, status="missing", detail=why, verdict="inconclusive", why=why)


def gate_evidence(plan: DecisionPlan, state: CanaryState, samples: Iterable[Sample]) -> tuple[list[Evidence], int]:
    """Every gate in every cluster; returns the evidence and the baseline tests made."""
    by_key = _index(samples)
    out: list[Evidence] = []
    tests = state.baseline_tests
    for gate in plan.gates:
        for cluster in plan.clusters:
            s = _pick(by_key, gate.name, cluster)
            if isinstance(s, str):
                out.append(_missing(gate.name, cluster, s))
                continue
            ev, tested = _judge(gate, s, tests + 1)
            tests += tested  # a test was made: its share of alpha is spent, whatever its outcome
            out.append(ev)
    return out, tests


def hook_evidence(plan: DecisionPlan, hook_type: HookType, samples: Iterable[Sample]) -> list[Evidence]:
    by_key = _index(samples)
    out = []
    for hook in plan.hooks_of(hook_type):
        s = _pick(by_key, f"webhook:{hook.name}", "")
        out.append(_missing(f"webhook:{hook.name}", "", s) if isinstance(s, str) else judge_hook(hook, s))
    return out


def _index(samples: Iterable[Sample]) -> dict[tuple[str, str], list[Sample]]:
    out: dict[tuple[str, str], list[Sample]] = {}
    for s in samples:
        out.setdefault((s.check, s.cluster), []).append(s)
    return out


# ---- the decision ---------------------------------------------------------------------------
def fresh_state(plan: DecisionPlan, name: str) -> CanaryState:
    """Before the start the stack's static weight is live, so a hold or pause keeps exactly that."""
    return CanaryState(name=name, stable=plan.stable, candidate=plan.candidate, weight=plan.initial_weight,
                       plans={plan.digest: plan})


def for_plan(plan: DecisionPlan, state: CanaryState) -> CanaryState:
    """The state this plan continues: a new rollout when the versions changed, the plan recorded."""
    if (state.stable, state.candidate) != (plan.stable, plan.candidate) and (state.stable or state.candidate):
        return fresh_state(plan, state.name)
    if plan.digest not in state.plans:
        return state.model_copy(update={"stable": plan.stable, "candidate": plan.candidate,
                                        "plans": {**state.plans, plan.digest: plan}})
    return state


def _stage_key(stage: Stage) -> tuple[int, bool, bool]:
    return stage.weight, stage.kind == "mirror", stage.kind == "ab"


def replan(plan: DecisionPlan, state: CanaryState, now: datetime) -> tuple[CanaryState, Action | None]:
    """Re-place a running rollout whose plan's stages changed; never onto a weight it has not earned.

    The current stage (weight, mirror, A/B) found in the new plan: the rollout continues there.
    Not found (e.g. the steps were lowered below the current weight): it steps back to the new
    plan's highest weight below the current one (the first stage if none is below) with a fresh
    evidence window. Either way the change is a recorded decision ("replan"); it never promotes.
    """
    state = for_plan(plan, state)
    if state.phase in TERMINAL or state.step < 0:
        return state, None
    active = state.paused_phase if state.phase == "paused" else state.phase
    last = len(plan.stages) - 1
    here = (state.weight, state.mirror, state.ab_testing)
    if state.step <= last and _stage_key(plan.stages[state.step]) == here \
            and (active != "promoting" or state.step == last):
        return state, None
    same = [i for i, st in enumerate(plan.stages) if _stage_key(st) == here]
    timing: dict[str, Any] = {}
    if same:
        step = min(same, key=lambda i: abs(i - state.step))
        reason = f"plan changed: {plan.stages[step].label} is now stage {step + 1}/{len(plan.stages)}"
    else:
        below = [i for i, st in enumerate(plan.stages) if st.kind == "weight" and st.weight < state.weight]
        step = below[-1] if below else 0
        reason = (f"plan changed: {state.weight}% is not a step of the new plan; continuing at "
                  f"{plan.stages[step].label} (stage {step + 1}/{len(plan.stages)}) with a fresh window")
        timing = {"since": now, "window_start": now, "checked_at": now}
    phase_update: dict[str, Any] = {}
    if active == "promoting" and step != last:
        phase_update = {"paused_phase": "progressing"} if state.phase == "paused" else {"phase": "progressing"}
    return _record(plan, state, now, "replan", reason, [], step=step, **_stage_fields(plan.stages[step]),
                   **phase_update, **timing)


def _stage_fields(stage: Stage) -> dict[str, Any]:
    return {"weight": stage.weight, "mirror": stage.kind == "mirror", "ab_testing": stage.kind == "ab"}


def _record(plan: DecisionPlan, state: CanaryState, now: datetime, kind: str, reason: str,
            evidence: list[Evidence], entry_kind: str = "tick", **update: Any) -> tuple[CanaryState, Action]:
    new = state.model_copy(update=update)
    entry = Entry(time=now, kind=entry_kind, action=kind, reason=reason, plan=plan.digest, phase=new.phase,
                  step=new.step, weight=new.weight, failed_checks=new.failed_checks, evidence=tuple(evidence))
    new = new.model_copy(update={"history": (*state.history, entry)})
    return new, Action(kind, reason, state.weight, new.weight)


def _summary(evidence: list[Evidence], verdict: Verdict | None = None) -> str:
    items = [e for e in evidence if verdict is None or e.verdict == verdict]
    parts = [f"{e.check}{'@' + e.cluster if e.cluster else ''}: {e.why}" for e in items[:3]]
    more = f" (+{len(items) - 3} more)" if len(items) > 3 else ""
    return "; ".join(parts) + more


def decide(plan: DecisionPlan, state: CanaryState, samples: Iterable[Sample],
           now: datetime) -> tuple[CanaryState, Action]:
    """One tick of the controller. Pure: the same inputs always give the same outputs."""
    samples = list(samples)
    state = for_plan(plan, state)
    w = state.weight
    if state.phase in TERMINAL:
        return state, Action("done", f"rollout {state.phase}", w, w, changed=False)
    if state.phase == "paused":
        return state, Action("paused", "paused by an operator; resume to continue", w, w, changed=False)
    replanned, action = replan(plan, state, now)
    if action is not None:
        return replanned, action
    if state.phase == "promoting" and plan.manual_approval:
        return state, Action("wait", "all stages passed; awaiting manual approval (canary promote)", w, w,
                             changed=False)
    d = due(plan, state, now)
    if d.at is not None and now < d.at:
        return state, Action("wait", f"next check at {d.at.isoformat()}", w, w, changed=False)

    if state.phase == "waiting":
        evidence = hook_evidence(plan, "pre-rollout", samples)
        return _conclude(plan, state, now, evidence, on_pass=_start)
    if state.phase == "promoting":
        evidence = hook_evidence(plan, "confirm-promotion", samples)
        return _confirm(plan, state, now, evidence, [])

    applied: list[Evidence] = []
    found = [x for x in samples if x.check == APPLIED]
    if found:
        sample, t = found[0], applied_time(found[0])
        if t is None:  # the weight is committed but not live yet: nothing to judge
            why = _stall_reason(plan, state, now, is_hold=False)
            if why is not None:
                return _stall(plan, state, now, why, f"{w}% not applied: {sample.detail}",
                              [_evidence(sample, "inconclusive", sample.detail)])
            return state, Action("wait", f"{w}% not applied yet: {sample.detail}", w, w, changed=False)
        if now < t + timedelta(seconds=plan.interval):
            return state, Action("wait", f"{w}% applied at {t.isoformat()}; judged from then, next check at "
                                         f"{(t + timedelta(seconds=plan.interval)).isoformat()}", w, w, changed=False)
        applied = [_evidence(sample, "pass", f"{w}% applied at {t.isoformat()}: {sample.detail}")]
    evidence, tests = gate_evidence(plan, state, samples)
    evidence = applied + evidence + hook_evidence(plan, "rollout", samples)
    spent = tests != state.baseline_tests  # alpha spent must be recorded, or later tests would reuse it
    state = state.model_copy(update={"baseline_tests": tests})
    return _conclude(plan, state, now, evidence, on_pass=lambda p, s, n, e: _next(p, s, n, e, samples),
                     spent=spent)


Continue = Callable[[DecisionPlan, CanaryState, datetime, list[Evidence]], tuple[CanaryState, Action]]


def _conclude(plan: DecisionPlan, state: CanaryState, now: datetime, evidence: list[Evidence],
              on_pass: Continue, spent: bool = False) -> tuple[CanaryState, Action]:
    """Fail beats hold beats pass: failure evidence from any cluster counts even if another is silent."""
    if any(e.verdict == "fail" for e in evidence):
        failed = state.failed_checks + 1
        reason = _summary(evidence, "fail")
        if failed >= plan.threshold:
            return _record(plan, state, now, "rollback", f"{failed}/{plan.threshold} failed checks: {reason}",
                           evidence, phase="failed", weight=0, mirror=False, ab_testing=False,
                           failed_checks=failed, checked_at=now)
        return _record(plan, state, now, "fail-check", f"{failed}/{plan.threshold} failed checks: {reason}",
                       evidence, failed_checks=failed, window_start=now, checked_at=now)
    if any(e.verdict == "inconclusive" for e in evidence):
        return _hold(plan, state, now, _summary(evidence, "inconclusive"), evidence, spent)
    return on_pass(plan, state, now, evidence)


def _signature(evidence: Iterable[Evidence]) -> tuple[tuple[str, str, str, str], ...]:
    """What a reviewer reads in a hold, without the numbers that change every tick."""
    return tuple(sorted((e.check, e.cluster, e.verdict, _NUMBER.sub("#", e.why)) for e in evidence))


def _stage_clock(state: CanaryState) -> datetime | None:
    """When the current stage's clock began: its start, or the last resume, replan or retry."""
    for e in reversed(state.history):
        if e.action in ("start", "advance", "resume", "replan", "retry"):
            return e.time
    return state.history[0].time if state.history else None


def _hold_chain_start(state: CanaryState) -> datetime | None:
    """Time of the first of the holds in a row at the current stage (recorded ones; quiet ones repeat it)."""
    first = None
    for e in reversed(state.history):
        if e.action != "hold" or e.step != state.step:
            break
        first = e.time
    return first


def _stall_reason(plan: DecisionPlan, state: CanaryState, now: datetime, is_hold: bool) -> str | None:
    start = _stage_clock(state)
    if plan.progress_deadline is not None and start is not None \
            and (now - start).total_seconds() >= plan.progress_deadline:
        return (f"progress deadline {_fmt(plan.progress_deadline)}s passed: the stage began "
                f"{start.isoformat()} and has not passed")
    if plan.inconclusive_limit is not None and is_hold:
        first = _hold_chain_start(state) or now
        n = 1 + int((now - first).total_seconds() // plan.interval)
        if n >= plan.inconclusive_limit:
            return f"{n} inconclusive checks in a row (limit {plan.inconclusive_limit})"
    return None


def _stall(plan: DecisionPlan, state: CanaryState, now: datetime, why: str, detail: str,
           evidence: list[Evidence]) -> tuple[CanaryState, Action]:
    """The rollout stalled: roll back or pause, as the plan says (an alert goes with it)."""
    if plan.on_stall == "pause":
        return _record(plan, state, now, "stall", f"{why} → paused: {detail}", evidence, phase="paused",
                       paused_phase=state.phase, checked_at=now)
    return _record(plan, state, now, "stall", f"{why} → rollback: {detail}", evidence, phase="failed", weight=0,
                   mirror=False, ab_testing=False, checked_at=now)


def _hold(plan: DecisionPlan, state: CanaryState, now: datetime, reason: str, evidence: list[Evidence],
          spent: bool, **update: Any) -> tuple[CanaryState, Action]:
    """Hold; recorded (a commit) only when a reviewer learns something: the first hold, a changed reason."""
    why = _stall_reason(plan, state, now, is_hold=True)
    if why is not None:
        return _stall(plan, state, now, why, reason, evidence)
    last = state.history[-1] if state.history else None
    if last is not None and last.action == "hold" and (last.phase, last.step) == (state.phase, state.step) \
            and _signature(last.evidence) == _signature(evidence) and not spent:
        w = state.weight
        return state, Action("hold", f"{reason} (as recorded at {last.time.isoformat()})", w, w, changed=False)
    return _record(plan, state, now, "hold", reason, evidence, checked_at=now, **update)


def _start(plan: DecisionPlan, state: CanaryState, now: datetime,
           evidence: list[Evidence]) -> tuple[CanaryState, Action]:
    first = plan.stages[0]
    return _record(plan, state, now, "start", f"rollout of {plan.candidate} begins at {first.label}", evidence,
                   phase="progressing", step=0, since=now, window_start=now, checked_at=now, **_stage_fields(first))


def _next(plan: DecisionPlan, state: CanaryState, now: datetime, evidence: list[Evidence],
          samples: list[Sample]) -> tuple[CanaryState, Action]:
    passed = f"all {len(evidence)} checks passed" if evidence else "no gates"
    if state.step < len(plan.stages) - 1:
        stage = plan.stages[state.step + 1]
        return _record(plan, state, now, "advance", f"{passed}; next {stage.label}", evidence,
                       step=state.step + 1, since=now, window_start=now, checked_at=now, **_stage_fields(stage))
    if plan.manual_approval:
        return _record(plan, state, now, "await-approval", f"{passed}; awaiting manual approval", evidence,
                       phase="promoting", checked_at=now, window_start=now)
    return _confirm(plan, state, now, hook_evidence(plan, "confirm-promotion", samples), evidence)


def _confirm(plan: DecisionPlan, state: CanaryState, now: datetime, confirm: list[Evidence],
             gates: list[Evidence]) -> tuple[CanaryState, Action]:
    """Promote unless a confirm-promotion webhook says no: that holds, it does not count as a failure."""
    evidence = gates + confirm
    blocked = [e for e in confirm if e.verdict != "pass"]
    if blocked:
        if state.phase != "promoting":
            return _record(plan, state, now, "hold", f"promotion not confirmed: {_summary(blocked)}",
                           evidence, phase="promoting", checked_at=now, window_start=now)
        return _hold(plan, state, now, f"promotion not confirmed: {_summary(blocked)}", evidence, False,
                     window_start=now)
    reason = "last stage passed" + (", promotion confirmed" if confirm else "")
    return _record(plan, state, now, "promote", reason, evidence, phase="succeeded", weight=100,
                   mirror=False, ab_testing=False, checked_at=now)


# ---- operator commands ----------------------------------------------------------------------
def apply_command(plan: DecisionPlan, state: CanaryState, command: Command, now: datetime,
                  reason: str = "") -> tuple[CanaryState, Action]:
    """Operator decisions, recorded in the history like any decision:

    promote (to 100% now; also the manual approval), promote-next (the next stage now), abort
    (stable 100%), pause / resume (hold the weights; resume with a fresh window), retry (a
    failed rollout starts again from the weight it rolled back to, with fresh counters).
    """
    state = for_plan(plan, state)
    w = state.weight
    why = reason or f"{command} by an operator"
    if command == "retry":
        if state.phase != "failed":
            return state, Action("wait", f"nothing to retry: the rollout is {state.phase}, not failed", w, w,
                                 changed=False)
        return _record(plan, state, now, "retry", why, [], "command", phase="waiting", step=-1, mirror=False,
                       ab_testing=False, failed_checks=0, baseline_tests=0, paused_phase=None, since=None,
                       window_start=None, checked_at=None)
    if state.phase in TERMINAL:
        return state, Action("done", f"rollout already {state.phase}; nothing to {command}", w, w, changed=False)
    if command == "promote":
        return _record(plan, state, now, "promote", why, [], "command", phase="succeeded", weight=100,
                       mirror=False, ab_testing=False, paused_phase=None, checked_at=now)
    if command == "promote-next":
        if state.phase == "paused":
            return state, Action("paused", "paused: resume first, then promote", w, w, changed=False)
        last = len(plan.stages) - 1
        if state.step >= last:
            return apply_command(plan, state, "promote", now, reason)
        stage = plan.stages[state.step + 1]
        return _record(plan, state, now, "promote-next", f"{why}; next {stage.label}", [], "command",
                       phase="progressing", step=state.step + 1, since=now, window_start=now, checked_at=now,
                       **_stage_fields(stage))
    if command == "abort":
        return _record(plan, state, now, "abort", why, [], "command", phase="failed", weight=0, mirror=False,
                       ab_testing=False, paused_phase=None, checked_at=now)
    w0 = w
    if command in ("pause", "resume"):
        state, replanned = replan(plan, state, now)
        if replanned is not None:
            new, action = apply_command(plan, state, command, now, reason)
            return (new, Action(action.kind, action.reason, w0, action.weight_to)) if action.changed \
                else (state, replanned)
    if command == "pause":
        if state.phase == "paused":
            return state, Action("paused", "already paused", w, w, changed=False)
        return _record(plan, state, now, "pause", why, [], "command", phase="paused", paused_phase=state.phase)
    if state.phase != "paused":
        return state, Action("wait", f"not paused (phase {state.phase})", w, w, changed=False)
    # A fresh evidence window: what happened while paused is not this stage's evidence.
    return _record(plan, state, now, "resume", why, [], "command", phase=state.paused_phase or "progressing",
                   paused_phase=None, window_start=now if state.step >= 0 else state.window_start,
                   checked_at=now if state.step >= 0 else state.checked_at)


def with_notifications(state: CanaryState, notifications: list[Evidence]) -> CanaryState:
    """Attach the post-rollout / rollback webhooks' answers to the decision that fired them."""
    if not notifications or not state.history:
        return state
    last = state.history[-1].model_copy(update={"notifications": tuple(notifications)})
    return state.model_copy(update={"history": (*state.history[:-1], last)})
