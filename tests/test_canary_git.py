"""The controller's git and CLI behaviour: commits, push races, locks, commands, webhooks, replay.

Plans here have no metric gates (or only webhooks), so time can be injected with `--now`.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from filelock import FileLock
from git import Repo
from typer.testing import CliRunner

from meshcode.cli import app
from meshcode.app.canary import _lock_path
from meshcode.delivery.store import load_state, state_path
from meshcode.app.project import Project
from tests.support.canary import candidate_weights, git_project, stack_source, subjects
from tests.support.meshes import crdcheck
from tests.support.webhooks import WebhookReceiver

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
KEY = "shop/shop/cart"
runner = CliRunner()


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def cli(root: Path, *args: str):
    return runner.invoke(app, ["canary", *args, "--root", str(root)])


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return git_project(tmp_path / "repo", stack_source('steps=[10, 50], interval="1m"', imports="Match"))


def test_step_commits_only_when_a_check_is_due(root):
    r = cli(root, "step", "cart", "--now", at(0))
    assert r.exit_code == 0 and "start 0% → 10%" in r.output and "committed" in r.output
    r = cli(root, "step", "cart", "--now", at(0.5))
    assert r.exit_code == 0 and "wait" in r.output and "next check at 2030-01-01T12:01:00" in r.output
    assert len(subjects(root)) == 2
    assert cli(root, "step", "cart", "--now", at(1)).exit_code == 0
    status = cli(root, "status")
    assert status.exit_code == 0
    header, row = status.output.splitlines()[:2]
    assert header.split()[:5] == ["CANARY", "PHASE", "WEIGHT", "STEP", "FAILED"]
    assert row.split()[:6] == [KEY, "progressing", "50%", "2/2", "50%", "0/2"]
    assert candidate_weights(root) == [None, 10, 50]
    with Repo(root) as repo:
        assert not repo.is_dirty(untracked_files=True)
        assert set(repo.head.commit.stats.files) == {"state/canaries/shop/shop/cart.json",
                                                     "generated/prod/shop/virtualservice-cart.yaml",
                                                     "generated/.meshcode-manifest"}


def test_a_second_job_on_the_same_canary_exits_clearly_and_never_double_steps(root):
    assert cli(root, "step", "cart", "--now", at(0)).exit_code == 0
    lock = FileLock(_lock_path(Project.open(root), KEY, "tick"))
    with lock:
        r = cli(root, "step", "cart", "--now", at(1), "--wait", "0.3")
        assert r.exit_code == 1 and "another job" in r.output and "not stepping it twice" in r.output
    assert len(subjects(root)) == 2
    # Two jobs one after the other at the same moment: the second finds the check already made.
    assert "advance" in cli(root, "step", "cart", "--now", at(1)).output
    assert "wait" in cli(root, "step", "cart", "--now", at(1)).output
    assert len(subjects(root)) == 3


def _clone(origin: Path, to: Path) -> Path:
    """A job's checkout; each job commits as itself, so two jobs' commits never share a sha."""
    repo = Repo.clone_from(origin, to)
    with repo.config_writer() as c:
        c.set_value("user", "name", f"ci-{to.name}").set_value("user", "email", f"{to.name}@example.com")
    repo.close()
    return to


def test_push_race_redecides_when_another_job_stepped_first(root, tmp_path):
    origin = tmp_path / "origin.git"
    Repo.init(origin, bare=True, initial_branch="main").close()
    with Repo(root) as repo:
        repo.create_remote("origin", str(origin)).push("main:main")
    a, b = _clone(origin, tmp_path / "a"), _clone(origin, tmp_path / "b")
    assert "pushed" in cli(a, "step", "cart", "--now", at(0), "--push").output
    r = cli(b, "step", "cart", "--now", at(0), "--push")  # b has not seen a's commit: its push is rejected
    assert r.exit_code == 0 and "wait" in r.output and "committed" not in r.output
    with Repo(origin) as o, Repo(b) as rb:
        assert [c.summary for c in o.iter_commits("main")][0].startswith("canary cart: start")
        assert len(list(o.iter_commits("main"))) == 2 and rb.head.commit == o.head.commit


def test_push_race_reapplies_the_decision_on_top_of_unrelated_commits(root, tmp_path):
    origin = tmp_path / "origin.git"
    Repo.init(origin, bare=True, initial_branch="main").close()
    with Repo(root) as repo:
        repo.create_remote("origin", str(origin)).push("main:main")
    a, b = _clone(origin, tmp_path / "a"), _clone(origin, tmp_path / "b")
    (a / "NOTES.md").write_text("unrelated\n")
    with Repo(a) as ra:
        ra.git.add("NOTES.md")
        ra.index.commit("notes")
        ra.git.push("origin", "main")
    r = cli(b, "step", "cart", "--now", at(0), "--push")
    assert r.exit_code == 0 and "pushed" in r.output
    with Repo(origin) as o:
        assert [c.summary for c in o.iter_commits("main")][:2] == [
            "canary cart: start 0% → 10% (rollout of v2 begins at 10%)", "notes"]
    assert (b / "NOTES.md").exists()


def test_operator_commands_are_commits(root):
    cli(root, "step", "cart", "--now", at(0))
    assert "pause" in cli(root, "pause", "cart", "--now", at(0.1), "--reason", "incident 42").output
    r = cli(root, "step", "cart", "--now", at(5))
    assert "paused" in r.output and len(subjects(root)) == 3
    assert cli(root, "pause", "cart", "--now", at(5)).exit_code == 1  # already paused: nothing to do
    assert cli(root, "resume", "cart", "--now", at(6)).exit_code == 0
    assert "wait" in cli(root, "step", "cart", "--now", at(6.5)).output  # a fresh window after resume
    assert "promote 10% → 100%" in cli(root, "promote", "cart", "--now", at(7)).output
    assert candidate_weights(root)[-1] == 100
    assert cli(root, "abort", "cart", "--now", at(8)).exit_code == 1  # already succeeded
    assert [s.split(":")[1].split()[0] for s in subjects(root)[1:]] == ["start", "pause", "resume", "promote"]
    assert "incident 42" in subjects(root)[2]
    replayed = cli(root, "replay", "cart")
    assert replayed.exit_code == 0 and "4/4 decisions reproduce" in replayed.output


def test_abort_rolls_back_to_stable(root):
    cli(root, "step", "cart", "--now", at(0))
    assert "abort 10% → 0%" in cli(root, "abort", "cart", "--now", at(0.5)).output
    assert candidate_weights(root) == [None, 10, 0]
    assert load_state(root / "state", KEY).phase == "failed"


def test_replay_detects_a_tampered_history(root):
    for m in (0, 1):
        cli(root, "step", "cart", "--now", at(m))
    path = state_path(root / "state", KEY)
    data = json.loads(path.read_text())
    data["history"][1]["weight"] = 30
    path.write_text(json.dumps(data))
    r = cli(root, "replay", "cart")
    assert r.exit_code == 1 and "DIFF" in r.output and "weight: recorded 30, replayed 50" in r.output


def test_mirror_and_ab_stages_are_rendered_before_live_weight(tmp_path):
    root = git_project(tmp_path / "repo", stack_source(
        'steps=[25], interval="1m", mirror_intervals=1, ab_intervals=1, ab_match=[Match(headers={"x-beta": "1"})]',
        imports="Match"))
    vs_path = root / "generated" / "prod" / "shop" / "virtualservice-cart.yaml"
    cli(root, "step", "cart", "--now", at(0))
    vs = yaml.safe_load(vs_path.read_text())
    assert vs["spec"]["http"][-1]["mirror"]["subset"] == "v2"
    assert vs["spec"]["http"][-1]["route"][0] == {
        "destination": {"host": "cart.shop.svc.cluster.local", "subset": "v1"}, "weight": 100}
    cli(root, "step", "cart", "--now", at(1))
    vs = yaml.safe_load(vs_path.read_text())
    assert vs["spec"]["http"][0]["match"] == [{"headers": {"x-beta": {"exact": "1"}}}]
    assert vs["spec"]["http"][0]["route"] == [{"destination": {"host": "cart.shop.svc.cluster.local",
                                                               "subset": "v2"}}]
    assert "mirror" not in vs["spec"]["http"][-1]
    code, out = crdcheck(root / "generated")
    assert code == 0, out
    cli(root, "step", "cart", "--now", at(2))
    assert candidate_weights(root) == [None, 0, 0, 25]


def test_webhooks_gate_and_are_notified(tmp_path):
    hooks = WebhookReceiver()
    try:
        u = hooks.url
        rollout = (f'steps=[50], interval="1m", threshold=3, webhooks=['
                   f'Webhook("pre", "{u}/pre", type="pre-rollout"), Webhook("load", "{u}/load"), '
                   f'Webhook("confirm", "{u}/confirm", type="confirm-promotion"), '
                   f'Webhook("done", "{u}/done", type="post-rollout"), '
                   f'Webhook("slow", "http://10.255.255.1:9/", type="rollback", timeout="200ms")]')
        root = git_project(tmp_path / "repo", stack_source(rollout, imports="Webhook"))
        hooks.status["/pre"] = 500
        r = cli(root, "step", "cart", "--now", at(0))
        assert "fail-check" in r.output and "pre-rollout webhook pre returned 500" in r.output
        hooks.status["/pre"] = 200
        assert "start" in cli(root, "step", "cart", "--now", at(1)).output
        hooks.status["/confirm"] = 409
        r = cli(root, "step", "cart", "--now", at(2))
        assert "hold" in r.output and "promotion not confirmed" in r.output
        state = load_state(root / "state", KEY)
        assert (state.phase, state.failed_checks, state.weight) == ("promoting", 1, 50)
        hooks.status["/confirm"] = 200
        assert "promote 50% → 100%" in cli(root, "step", "cart", "--now", at(3)).output
        state = load_state(root / "state", KEY)
        assert [(n.check, n.verdict) for n in state.history[-1].notifications] == [("webhook:done", "pass")]
        paths = [p for p, _ in hooks.calls]
        assert paths == ["/pre", "/pre", "/load", "/confirm", "/confirm", "/done"]
        body = hooks.calls[2][1]
        assert body["name"] == "cart" and body["type"] == "rollout" and body["metadata"]["weight"] == "50"
    finally:
        hooks.close()


def test_broken_stack_or_compile_error_writes_no_state(root):
    stack = root / "stacks" / "shop.py"
    stack.write_text(stack.read_text() + 'mesh = Mesh("shop", clusters=[Cluster("prod")], services=[svc], '
                     'patches=[__import__("meshcode").Patch("VirtualService", "nope", ops=[])])\n')
    with Repo(root) as repo:
        repo.git.add("-A")
        repo.index.commit("broken patch")
    r = cli(root, "step", "cart", "--now", at(0))
    assert r.exit_code == 1 and "MC2202" in r.output
    assert not state_path(root / "state", KEY).exists() and len(subjects(root)) == 2


def test_refuses_uncommitted_stacks_and_foreign_staged_files(root):
    (root / "stacks" / "shop.py").write_text((root / "stacks" / "shop.py").read_text() + "\n# edit\n")
    r = cli(root, "step", "cart", "--now", at(0))
    assert r.exit_code == 1 and "uncommitted changes" in r.output
    with Repo(root) as repo:
        repo.git.checkout("--", "stacks/shop.py")
        (root / "other.txt").write_text("x")
        repo.git.add("other.txt")
    r = cli(root, "step", "cart", "--now", at(0))
    assert r.exit_code == 1 and "staged changes outside" in r.output and "other.txt" in r.output


def test_unknown_canary_is_a_clear_error(root):
    r = cli(root, "step", "nope")
    assert r.exit_code == 1 and "no canary with a rollout plan is named 'nope'" in r.output and KEY in r.output


def test_run_loops_until_done(tmp_path):
    root = git_project(tmp_path / "repo", stack_source('steps=[30, 60], interval="300ms"', imports="Match"))
    r = runner.invoke(app, ["canary", "run", "cart", "--root", str(root)])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert [ln.split()[4].rstrip(":") for ln in lines[:-1]] == ["start", "advance", "promote"]
    assert "██████" in lines[0] and lines[-1] == f"{KEY}: succeeded"
    assert candidate_weights(root) == [None, 30, 60, 100]


def test_prometheus_per_cluster_urls_and_settings():
    from meshcode.app.canary import prometheus_sources
    from meshcode.errors import StateError

    one = prometheus_sources(("east", "west"), ("http://p:9090",), None)
    assert one["east"] is one["west"]  # one server for both: queries filter on destination_cluster
    two = prometheus_sources(("east", "west"), ("east=http://e:9090", "west=http://w:9090", ""), None)
    assert (two["east"].url, two["west"].url) == ("http://e:9090", "http://w:9090")
    mixed = prometheus_sources(("east", "west"), ("west=http://w:9090",), {"east": "http://e:9090"})
    assert (mixed["east"].url, mixed["west"].url) == ("http://e:9090", "http://w:9090")
    assert prometheus_sources(("prod",), (), "http://s:9090")["prod"].url == "http://s:9090"
    with pytest.raises(StateError, match="no Prometheus for cluster 'west'"):
        prometheus_sources(("east", "west"), ("east=http://e:9090",), None)
