"""Writes never leave a mixture unmarked, and compiles never interleave.

A compile of a large synthetic stack is SIGKILLed at seeded random moments while it writes:
the output folder must then hold exactly the old tree or exactly the new one, or the write's
journal (an incremental write, issue 22: what git and Argo CD see is never that folder mid-write,
see tests/test_write_incremental.py), and the next compile must succeed, leave exactly the new
tree and clean what the killed one left. Concurrent compiles in one project either run one after
the other or the second stops with the lock message.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from meshcode.gitops.tree import MANIFEST, PENDING, manifest_bytes, unfinished
from meshcode.app.project import Project
from tests.support.gitops import cli, cli_subprocess, shop_stack, write_stack

SERVICES = 300

BIG = """\
from meshcode import Canary, Cluster, Mesh, Port, Service

services = [Service(f"svc-{{i}}", namespace=f"ns-{{i % 12}}", ports=[Port(8080)], versions=["v1", "v2"],
                    canary=Canary(stable="v1", candidate="v2", weight={weight}))
            for i in range({first}, {first} + {count})]
mesh = Mesh("big", clusters=[Cluster("a")], services=services)
"""


def big_stack(variant: int) -> str:
    """Two variants that differ in weights (changed files) and in services (added/removed files)."""
    return BIG.format(weight=10 if variant == 0 else 20, first=0 if variant == 0 else SERVICES // 4,
                      count=SERVICES)


def tree(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def expected_tree(root: Path, variant: int) -> dict[str, bytes]:
    """What a complete compile of the variant leaves in generated/ (files + ownership manifest)."""
    write_stack(root, "big", big_stack(variant))
    files = Project.open(root).build().files
    return {**files, MANIFEST: manifest_bytes(files)}


def staging_dirs(root: Path) -> list[Path]:
    return [p for p in root.iterdir() if p.name.startswith(".meshcode-staging-")]


def start_compile(root: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "meshcode", "compile", "--root", str(root)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def big_project(make_project) -> tuple[Path, list[dict[str, bytes]]]:
    root = make_project(big=big_stack(0))
    trees = [expected_tree(root, 0), expected_tree(root, 1)]
    assert len(set(trees[0]) ^ set(trees[1])) > 100  # the variants add and remove files, not only change
    return root, trees


def write_phase(root: Path, proc: subprocess.Popen) -> float:
    """Wait until this compile starts writing (its staging folder, or its pending folder, appears)."""
    own_stage = root / f".meshcode-staging-generated-{proc.pid}"
    pending = root / "generated" / PENDING
    while proc.poll() is None and not own_stage.exists() and not pending.exists():
        time.sleep(0.001)
    return time.monotonic()


def visible(out: Path) -> dict[str, bytes]:
    return {p: b for p, b in tree(out).items() if not p.startswith(PENDING + "/")}


def test_a_compile_killed_mid_write_leaves_the_old_or_the_new_tree(big_project) -> None:
    root, trees = big_project
    out = root / "generated"
    write_stack(root, "big", big_stack(0))
    proc = start_compile(root)
    started = write_phase(root, proc)
    assert proc.wait() == 0
    span = max(time.monotonic() - started, 0.05)  # how long one write takes here: kills land inside it
    current = 0
    rng = random.Random(6)  # seeded: the same kill moments (as fractions of a write) every run
    killed = 0
    for _ in range(5):
        target = 1 - current
        write_stack(root, "big", big_stack(target))
        proc = start_compile(root)
        write_phase(root, proc)
        time.sleep(rng.uniform(0, 1.2) * span)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            killed += 1
        proc.communicate()
        now = visible(out)
        assert now in (trees[0], trees[1]) or unfinished(out), "a mixture of the old and the new tree, unmarked"
        current = 0 if now == trees[0] else 1 if now == trees[1] else target
    assert killed >= 2  # the kills did land while compiles were writing
    result = cli_subprocess("compile", root=root)  # recovers: finishes or redoes the write, cleans what is left
    assert result.returncode == 0, result.stderr
    assert tree(out) == trees[target]
    assert not staging_dirs(root) and not unfinished(out)


def test_a_second_compile_gets_the_lock_message(make_project) -> None:
    root = make_project(shop=shop_stack(10))
    assert cli("compile", root=root).exit_code == 0
    before = tree(root / "generated")
    write_stack(root, "shop", shop_stack(30))
    with Project.open(root).locked():  # another meshcode command is running
        for args in (("compile",), ("compile", "--commit")):
            result = cli_subprocess(*args, root=root)
            assert result.returncode == 1
            assert "MC4002" in result.stderr and "another meshcode command holds" in result.stderr
            assert tree(root / "generated") == before
    assert cli("compile", root=root).exit_code == 0
    assert "weight: 30" in (root / "generated/prod/shop/virtualservice-cart.yaml").read_text()


def test_concurrent_compiles_never_interleave(big_project) -> None:
    root, trees = big_project
    write_stack(root, "big", big_stack(1))
    procs = [start_compile(root) for _ in range(2)]
    results = [(p.wait(), p.communicate()[1]) for p in procs]
    assert all(code == 0 or (code == 1 and "another meshcode command holds" in err) for code, err in results)
    assert any(code == 0 for code, _ in results)
    assert tree(root / "generated") == trees[1]
    assert not staging_dirs(root)
