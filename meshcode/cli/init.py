"""`meshcode init`: start a project (settings, a starter stack, workflows) without overwriting anything."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import typer

from meshcode.app.init import apply_init
<<<<<<< HEAD
from meshcode.cli.main import app
=======
from meshcode.cli import app, fail
>>>>>>> 221c727 (CLI as people expect it: exit 0 ok / 1 findings, stale tree, changes (diff --exit-code) / 2 usage; --json on compile and diff (JSON on stdout even when failing); plain help (no markup swallowing [tool.meshcode], flags shown as flags); shell completion on; graph/review/init rely on the one error handler)
from meshcode.errors import MeshcodeError
from meshcode.gitops.git import origin_url


def _mesh_name(folder: Path) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", folder.resolve().name.lower()).strip("-")[:63].strip("-")
    return name or "mesh"


@app.command()
def init(
    path: Path = typer.Argument(Path("."), help="The project folder (created if missing)."),
    mesh: Optional[str] = typer.Option(None, "--mesh", help="The mesh's name (default: the folder's name)."),
) -> None:
    """Write pyproject.toml settings, a starter stack, GitHub workflows and .gitignore; never overwrite a file."""
    name = mesh or _mesh_name(path)
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) or len(name) > 63:
<<<<<<< HEAD
        raise MeshcodeError(f"mesh name {name!r} is not a DNS label (lower-case letters, digits, '-')", code="MC5000")
=======
        fail(MeshcodeError(f"mesh name {name!r} is not a DNS label (lower-case letters, digits, '-')", code="MC5000"))
>>>>>>> 221c727 (CLI as people expect it: exit 0 ok / 1 findings, stale tree, changes (diff --exit-code) / 2 usage; --json on compile and diff (JSON on stdout even when failing); plain help (no markup swallowing [tool.meshcode], flags shown as flags); shell completion on; graph/review/init rely on the one error handler)
    path.mkdir(parents=True, exist_ok=True)
    url = origin_url(path)
    plan = apply_init(path, name, url if url and url.startswith("https://") else None)
    for f in plan:
        verb = {"create": "created", "append": "appended to", "keep": "kept"}[f.action]
        typer.echo(f"{verb:12} {f.path}  ({f.why})")
    typer.echo("next: `meshcode compile` writes generated/; `meshcode graph` draws the mesh")
