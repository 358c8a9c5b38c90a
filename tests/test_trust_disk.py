"""Disk faults while writing (issue 13): a clean error each, the old tree intact, no staging left.

Real faults where the machine allows them (a 1 MiB tmpfs, read-only bind mounts, a mount point,
in a private namespace: see tests/support/fsfaults.py); an injected ENOSPC at the write edge
everywhere.
"""
from __future__ import annotations

import errno
from pathlib import Path
from typing import Any, Callable

import pytest

from meshcode.gitops import tree
from tests.support import fsfaults
from tests.support.core import fingerprint
from tests.support.gitops import cli, shop_stack, write_stack

needs_namespaces = pytest.mark.skipif(not fsfaults.available(),
                                      reason="no unprivileged mount namespaces here (unshare -rm)")

EXPECTED = {
    "disk-full": "No space left on device",
    "read-only-project": "Read-only file system",
    "read-only-output": "Read-only file system",  # a later compile writes in place: the mount is no obstacle
}


@needs_namespaces
@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_a_real_disk_fault_is_a_clean_error_and_the_next_compile_works(tmp_path: Path, scenario: str) -> None:
    r = fsfaults.run_scenario(scenario, tmp_path)
    assert r["first"]["rc"] == 0, r["first"]["out"]
    faulty = r["faulty"]
    assert faulty["rc"] == 1, faulty["out"]
    assert EXPECTED[scenario] in faulty["out"] and "Traceback" not in faulty["out"], faulty["out"]
    assert r["tree_intact"], "the old tree changed"
    assert r["staging"] == [] and r["staging_after"] == [] and not r["pending"]
    assert r["next"]["rc"] == 0, r["next"]["out"]


@needs_namespaces
def test_an_output_folder_that_is_a_mount_point_is_written_in_place(tmp_path: Path) -> None:
    """Issue 22: a compile after the first writes only changed files inside the folder (no folder swap),
    so an output folder that is a mount point of its own is fine."""
    r = fsfaults.run_scenario("mount-point-output", tmp_path)
    assert r["first"]["rc"] == 0, r["first"]["out"]
    assert r["faulty"]["rc"] == 0 and " 0 changed" not in r["faulty"]["out"], r["faulty"]["out"]
    assert not r["tree_intact"] and not r["pending"] and r["staging"] == []
    assert r["next"]["rc"] == 0, r["next"]["out"]


def test_an_injected_disk_full_in_the_middle_of_the_write(make_project: Callable[..., Path],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(shop=shop_stack(with_catalog=True))
    assert cli("compile", root=root).exit_code == 0
    out = root / "generated"
    before = fingerprint(out)
    write_stack(root, "shop", shop_stack(weight=30))
    real_open = open
    calls = {"n": 0}

    def full_after_two(file: Any, mode: str = "r", *args: Any, **kw: Any) -> Any:
        if "w" in mode:
            calls["n"] += 1
            if calls["n"] > 2:
                raise OSError(errno.ENOSPC, "No space left on device", str(file))
        return real_open(file, mode, *args, **kw)

    monkeypatch.setattr(tree, "open", full_after_two, raising=False)
    result = cli("compile", root=root)
    assert result.exit_code == 1 and "No space left on device" in result.output
    assert "Traceback" not in result.output and calls["n"] == 3
    assert fingerprint(out) == before
    assert not [p for p in root.iterdir() if p.name.startswith(".meshcode-staging")]
    monkeypatch.undo()
    result = cli("compile", root=root)
    assert result.exit_code == 0 and "removed" in result.output
    assert cli("compile", "--check", root=root).exit_code == 0
