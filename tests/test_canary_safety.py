"""The controller never loses an update and never moves traffic unasked (issue 13).

- concurrent `canary step` jobs on different canaries (real processes) never commit another
  canary's stale weights: every commit's generated/ equals a compile of that commit's states;
- `pause` holds the weights that are live, also before the rollout has started;
- state read from git is input: a bad state is refused naming its file, nothing is committed;
- an uncommitted hand edit of state is never committed as a controller decision.
"""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from git import Repo
from typer.testing import CliRunner

from meshcode.cli import app
from meshcode.state.canary import CanaryState
from meshcode.delivery.store import state_path
from tests.support.canary import git_project, route_weight, stack_source, subjects

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
runner = CliRunner()
NAMES = ("a", "b", "c", "d")

FOUR = '''\
from meshcode import Canary, Cluster, Mesh, Port, Rollout, Service

def svc(name):
    return Service(name, namespace="shop", ports=[Port(8080)], versions=["v1", "v2"],
                   canary=Canary(stable="v1", candidate="v2", weight=10,
                                 rollout=Rollout(steps=[20, 40, 60, 80], interval="1m")))

mesh = Mesh("shop", clusters=[Cluster("prod")], services=[svc(n) for n in {names!r}])
'''


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def cli(root: Path, *args: str):
    return runner.invoke(app, ["canary", *args, "--root", str(root)])


def committed_pairs(root: Path) -> list[tuple[str, dict[str, tuple[int | None, int]]]]:
    """Per commit: canary → (committed state's rendered weight, the VirtualService's weight)."""
    out = []
    with Repo(root) as repo:
        for c in reversed(list(repo.iter_commits("HEAD"))):
            pairs: dict[str, tuple[int | None, int]] = {}
            for name in NAMES:
                try:
                    vs = yaml.safe_load(c.tree[f"generated/prod/shop/virtualservice-{name}.yaml"]
                                        .data_stream.read())
                except KeyError:
                    continue
                try:
                    raw = c.tree[f"state/canaries/shop/shop/{name}.json"].data_stream.read()
                    state = CanaryState.model_validate_json(raw)
                    want = {"succeeded": 100, "failed": 0}.get(state.phase, state.weight)
                except KeyError:
                    want = 10  # no state yet: the stack's static weight
                pairs[name] = (want, route_weight(vs, "v2"))
            out.append((c.summary, pairs))
    return out


def test_concurrent_steps_on_different_canaries_lose_no_update(tmp_path):
    root = git_project(tmp_path / "repo", FOUR.format(names=NAMES))
    assert runner.invoke(app, ["compile", "--root", str(root)]).exit_code == 0
    with Repo(root) as repo:
        repo.git.add("-A")
        repo.index.commit("compile")
    rounds = 5  # start, 3 advances, promote
    for r in range(rounds):
        procs = [subprocess.Popen([sys.executable, "-m", "meshcode", "canary", "step", name, "--now", at(r),
                                   "--root", str(root)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                 for name in NAMES]
        outputs = [p.communicate(timeout=300)[0].decode() for p in procs]
        assert all(p.returncode == 0 for p in procs), outputs
        assert all("committed" in o for o in outputs), outputs
    lost = [(s, p) for s, p in committed_pairs(root) if any(want != got for want, got in p.values())]
    assert lost == []
    assert len(subjects(root)) == 2 + rounds * len(NAMES)
    check = runner.invoke(app, ["compile", "--check", "--root", str(root)])
    assert check.exit_code == 0, check.output
    with Repo(root) as repo:
        assert not repo.is_dirty(untracked_files=True)
    final = committed_pairs(root)[-1][1]
    assert final == {n: (100, 100) for n in NAMES}


# ---- pause holds the live weights -----------------------------------------------------------
STATIC = stack_source('steps=[50], interval="1m"', imports="Match").replace(
    'candidate="v2",', 'candidate="v2", weight=10,')


def vs_weight(root: Path) -> int:
    return route_weight(yaml.safe_load((root / "generated/prod/shop/virtualservice-cart.yaml").read_text()), "v2")


def test_pause_before_the_start_holds_the_live_static_weight(tmp_path):
    root = git_project(tmp_path / "repo", STATIC)
    assert runner.invoke(app, ["compile", "--root", str(root)]).exit_code == 0
    assert vs_weight(root) == 10
    r = cli(root, "pause", "cart", "--now", at(0), "--reason", "freeze")
    assert r.exit_code == 0 and "pause at 10%" in r.output, r.output
    assert vs_weight(root) == 10  # was 0: pausing moved live traffic 90/10 → 100/0
    assert "paused" in cli(root, "step", "cart", "--now", at(5)).output and vs_weight(root) == 10
    assert cli(root, "resume", "cart", "--now", at(6)).exit_code == 0 and vs_weight(root) == 10
    r = cli(root, "step", "cart", "--now", at(6))
    assert "start 10% → 50%" in r.output and vs_weight(root) == 50


def test_a_failed_pre_rollout_check_holds_the_static_weight(tmp_path):
    source = stack_source('steps=[50], interval="1m", threshold=3, webhooks=[Webhook("pre", '
                          '"http://127.0.0.1:9/", type="pre-rollout", timeout="200ms")]', imports="Webhook")
    root = git_project(tmp_path / "repo", source.replace('candidate="v2",', 'candidate="v2", weight=10,'))
    r = cli(root, "step", "cart", "--now", at(0))
    assert "fail-check at 10%" in r.output and vs_weight(root) == 10


# ---- state from git is validated input ------------------------------------------------------
def started(tmp_path: Path) -> Path:
    root = git_project(tmp_path / "repo", stack_source('steps=[10, 50], interval="1m"', imports="Match"))
    assert cli(root, "step", "cart", "--now", at(0)).exit_code == 0
    return root


def head(root: Path) -> str:
    with Repo(root) as repo:
        return repo.head.commit.hexsha


def edit_state(root: Path, edit, commit: bool) -> None:
    path = state_path(root / "state", "shop/shop/cart")
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data, indent=2))
    if commit:
        with Repo(root) as repo:
            repo.git.add("-A")
            repo.index.commit("hand edit")


def _set(**fields):
    def edit(data):
        for k, v in fields.items():
            if k.startswith("last_"):
                data["history"][-1][k[5:]] = v
            else:
                data[k] = v
    return edit


BAD_STATES = [
    ("step past the plan", _set(step=7, last_step=7), "step 7 is past the end of its plan (2 stages)"),
    ("negative failed checks", _set(failed_checks=-1), "failed_checks: Input should be greater than or equal to 0"),
    ("naive time", _set(checked_at="2030-01-01T12:00:00"), "checked_at: Input should have timezone info"),
    ("unknown phase", _set(phase="rolling"), "phase: Input should be 'waiting'"),
    ("weight off its stage", _set(weight=30, last_weight=30), "stage 1/2 (10%) routes 10%"),
    ("fields disagree with the last decision", _set(weight=50, step=1),
     "weight is 50 but the last recorded decision (start at 2030-01-01T12:00:00+00:00) left 10"),
    ("empty object", lambda d: d.clear(), "name: Field required"),
    ("a recorded plan edited", lambda d: next(iter(d["plans"].values()))["stages"][0].update(weight=30),
     "does not match its digest"),
]


@pytest.mark.parametrize("what, edit, why", BAD_STATES, ids=[b[0] for b in BAD_STATES])
def test_a_bad_committed_state_is_refused_naming_the_file(tmp_path, what, edit, why):
    root = started(tmp_path)
    edit_state(root, edit, commit=True)
    before = head(root)
    for args in (("step", "cart", "--now", at(1)), ("promote", "cart", "--now", at(1))):
        r = cli(root, *args)
        assert r.exit_code == 1 and "Traceback" not in r.output
        assert "canary state state/canaries/shop/shop/cart.json is not valid" in r.output and why in r.output
    compiled = runner.invoke(app, ["compile", "--root", str(root)])
    assert compiled.exit_code == 1 and "state/canaries/shop/shop/cart.json" in compiled.output
    assert head(root) == before  # nothing promoted, nothing committed
    with Repo(root) as repo:
        assert not repo.is_dirty(untracked_files=True)


def test_a_state_file_that_is_not_json_is_refused_naming_the_file(tmp_path):
    root = started(tmp_path)
    state_path(root / "state", "shop/shop/cart").write_text("{ oops")
    with Repo(root) as repo:
        repo.git.add("-A")
        repo.index.commit("garbage")
    for args in (("step", "cart", "--now", at(1)), ("status",)):
        r = cli(root, *args)
        assert r.exit_code == 1 and "canary state state/canaries/shop/shop/cart.json is not valid" in r.output
        assert "Invalid JSON" in r.output and "Traceback" not in r.output


def test_an_uncommitted_hand_edit_is_never_committed_as_a_decision(tmp_path):
    root = started(tmp_path)
    # A consistent edit (a whole plausible state) is still not the controller's decision.
    edit_state(root, _set(failed_checks=1, last_failed_checks=1), commit=False)
    edited = state_path(root / "state", "shop/shop/cart").read_bytes()
    before = head(root)
    r = cli(root, "step", "cart", "--now", at(1))
    assert r.exit_code == 1
    assert "state/canaries/shop/shop/cart.json has changes that the controller did not write" in r.output
    assert "git checkout -- state/canaries/shop/shop/cart.json" in r.output
    assert head(root) == before and state_path(root / "state", "shop/shop/cart").read_bytes() == edited
    with Repo(root) as repo:
        repo.git.checkout("--", "state")
    assert "advance 10% → 50%" in cli(root, "step", "cart", "--now", at(1)).output
    assert len(subjects(root)) == 3


def test_a_tick_never_overwrites_a_hand_edited_generated_file(tmp_path):
    root = started(tmp_path)
    vs = root / "generated/prod/shop/virtualservice-cart.yaml"
    vs.write_text(vs.read_text().replace("weight: 90", "weight: 95").replace("weight: 10", "weight: 5"))
    before = head(root)
    r = cli(root, "step", "cart", "--now", at(1))
    assert r.exit_code == 1 and "changed by hand" in r.output and "generated/prod/shop/virtualservice-cart.yaml" in r.output
    assert head(root) == before and "weight: 95" in vs.read_text()  # nothing decided, nothing overwritten
    with Repo(root) as repo:
        repo.git.checkout("--", "generated")
    assert "advance 10% → 50%" in cli(root, "step", "cart", "--now", at(1)).output
