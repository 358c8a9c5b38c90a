"""The pure decision: every rule of the issue, one test each, plus properties over random runs."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshcode import Canary, Cluster, Mesh, Port, Rollout, Service, compile_mesh
from meshcode.delivery.baseline import binomial_sf, check_alpha, error_rate_pvalue
from meshcode.delivery.decide import apply_command, decide, due, fresh_state, judge_gate
from meshcode.state.plan import DecisionPlan, GateSpec, HookSpec, Stage
from meshcode.delivery.replay import replay
from meshcode.state.canary import CanaryState, Sample, canary_routing, state_problems
from meshcode.delivery.store import state_bytes
from meshcode.errors import IntentError
from tests.support.canary import route_weight
from tests.support.meshes import objects

T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)
SR = GateSpec(name="success-rate", kind="success-rate", min=99.0, min_requests=20)


def plan(weights=(10, 50), threshold=2, clusters=("prod",), gates=(SR,), hooks=(), mirror=0, ab=0,
         manual=False) -> DecisionPlan:
    stages = (*(Stage(kind="mirror") for _ in range(mirror)), *(Stage(kind="ab") for _ in range(ab)),
              *(Stage(kind="weight", weight=w) for w in weights))
    return DecisionPlan(stable="v1", candidate="v2", clusters=clusters, stages=stages, interval=60,
                        threshold=threshold, gates=gates, hooks=hooks, manual_approval=manual)


def ok(value=100.0, cluster="prod", requests=500.0, check="success-rate") -> Sample:
    return Sample(check=check, cluster=cluster, value=value, requests=requests, query="q", window="60s")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def started(p: DecisionPlan) -> CanaryState:
    state, action = decide(p, fresh_state(p, "cart"), [], at(0))
    assert action.kind == "start"
    return state


# ---- the rules ------------------------------------------------------------------------------
def test_start_then_pass_steps_and_last_pass_promotes():
    p = plan()
    s = started(p)
    assert (s.phase, s.step, s.weight) == ("progressing", 0, 10)
    s, a = decide(p, s, [ok()], at(1))
    assert (a.kind, a.weight_from, a.weight_to, s.step) == ("advance", 10, 50, 1)
    s, a = decide(p, s, [ok()], at(2))
    assert (a.kind, s.phase, s.weight) == ("promote", "succeeded", 100)
    assert canary_routing(0, s) .weight == 100
    assert [e.action for e in s.history] == ["start", "advance", "promote"]


def test_fail_holds_weight_then_threshold_rolls_back_in_the_same_tick():
    p = plan(threshold=2)
    s = started(p)
    s, a = decide(p, s, [ok(95.0)], at(1))
    assert (a.kind, s.weight, s.failed_checks, s.phase) == ("fail-check", 10, 1, "progressing")
    assert "success rate 95% < min 99%" in a.reason
    s, a = decide(p, s, [ok(90.0)], at(2))
    assert (a.kind, s.weight, s.failed_checks, s.phase) == ("rollback", 0, 2, "failed")
    assert canary_routing(10, s).weight == 0


@pytest.mark.parametrize("sample, why", [
    (Sample(check="success-rate", cluster="prod", status="unreachable", detail="connection refused"),
     "prometheus unreachable: connection refused"),
    (Sample(check="success-rate", cluster="prod", status="no-data"), "no data"),
    (Sample(check="success-rate", cluster="prod", status="nan", detail="NaN", requests=100), "not a number"),
    (Sample(check="success-rate", cluster="prod", status="multiple-series", detail="2 series"), "several series"),
    (Sample(check="success-rate", cluster="prod", status="error", detail="parse error"), "query failed"),
    (ok(100.0, requests=3), "3 requests < min_requests 20"),
    (ok(100.0, requests=None), "no request count"),
])
def test_no_usable_data_holds_and_says_why(sample, why):
    p = plan()
    s = started(p)
    new, a = decide(p, s, [sample], at(1))
    assert a.kind == "hold" and why in a.reason
    assert (new.step, new.weight, new.failed_checks, new.phase) == (s.step, s.weight, 0, "progressing")
    assert new.history[-1].evidence[0].verdict == "inconclusive"
    assert new.window_start == s.window_start  # the evidence window keeps growing while held


def test_missing_sample_holds_and_a_hold_at_the_last_step_never_promotes():
    p = plan(weights=(50,))
    s = started(p)
    s, a = decide(p, s, [], at(1))
    assert a.kind == "hold" and "no sample collected" in a.reason and s.phase == "progressing"


def test_not_due_waits_without_a_new_state():
    p = plan()
    s = started(p)
    new, a = decide(p, s, [ok()], at(0.5))
    assert (a.kind, a.changed, new) == ("wait", False, s)
    assert due(p, s, at(0.5)).at == at(1)


def test_mirror_and_ab_phases_come_before_live_weights():
    p = plan(weights=(20,), mirror=1, ab=2, gates=())
    s = started(p)
    assert (s.mirror, s.ab_testing, s.weight) == (True, False, 0)
    s, _ = decide(p, s, [], at(1))
    assert (s.mirror, s.ab_testing, s.weight) == (False, True, 0)
    s, _ = decide(p, s, [], at(2))
    assert (s.ab_testing, s.weight) == (True, 0)
    s, _ = decide(p, s, [], at(3))
    assert (s.ab_testing, s.weight) == (False, 20)


def test_manual_approval_waits_for_promote():
    p = plan(weights=(50,), manual=True)
    s = started(p)
    s, a = decide(p, s, [ok()], at(1))
    assert (a.kind, s.phase, s.weight) == ("await-approval", "promoting", 50)
    _, a = decide(p, s, [ok()], at(10))
    assert (a.kind, a.changed) == ("wait", False) and "manual approval" in a.reason
    s, a = apply_command(p, s, "promote", at(11))
    assert (a.kind, s.phase, s.weight) == ("promote", "succeeded", 100)


def test_webhooks_pre_rollout_rollout_and_confirm_promotion():
    hooks = (HookSpec(name="pre", type="pre-rollout"), HookSpec(name="load", type="rollout"),
             HookSpec(name="gate", type="confirm-promotion"))
    p = plan(weights=(50,), hooks=hooks, threshold=3)
    hook = lambda name, code: Sample(check=f"webhook:{name}", value=code)  # noqa: E731
    assert due(p, fresh_state(p, "cart"), at(0)).hooks == ("pre-rollout",)
    s, a = decide(p, fresh_state(p, "cart"), [hook("pre", 500)], at(0))
    assert (a.kind, s.failed_checks, s.phase) == ("fail-check", 1, "waiting")
    s, a = decide(p, s, [hook("pre", 200)], at(1))
    assert a.kind == "start"
    assert due(p, s, at(2)).hooks == ("rollout", "confirm-promotion")
    s, a = decide(p, s, [ok(), hook("load", 503), hook("gate", 200)], at(2))
    assert a.kind == "fail-check" and "returned 503" in a.reason
    s, a = decide(p, s, [ok(), hook("load", 200), hook("gate", 403)], at(3))
    assert (a.kind, s.phase, s.failed_checks) == ("hold", "promoting", 2)  # not counted as a failure
    s, a = decide(p, s, [Sample(check="webhook:gate", status="unreachable", detail="timed out")], at(4))
    assert (a.kind, s.phase) == ("hold", "promoting")
    s, a = decide(p, s, [hook("gate", 204)], at(5))
    assert (a.kind, s.phase) == ("promote", "succeeded")


def test_one_failing_cluster_fails_the_canary_and_fail_beats_hold():
    p = plan(clusters=("east", "west"), threshold=1)
    s = started(p)
    _, a = decide(p, s, [ok(cluster="east")], at(1))
    assert a.kind == "hold" and "success-rate@west: no sample collected" in a.reason
    failed, a = decide(p, s, [ok(cluster="east"), ok(50.0, cluster="west")], at(1))
    assert (a.kind, failed.phase) == ("rollback", "failed") and "@west" in a.reason
    failed, a = decide(p, s, [Sample(check="success-rate", cluster="east", status="unreachable"),
                              ok(50.0, cluster="west")], at(1))
    assert a.kind == "rollback"
    moved, a = decide(p, s, [ok(cluster="east"), ok(cluster="west")], at(1))
    assert (a.kind, moved.weight) == ("advance", 50)


def test_pause_resume_abort():
    p = plan()
    s = started(p)
    s, a = apply_command(p, s, "pause", at(0.2))
    assert s.phase == "paused"
    _, a = decide(p, s, [ok()], at(5))
    assert (a.kind, a.changed) == ("paused", False)
    s, a = apply_command(p, s, "resume", at(5))
    assert (s.phase, s.window_start) == ("progressing", at(5))
    assert decide(p, s, [ok()], at(5.5))[1].kind == "wait"
    s, a = apply_command(p, s, "abort", at(6))
    assert (s.phase, s.weight, a.kind) == ("failed", 0, "abort")
    assert apply_command(p, s, "promote", at(7))[1].changed is False


def test_a_new_candidate_starts_a_new_rollout():
    p = plan()
    s, _ = decide(p, started(p), [ok()], at(1))
    p3 = p.model_copy(update={"candidate": "v3"})
    assert canary_routing(7, s, "v1", "v3").weight == 7  # stale state for v2 is ignored by the compiler
    s3, a = decide(p3, s, [], at(2))
    assert (a.kind, s3.candidate, s3.step, len(s3.history)) == ("start", "v3", 0, 1)


def test_replay_reproduces_and_detects_a_tampered_entry():
    p = plan(weights=(10, 50, 80))
    s = started(p)
    for i, sample in enumerate([ok(), ok(90.0), Sample(check="success-rate", cluster="prod", status="no-data"),
                                ok(), ok()], start=1):
        s, _ = decide(p, s, [sample], at(i))
    s = CanaryState.model_validate_json(state_bytes(s))  # through the file format
    results, final = replay(s)
    assert all(r.ok for r in results) and final == s and len(results) == 6
    bad = s.history[2].model_copy(update={"weight": 80})
    tampered = s.model_copy(update={"history": (*s.history[:2], bad, *s.history[3:])})
    results, _ = replay(tampered)
    assert [r.ok for r in results] == [True, True, False, True, True, True]
    assert "weight: recorded 80, replayed 50" in results[2].differences[0]


# ---- baseline statistics --------------------------------------------------------------------
def test_binomial_tail_and_error_rate_pvalue():
    assert binomial_sf(0, 10, 0.3) == 1.0
    assert binomial_sf(3, 3, 0.5) == pytest.approx(0.125)
    assert binomial_sf(2, 4, 0.5) == pytest.approx(11 / 16)
    assert error_rate_pvalue(0, 100, 0, 1900) == 1.0
    # equal rates: the candidate's share of errors is its share of requests → no evidence
    assert error_rate_pvalue(5, 100, 95, 1900) > 0.4
    assert error_rate_pvalue(40, 2000, 380, 38000) < 1e-4  # 2% vs 1%
    assert check_alpha(0.05, 1) == 0.025 and sum(check_alpha(0.05, j) for j in range(1, 10_000)) < 0.05


def test_baseline_gate_spends_alpha_per_test_and_fails_a_regression():
    gate = GateSpec(name="baseline", kind="baseline", min_requests=100, alpha=0.05)
    p = plan(gates=(gate,), weights=(5, 50))
    s = started(p)

    def counts(ce, cn, se, sn):
        return Sample(check="baseline", cluster="prod", value=100 * ce / cn, requests=cn,
                      counts={"candidate_errors": ce, "candidate_requests": cn, "stable_errors": se,
                              "stable_requests": sn})

    few, a = decide(p, s, [counts(0, 50, 10, 950)], at(1))
    assert a.kind == "hold" and few.baseline_tests == 0 and "50 requests < min_requests 100" in a.reason
    same, a = decide(p, s, [counts(30, 3000, 570, 57000)], at(1))
    assert a.kind == "advance" and same.baseline_tests == 1 and "(test 1)" in same.history[-1].evidence[0].why
    worse, a = decide(p, s, [counts(60, 3000, 570, 57000)], at(1))
    assert a.kind == "fail-check" and worse.baseline_tests == 1
    assert judge_gate(gate, counts(60, 3000, 570, 57000), 1000).verdict == "pass"  # budget nearly spent


# ---- intent ---------------------------------------------------------------------------------
def test_rollout_weights_never_overshoot():
    assert Rollout(step_weight=30, max_weight=80).weights == (30, 60, 80)
    assert Rollout(step_weight=25).weights == (25, 50, 75, 100)
    assert Rollout(steps=[5, 10, 25, 50]).weights == (5, 10, 25, 50)
    with pytest.raises(IntentError, match="strictly increasing"):
        Rollout(steps=[10, 5])
    with pytest.raises(IntentError, match="not both"):
        Rollout(steps=[10], step_weight=5)


# ---- properties -----------------------------------------------------------------------------
KINDS = ["pass", "fail", "nan", "no-data", "unreachable", "multiple-series", "few", "missing", "error"]
HOLD_KINDS = set(KINDS) - {"pass", "fail"}


def make_sample(kind: str, gate: str, cluster: str) -> Sample | None:
    if kind == "missing":
        return None
    if kind in ("pass", "fail"):
        return ok(100.0 if kind == "pass" else 50.0, cluster=cluster, check=gate)
    if kind == "few":
        return ok(100.0, cluster=cluster, requests=1, check=gate)
    return Sample(check=gate, cluster=cluster, status=kind)


plans = st.builds(
    lambda weights, threshold, clusters, mirror, ab, manual, two_gates: plan(
        weights=tuple(sorted(weights)), threshold=threshold, clusters=tuple(clusters), mirror=mirror, ab=ab,
        manual=manual, gates=(SR, GateSpec(name="p99", kind="latency-p99", max=500, min_requests=20))
        if two_gates else (SR,)),
    st.sets(st.integers(1, 100), min_size=1, max_size=5), st.integers(1, 3),
    st.sampled_from([("prod",), ("east", "west")]), st.integers(0, 2), st.integers(0, 2), st.booleans(),
    st.booleans(),
)
WEIGHTED_KINDS = ["pass"] * 12 + ["fail"] * 2 + KINDS  # mostly passing, so rollouts get far
ticks = st.lists(st.tuples(st.floats(0.1, 3.0), st.lists(st.sampled_from(WEIGHTED_KINDS), min_size=4, max_size=4),
                           st.sampled_from([None] * 16 + ["pause", "resume", "resume", "promote", "abort"])),
                 max_size=25)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans, ticks)
def test_properties_of_decide(p: DecisionPlan, run):
    weights = {s.weight for s in p.stages}
    s = fresh_state(p, "cart")
    now = T0
    for gap, kinds, cmd in run:
        now += timedelta(minutes=gap)
        before = s
        if cmd:
            s, a = apply_command(p, s, cmd, now)
        else:
            combos = [(g.name, c) for g in p.gates for c in p.clusters]
            picked = {combo: kinds[i % len(kinds)] for i, combo in enumerate(combos)}
            samples = [x for (g, c), k in picked.items() if (x := make_sample(k, g, c))]
            s, a = decide(p, s, samples, now)
            evidence = s.history[-1].evidence if a.changed else ()
            verdicts = {e.verdict for e in evidence}
            if a.changed and before.phase == "progressing" and "inconclusive" in verdicts and "fail" not in verdicts:
                # never move on missing data
                assert (s.step, s.weight, s.phase) == (before.step, before.weight, before.phase)
            if "fail" not in verdicts:
                assert s.failed_checks == before.failed_checks
            if s.phase == "succeeded" and before.phase != "succeeded":
                assert before.step == len(p.stages) - 1 and not (verdicts & {"fail", "inconclusive"})
            assert s.step <= before.step + 1
        # weights: a valid split that never exceeds the plan
        assert 0 <= s.weight <= 100
        assert s.weight in weights | {0, 100}
        assert s.weight <= p.max_weight or s.phase == "succeeded"
        assert s.failed_checks <= p.threshold
        assert (s.failed_checks >= p.threshold) <= (s.phase == "failed")
        r = canary_routing(0, s)
        assert 0 <= r.weight <= 100 and (100 - r.weight) + r.weight == 100
        assert state_problems(CanaryState.model_validate_json(state_bytes(s))) == []  # what it writes, it reads
        if a.kind in ("wait", "paused", "done"):
            assert s == before
    results, final = replay(s)
    assert all(r.ok for r in results) and final == s


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 100), st.sampled_from(["waiting", "progressing", "paused", "promoting", "succeeded",
                                              "failed"]), st.booleans(), st.booleans())
def test_compiled_split_sums_to_100_for_any_state(weight, phase, mirror, ab):
    from meshcode.intent.traffic import Match

    svc = Service("cart", namespace="shop", ports=[Port(8080)], versions=["v1", "v2"],
                  canary=Canary(stable="v1", candidate="v2", weight=5,
                                rollout=Rollout(steps=[weight or 1], ab_intervals=1,
                                                ab_match=[Match(headers={"x-canary": "1"})])))
    mesh = Mesh("shop", clusters=[Cluster("prod")], services=[svc])
    state = CanaryState(name="cart", stable="v1", candidate="v2", phase=phase, weight=weight, mirror=mirror,
                        ab_testing=ab)
    vs = objects(compile_mesh(mesh, states={"shop/shop/cart": state}))[("VirtualService", "shop", "cart")]
    expected = {"succeeded": 100, "failed": 0}.get(phase, weight)
    assert route_weight(vs, "v2") == expected and route_weight(vs, "v1") == 100 - expected
    if phase not in ("succeeded", "failed"):
        assert ("mirror" in vs["spec"]["http"][-1]) == mirror
        assert any(r["route"][0]["destination"]["subset"] == "v2" and "match" in r
                   for r in vs["spec"]["http"]) == ab
