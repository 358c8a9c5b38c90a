"""Running unattended (issue 20): holds end, holds do not commit every tick, exit codes a
scheduler can act on, plan changes mid-rollout, and `--now` kept to tests and replays."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from git import Repo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from meshcode.cli import app
from meshcode.delivery.decide import apply_command, decide, fresh_state
from meshcode.state.plan import DecisionPlan, GateSpec, Stage
from meshcode.delivery.replay import replay
from meshcode.state.canary import Sample, state_problems
from meshcode.delivery.store import load_state
from tests.support.canary import candidate_weights, git_project, stack_source, subjects
from tests.support.prometheus import free_port

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
KEY = "shop/shop/cart"
runner = CliRunner()
SR = GateSpec(name="success-rate", kind="success-rate", min=99.0, min_requests=20)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def cli(root: Path, *args: str):
    return runner.invoke(app, ["canary", *args, "--root", str(root)])


def plan(weights=(10, 50), **kw) -> DecisionPlan:
    return DecisionPlan(stable="v1", candidate="v2", clusters=("prod",), interval=60, threshold=2, gates=(SR,),
                        stages=tuple(Stage(kind="weight", weight=w) for w in weights), **kw)


def ok(value=100.0) -> Sample:
    return Sample(check="success-rate", cluster="prod", value=value, requests=500.0, query="q", window="60s")


def down() -> Sample:
    return Sample(check="success-rate", cluster="prod", status="unreachable", detail="http://p:9090: refused")


def few(n: float) -> Sample:
    return Sample(check="success-rate", cluster="prod", value=100.0, requests=n, query="q", window="60s")


# ---- holds: recorded once per reason, and they end ------------------------------------------
def test_a_repeated_hold_is_not_a_new_decision_but_a_changed_reason_is():
    p = plan()
    s, _ = decide(p, fresh_state(p, "cart"), [], at(0))
    s, a = decide(p, s, [down()], at(1))
    assert (a.kind, a.changed) == ("hold", True)
    for minute in range(2, 30):
        s2, a = decide(p, s, [down()], at(minute))
        assert (a.kind, a.changed, s2) == ("hold", False, s)  # Prometheus still down: nothing to commit
    s3, a = decide(p, s, [few(3)], at(30))
    assert (a.kind, a.changed) == ("hold", True) and "min_requests" in a.reason  # a new reason is recorded
    s4, a = decide(p, s3, [few(7)], at(31))
    assert a.changed is False  # only the count changed
    results, final = replay(s3)
    assert all(r.ok for r in results) and final == s3


def test_progress_deadline_rolls_back_a_stage_that_never_passes():
    p = plan(progress_deadline=600)  # 10 minutes
    s, _ = decide(p, fresh_state(p, "cart"), [], at(0))
    s, a = decide(p, s, [down()], at(1))
    for minute in range(2, 10):
        _, a = decide(p, s, [down()], at(minute))
        assert a.kind == "hold"
    s, a = decide(p, s, [down()], at(10))
    assert (a.kind, s.phase, s.weight) == ("stall", "failed", 0)
    assert "progress deadline 600s passed" in a.reason and "rollback" in a.reason
    assert state_problems(s) == [] and all(r.ok for r in replay(s)[0])


def test_inconclusive_limit_pauses_when_the_plan_says_so_and_resume_restarts_the_clock():
    p = plan(inconclusive_limit=3, on_stall="pause")
    s, _ = decide(p, fresh_state(p, "cart"), [], at(0))
    s, a = decide(p, s, [few(1)], at(1))
    assert decide(p, s, [few(2)], at(2))[1].kind == "hold"
    s, a = decide(p, s, [few(2)], at(3))
    assert (a.kind, s.phase, s.weight) == ("stall", "paused", 10) and "3 inconclusive checks in a row" in a.reason
    s, _ = apply_command(p, s, "resume", at(4))
    s, a = decide(p, s, [few(1)], at(5))
    assert (a.kind, s.phase) == ("hold", "progressing")
    s, a = decide(p, s, [ok()], at(6))
    assert (a.kind, s.weight) == ("advance", 50)
    assert state_problems(s) == [] and all(r.ok for r in replay(s)[0])


# ---- plan changes ---------------------------------------------------------------------------
def test_lowering_the_steps_below_the_current_weight_steps_back_and_never_promotes():
    p = plan(weights=(10, 25, 50, 75))
    s, _ = decide(p, fresh_state(p, "cart"), [], at(0))
    for minute in (1, 2, 3):
        s, a = decide(p, s, [ok()], at(minute))
    assert (s.step, s.weight) == (3, 75)
    lowered = plan(weights=(10, 20, 30))
    s, a = decide(lowered, s, [ok()], at(4))
    assert (a.kind, s.step, s.weight, s.phase) == ("replan", 2, 30, "progressing")
    assert "75% is not a step of the new plan" in a.reason
    s, a = decide(lowered, s, [ok()], at(4.5))
    assert a.kind == "wait"  # a fresh window at 30%: judged one interval later, not at once
    s, a = decide(lowered, s, [ok()], at(5))
    assert (a.kind, s.weight) == ("promote", 100)
    assert state_problems(s) == [] and all(r.ok for r in replay(s)[0])


def test_steps_added_around_the_current_weight_keep_it():
    p = plan(weights=(10, 50))
    s, _ = decide(p, fresh_state(p, "cart"), [], at(0))
    s, _ = decide(p, s, [ok()], at(1))
    wider = plan(weights=(5, 10, 25, 50, 75))
    s2, a = decide(wider, s, [ok()], at(1.5))
    assert (a.kind, s2.step, s2.weight, a.weight_from, a.weight_to) == ("replan", 3, 50, 50, 50)
    s2, a = decide(wider, s2, [ok()], at(2))
    assert (a.kind, s2.weight) == ("advance", 75)


# ---- through the CLI: commits, exit codes ---------------------------------------------------
def iso(minutes: float) -> str:
    return at(minutes).isoformat()


def test_prometheus_down_for_hours_makes_one_hold_commit_then_the_deadline_rolls_back(tmp_path):
    source = stack_source('steps=[10, 50], interval="1m", progress_deadline="30m", gates=[SuccessRate(99)]')
    root = git_project(tmp_path / "repo", source)
    nowhere = f"http://127.0.0.1:{free_port()}"
    assert cli(root, "step", "cart", "--now", iso(0), "--prometheus", nowhere).exit_code == 0
    for minute in range(1, 30):
        r = cli(root, "step", "cart", "--now", iso(minute), "--prometheus", nowhere)
        assert r.exit_code == 0 and "hold" in r.output, r.output
    assert [s.split(":")[1].split()[0] for s in subjects(root)[1:]] == ["start", "hold"]
    r = cli(root, "step", "cart", "--now", iso(30), "--prometheus", nowhere)
    assert r.exit_code == 3 and "stall 10% → 0%" in r.output and "progress deadline 1800s passed" in r.output
    assert candidate_weights(root)[-1] == 0 and len(subjects(root)) == 4


def test_exit_codes_for_a_failed_check_and_a_rollback(tmp_path):
    source = stack_source('steps=[50], interval="1m", threshold=2, webhooks=[Webhook("pre", '
                          '"http://127.0.0.1:9/", type="pre-rollout", timeout="200ms")]', imports="Webhook")
    root = git_project(tmp_path / "repo", source)
    r = cli(root, "step", "cart", "--now", iso(0))
    assert r.exit_code == 4 and "fail-check" in r.output
    r = cli(root, "step", "cart", "--now", iso(0.5))
    assert r.exit_code == 0 and "wait" in r.output
    r = cli(root, "step", "cart", "--now", iso(1))
    assert r.exit_code == 3 and "rollback" in r.output


def test_a_plan_lowered_mid_rollout_replans_in_a_commit_of_its_own(tmp_path):
    root = git_project(tmp_path / "repo", stack_source('steps=[10, 50, 80], interval="1m"', imports="Match"))
    for minute in (0, 1, 2):
        cli(root, "step", "cart", "--now", iso(minute))
    assert candidate_weights(root)[-1] == 80
    stack = root / "stacks" / "shop.py"
    stack.write_text(stack.read_text().replace("steps=[10, 50, 80]", "steps=[10, 20]"))
    with Repo(root) as repo:
        repo.git.add("-A")
        repo.index.commit("lower the steps")
    r = cli(root, "step", "cart", "--now", iso(3))
    assert r.exit_code == 0 and "replan 80% → 20%" in r.output
    assert candidate_weights(root)[-1] == 20 and load_state(root / "state", KEY).phase == "progressing"
    assert "wait" in cli(root, "step", "cart", "--now", iso(3.5)).output
    assert "promote 20% → 100%" in cli(root, "step", "cart", "--now", iso(4)).output
    assert cli(root, "replay", "cart").exit_code == 0


def test_now_cannot_move_a_real_rollout_into_the_future(tmp_path, monkeypatch):
    root = git_project(tmp_path / "repo", stack_source('steps=[10, 50], interval="1m"', imports="Match"))
    monkeypatch.delenv("MESHCODE_TEST_CLOCK")
    r = cli(root, "step", "cart", "--now", "2999-01-01T00:00:00+00:00")
    assert r.exit_code == 1 and "--now is for tests and replays" in r.output
    assert len(subjects(root)) == 1
    assert cli(root, "step", "cart").exit_code == 0  # the clock
    past = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    r = cli(root, "step", "cart", "--now", past)
    assert r.exit_code == 1 and "time does not go backwards" in r.output


# ---- operator controls ----------------------------------------------------------------------
def test_retry_promote_next_promote_full_and_abort_with_a_reason(tmp_path):
    root = git_project(tmp_path / "repo", stack_source('steps=[10, 30, 60], interval="1m"', imports="Match"))
    assert cli(root, "step", "cart", "--now", iso(0)).exit_code == 0
    r = cli(root, "abort", "cart", "--now", iso(0.5), "--reason", "INC-42: checkout errors")
    assert "abort 10% → 0% (INC-42: checkout errors)" in subjects(root)[-1] and r.exit_code == 0
    assert cli(root, "retry", "cart", "--now", iso(0.6), "--reason", "fix deployed").exit_code == 0
    state = load_state(root / "state", KEY)
    assert (state.phase, state.step, state.weight, state.failed_checks) == ("waiting", -1, 0, 0)
    assert "start 0% → 10%" in cli(root, "step", "cart", "--now", iso(0.7)).output
    r = cli(root, "promote", "cart", "--next", "--now", iso(0.8), "--reason", "load test passed")
    assert r.exit_code == 0 and "promote-next 10% → 30%" in r.output
    assert "wait" in cli(root, "step", "cart", "--now", iso(1.5)).output  # a fresh window at 30%
    assert "promote 30% → 100%" in cli(root, "promote", "cart", "--full", "--now", iso(2)).output
    assert cli(root, "retry", "cart", "--now", iso(3)).exit_code == 1  # succeeded: nothing to retry
    assert candidate_weights(root)[1:] == [10, 0, 0, 10, 30, 100]
    assert [s.split(":")[1].split()[0] for s in subjects(root)[1:]] == [
        "start", "abort", "retry", "start", "promote-next", "promote"]
    assert cli(root, "replay", "cart").exit_code == 0


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sets(st.integers(1, 100), min_size=1, max_size=4), min_size=1, max_size=3),
       st.lists(st.tuples(st.floats(0.1, 3.0), st.sampled_from(
           ["pass", "pass", "pass", "fail", "down", "few", "pause", "resume", "abort", "retry", "promote-next",
            "promote", "replan"])), max_size=30))
def test_every_state_any_sequence_leaves_is_valid_and_replays(plans_weights, run):
    """Random ticks, commands and plan changes: never an invalid state, never an unreplayable history."""
    plans = [plan(weights=tuple(sorted(w)), progress_deadline=600, inconclusive_limit=4) for w in plans_weights]
    p = plans[0]
    s = fresh_state(p, "cart")
    now = T0
    for i, (gap, what) in enumerate(run):
        now += timedelta(minutes=gap)
        if what == "replan":
            p = plans[i % len(plans)]
            s = s if s.history else fresh_state(p, "cart")  # as the runner: nothing written yet, a fresh state
            new, a = decide(p, s, [], now)
        elif what in ("pause", "resume", "abort", "retry", "promote-next", "promote"):
            new, a = apply_command(p, s, what, now)
        else:
            sample = {"pass": ok(), "fail": ok(50.0), "down": down(), "few": few(1)}[what]
            new, a = decide(p, s, [sample], now)
        s = new if a.changed else s  # as the runner: only a changed state is written
        assert state_problems(s) == [], (what, s.phase, s.step, s.weight)
        assert s.weight <= max(pl.max_weight for pl in plans) or s.phase == "succeeded"
    results, final = replay(s)
    assert all(r.ok for r in results) and final == s
