"""Stacks run from their source bytes, whatever Python's bytecode cache holds."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from meshcode.loader import load_stacks

STACK = '''\
from meshcode import Cluster, Mesh, Service
from {helper} import TIMEOUT

mesh = Mesh("m", clusters=[Cluster("prod")], services=[Service("cart", namespace="shop", ports=8080, timeout=TIMEOUT)])
'''


def _write_same_size_and_mtime(path: Path, text: str) -> None:
    """Replace a file's bytes keeping its size and mtime: what Python checks before trusting a .pyc."""
    st = path.stat()
    assert len(text.encode()) == st.st_size
    path.write_text(text)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.parametrize("where", ["stacks", "root"])
def test_an_edit_with_the_same_size_and_mtime_runs_the_new_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   where: str) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)  # as a user's Python runs: caches .pyc files
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    helper_dir = stacks if where == "stacks" else tmp_path
    helper_name = "_settings" if where == "stacks" else "settings_shared"
    helper = helper_dir / f"{helper_name}.py"
    helper.write_text('TIMEOUT = "2s"\n')
    (stacks / "shop.py").write_text(STACK.format(helper=helper_name))

    first = load_stacks(stacks, tmp_path)
    assert first[0].services[0].timeout == "2s"

    _write_same_size_and_mtime(helper, 'TIMEOUT = "3s"\n')
    second = load_stacks(stacks, tmp_path)
    assert second[0].services[0].timeout == "3s"
    assert not any(p.name == "__pycache__" for p in tmp_path.rglob("*")), "nothing is written beside the stacks"
