"""`meshcode import`: existing Istio YAML → a stack file and a report of what was kept verbatim."""
from __future__ import annotations

from typing import TYPE_CHECKING

import os
from dataclasses import replace
from pathlib import Path

import typer

from meshcode.cli.main import app
from meshcode.errors import SourceLocation, StackError, portable_path
from meshcode.plan import Resource

if TYPE_CHECKING:  # loaded when the command runs, not with every `meshcode` command
    from meshcode.importer import ImportResult


_MARK = {"imported": "imported", "verbatim": "verbatim", "skipped": "skipped ", "refused": "REFUSED "}


@app.command("import")
def import_yaml(
    paths: list[Path] = typer.Argument(..., help="Istio YAML: files or folders (multi-document, kind: List, "
                                                 "kustomize build output)."),
    output: Path = typer.Option(Path("stacks/imported.py"), "--output", "-o", help="The stack file to write "
                                "(never overwritten)."),
    mesh: str = typer.Option("imported", "--mesh", help="Name of the Mesh in the stack."),
    cluster: str = typer.Option("default", "--cluster", help="Name of the Cluster in the stack."),
) -> None:
    """Write a stack that says what the YAML in PATHS says, and report what was kept verbatim and why."""
    from meshcode.analyze.loader import load_paths
    from meshcode.importer import import_resources

    if output.exists() or output.is_symlink():
        raise StackError(f"{output} exists; meshcode import never overwrites a file: pass --output NEW.py",
                         SourceLocation(str(output), 1))
    for p in paths:
        if not p.exists():
            raise StackError(f"{p}: no such file or folder", SourceLocation(str(p), 0))
    resources, findings = load_paths(paths)
    root = os.getcwd()

    def where(r: Resource) -> str:
        return f"{portable_path(r.origin.file, root)}:{r.origin.line}" if r.origin else "?"

    findings = [replace(f, location=SourceLocation(portable_path(f.location.file, root), f.location.line))
                if f.location else f for f in findings]
    result = import_resources(resources, findings, mesh=mesh, cluster=cluster,
                              source=" ".join(portable_path(str(p), root) for p in paths), where=where)
    print_report(result)
    if not result.ok:
        raise typer.Exit(1)
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(output, "x", encoding="utf-8") as f:  # "x": fails rather than overwrite a file made meanwhile
            f.write(result.source)
    except FileExistsError:
        raise StackError(f"{output} exists; meshcode import never overwrites a file", SourceLocation(str(output), 1)) from None
    typer.echo(f"wrote {output}: {result.count('imported')} imported, {result.count('verbatim')} kept verbatim, "
               f"{result.count('skipped')} skipped")


def print_report(result: ImportResult) -> None:
    from meshcode.inference import printable

    for item in result.items:
        if item.outcome == "skipped" and item.detail.startswith("read for facts"):
            continue
        typer.echo(printable(f"{item.where}: {_MARK[item.outcome]} {item.title}: {item.detail}"))  # names are data
    facts = sum(1 for i in result.items if i.outcome == "skipped" and i.detail.startswith("read for facts"))
    if facts:
        typer.echo(f"{facts} Kubernetes object(s) read for facts (Service ports, service accounts); "
                   "they stay with your workload manifests")


__all__ = ["import_yaml"]
