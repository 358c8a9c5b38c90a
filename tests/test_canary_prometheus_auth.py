"""Prometheus access (issue 20): TLS with a private CA and a client certificate against a real
Prometheus (its own --web.config.file), extra headers for multi-tenant backends, and 401/403
reported as such."""
from __future__ import annotations

import json
import subprocess
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from meshcode.delivery.prometheus import Prometheus
from tests.support.prometheus import PROMETHEUS, PrometheusServer

NOW = datetime.now(timezone.utc)


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def pki(d: Path) -> None:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=test-ca", cwd=d)
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
                      ("client", "extendedKeyUsage=clientAuth")):
        (d / f"{name}.ext").write_text(ext + "\n")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={name}", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext", cwd=d)


@pytest.mark.skipif(not Path(PROMETHEUS).exists(), reason="prometheus is not installed (./dev test installs it)")
def test_tls_with_a_private_ca_and_a_client_certificate(tmp_path):
    pki(tmp_path)
    server = PrometheusServer(tmp_path, [])
    server.web_config = tmp_path / "web.yml"
    server.web_config.write_text(
        "tls_server_config:\n"
        f"  cert_file: {tmp_path}/server.crt\n  key_file: {tmp_path}/server.key\n"
        f"  client_ca_file: {tmp_path}/ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n")
    base = f"https://127.0.0.1:{server.port}"
    try:
        try:
            server.start(timeout=5)  # its readiness probe speaks plain HTTP: it never sees ready
        except RuntimeError:
            pass
        env = {"MESHCODE_PROMETHEUS_CA_FILE": str(tmp_path / "ca.crt"),
               "MESHCODE_PROMETHEUS_CERT_FILE": str(tmp_path / "client.crt"),
               "MESHCODE_PROMETHEUS_KEY_FILE": str(tmp_path / "client.key")}
        assert Prometheus.connect(base, env).query("vector(7)", NOW).value == 7.0
        no_cert = {"MESHCODE_PROMETHEUS_CA_FILE": str(tmp_path / "ca.crt")}
        refused = Prometheus.connect(base, no_cert).query("vector(7)", NOW)
        assert refused.status == "unreachable" and refused.detail.startswith(f"{base}: ")
        untrusted = Prometheus.connect(base, {}).query("vector(7)", NOW)
        assert untrusted.status == "unreachable" and "CERTIFICATE_VERIFY_FAILED" in untrusted.detail
    finally:
        server.stop()


class Capture:
    """A Prometheus-shaped endpoint that records request headers and answers with `status`."""

    def __init__(self, status: int = 200) -> None:
        self.headers: list[dict[str, str]] = []
        self.status = status
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                capture.headers.append(dict(self.headers))
                body = json.dumps({"status": "success", "data": {"resultType": "scalar",
                                                                 "result": [0, "3"]}}).encode()
                self.send_response(capture.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_tenant_headers_bearer_and_basic_auth_from_the_environment(tmp_path):
    cap = Capture()
    try:
        (tmp_path / "pw").write_text("s3cret\n")
        env = {"MESHCODE_PROMETHEUS_HEADERS": "X-Scope-OrgID=team-a; X-Extra=1",
               "MESHCODE_PROMETHEUS_USER": "bot", "MESHCODE_PROMETHEUS_PASSWORD_FILE": str(tmp_path / "pw")}
        assert Prometheus.connect(cap.url, env).query("q", NOW).value == 3.0
        sent = cap.headers[-1]
        assert sent["X-Scope-OrgID"] == "team-a" and sent["X-Extra"] == "1"
        assert sent["Authorization"] == "Basic Ym90OnMzY3JldA=="  # bot:s3cret
        Prometheus.connect(cap.url, {"MESHCODE_PROMETHEUS_TOKEN": "tok"}).query("q", NOW)
        assert cap.headers[-1]["Authorization"] == "Bearer tok"
    finally:
        cap.close()


@pytest.mark.parametrize("status, words", [(401, "answered HTTP 401 Unauthorized: credentials refused"),
                                           (403, "answered HTTP 403 Forbidden: access denied")])
def test_401_and_403_are_reported_as_such(status, words):
    cap = Capture(status)
    try:
        result = Prometheus.connect(cap.url, {}).query("q", NOW)
        assert result.status == "unreachable" and words in result.detail and "MESHCODE_PROMETHEUS_TOKEN" in result.detail
    finally:
        cap.close()
