"""The baseline gate's statistics: is the candidate's error rate worse than stable's?

Errors are rare events, so the test conditions on the total number of errors E in the window:
if the candidate's per-request error rate equals r × stable's, each error is the candidate's
with probability q = r·n_c / (r·n_c + n_s), and the candidate's error count is Binomial(E, q).
The one-sided p-value is P(X ≥ candidate errors). It is exact at any count (no normal
approximation that breaks at 0 or 3 errors), and needs only the standard library.

Repeated checks: test number j of a rollout (counting every cluster's test at every check)
is made at level alpha / (j (j + 1)). These shares telescope to alpha - alpha/(J+1) < alpha
for any number J of tests, so the chance of even one false alarm in a rollout where the
candidate is as good as stable stays below alpha however many checks it takes, holds and
retries included (a Bonferroni bound, valid under any dependence between windows). Early
tests, made at the smallest weights with the least candidate traffic, get the largest share.
"""
from __future__ import annotations

import math


def _log_pmf(k: int, n: int, log_p: float, log_q: float, log_n_fact: float) -> float:
    return log_n_fact - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * log_p + (n - k) * log_q


def binomial_sf(k: int, n: int, p: float) -> float:
    """P(X ≥ k) for X ~ Binomial(n, p), summed in log space from the side that converges."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    log_p, log_q, log_n_fact = math.log(p), math.log1p(-p), math.lgamma(n + 1)
    mean = n * p
    if k > mean:  # upper tail: terms fall from k upwards
        total, i = 0.0, k
        while i <= n:
            term = math.exp(_log_pmf(i, n, log_p, log_q, log_n_fact))
            total += term
            if term < total * 1e-17 or (term == 0.0 and i > mean):
                break
            i += 1
        return min(total, 1.0)
    lower, i = 0.0, k - 1  # P(X ≥ k) = 1 - P(X ≤ k-1); terms fall from k-1 downwards
    while i >= 0:
        term = math.exp(_log_pmf(i, n, log_p, log_q, log_n_fact))
        lower += term
        if term < lower * 1e-17:
            break
        i -= 1
    return max(0.0, 1.0 - lower)


def error_rate_pvalue(candidate_errors: int, candidate_requests: int, stable_errors: int,
                      stable_requests: int, max_ratio: float = 1.0) -> float:
    """p-value of "candidate error rate ≤ max_ratio × stable error rate" given the counts."""
    total = candidate_errors + stable_errors
    if total == 0 or candidate_requests <= 0:
        return 1.0
    if stable_requests <= 0:
        return 0.0 if candidate_errors else 1.0
    share = max_ratio * candidate_requests / (max_ratio * candidate_requests + stable_requests)
    return binomial_sf(candidate_errors, total, share)


def check_alpha(alpha: float, test_number: int) -> float:
    """Level of the rollout's test number `test_number` (1-based): alpha / (j (j + 1))."""
    j = max(1, test_number)
    return alpha / (j * (j + 1))
