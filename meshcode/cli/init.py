"""`meshcode init`: start a project (settings, a starter stack, workflows) without overwriting anything."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import typer

from meshcode.cli.main import app
from meshcode.errors import MeshcodeError


def _mesh_name(folder: Path) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", folder.resolve().name.lower()).strip("-")[:63].strip("-")
    return name or "mesh"


@app.command()
def init(
    path: Path = typer.Argument(Path("."), help="The project folder (created if missing)."),
    mesh: Optional[str] = typer.Option(None, "--mesh", help="The mesh's name (default: the folder's name)."),
) -> None:
    """Write pyproject.toml settings, a starter stack, GitHub workflows and .gitignore; never overwrite a file."""
    from meshcode.gitops.git import origin_url

    from meshcode.app.init import apply_init

    name = mesh or _mesh_name(path)
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) or len(name) > 63:
        raise MeshcodeError(f"mesh name {name!r} is not a DNS label (lower-case letters, digits, '-')", code="MC5000")
    path.mkdir(parents=True, exist_ok=True)
    url = origin_url(path)
    plan = apply_init(path, name, url if url and url.startswith("https://") else None)
    for f in plan:
        verb = {"create": "created", "append": "appended to", "keep": "kept"}[f.action]
        typer.echo(f"{verb:12} {f.path}  ({f.why})")
    typer.echo("next: `meshcode compile` writes generated/; `meshcode graph` draws the mesh")
