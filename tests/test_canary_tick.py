"""A tick runs the stacks once, and compiles only when a decision changes what the compiler reads (issue 22).

The compiler reads a canary state only through `canary_routing` (stable, candidate, weight,
mirror, A/B, succeeded/failed): a decision that changes none of these (a pause, a resume, a
failed check, a recorded hold) commits the state file alone, and the output on disk stays
byte for byte what a fresh compile of the committed stacks and states writes.
"""
from __future__ import annotations

import ast
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from git import Repo
from typer.testing import CliRunner

from meshcode.app.compile import up_to_date
from meshcode.app.project import Project
from meshcode.cli import app
from tests.support.canary import candidate_weights, git_project, stack_source
from tests.support.paths import ROOT

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
STATE = "state/canaries/shop/shop/cart.json"
runner = CliRunner()


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def cli(root: Path, *args: str):
    r = runner.invoke(app, ["canary", *args, "--root", str(root)])
    assert "Traceback" not in r.output
    return r


def head_files(root: Path) -> set[str]:
    with Repo(root) as repo:
        assert not repo.is_dirty(untracked_files=True)
        return set(repo.head.commit.stats.files)


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def fresh_compile(root: Path, where: Path) -> dict[str, bytes]:
    """generated/ as a cold compile of the project's stacks and canary state writes it, in another folder."""
    where.mkdir()
    for name in ("stacks", "state"):
        shutil.copytree(root / name, where / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(root / "pyproject.toml", where / "pyproject.toml")
    r = runner.invoke(app, ["compile", "--root", str(where)])
    assert r.exit_code == 0, r.output
    return tree(where / "generated")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return git_project(tmp_path / "repo", stack_source('steps=[10, 50], interval="1m"', imports="Match"))


def test_a_decision_that_moves_no_traffic_commits_the_state_alone(root, tmp_path):
    assert "start 0% → 10%" in cli(root, "step", "cart", "--now", at(0)).output
    assert {STATE, "generated/prod/shop/virtualservice-cart.yaml"} <= head_files(root)
    for i, (command, minutes) in enumerate((("pause", 0.2), ("resume", 0.4))):
        r = cli(root, command, "cart", "--now", at(minutes))
        assert r.exit_code == 0 and "committed" in r.output
        assert head_files(root) == {STATE}  # nothing the compiler reads changed: no compile, no write
        assert tree(root / "generated") == fresh_compile(root, tmp_path / f"fresh-{i}")
        assert up_to_date(Project.open(root))  # and a compile afterwards has nothing to do
    assert "advance 10% → 50%" in cli(root, "step", "cart", "--now", at(2)).output
    assert "generated/prod/shop/virtualservice-cart.yaml" in head_files(root)  # the weight moved: compiled
    assert tree(root / "generated") == fresh_compile(root, tmp_path / "fresh-advance")
    assert candidate_weights(root) == [None, 10, 10, 10, 50]


def test_a_move_of_traffic_is_compiled_even_when_the_output_was_not_left_by_meshcode(root, tmp_path):
    """Without the input record of the last compile the tick cannot know the output is current: it compiles."""
    cli(root, "step", "cart", "--now", at(0))
    (root / ".meshcode" / "inputs.json").unlink()
    assert cli(root, "pause", "cart", "--now", at(0.2)).exit_code == 0
    assert head_files(root) == {STATE}  # the compile wrote the same bytes: git records only the state
    assert tree(root / "generated") == fresh_compile(root, tmp_path / "fresh")
    assert up_to_date(Project.open(root))


def test_the_stacks_run_once_per_tick(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    monkeypatch.setenv("STACK_RUNS", str(runs))
    source = "import os\nopen(os.environ['STACK_RUNS'], 'a').write('x')\n" + \
        stack_source('steps=[10, 50], interval="1m"', imports="Match")
    root = git_project(tmp_path / "repo", source)
    # never twice in one tick; not at all when nothing they read changed and nothing is compiled (the plan
    # kept by the last run, meshcode.app.plancache); once for a move of traffic, which is compiled
    for minutes, says, ran in ((0, "start", "x"), (0.5, "wait", ""), (1, "advance", "x"), (1.5, "wait", "")):
        before = runs.read_text() if runs.exists() else ""
        assert says in cli(root, "step", "cart", "--now", at(minutes)).output
        assert runs.read_text() == before + ran, f"the stacks ran {len(runs.read_text()) - len(before)} times"


def test_the_compiler_reads_canary_state_only_through_canary_routing():
    """What lets a tick skip the compile: every canary state the compiler looks up goes straight into
    canary_routing, which reads only routing_inputs (so equal routing inputs give equal output)."""
    for path in sorted((ROOT / "meshcode" / "compile").glob("*.py")):
        module = ast.parse(path.read_text())
        parents = {child: node for node in ast.walk(module) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(module):
            if isinstance(node, ast.Attribute) and node.attr == "states" and path.name != "context.py":
                pytest.fail(f"{path.name}:{node.lineno} reads the canary states directly")
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "canary_state"):
                continue
            parent = parents[node]
            if _routing_call(parent):
                continue
            assert isinstance(parent, ast.Assign) and len(parent.targets) == 1 \
                and isinstance(parent.targets[0], ast.Name), f"{path.name}:{node.lineno}"
            name = parent.targets[0].id
            function = next(p for p in _ancestors(parent, parents) if isinstance(p, ast.FunctionDef))
            uses = [n for n in ast.walk(function) if isinstance(n, ast.Name) and n.id == name
                    and isinstance(n.ctx, ast.Load)]
            assert uses, f"{path.name}:{node.lineno}"
            for use in uses:
                assert _routing_call(parents[use]), f"{path.name}:{use.lineno}: canary state used outside canary_routing"


def _routing_call(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "canary_routing"


def _ancestors(node: ast.AST, parents: dict[ast.AST, ast.AST]):
    while node in parents:
        node = parents[node]
        yield node


TWO = '''\
import os
from meshcode import Canary, Cluster, Mesh, Port, Rollout, Service

open(os.environ["STACK_RUNS"], "a").write("x")

def svc(name):
    return Service(name, namespace="shop", ports=[Port(8080)], versions=["v1", "v2"],
                   canary=Canary(stable="v1", candidate="v2", rollout=Rollout(steps=[10, 50], interval="1m")))

mesh = Mesh("shop", clusters=[Cluster("prod")], services=[svc("cart"), svc("pay")])
'''


def test_step_all_runs_the_stacks_once_for_every_canary(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    monkeypatch.setenv("STACK_RUNS", str(runs))
    root = git_project(tmp_path / "repo", TWO)
    r = cli(root, "step", "--all", "--now", at(0))
    assert r.exit_code == 0 and r.output.count("start 0% → 10%") == 2, r.output
    assert runs.read_text() == "x"
    with Repo(root) as repo:
        assert not repo.is_dirty(untracked_files=True)
    assert candidate_weights(root, service="pay") == [None, 0, 10]  # each canary its own commit
    assert candidate_weights(root, service="cart") == [None, 10, 10]
