"""Real file-system faults for the write tests: a full disk, a read-only project, a mount point.

Each scenario runs in a private user + mount namespace (`unshare -rm`), so it needs no root on
the host and its mounts vanish with it: a 1 MiB tmpfs fills up for real, a read-only bind mount
refuses writes with EROFS. Run as `python -m tests.support.fsfaults SCENARIO WORKDIR`; it prints
one JSON object with what each compile returned and whether the tree stayed as it was.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.core import fingerprint
from tests.support.gitops import shop_stack

_BIG = """\
from meshcode import Cluster, Mesh, Port, Service

services = [Service(f"svc-{i}", namespace=f"ns-{i % 12}", ports=[Port(8080)], versions=["v1", "v2"])
            for i in range(400)]
mesh = Mesh("shop", clusters=[Cluster("prod")], services=services)
"""


def available() -> bool:
    """Whether this machine lets an unprivileged process mount a tmpfs in its own namespace."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs none /tmp"],
                           capture_output=True, check=False)
    return probe.returncode == 0


def run_scenario(name: str, workdir: Path) -> dict:
    proc = subprocess.run(["unshare", "-rm", sys.executable, "-m", "tests.support.fsfaults", name, str(workdir)],
                          capture_output=True, text=True, timeout=300, check=False,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def _compile(root: Path) -> dict:
    p = subprocess.run([sys.executable, "-m", "meshcode", "compile", "--root", str(root)],
                       capture_output=True, text=True, check=False)
    return {"rc": p.returncode, "out": p.stdout + p.stderr}


def _sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


def _staging(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith(".meshcode-staging"))


def main(name: str, workdir: Path) -> dict:
    mnt = workdir / "mnt"
    mnt.mkdir(parents=True, exist_ok=True)
    _sh("mount", "-t", "tmpfs", "-o", "size=1m", "none", str(mnt))
    root = mnt / "project"
    (root / "stacks").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[tool.meshcode]\n")
    stack = root / "stacks" / "shop.py"
    stack.write_text(shop_stack(weight=10))
    out = root / "generated"
    result: dict = {"first": _compile(root)}
    before = fingerprint(out)
    if name == "disk-full":
        stack.write_text(_BIG)  # ~2.5 MB of output on a 1 MiB disk
    else:
        stack.write_text(shop_stack(weight=20))
    if name == "read-only-project":
        _sh("mount", "--bind", str(root), str(root))
        _sh("mount", "-o", "remount,bind,ro", str(root))
    elif name == "read-only-output":
        _sh("mount", "--bind", str(out), str(out))
        _sh("mount", "-o", "remount,bind,ro", str(out))
    elif name == "mount-point-output":
        saved = workdir / "saved"
        shutil.copytree(out, saved, symlinks=True)
        _sh("mount", "-t", "tmpfs", "none", str(out))
        shutil.copytree(saved, out, symlinks=True, dirs_exist_ok=True, copy_function=shutil.copy2)
        for p in [out, *out.rglob("*")]:  # the copy's mtimes as the original's, so fingerprints compare
            rel = str(p.relative_to(out)) if p != out else None
            if rel in before:
                st = (saved / rel).stat()
                os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
        before = fingerprint(out)
    result["faulty"] = _compile(root)
    result["tree_intact"] = fingerprint(out) == before
    result["staging"] = _staging(root)
    result["pending"] = os.path.lexists(out / ".meshcode-pending")  # an incremental write's journal folder
    if name in ("read-only-project", "read-only-output", "mount-point-output"):
        _sh("umount", str(root if name == "read-only-project" else out))
    if name == "disk-full":
        stack.write_text(shop_stack(weight=20))
    result["next"] = _compile(root)
    result["staging_after"] = _staging(root)
    return result


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], Path(sys.argv[2]))))
