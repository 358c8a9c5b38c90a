"""Every ```python block of README.md runs as written, each on its own (as a user copies it).

A block runs in a fresh interpreter in an empty folder. A block whose first line is
`# run in <folder>` (a folder of this repository) runs in a copy of that folder, as its text says.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT

FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
RUN_IN = re.compile(r"^# run in (\S+?)/?$")


def blocks() -> list[tuple[int, str]]:
    text = (ROOT / "README.md").read_text()
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in FENCE.finditer(text)]


def test_the_readme_has_python_blocks() -> None:
    assert len(blocks()) >= 8


@pytest.mark.parametrize("line, code", blocks(), ids=[f"README.md:{n}" for n, _ in blocks()])
def test_readme_block_runs_as_written(line: int, code: str, tmp_path: Path) -> None:
    first = code.splitlines()[0] if code else ""
    where = RUN_IN.match(first)
    cwd = tmp_path / "work"
    if where:
        shutil.copytree(ROOT / where.group(1), cwd, ignore=shutil.ignore_patterns("dist", "__pycache__", ".venv"))
    else:
        cwd.mkdir()
    script = cwd / "readme_block.py"
    script.write_text("\n" * (line - 1) + code)  # errors point at the README's own line numbers
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(cwd), str(ROOT)])}
    proc = subprocess.run([sys.executable, str(script)], cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, f"README.md:{line} fails when run as written:\n{proc.stderr[-3000:]}"
