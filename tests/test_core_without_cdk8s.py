"""The core package needs neither cdk8s, jsii, constructs nor Node.js.

The check runs in a fresh interpreter where an import hook refuses those three packages and
PATH holds no `node`: every core module is imported, `meshcode compile` runs a real project,
and afterwards none of them is loaded. (A hook rather than a second virtualenv: the same
proof — no import path reaches cdk8s — without installing the dependencies again in CI.)
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support.paths import ROOT

SCRIPT = textwrap.dedent("""\
    import importlib, importlib.abc, pkgutil, shutil, sys

    BLOCKED = {"cdk8s", "jsii", "constructs"}

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"No module named {name!r} (blocked)", name=name)
            return None

    sys.meta_path.insert(0, Refuse())
    assert shutil.which("node") is None, "node is on PATH"

    import meshcode
    for mod in pkgutil.walk_packages(meshcode.__path__, "meshcode."):
        if mod.name not in ("meshcode.integrations.cdk8s", "meshcode.__main__"):
            importlib.import_module(mod.name)

    from meshcode.cli import app
    app(["compile", "--root", sys.argv[1]], standalone_mode=False)

    loaded = sorted(n for n in sys.modules if n.split(".")[0] in BLOCKED)
    assert not loaded, loaded
    try:
        import meshcode.integrations.cdk8s
    except ImportError as e:
        print("integration:", e)
    else:
        raise AssertionError("the cdk8s integration imported without cdk8s")
    print("core ok")
""")


def test_import_and_compile_without_cdk8s_or_node(make_project, tmp_path: Path) -> None:
    root = make_project(copy_repo_stacks=True)
    no_node = tmp_path / "bin"  # PATH with git (GitPython wants it) and nothing else
    no_node.mkdir()
    git = shutil.which("git")
    if git:
        (no_node / "git").symlink_to(git)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JSII", "CDK8S"))}
    env.update(PATH=str(no_node), PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(root)], capture_output=True, text=True, env=env,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "core ok" in proc.stdout
    assert "pip install 'meshcode[cdk8s]'" in proc.stdout  # the integration says what to install
    assert any((root / "generated").rglob("destinationrule-*.yaml"))
