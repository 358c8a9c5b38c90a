"""Helpers for the GitOps tests: real temp git repositories, the CLI in-process, a small stack."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from click.testing import Result
from git import Repo
from typer.testing import CliRunner

from meshcode.cli import app

SHOP = """\
from meshcode import Canary, Cluster, IstioInstall, Mesh, Port, Service

W = {weight}
cart = Service("cart", namespace="shop", ports=[Port(8080)], versions=["v1", "v2"],
               canary=Canary(stable="v1", candidate="v2", weight=W))
{extra}
mesh = Mesh("shop", clusters=[Cluster("prod"), Cluster("staging")], services=[cart{more}],
            install=IstioInstall(method="istioctl"))
"""


def shop_stack(weight: int = 10, with_catalog: bool = False) -> str:
    """A two-cluster stack; `with_catalog` adds a second service (4 more objects per cluster)."""
    extra = ('catalog = Service("catalog", namespace="shop", ports=[Port(8080)], versions=["v1"])'
             if with_catalog else "")
    return SHOP.format(weight=weight, extra=extra, more=", catalog" if with_catalog else "")


def write_stack(root: Path, name: str, source: str) -> None:
    (root / "stacks" / f"{name}.py").write_text(textwrap.dedent(source))


def init_repo(root: Path) -> Repo:
    """A real git repository at `root` with an identity and everything committed."""
    repo = Repo.init(root, initial_branch="main")
    with repo.config_writer() as cw:
        cw.set_value("user", "name", "Test")
        cw.set_value("user", "email", "test@example.com")
        cw.set_value("commit", "gpgsign", "false")
    repo.git.add("--all")
    repo.git.commit("-q", "-m", "initial")
    return repo


def cli(*args: str, root: Path, color: bool = False) -> Result:
    """Run `meshcode ARGS --root ROOT` in-process."""
    return CliRunner().invoke(app, [*args, "--root", str(root)], color=color)


def cli_subprocess(*args: str, root: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "meshcode", *args, "--root", str(root)],
                          capture_output=True, text=True, timeout=timeout, check=False)


def committed_paths(repo: Repo, rev: str = "HEAD") -> list[str]:
    """Paths a commit touched (relative to the repository)."""
    return sorted(repo.git.show("--name-only", "--format=", rev).split())


def crdcheck_against(crds: str, *paths: Path) -> tuple[int, str]:
    """The independent checker (tests/support/crdcheck.py) with one folder of the bundled CRDs (loading all is slow)."""
    from tests.support.paths import CRDCHECK, CRDS
    proc = subprocess.run([sys.executable, str(CRDCHECK), "--crds", str(CRDS / crds), *map(str, paths)],
                          capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout + proc.stderr
