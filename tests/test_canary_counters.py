"""Metrics that lie (issue 20), on a real Prometheus with backfilled, exactly timed scrapes:

- a candidate whose pods restarted early in the window (new series, first sample already
  holding errors) once passed as 100% healthy: increase() on a young series is empty and
  `or vector(0)` made it zero errors;
- a candidate with no ready pods answers nothing (no destination-reported series): its callers'
  proxies report 503s (reporter="source", destination_workload="unknown"), and those fail it
  instead of holding at 10% forever;
- too few samples in the window hold; they never pass.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from meshcode.delivery.decide import judge_gate
from meshcode.delivery.prometheus import Prometheus, collect
from meshcode.delivery.targets import find_canaries
from meshcode.loader import load_stacks
from tests.support.canary import git_project, stack_source
from tests.support.prometheus import PROMETHEUS, PROMTOOL, backfilled

pytestmark = pytest.mark.skipif(not (Path(PROMETHEUS).exists() and Path(PROMTOOL).exists()),
                                reason="prometheus is not installed (./dev test installs it)")
SCRAPE = 15.0
NOW = float(int(time.time()) - 1200)  # the moment judged: 20 minutes ago, inside the retention
WINDOW = 300


def dest(ns: str, workload: str, code: str, pod: str) -> str:
    return (f'istio_requests_total{{reporter="destination",destination_workload_namespace="{ns}",'
            f'destination_workload="{workload}",response_code="{code}",pod="{pod}"}}')


def source(ns: str, workload: str, code: str) -> str:
    return (f'istio_requests_total{{reporter="source",destination_service_namespace="{ns}",'
            f'destination_service_name="cart",destination_workload="{workload}",response_code="{code}"}}')


def counter(start: float, end: float, per_scrape: float, first: float = 0.0) -> list[tuple[float, float]]:
    out, t, v = [], start, first
    while t <= end:
        out.append((t, v))
        t += SCRAPE
        v += per_scrape
    return out


@pytest.fixture(scope="module")
def prom(tmp_path_factory):
    begin = NOW - 1200
    series = {
        # restarted: pod a served 100 requests a scrape, no errors, until 20s before NOW; pod b came
        # up then and its first scrape (10s before NOW) already holds 40 successes and 30 errors.
        dest("restarted", "cart-v2", "200", "a"): counter(begin, NOW - 20, 100),
        dest("restarted", "cart-v2", "200", "b"): [(NOW - 10, 40.0)],
        dest("restarted", "cart-v2", "503", "b"): [(NOW - 10, 30.0)],
        # noready: the candidate never answered; callers saw 503 no healthy upstream
        source("noready", "unknown", "503"): counter(begin, NOW, 20),
        dest("noready", "cart-v1", "200", "s"): counter(begin, NOW, 500),
        # healthy: callers' and pods' views agree
        dest("healthy", "cart-v2", "200", "h"): counter(begin, NOW, 100),
        source("healthy", "cart-v2", "200"): counter(begin, NOW, 100),
        # sparse: one sample per series in the window (a window shorter than the scrapes)
        dest("sparse", "cart-v2", "200", "p"): [(NOW - 5, 500.0)],
        dest("sparse", "cart-v2", "503", "p"): [(NOW - 5, 0.0)],
    }
    server = backfilled(tmp_path_factory.mktemp("backfill"), series)
    yield server
    server.stop()


def judge(tmp_path: Path, prom, namespace: str, window: int = WINDOW):
    root = git_project(tmp_path / "repo", stack_source('steps=[10, 50], gates=[SuccessRate(99, min_requests=20)]',
                                                       namespace=namespace))
    target = next(iter(find_canaries(load_stacks(root / "stacks")).values()))
    (sample,) = collect(target, {"prod": Prometheus(prom.url)}, datetime.fromtimestamp(NOW, timezone.utc), window)
    return sample, judge_gate(target.plan.gates[0], sample)


def old_style(prom, ns: str) -> float:
    """What the query before this fix answered: increase() only, errors `or vector(0)`."""
    sel = f'reporter="destination",destination_workload_namespace="{ns}",destination_workload="cart-v2"'
    q = (f'100 * (1 - (sum(increase(istio_requests_total{{{sel},response_code=~"5.."}}[{WINDOW}s])) or vector(0))'
         f' / sum(increase(istio_requests_total{{{sel}}}[{WINDOW}s])))')
    return Prometheus(prom.url).query(q, datetime.fromtimestamp(NOW, timezone.utc)).value


def test_errors_of_pods_restarted_in_the_window_are_counted(tmp_path, prom):
    assert old_style(prom, "restarted") == 100.0  # the defect: 30 errors invisible
    sample, verdict = judge(tmp_path, prom, "restarted")
    assert verdict.verdict == "fail", verdict.why
    # pod a: 100 a scrape over the ~19 scrapes of the window (≈ 1,900), pod b: 70 requests, 30 failed
    assert sample.requests == pytest.approx(1900 + 70, rel=0.05)
    assert sample.value == pytest.approx(100 * (1 - 30 / sample.requests), abs=0.01)


def test_a_candidate_without_ready_pods_fails_on_what_its_callers_saw(tmp_path, prom):
    sample, verdict = judge(tmp_path, prom, "noready")
    assert verdict.verdict == "fail" and sample.value == 0.0
    assert "reporter=source" in sample.detail and sample.requests == pytest.approx(400, rel=0.05)


def test_when_callers_and_pods_agree_the_pods_view_is_judged(tmp_path, prom):
    sample, verdict = judge(tmp_path, prom, "healthy")
    assert verdict.verdict == "pass" and "reporter=source" not in sample.detail
    assert 'reporter="destination"' in sample.query


def test_too_few_samples_hold(tmp_path, prom):
    sample, verdict = judge(tmp_path, prom, "sparse", window=10)
    assert (sample.status, verdict.verdict) == ("no-data", "inconclusive")
    assert "fewer than 2 samples" in verdict.why
