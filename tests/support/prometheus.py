"""A real Prometheus (the Debian package's binary) scraping a test exporter of Istio metrics.

`IstioExporter` serves `istio_requests_total` and `istio_request_duration_milliseconds_bucket`
(reporter="destination") for workloads the test sets traffic for: counters grow at the given
request rates between scrapes, so `increase()`/`rate()` over a window see exactly that traffic.
`PrometheusServer` runs /usr/bin/prometheus on a free 127.0.0.1 port with a short scrape
interval and tmp storage; it can be stopped and started again on the same port and data.
"""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
SCRAPE = "500ms"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Traffic:
    """Requests per second to one workload, the share answered 5xx, and their latency."""

    rps: float
    error_rate: float = 0.0
    latency_ms: float = 20.0


class IstioExporter:
    """Serves Istio's standard metrics for the workloads the test sets traffic on."""

    def __init__(self, reporter: str = "destination") -> None:
        """reporter: the proxy the series claim to come from (a sidecar, or an ambient waypoint)."""
        self.reporter = reporter
        self._lock = threading.Lock()
        self._traffic: dict[tuple[str, str, str], Traffic] = {}  # (cluster, namespace, workload)
        self._requests: dict[tuple[str, str, str, str], float] = {}  # + response code
        self._buckets: dict[tuple[str, str, str, float], float] = {}
        self._sums: dict[tuple[str, str, str], float] = {}
        self._last = time.monotonic()
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = exporter.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def set(self, namespace: str, workload: str, traffic: Traffic | None, cluster: str = "prod") -> None:
        """Change a workload's traffic from now on (None: no more requests; its series stay)."""
        with self._lock:
            self._advance()
            key = (cluster, namespace, workload)
            self._traffic[key] = traffic or Traffic(0.0)
            for code in ("200", "503"):
                self._requests.setdefault((*key, code), 0.0)
            for le in (*BUCKETS, float("inf")):
                self._buckets.setdefault((*key, le), 0.0)
            self._sums.setdefault(key, 0.0)

    def _advance(self) -> None:
        now = time.monotonic()
        dt, self._last = now - self._last, now
        for key, t in self._traffic.items():
            n = t.rps * dt
            self._requests[(*key, "503")] += n * t.error_rate
            self._requests[(*key, "200")] += n * (1 - t.error_rate)
            for le in (*BUCKETS, float("inf")):
                if t.latency_ms <= le:
                    self._buckets[(*key, le)] += n
            self._sums[key] += n * t.latency_ms

    def render(self) -> str:
        with self._lock:
            self._advance()
            lines = ["# TYPE istio_requests_total counter"]
            for (cluster, ns, wl, code), v in sorted(self._requests.items()):
                lines.append(f"istio_requests_total{{{_labels(cluster, ns, wl, self.reporter)},response_code=\"{code}\"}} {v}")
            lines.append("# TYPE istio_request_duration_milliseconds histogram")
            for (cluster, ns, wl, le), v in sorted(self._buckets.items()):
                le_text = "+Inf" if le == float("inf") else f"{le:g}"
                lines.append(f"istio_request_duration_milliseconds_bucket{{{_labels(cluster, ns, wl, self.reporter)},"
                             f"le=\"{le_text}\"}} {v}")
            for (cluster, ns, wl), v in sorted(self._sums.items()):
                total = self._buckets[(cluster, ns, wl, float("inf"))]
                lines.append(f"istio_request_duration_milliseconds_sum{{{_labels(cluster, ns, wl, self.reporter)}}} {v}")
                lines.append(f"istio_request_duration_milliseconds_count{{{_labels(cluster, ns, wl, self.reporter)}}} {total}")
            return "\n".join(lines) + "\n"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _labels(cluster: str, namespace: str, workload: str, reporter: str = "destination") -> str:
    version = workload.rsplit("-", 1)[-1]
    service = workload.rsplit("-", 1)[0]
    return (f'reporter="{reporter}",destination_cluster="{cluster}",destination_workload="{workload}",'
            f'destination_workload_namespace="{namespace}",destination_service_name="{service}",'
            f'destination_version="{version}"')


class PrometheusServer:
    """/usr/bin/prometheus on 127.0.0.1:<free port>, scraping `targets` every 500ms."""

    def __init__(self, workdir: Path, targets: list[str], basic_auth: dict[str, str] | None = None) -> None:
        """basic_auth: user → bcrypt hash, for Prometheus' own --web.config.file authentication."""
        self.workdir = workdir
        self.web_config: Path | None = None
        if basic_auth:
            self.web_config = workdir / "web.yml"
            self.web_config.write_text("basic_auth_users:\n" + "".join(
                f"  {user}: {json.dumps(hashed)}\n" for user, hashed in basic_auth.items()))
        self.port = free_port()
        self.data = workdir / "data"
        self.config = workdir / "prometheus.yml"
        self.config.write_text(
            "global:\n"
            f"  scrape_interval: {SCRAPE}\n"
            f"  evaluation_interval: {SCRAPE}\n"
            "scrape_configs:\n"
            "  - job_name: istio\n"
            f"    static_configs:\n      - targets: {json.dumps(targets)}\n"
        )
        self.proc: subprocess.Popen | None = None
        self.log = workdir / "prometheus.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        log = self.log.open("ab")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={self.config}", f"--storage.tsdb.path={self.data}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=1h",
             "--query.lookback-delta=30s",
             *([f"--web.config.file={self.web_config}"] if self.web_config else [])],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return
            except urllib.error.HTTPError as e:
                if e.code == 401 and self.web_config is not None:  # up, and asking for credentials
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"prometheus did not become ready: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def query(self, promql: str) -> list[dict]:
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read())["data"]["result"]

    def wait_for(self, promql: str, timeout: float = 15.0) -> None:
        """Until the query returns a non-empty result (the target was scraped)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.query(promql):
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"no result for {promql} within {timeout}s")




PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def backfilled(workdir: Path, series: dict[str, list[tuple[float, float]]]) -> PrometheusServer:
    """A real Prometheus whose TSDB holds exactly `series` ({'name{labels}': [(unix time, value)]}),
    written with `promtool tsdb create-blocks-from openmetrics`: deterministic scrapes at chosen times."""
    workdir.mkdir(parents=True, exist_ok=True)
    lines = []
    for name in sorted(series):
        lines += [f"{name} {v} {t:.3f}" for t, v in sorted(series[name])]
    om = workdir / "backfill.om"
    om.write_text("\n".join(lines) + "\n# EOF\n")
    server = PrometheusServer(workdir, [])
    subprocess.run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(om), str(server.data)],
                   check=True, capture_output=True)
    server.start()
    return server
