"""The `meshcode` console script. A plain `meshcode compile` with nothing to do (most runs in CI
and editor hooks) answers before the command line interface (typer, click, every command module)
is imported: it costs interpreter start-up, the input record and stats. Anything else runs the CLI.
"""
from __future__ import annotations

import sys
from pathlib import Path


def plain_compile_root(argv: list[str]) -> Path | None | bool:
    """The --root of `meshcode compile [--root DIR]` (None: the default), or False for any other command line."""
    if not argv or argv[0] != "compile":
        return False
    rest = argv[1:]
    if not rest:
        return None
    if len(rest) == 2 and rest[0] == "--root" and not rest[1].startswith("-"):
        return Path(rest[1])
    if len(rest) == 1 and rest[0].startswith("--root=") and len(rest[0]) > len("--root="):
        return Path(rest[0][len("--root="):])
    return False


def nothing_to_do(argv: list[str]) -> str | None:
    """The message of a plain compile that has nothing to do, or None (the full command then runs)."""
    if (root := plain_compile_root(argv)) is False:
        return None
    from meshcode.app.compile import up_to_date
    from meshcode.app.project import Project
    from meshcode.errors import MeshcodeError

    try:
        project = Project.open(root)
        if up_to_date(project):
            return f"{project.settings.output}/ is up to date: no input changed since the last compile"
    except (MeshcodeError, OSError):
        pass  # the full command says what is wrong
    return None


def main(prog_name: str | None = None) -> None:
    message = nothing_to_do(sys.argv[1:])
    if message is not None:
        print(message)
        return
    from meshcode.cli import app

    sys.argv[0] = sys.argv[0].removesuffix(".exe")
    app(prog_name=prog_name)
