"""The incremental write (issue 22): only changed files are touched, and a compile killed at any
step of its write never leaves a mixture that anyone reading through git could see.

Every step of a write (each file written, folder made, link, rename, unlink) is a kill point:
tests/support/killpoint.py SIGKILLs the compile just before step N, for every N. After each kill:
the tree is the old one or the new one, or the write's journal is there; the files it wrote are
never reported as hand edits, a real hand edit still is; foreign files are untouched; the next
compile (plain, or --commit) leaves exactly the new tree, and the commit holds exactly it.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from git import Repo

from meshcode.app.project import Project
from meshcode.errors import WriteError
from meshcode.gitops.git import owned_at_ref
from meshcode.gitops.snapshot import HandEdit, hand_edits
from meshcode.gitops.tree import MANIFEST, PENDING, manifest_bytes, record_path, unfinished
from tests.support.gitops import cli, init_repo, write_stack

STACK = """\
from meshcode import Canary, Cluster, Mesh, Port, Service

services = [Service(f"svc-{{i}}", namespace=f"ns-{{i}}", ports=[Port(8080)], versions=["v1", "v2"],
                    canary=Canary(stable="v1", candidate="v2", weight={weight}))
            for i in range({first}, {first} + 3)]
mesh = Mesh("small", clusters=[Cluster("a")], services=services)
"""


def stack(variant: int) -> str:
    """Variant 1 changes every weight, drops svc-0 (and its namespace folder) and adds svc-3."""
    return STACK.format(weight=10 if variant == 0 else 20, first=variant)


def tree(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def visible(out: Path) -> dict[str, bytes]:
    """The tree as a reader sees it, without an unfinished write's pending folder."""
    return {p: b for p, b in tree(out).items() if not p.startswith(PENDING + "/")}


def expected(root: Path, variant: int) -> dict[str, bytes]:
    write_stack(root, "small", stack(variant))
    files = Project.open(root).build().files
    return {**files, MANIFEST: manifest_bytes(files)}


FOREIGN = {"README.md": b"notes by hand\n", "a/ns-0/notes.txt": b"kept when ns-0 goes\n"}


def run_killed(root: Path, step: int, *args: str) -> tuple[int, int]:
    """(return code, steps the run made) of a compile SIGKILLed before its write's step `step`."""
    count = root.parent / "steps"
    count.unlink(missing_ok=True)
    proc = subprocess.run([sys.executable, "-m", "tests.support.killpoint", str(step), str(count), "compile",
                           *args, "--root", str(root)], capture_output=True, text=True, timeout=120, check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, int(count.read_text()) if count.exists() else -1


@pytest.fixture
def small(make_project) -> tuple[Path, dict[str, bytes], dict[str, bytes], str]:
    root = make_project(small=stack(0))
    Project.open(root).lock()  # makes .meshcode/ (ignored by git) before the builds below cache in it
    new = expected(root, 1)
    old = expected(root, 0)
    assert set(old) - set(new) and set(new) - set(old)  # removals and additions, not only changes
    same = sorted(p for p in old if p in new and old[p] == new[p] and p.endswith(".yaml")
                  and not p.endswith("kustomization.yaml"))
    init_repo(root)
    assert cli("compile", "--commit", root=root).exit_code == 0
    for rel, data in FOREIGN.items():
        (root / "generated" / rel).write_bytes(data)
    return root, old, new, same[0]


def owned(out: Path) -> dict[str, bytes]:
    return {p: b for p, b in visible(out).items() if p not in FOREIGN}


def test_a_write_killed_at_every_step_never_shows_a_mixture(small) -> None:
    root, old, new, edited = small
    out = root / "generated"
    target = out / edited
    step, done, journals = 0, False, 0
    while not done:
        target.write_bytes(old[edited] + b"# a hand edit\n")  # reported while it is there, nothing else is
        write_stack(root, "small", stack(1))
        code, steps = run_killed(root, step)
        done = code == 0
        assert code in (0, -9), code
        now = owned(out)
        if unfinished(out):
            journals += 1
        else:  # no journal: a whole tree (the hand edit aside)
            assert {**now, edited: old[edited]} in (old, new), f"a mixture without a journal after step {step}"
        assert all((out / rel).read_bytes() == data for rel, data in FOREIGN.items())
        overwritten = target.read_bytes() == new[edited]  # the compile restores it (a plain compile warns)
        assert overwritten or target.read_bytes() == old[edited] + b"# a hand edit\n"
        still = [] if overwritten else [HandEdit(edited, "edited")]
        assert hand_edits(out, record_path(root)) == still, f"after step {step}"
        if step % 2:  # the next compile repairs, and a commit holds exactly the new tree
            result = cli("compile", "--commit", "--force", root=root)
            assert result.exit_code == 0, result.output
            repo_tree = owned_at_ref(Repo(root), "HEAD", "generated")[1]
            assert {**repo_tree, MANIFEST: new[MANIFEST]} == new
            assert (out / MANIFEST).read_bytes() == new[MANIFEST]
        else:
            result = cli("compile", root=root)
            assert result.exit_code == 0, result.output
        assert owned(out) == new and not unfinished(out), f"not repaired after a kill at step {step}"
        assert hand_edits(out, record_path(root)) == []
        assert all((out / rel).read_bytes() == data for rel, data in FOREIGN.items())
        write_stack(root, "small", stack(0))
        assert cli("compile", root=root).exit_code == 0
        assert owned(out) == old
        step += 1
    assert step > 10 and journals >= step // 2  # the kills landed all through the write


def test_a_first_compile_killed_leaves_no_tree_or_the_whole_tree(make_project) -> None:
    root = make_project(small=stack(1))
    out = root / "generated"
    new = expected(root, 1)
    _, total = run_killed(root, 10 ** 9)
    for step in sorted({0, 1, 2, 5, total // 2, total - 2, total - 1}):
        for p in (out, *root.glob(".meshcode-staging-*")):
            subprocess.run(["rm", "-rf", str(p)], check=True)
        code, _ = run_killed(root, step)
        assert code == -9
        assert not out.exists() or owned(out) == new
        assert cli("compile", root=root).exit_code == 0
        assert owned(out) == new and not list(root.glob(".meshcode-staging-*"))


def test_nothing_is_committed_while_a_write_is_unfinished(small) -> None:
    root, _old, _new, _edited = small
    out = root / "generated"
    write_stack(root, "small", stack(1))
    code, _ = run_killed(root, 8)
    assert code == -9 and unfinished(out)
    pending = Project.open(root).prepare_commit(force=True)
    with pytest.raises(WriteError, match="unfinished write"):
        pending.commit("must not happen")


def test_a_change_touches_only_the_changed_files(small) -> None:
    root, old, new, _edited = small
    out = root / "generated"
    before = {p: (out / p).stat() for p in old}
    write_stack(root, "small", stack(1))
    assert cli("compile", root=root).exit_code == 0
    for p, st in before.items():
        if p in new and new[p] == old[p]:  # same inode, same ctime: git does not even re-hash it
            now = (out / p).stat()
            assert (now.st_ino, now.st_mtime_ns, now.st_ctime_ns) == (st.st_ino, st.st_mtime_ns, st.st_ctime_ns), p
    assert not (out / "a" / "ns-0" / "virtualservice-svc-0.yaml").exists()
    assert (out / "a" / "ns-0" / "notes.txt").read_bytes() == FOREIGN["a/ns-0/notes.txt"]


def test_an_unchanged_file_is_not_read_back(small, monkeypatch) -> None:
    """Hand edits are found by stat: a file whose (size, mtime, ctime, inode) did not change is not opened."""
    root, _old, _new, edited = small
    out = root / "generated"
    assert cli("compile", "--no-cache", root=root).exit_code == 0  # the record's files are older than it now
    (out / edited).write_bytes((out / edited).read_bytes() + b"# edited\n")
    from meshcode.gitops import tree as tree_module

    opened: list[str] = []
    real = tree_module._current

    def spy(path: str):
        opened.append(path)
        return real(path)

    monkeypatch.setattr(tree_module, "_current", spy)
    assert hand_edits(out, record_path(root)) == [HandEdit(edited, "edited")]
    assert [Path(p).relative_to(out).as_posix() for p in opened] == [edited]


@pytest.mark.parametrize("failing", [1, 2, 4, 7])
def test_a_disk_error_midway_through_the_renames_is_undone(small, monkeypatch, failing: int) -> None:
    """A rename or link refused (EACCES, EIO) after some files were already replaced: every step is
    put back (same bytes, same inode, same mtime), no journal is left, and the next compile works."""
    import errno
    import os

    from meshcode.gitops import tree as tree_module

    root, old, new, _edited = small
    out = root / "generated"

    def files_state() -> dict[str, tuple[bytes, int, int]]:
        return {p: ((out / p).read_bytes(), (out / p).stat().st_mtime_ns, (out / p).stat().st_ino)
                for p in visible(out)}

    before = files_state()
    calls = {"n": 0}

    class FailingOs:
        def __getattr__(self, name: str):
            real = getattr(os, name)
            if name not in ("replace", "rename"):
                return real

            def step(*a, **kw):
                if str(a[0]).endswith("/journal.tmp"):
                    return real(*a, **kw)  # the journal (phase 1) passes; every rename after it may fail
                calls["n"] += 1
                if calls["n"] == failing:
                    raise OSError(errno.EACCES, "Permission denied", str(a[-1]))
                return real(*a, **kw)
            return step

    write_stack(root, "small", stack(1))
    monkeypatch.setattr(tree_module, "os", FailingOs())
    result = cli("compile", root=root)
    monkeypatch.undo()
    assert result.exit_code == 1 and "Permission denied" in result.output and "Traceback" not in result.output
    assert calls["n"] >= failing  # it failed where asked (failing - 1 steps done; the undo renames count too)
    assert files_state() == before and not unfinished(out)
    assert cli("compile", root=root).exit_code == 0
    assert owned(out) == new
