"""Notifications (issue 20): Slack, Microsoft Teams and a generic webhook hear about every move;
a notification that fails is a warning and never blocks or changes a decision."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from git import Repo
from typer.testing import CliRunner

from meshcode.cli import app
from tests.support.canary import git_project, stack_source, subjects
from tests.support.prometheus import free_port
from tests.support.webhooks import WebhookReceiver

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
runner = CliRunner()


@pytest.fixture
def receiver():
    r = WebhookReceiver()
    yield r
    r.close()


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def test_slack_teams_and_webhook_hear_every_move(tmp_path, receiver, monkeypatch):
    monkeypatch.setenv("MESHCODE_SLACK_WEBHOOK", f"{receiver.url}/slack/T000/B000/SLACKSECRET")
    (tmp_path / "teams").write_text(f"{receiver.url}/teams/TEAMSSECRET\n")
    monkeypatch.setenv("MESHCODE_TEAMS_WEBHOOK_FILE", str(tmp_path / "teams"))
    monkeypatch.setenv("MESHCODE_NOTIFY_WEBHOOK", f"{receiver.url}/hook")
    root = git_project(tmp_path / "repo", stack_source('steps=[10, 50], interval="1m"', imports="Match"))
    for minute in (0, 0.5, 1, 2):
        r = runner.invoke(app, ["canary", "step", "cart", "--now", at(minute), "--root", str(root)])
        assert r.exit_code == 0 and "warning" not in r.output, r.output
    kinds = [b["kind"] for b in receiver.bodies("/hook")]
    assert kinds == ["start", "advance", "promote"]  # the wait at 0.5 is not news
    first = receiver.bodies("/hook")[0]
    assert first["source"] == "meshcode" and first["canary"] == "shop/shop/cart" and first["weight_to"] == 10
    assert first["commit"] and first["severity"] == "info"
    slack = receiver.bodies("/slack")[-1]
    assert slack["text"].startswith("canary shop/shop/cart: promote 50% → 100%")
    assert slack["attachments"][0]["color"] == "#2eb67d"
    teams = receiver.bodies("/teams")[-1]
    card = teams["attachments"][0]
    assert teams["type"] == "message" and card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["type"] == "AdaptiveCard" and card["content"]["body"][0]["text"].startswith("canary")
    with Repo(root) as repo:
        everything = repo.git.log("--all", "-p")
    assert "SLACKSECRET" not in everything and "TEAMSSECRET" not in everything


def test_rollback_is_critical_and_a_dead_endpoint_never_blocks_the_decision(tmp_path, receiver, monkeypatch):
    monkeypatch.setenv("MESHCODE_NOTIFY_WEBHOOK", f"{receiver.url}/hook")
    monkeypatch.setenv("MESHCODE_SLACK_WEBHOOK", f"http://127.0.0.1:{free_port()}/services/SECRET")  # nobody there
    source = stack_source('steps=[50], interval="1m", threshold=1, webhooks=[Webhook("pre", '
                          '"http://127.0.0.1:9/", type="pre-rollout", timeout="200ms")]', imports="Webhook")
    root = git_project(tmp_path / "repo", source)
    r = runner.invoke(app, ["canary", "step", "cart", "--now", at(0), "--root", str(root)])
    assert r.exit_code == 3 and "rollback" in r.output  # the decision stands, with its exit code
    assert "warning: slack notification not sent: ConnectError" in r.output and "SECRET" not in r.output
    assert subjects(root)[-1].startswith("canary cart: rollback")
    (event,) = receiver.bodies("/hook")
    assert (event["kind"], event["severity"]) == ("rollback", "critical")


def test_a_long_hold_is_announced_once(tmp_path, receiver, monkeypatch):
    monkeypatch.setenv("MESHCODE_NOTIFY_WEBHOOK", f"{receiver.url}/hook")
    root = git_project(tmp_path / "repo", stack_source('steps=[10, 50], interval="1m", gates=[SuccessRate(99)]'))
    nowhere = f"http://127.0.0.1:{free_port()}"
    for minute in range(0, 8):
        runner.invoke(app, ["canary", "step", "cart", "--now", at(minute), "--prometheus", nowhere,
                            "--root", str(root)])
    kinds = [b["kind"] for b in receiver.bodies("/hook")]
    assert kinds == ["start", "hold-long"]  # held from minute 1; announced at 3 intervals (minute 4), once
    assert "holding for 180s at 10%" in receiver.bodies("/hook")[1]["reason"]
