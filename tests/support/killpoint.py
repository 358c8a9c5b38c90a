"""Run `meshcode ARGS` and SIGKILL the process itself just before the write's N-th file-system step.

    python -m tests.support.killpoint N COUNT_FILE meshcode-args...

The steps are every call the writer (meshcode.gitops.tree) makes that changes the disk: a file
opened for writing, mkdir, link, rename/replace, unlink, rmdir. Killing before step N, for every
N, puts the kill at every point of a write; COUNT_FILE receives the number of steps a run made
when it was not killed (N larger than that). A test harness only: the product has no hook.
"""
from __future__ import annotations

import builtins
import os
import signal
import sys
from typing import Any, Callable

from meshcode.gitops import tree


def main(limit: int, count_file: str, args: list[str]) -> None:
    steps = {"n": 0}

    def step() -> None:
        if steps["n"] == limit:
            os.kill(os.getpid(), signal.SIGKILL)
        steps["n"] += 1

    def counted(fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*a: Any, **kw: Any) -> Any:
            step()
            return fn(*a, **kw)
        return run

    real_open = builtins.open

    def counted_open(file: Any, mode: str = "r", *a: Any, **kw: Any) -> Any:
        if any(c in mode for c in "wax+"):
            step()
        return real_open(file, mode, *a, **kw)

    class CountingOs:  # meshcode.gitops.tree's view of `os`: every mutating call counts as a step
        def __getattr__(self, name: str) -> Any:
            real = getattr(os, name)
            if name in ("mkdir", "makedirs", "link", "rename", "replace", "unlink", "rmdir", "open", "write"):
                return counted(real)
            return real

    tree.os = CountingOs()  # type: ignore[attr-defined]
    tree.open = counted_open  # type: ignore[attr-defined]
    real_rmtree = tree.shutil.rmtree

    class CountingShutil:
        rmtree = staticmethod(counted(real_rmtree))

    tree.shutil = CountingShutil()  # type: ignore[attr-defined]
    from meshcode.cli import app

    sys.argv = ["meshcode", *args]
    try:
        app()
    finally:
        with real_open(count_file, "w") as f:
            f.write(str(steps["n"]))


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3:])
