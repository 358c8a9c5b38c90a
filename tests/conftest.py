from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from typing import Callable

import pytest

from tests.support.paths import ROOT


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Path]:
    """A fresh project folder with the given stack files: make_project(bookinfo=SOURCE, ...)."""

    def make(copy_repo_stacks: bool = False, **stacks: str) -> Path:
        root = tmp_path / "project"
        (root / "stacks").mkdir(parents=True, exist_ok=True)
        (root / "pyproject.toml").write_text('[tool.meshcode]\nrepo_url = "https://example.com/mesh.git"\n')
        if copy_repo_stacks:
            for p in (ROOT / "stacks").glob("*.py"):
                shutil.copy(p, root / "stacks" / p.name)
        for name, source in stacks.items():
            (root / "stacks" / f"{name}.py").write_text(textwrap.dedent(source))
        return root

    return make


@pytest.fixture(autouse=True)
def _test_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests drive canary time with `--now` (e.g. 2030); outside tests a future --now is refused."""
    monkeypatch.setenv("MESHCODE_TEST_CLOCK", "1")
