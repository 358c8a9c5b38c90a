"""Pushing decisions (issue 20): bounded, a refused push is an error with git's message, and a
decision committed but not pushed is pushed by the next job."""
from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from git import Repo
from typer.testing import CliRunner

from meshcode.cli import app
from tests.support.canary import git_project, stack_source

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
runner = CliRunner()


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def cli(root: Path, *args: str):
    return runner.invoke(app, ["canary", *args, "--root", str(root)])


def with_origin(tmp_path: Path) -> tuple[Path, Path]:
    root = git_project(tmp_path / "repo", stack_source('steps=[10, 50], interval="1m"', imports="Match"))
    origin = tmp_path / "origin.git"
    Repo.init(origin, bare=True, initial_branch="main").close()
    with Repo(root) as repo:
        repo.create_remote("origin", str(origin)).push("main:main")
        repo.git.branch("--set-upstream-to=origin/main", "main")
    return root, origin


def origin_subjects(origin: Path) -> list[str]:
    with Repo(origin) as o:
        return [c.summary for c in o.iter_commits("main")]


def test_a_push_refused_by_a_hook_is_an_error_with_gits_message_not_a_loop(tmp_path):
    root, origin = with_origin(tmp_path)
    hook = origin / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'GH006: Protected branch update failed for refs/heads/main.' >&2\nexit 1\n")
    hook.chmod(0o755)
    proc = subprocess.run([sys.executable, "-m", "meshcode", "canary", "step", "cart", "--now", at(0), "--push",
                           "--root", str(root)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert "push rejected" in out and "GH006: Protected branch update failed" in out and "Traceback" not in out
    assert len(origin_subjects(origin)) == 1  # nothing reached the server …
    with Repo(root) as repo:  # … and the decision is kept locally, to be pushed once the server accepts it
        assert repo.head.commit.summary.startswith("canary cart: start")
    hook.unlink()
    r = cli(root, "step", "cart", "--now", at(0.5), "--push")
    assert r.exit_code == 0 and "wait" in r.output and "pushed" in r.output
    assert origin_subjects(origin)[0].startswith("canary cart: start")


def test_a_decision_committed_but_not_pushed_is_pushed_by_the_next_job(tmp_path):
    root, origin = with_origin(tmp_path)
    assert "committed" in cli(root, "step", "cart", "--now", at(0)).output  # a job without --push (or killed)
    assert len(origin_subjects(origin)) == 1
    r = cli(root, "step", "cart", "--now", at(0.5), "--push")  # nothing due: still pushes what is pending
    assert r.exit_code == 0 and "pushed" in r.output, r.output
    assert origin_subjects(origin)[0].startswith("canary cart: start")
    r = cli(root, "step", "cart", "--now", at(0.6), "--push")  # nothing pending: no push, no noise
    assert r.exit_code == 0 and "pushed" not in r.output
