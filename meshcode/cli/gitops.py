"""`meshcode diff`: what a compile would change, per cluster, against the working tree or a git ref."""
from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from meshcode.cli.main import RootOption, app, fail_json, print_notes, warn_namespaces
from meshcode.errors import MeshcodeError
from meshcode.app.project import Project

if TYPE_CHECKING:  # loaded when the command runs, not with every `meshcode` command
    from meshcode.gitops.diff import ObjectChange, TreeDiff


_MARK = {"added": ("+", "green"), "changed": ("~", "yellow"), "removed": ("-", "red")}
_OP_COLOUR = {"add": "green", "remove": "red", "replace": "yellow", "move": "cyan", "copy": "cyan", "test": None}


class DiffFormat(str, Enum):
    patch = "patch"
    yaml = "yaml"
    json = "json"


def _summary_table(diff: TreeDiff) -> list[str]:
    rows = [(s.folder, s.added, s.changed, s.removed, s.unchanged) for s in diff.summary()]
    width = max([len("cluster")] + [len(r[0]) for r in rows])
    lines = [f"{'cluster':<{width}}  added  changed  removed  unchanged"]
    for folder, a, c, r, u in rows:
        lines.append(f"{folder:<{width}}  {a:>5}  {c:>7}  {r:>7}  {u:>9}")
    return lines


def _heading(c: ObjectChange, out: str) -> str:
    mark, colour = _MARK[c.change]
    return typer.style(f"{mark} {c.key.folder}: {c.key.describe()}  ({out}/{c.path})", fg=colour, bold=True)


def _show_patch(c: ObjectChange) -> None:
    for op in c.patch():
        typer.echo("    " + typer.style(json.dumps(op, sort_keys=False), fg=_OP_COLOUR.get(op.get("op"))))


def _show_yaml(c: ObjectChange, out: str) -> None:
    for line in c.yaml_diff(prefix=f"{out}/"):
        colour = None
        if line.startswith(("+++", "---")):
            colour = "bright_white"
        elif line.startswith("@@"):
            colour = "cyan"
        elif line.startswith("+"):
            colour = "green"
        elif line.startswith("-"):
            colour = "red"
        typer.echo(typer.style(line, fg=colour) if colour else line)


@app.command()
def diff(
    against: Optional[str] = typer.Option(None, "--against", metavar="REF",
                                          help="Compare with generated/ at this git ref (read from git, "
                                               "not the checkout); default: the working tree."),
    fmt: DiffFormat = typer.Option(DiffFormat.patch, "--format", "-f",
                                   help="patch: RFC 6902 JSON patch per changed object; yaml: unified YAML diff; "
                                        "json: everything, for machines."),
    as_json: bool = typer.Option(False, "--json", help="The same as --format json."),
    exit_code: bool = typer.Option(False, "--exit-code", help="Exit 1 when a compile would change something."),
    root: Optional[Path] = RootOption,
) -> None:
    """Show what `meshcode compile` would change, per cluster (writes nothing)."""
    from meshcode.app.diff import diff_project
    from meshcode.gitops.diff import diff_json, namespace_warnings

    try:
        project = Project.open(root)
        outcome = diff_project(project, against)
    except MeshcodeError as e:
        if as_json or fmt is DiffFormat.json:
            fail_json(e)
        raise
    build, label, result = outcome.build, outcome.label, outcome.diff
    out = project.settings.output
    changed_exit = 1 if exit_code and not result.empty else 0
    if as_json or fmt is DiffFormat.json:
        typer.echo(json.dumps(diff_json(result, label, out), indent=2))
        raise typer.Exit(changed_exit)
    print_notes(build.notes)
    warn_namespaces(namespace_warnings(result, out))
    if result.empty:
        typer.echo(f"no changes: {out}/ in the {label} is what a compile writes"
                   if against is None else f"no changes against {label}")
        return
    typer.echo(f"what a compile changes in {out}/, against {label}:")
    typer.echo("")
    for line in _summary_table(result):
        typer.echo(line)
    typer.echo("")
    spaced = True
    for c in result.changes:
        body = fmt is DiffFormat.yaml or c.change == "changed"
        if body and not spaced:
            typer.echo("")
        typer.echo(_heading(c, out))
        if fmt is DiffFormat.yaml:
            _show_yaml(c, out)
        elif c.change == "changed":
            _show_patch(c)
        if body:
            typer.echo("")
        spaced = body
    raise typer.Exit(changed_exit)
