"""Metric provider: Istio's standard metrics from Prometheus, turned into `Sample`s (I/O edge).

Every built-in query reads the series of the proxy that serves the workload — its sidecar,
`reporter="destination"`, or in an ambient namespace its waypoint, `reporter="waypoint"` — scoped
to the workload and
namespace it judges, over the check's own window, evaluated at the tick's `now`. When one
Prometheus serves several of the canary's clusters, queries also filter on
`destination_cluster`. Whatever goes wrong becomes a sample status ("unreachable", "error",
"no-data", "nan", "multiple-series") that `decide` turns into a hold, never a promotion.
"""
from __future__ import annotations

import base64
import json
import math
import os
import re
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from meshcode.delivery.http import Auth
from meshcode.state.canary import Sample, SampleStatus
from meshcode.errors import CredentialError
from meshcode.redact import redact, redact_url
from meshcode.delivery.tickplan import GateView, TickTarget

if TYPE_CHECKING:
    from meshcode.delivery.targets import CanaryTarget

TEMPLATE_VARIABLE = re.compile(r"\{(namespace|service|workload|version|stable_workload|stable_version|cluster"
                               r"|window|interval|reporter)\}")


@dataclass(frozen=True, slots=True)
class QueryResult:
    status: SampleStatus
    value: float | None = None
    detail: str = ""


TOKEN_ENV = "MESHCODE_PROMETHEUS_TOKEN"
TOKEN_FILE_ENV = "MESHCODE_PROMETHEUS_TOKEN_FILE"


def auth_headers(url: str, environ: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """(URL without user info, request headers): credentials from the URL, the environment or a file.

    `user:password@` in a URL given on the command line becomes HTTP basic auth; a bearer token
    comes from MESHCODE_PROMETHEUS_TOKEN, or from the file MESHCODE_PROMETHEUS_TOKEN_FILE names
    (a mounted secret). None of them is ever written anywhere: records show `redact_url(url)`.
    """
    parts = urllib.parse.urlsplit(url)
    headers: dict[str, str] = {}
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        host = parts.netloc.rpartition("@")[2]
        url = urllib.parse.urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    token = environ.get(TOKEN_ENV)
    if not token and environ.get(TOKEN_FILE_ENV):
        try:
            token = Path(environ[TOKEN_FILE_ENV]).read_text().strip()
        except OSError as e:
            raise CredentialError(f"cannot read the Prometheus token file named by {TOKEN_FILE_ENV}: "
                                  f"{e.strerror or e}") from None
    if token:
        headers.setdefault("Authorization", f"Bearer {token}")
    return url, headers


@dataclass
class Prometheus:
    """A Prometheus HTTP API endpoint (httpx); `query` never raises, it reports what went wrong.

    `url` may carry credentials (only ever from the command line or the environment); they are
    sent as headers and every record names the server by `label`, the redacted URL. `auth`
    adds what the environment gives (see meshcode.delivery.http): bearer token, basic auth,
    extra headers such as X-Scope-OrgID for multi-tenant backends, a CA bundle, a client
    certificate.
    """

    url: str
    timeout: float = 10.0
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    auth: Auth = field(default_factory=Auth, repr=False)
    _cache: dict[tuple[str, float], QueryResult] = field(default_factory=dict, repr=False)
    _client: httpx.Client | None = field(default=None, repr=False)
    _deadline: float | None = field(default=None, repr=False)  # time.monotonic() the tick's queries end by
    _down: QueryResult | None = field(default=None, repr=False)  # this tick found the server unreachable

    def start_tick(self, deadline: float | None) -> None:
        """Fresh answers for a new tick, every query of it done by `deadline` (monotonic seconds).

        A server that accepts connections but never answers costs the tick one timeout, not one
        per query: once a query of the tick finds it unreachable, the others say so at once.
        """
        self._cache.clear()
        self._deadline = deadline
        self._down = None

    @classmethod
    def connect(cls, url: str, environ: Mapping[str, str] | None = None) -> "Prometheus":
        env = os.environ if environ is None else environ
        plain, headers = auth_headers(url, env)
        return cls(plain, headers=headers, auth=Auth.from_env(AUTH_PREFIX, dict(env)))

    @property
    def label(self) -> str:
        return redact_url(self.url)

    def query(self, promql: str, at: datetime) -> QueryResult:
        key = (promql, at.timestamp())
        if key not in self._cache:
            self._cache[key] = self._query(promql, at)
        return self._cache[key]

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = self.auth.client(self.timeout)
            self._client.headers.update(self.headers)  # the URL's basic auth or the token wins over defaults
        return self._client

    def _query(self, promql: str, at: datetime) -> QueryResult:
        if self._down is not None:
            return self._down
        timeout = self.timeout
        if self._deadline is not None:
            timeout = min(timeout, self._deadline - time.monotonic())
            if timeout <= 0:
                self._down = QueryResult("unreachable", detail=f"{self.label}: no answer within the tick's "
                                                               f"{self.timeout:g}s")
                return self._down
        base = urllib.parse.urlsplit(self.url)
        params = [*urllib.parse.parse_qsl(base.query, keep_blank_values=True),
                  ("query", promql), ("time", f"{at.timestamp():.3f}")]
        url = urllib.parse.urlunsplit((base.scheme, base.netloc, base.path.rstrip("/") + "/api/v1/query", "", ""))
        try:
            resp = self._http().get(url, params=params, timeout=timeout)
        except httpx.HTTPError as e:  # no connection, no answer in time: the rest of the tick skips it
            self._down = QueryResult("unreachable", detail=f"{self.label}: {type(e).__name__}: {redact(str(e))}")
            return self._down
        if resp.status_code in (400, 422):  # Prometheus: bad query / cannot execute
            return QueryResult("error", detail=redact(_api_error(resp)))
        if resp.status_code in (401, 403):
            what = "credentials refused" if resp.status_code == 401 else "access denied"
            return QueryResult("unreachable", detail=f"{self.label} answered HTTP {resp.status_code} "
                                                     f"{resp.reason_phrase}: {what} (set {AUTH_PREFIX}_TOKEN(_FILE), "
                                                     f"{AUTH_PREFIX}_USER/_PASSWORD or {AUTH_PREFIX}_HEADERS)")
        if resp.status_code != 200:
            return QueryResult("unreachable", detail=f"{self.label} answered HTTP {resp.status_code}")
        try:
            body = resp.json()
        except ValueError:
            return QueryResult("unreachable", detail=f"{self.label} did not answer with JSON")
        return parse_result(body)


AUTH_PREFIX = "MESHCODE_PROMETHEUS"


def _api_error(resp: httpx.Response) -> str:
    try:
        return str(resp.json().get("error", f"HTTP {resp.status_code}"))
    except (ValueError, AttributeError):
        return f"HTTP {resp.status_code}"


def parse_result(body: dict) -> QueryResult:
    """One finite number from a Prometheus API answer, or why there is none."""
    if body.get("status") != "success":
        return QueryResult("error", detail=str(body.get("error", "query failed")))
    data = body.get("data", {})
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        raw = result[1]
    elif kind == "vector":
        if not result:
            return QueryResult("no-data", detail="empty result")
        if len(result) > 1:
            labels = ", ".join(json.dumps(r.get("metric", {}), sort_keys=True) for r in result[:3])
            return QueryResult("multiple-series", detail=f"{len(result)} series: {labels}")
        raw = result[0]["value"][1]
    else:
        return QueryResult("error", detail=f"unexpected result type {kind!r} (want an instant vector or scalar)")
    value = float(raw)
    if not math.isfinite(value):
        return QueryResult("nan", value=None, detail=raw)
    return QueryResult("ok", value)


# ---- Istio's standard metrics ---------------------------------------------------------------
def selector(namespace: str, workload: str, cluster: str | None, reporter: str = "destination") -> str:
    sel = f'reporter="{reporter}",destination_workload_namespace="{namespace}",destination_workload="{workload}"'
    return sel + (f',destination_cluster="{cluster}"' if cluster else "")


def counter_increase(series: str, window: str) -> str:
    """How much a counter grew over the window, series born inside it counted in full.

    `increase()` alone misses what a series counted before its first scrape: a pod restarted in
    the window starts new series (new pod label) whose first sample already holds its first
    errors, and an error series appears only at the first error. So series that existed at the
    window's start count their `increase()` (which handles counter resets), and series born in
    the window count their whole value. No series at all stays empty (no data), never 0.
    """
    none = f"(sum({series}) * 0)"
    return (f"((sum(increase({series}[{window}]) and {series} offset {window}) or {none})"
            f" + (sum({series} unless {series} offset {window}) or {none}))")


def requests_query(sel: str, window: str) -> str:
    return counter_increase(f"istio_requests_total{{{sel}}}", window)


def errors_query(sel: str, window: str) -> str:
    series = "istio_requests_total{" + sel + ',response_code=~"5.."}'
    return f"({counter_increase(series, window)} or vector(0))"


def samples_query(sel: str, window: str) -> str:
    """The most samples any of the workload's request series has in the window (< 2: no rate at all)."""
    return f"max(count_over_time(istio_requests_total{{{sel}}}[{window}]))"


def source_selector(namespace: str, service: str, workload: str, cluster: str | None) -> str:
    """Requests as the callers' proxies saw them: also those that never reached a pod.

    A candidate with no ready pods answers nothing (no `reporter="destination"` series); the
    callers' sidecars report 503 "no healthy upstream" with destination_workload="unknown".
    """
    sel = (f'reporter="source",destination_service_namespace="{namespace}",destination_service_name="{service}",'
           f'destination_workload=~"{workload}|unknown"')
    return sel + (f',source_cluster="{cluster}"' if cluster else "")


def success_rate_query(sel: str, window: str) -> str:
    return f"100 * (1 - {errors_query(sel, window)} / {requests_query(sel, window)})"


def p99_query(sel: str, window: str) -> str:
    return ("histogram_quantile(0.99, sum by (le) "
            f"(rate(istio_request_duration_milliseconds_bucket{{{sel}}}[{window}])))")


def render(template: str, variables: dict[str, str]) -> str:
    """Fill `{name}` template variables; PromQL's own `{label="x"}` braces are left alone."""
    return TEMPLATE_VARIABLE.sub(lambda m: variables[m.group(1)], template)


# ---- samples for a canary -------------------------------------------------------------------
def collect(target: TickTarget | CanaryTarget, sources: dict[str, Prometheus], now: datetime,
            window_s: int) -> list[Sample]:
    """One sample per gate per cluster the canary spans, all within one timeout of the slowest server."""
    t = target if isinstance(target, TickTarget) else target.tick
    window = f"{window_s}s"
    deadline = time.monotonic() + max((p.timeout for p in sources.values()), default=0.0)
    for prom in {id(p): p for p in sources.values()}.values():
        prom.start_tick(deadline)
    shared = {c for c in t.plan.clusters if sum(sources[c] is sources[o] for o in t.plan.clusters) > 1}
    out: list[Sample] = []
    reporter = t.reporter
    for cluster in t.plan.clusters:
        prom = sources[cluster]
        label = cluster if cluster in shared else None
        cand = selector(t.namespace, t.workload(t.candidate), label, reporter)
        stable = selector(t.namespace, t.workload(t.stable), label, reporter)
        variables = {
            "reporter": reporter,
            "namespace": t.namespace, "service": t.service,
            "workload": t.workload(t.candidate), "version": t.candidate,
            "stable_workload": t.workload(t.stable), "stable_version": t.stable,
            "cluster": cluster, "window": window, "interval": window,
        }
        source = source_selector(t.namespace, t.service, t.workload(t.candidate),
                                 label)
        for gate in t.gates:
            out.append(_gate_sample(gate, prom, cluster, cand, stable, window, variables, now, source))
    return out


def _success_rate(gate: GateView, prom: Prometheus, base: dict, cand: str, source: str, window: str,
                  now: datetime) -> Sample:
    """The candidate's success rate as its own pods report it, or as its callers saw it if that is worse.

    Requests that never reached a pod (no ready pods: 503 at the caller) exist only in the
    source-reported series; judging on them turns "no requests, hold forever" into a failure.
    """
    query = success_rate_query(cand, window)
    result = prom.query(query, now)
    if result.status in ("unreachable", "error"):
        return Sample(**base, query=query, status=result.status, detail=result.detail)
    r = prom.query(requests_query(cand, window), now)
    if r.status in ("unreachable", "error", "multiple-series"):
        return Sample(**base, query=query, status=r.status, detail=f"request count: {r.detail}")
    dest = Sample(**base, query=query, status=result.status, value=result.value,
                  requests=r.value if r.status == "ok" else None, detail=result.detail)
    src_q = success_rate_query(source, window)
    src, src_n = prom.query(src_q, now), prom.query(requests_query(source, window), now)
    if src.status != "ok" or src.value is None or src_n.status != "ok" or not src_n.value:
        return dest
    if src_n.value < max(1, gate.min_requests):
        return dest
    dest_usable = dest.status == "ok" and dest.value is not None and (dest.requests or 0) >= gate.min_requests
    if dest_usable and dest.value is not None and dest.value <= src.value:
        return dest
    return Sample(**base, query=src_q, value=src.value, requests=src_n.value,
                  detail=f"as the callers saw it (reporter=source): {src_n.value:.0f} requests, "
                         f"{100 - src.value:.3g}% 5xx")


def _gate_sample(gate: GateView, prom: Prometheus, cluster: str, cand: str, stable: str, window: str,
                 variables: dict[str, str], now: datetime, source: str = "") -> Sample:
    base = {"check": gate.name, "cluster": cluster, "window": window}
    reqs_q = requests_query(cand, window)
    if gate.kind == "baseline":
        queries = {"candidate_requests": reqs_q, "candidate_errors": errors_query(cand, window),
                   "stable_requests": requests_query(stable, window), "stable_errors": errors_query(stable, window)}
        if gate.max_latency_ratio is not None:
            queries |= {"candidate_p99": p99_query(cand, window), "stable_p99": p99_query(stable, window)}
        results = {k: prom.query(q, now) for k, q in queries.items()}
        query = "; ".join(f"{k}: {q}" for k, q in queries.items())
        bad = next((r for k, r in results.items() if r.status != "ok" and k.endswith(("requests", "errors"))), None)
        if bad is not None:
            return Sample(**base, query=query, status=bad.status, detail=bad.detail)
        counts = {k: r.value for k, r in results.items() if r.status == "ok" and r.value is not None}
        cn, ce = counts["candidate_requests"], counts["candidate_errors"]
        return Sample(**base, query=query, value=100 * ce / cn if cn > 0 else None, requests=cn, counts=counts)
    if gate.kind != "promql":
        few = prom.query(samples_query(cand, window), now)
        if few.status == "ok" and few.value is not None and few.value < 2:
            return Sample(**base, query=samples_query(cand, window), status="no-data",
                          detail=f"fewer than 2 samples per series in the {window} window: no increase to judge")
    if gate.kind == "success-rate":
        return _success_rate(gate, prom, base, cand, source, window, now)
    if gate.kind == "latency-p99":
        query = p99_query(cand, window)
    else:
        query = render(gate.query or "", variables)
        if gate.requests_query:
            reqs_q = render(gate.requests_query, variables)
    result = prom.query(query, now)
    if result.status in ("unreachable", "error"):
        return Sample(**base, query=query, status=result.status, detail=result.detail)
    requests = None
    if gate.min_requests or gate.kind != "promql":
        r = prom.query(reqs_q, now)
        if r.status in ("unreachable", "error", "multiple-series"):
            return Sample(**base, query=query, status=r.status, detail=f"request count: {r.detail}")
        requests = r.value if r.status == "ok" else None
    return Sample(**base, query=query, status=result.status, value=result.value, requests=requests,
                  detail=result.detail)
