"""What an SRE watches (issue 20): `canary status --json/--watch`, the controller's metrics in a
textfile (checked with promtool) and on a real Pushgateway, and the Grafana dashboard."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meshcode.cli import app
from tests.support.canary import git_project, stack_source
from tests.support.prometheus import PROMTOOL, free_port

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "docs" / "grafana" / "meshcode-canary.json"


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return git_project(tmp_path / "repo", stack_source('steps=[10, 50], interval="1m"', imports="Match"))


def cli(root: Path, *args: str):
    return runner.invoke(app, ["canary", *args, "--root", str(root)])


def test_status_json(root):
    before = json.loads(cli(root, "status", "--json").output)
    assert [(r["canary"], r["phase"], r["weight"], r["step"]) for r in before] == [("shop/shop/cart", "waiting", 0, 0)]
    assert cli(root, "step", "cart", "--now", at(0)).exit_code == 0
    (row,) = json.loads(cli(root, "status", "--json").output)
    assert {k: row[k] for k in ("phase", "weight", "step", "stages", "stage", "failed_checks", "threshold",
                                "last_action", "error")} == {
        "phase": "progressing", "weight": 10, "step": 1, "stages": 2, "stage": "10%", "failed_checks": 0,
        "threshold": 2, "last_action": "start", "error": None}
    assert row["last_time"] == "2030-01-01T12:00:00+00:00"


def test_status_watch_redraws(root):
    r = cli(root, "status", "--watch", "--every", "0.1", "--times", "3")
    assert r.exit_code == 0 and r.output.count("CANARY") == 3 and r.output.count("every 0.1s: meshcode canary status") == 3


def test_status_reports_an_invalid_state_on_its_row(root):
    cli(root, "step", "cart", "--now", at(0))
    path = root / "state/canaries/shop/shop/cart.json"
    path.write_text(path.read_text().replace('"failed_checks": 0,\n  "history"', '"failed_checks": -1,\n  "history"'))
    r = cli(root, "status", "--json")
    (row,) = json.loads(r.stdout)
    assert r.exit_code == 1 and row["phase"] == "invalid" and "failed_checks" in row["error"]


def test_metrics_textfile_is_valid_exposition_format(root, tmp_path):
    textfile = tmp_path / "meshcode_canary.prom"
    r = cli(root, "step", "cart", "--now", at(0), "--metrics-file", str(textfile))
    assert r.exit_code == 0, r.output
    text = textfile.read_text()
    labels = 'canary="shop/shop/cart",mesh="shop",namespace="shop",name="cart"'
    assert f"meshcode_canary_weight{{{labels}}} 10" in text
    assert f'meshcode_canary_phase{{{labels},phase="progressing"}} 1' in text
    assert f'meshcode_canary_phase{{{labels},phase="failed"}} 0' in text
    assert f"meshcode_canary_last_decision_timestamp_seconds{{{labels}}} {T0.timestamp():.3f}" in text
    if Path(PROMTOOL).exists():
        check = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    # a directory that cannot be written never fails the step: a warning
    r = cli(root, "step", "cart", "--now", at(0.5), "--metrics-file", str(tmp_path / "missing" / "x.prom"))
    assert r.exit_code == 0 and "warning: metrics not written" in r.output


PUSHGATEWAY = shutil.which("prometheus-pushgateway")


@pytest.mark.skipif(PUSHGATEWAY is None, reason="prometheus-pushgateway is not installed (./dev test installs it)")
def test_metrics_pushed_to_a_real_pushgateway(root, tmp_path):
    port = free_port()
    proc = subprocess.Popen([PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/-/ready", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        r = cli(root, "step", "cart", "--now", at(0), "--pushgateway", url)
        assert r.exit_code == 0 and "warning" not in r.output, r.output
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as resp:
            scraped = resp.read().decode()
        assert re.search(r'meshcode_canary_weight\{[^}]*canary="shop/shop/cart"[^}]*job="meshcode_canary"[^}]*\} 10',
                         scraped) or re.search(r'meshcode_canary_weight\{[^}]*job="meshcode_canary"[^}]*canary='
                                               r'"shop/shop/cart"[^}]*\} 10', scraped), scraped[:2000]
    finally:
        proc.terminate()
        proc.wait(10)


def test_grafana_dashboard_reads_the_controllers_metrics():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["title"] == "meshcode canaries" and dashboard["uid"]
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert exprs
    emitted = {"meshcode_canary_weight", "meshcode_canary_phase", "meshcode_canary_step", "meshcode_canary_stages",
               "meshcode_canary_failed_checks", "meshcode_canary_threshold", "meshcode_canary_state_valid",
               "meshcode_canary_last_decision_timestamp_seconds",
               "meshcode_canary_controller_last_run_timestamp_seconds", "istio_requests_total"}
    for expr in exprs:
        used = set(re.findall(r"\b(meshcode_canary_[a-z_]+|istio_[a-z_]+)\b", expr))
        assert used and used <= emitted, expr
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    assert {v["name"] for v in dashboard["templating"]["list"]} >= {"datasource", "canary"}
