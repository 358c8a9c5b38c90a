"""Simulation benchmark of the baseline gate: false alarms and detection power.

    python bench/bench_baseline.py                 # the default grid, 1000 rollouts per point
    python bench/bench_baseline.py --reps 4000 --rates 0.01

Every simulated rollout runs through meshcode's own `decide()` (the real gate, its alpha
spending and the threshold), with a plan of steps [5, 10, 25, 50], threshold 2 and
`Baseline(alpha=0.05)`. Each check window carries N requests in total, split by the current
weight; error counts are drawn binomially (numpy).

- false alarm: candidate error rate == stable's. Reported: the share of rollouts in which the
  gate fails at least once (the family-wise rate the test controls; target ≤ 5%) and the
  share that roll back.
- detection: candidate error rate == 2 × stable's. Reported: the gate failing at the first
  check at 5% weight, and the rollout rolling back before it ever leaves 5% (needs `threshold`
  failed checks at 5%; target ≥ 90%).
- naive: the same equal-rate rollouts judged by an uncorrected one-sided test at 0.05 per check,
  to show what the correction buys.

The p-values are cross-checked against scipy.stats.binom first.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from meshcode.delivery.baseline import binomial_sf, error_rate_pvalue  # noqa: E402
from meshcode.delivery.decide import decide, fresh_state  # noqa: E402
from meshcode.state.plan import DecisionPlan, GateSpec, Stage  # noqa: E402
from meshcode.state.canary import Sample  # noqa: E402

STEPS = (5, 10, 25, 50)
THRESHOLD = 2
ALPHA = 0.05
T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)
PLAN = DecisionPlan(
    stable="v1", candidate="v2", clusters=("prod",), stages=tuple(Stage(kind="weight", weight=w) for w in STEPS),
    interval=60, threshold=THRESHOLD,
    gates=(GateSpec(name="baseline", kind="baseline", min_requests=100, alpha=ALPHA),),
)


def cross_check(n: int = 2000, seed: int = 7) -> float:
    """Largest relative difference between our binomial tail and scipy's (must be ~1e-12)."""
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(n):
        total = int(rng.integers(0, 5000))
        p = float(rng.random()) ** 3
        k = int(rng.integers(0, total + 1))
        ours, ref = binomial_sf(k, total, p), float(stats.binom.sf(k - 1, total, p))
        if ref > 1e-12:
            worst = max(worst, abs(ours - ref) / ref)
    return worst


def window(rng: np.random.Generator, n: int, weight: int, p_stable: float, ratio: float) -> Sample:
    cn = int(rng.binomial(n, weight / 100))
    sn = n - cn
    ce = int(rng.binomial(cn, min(1.0, p_stable * ratio)))
    se = int(rng.binomial(sn, p_stable))
    return Sample(check="baseline", cluster="prod", value=100 * ce / cn if cn else None, requests=cn,
                  counts={"candidate_requests": cn, "candidate_errors": ce, "stable_requests": sn,
                          "stable_errors": se})


def rollout(rng: np.random.Generator, n: int, p_stable: float, ratio: float) -> dict[str, bool]:
    """One rollout through decide(); what happened to it."""
    state, _ = decide(PLAN, fresh_state(PLAN, "sim"), [], T0)
    out = {"alarm": False, "first_fail": False, "rollback": False, "rollback_at_5": False, "naive_alarm": False}
    for tick in range(1, 40):
        weight = state.weight
        sample = window(rng, n, weight, p_stable, ratio)
        c = sample.counts
        naive_p = error_rate_pvalue(int(c["candidate_errors"]), int(c["candidate_requests"]),
                                    int(c["stable_errors"]), int(c["stable_requests"]))
        out["naive_alarm"] |= naive_p < ALPHA
        state, action = decide(PLAN, state, [sample], T0 + timedelta(minutes=tick))
        failed = action.kind in ("fail-check", "rollback")
        out["alarm"] |= failed
        if tick == 1:
            out["first_fail"] = failed
        if action.kind == "rollback":
            out["rollback"] = True
            out["rollback_at_5"] = weight == STEPS[0]
        if state.done:
            break
    return out


def simulate(args: tuple[int, float, float, int, int]) -> dict[str, float]:
    n, p_stable, ratio, reps, seed = args
    rng = np.random.default_rng(seed)
    totals = dict.fromkeys(("alarm", "first_fail", "rollback", "rollback_at_5", "naive_alarm"), 0)
    for _ in range(reps):
        for k, v in rollout(rng, n, p_stable, ratio).items():
            totals[k] += v
    return {k: v / reps for k, v in totals.items()}


def required_n(p_stable: float, weight: float = 0.05, level: float = ALPHA / 2, power: float = 0.9) -> int:
    """Normal-approximation requests per window for one test at `level` to catch 2× with `power`."""
    z_a, z_b = stats.norm.ppf(1 - level), stats.norm.ppf(power)
    p1 = 2 * p_stable
    var = p1 * (1 - p1) / weight + p_stable * (1 - p_stable) / (1 - weight)
    return math.ceil((z_a + z_b) ** 2 * var / (p1 - p_stable) ** 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=1000, help="rollouts per grid point")
    ap.add_argument("--rates", type=float, nargs="+", default=[0.005, 0.01, 0.02], help="stable error rates")
    ap.add_argument("--sizes", type=int, nargs="+",
                    default=[2_500, 5_000, 10_000, 20_000, 40_000, 60_000, 80_000, 120_000, 160_000, 240_000],
                    help="requests per check window (both versions)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    start = time.perf_counter()
    print(f"binomial tail vs scipy.stats.binom: max relative difference {cross_check():.1e}\n")
    print(f"plan: steps {list(STEPS)}, threshold {THRESHOLD}, Baseline(alpha={ALPHA}); "
          f"{args.reps} simulated rollouts per point; N = requests per check window (candidate gets weight × N)\n")
    jobs = [(n, p, r, args.reps, hash((n, p, r)) & 0xFFFF) for p in args.rates for n in args.sizes for r in (1.0, 2.0)]
    with ProcessPoolExecutor(args.workers) as pool:
        results = dict(zip([(n, p, r) for n, p, r, _, _ in jobs], pool.map(simulate, jobs)))
    for p in args.rates:
        print(f"### stable error rate {100 * p:g}% (normal-approx. N for one test at α/2, power 0.9: "
              f"{required_n(p):,})\n")
        print("| N / window | candidate at 5% | false alarm (any check) | rollback (equal) | naive 0.05/check "
              "| 2×: fails 1st check | 2×: rolled back at 5% | 2×: rolled back |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        first_ok = None
        for n in args.sizes:
            eq, bad = results[(n, p, 1.0)], results[(n, p, 2.0)]
            if first_ok is None and bad["rollback_at_5"] >= 0.9:
                first_ok = n
            print(f"| {n:,} | {n * STEPS[0] // 100:,} | {eq['alarm']:.1%} | {eq['rollback']:.1%} | "
                  f"{eq['naive_alarm']:.1%} | {bad['first_fail']:.1%} | {bad['rollback_at_5']:.1%} | "
                  f"{bad['rollback']:.1%} |")
        worst_fa = max(results[(n, p, 1.0)]["alarm"] for n in args.sizes)
        print(f"\nworst false-alarm rate over the grid: {worst_fa:.1%} (target ≤ 5%)")
        if first_ok:
            print(f"detection ≥ 90% (rolled back before leaving 5%) from N = {first_ok:,} requests per window "
                  f"({first_ok * STEPS[0] // 100:,} to the candidate)\n")
        else:
            print("detection stayed below 90% on this grid\n")
    print(f"({time.perf_counter() - start:.0f}s)")


if __name__ == "__main__":
    main()
