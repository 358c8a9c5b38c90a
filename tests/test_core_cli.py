"""The `meshcode` command exists as installed (console script) and as `python -m meshcode`."""
from __future__ import annotations

import subprocess
import sys
import tomllib

from meshcode import __version__
from tests.support.core import run_cli
from tests.support.paths import ROOT


def test_pyproject_installs_the_meshcode_command() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["meshcode"] == "meshcode.entry:main"  # the no-op answers before typer loads
    module, _, attr = project["scripts"]["meshcode"].partition(":")
    import importlib

    assert callable(getattr(importlib.import_module(module), attr))
    proc = subprocess.run([sys.executable, "-c", "import sys; from meshcode.entry import main; "
                           "sys.argv = ['meshcode', '--help']; main()"], capture_output=True, text=True, cwd=ROOT,
                          check=False)
    assert proc.returncode == 0 and "compile" in proc.stdout, proc.stderr
    deps = " ".join(project["dependencies"]).lower()
    for needed in ("pydantic", "pyyaml", "typer"):
        assert needed in deps


def test_python_dash_m_meshcode_help() -> None:
    proc = subprocess.run([sys.executable, "-m", "meshcode", "--help"], capture_output=True, text=True, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "compile" in proc.stdout
    assert proc.stdout.lstrip().startswith("Usage: meshcode")


def test_help_lists_compile_and_its_check_flag() -> None:
    top = run_cli("--help")
    assert top.exit_code == 0 and "compile" in top.output
    sub = run_cli("compile", "--help")
    assert sub.exit_code == 0
    assert "--check" in sub.output and "--root" in sub.output


def test_version() -> None:
    result = run_cli("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"meshcode {__version__}"

