"""`meshcode import-workloads`: print the Service declarations the running workloads imply."""
from __future__ import annotations

from pathlib import Path

import typer

from meshcode.cli.main import app


@app.command("import-workloads")
def import_workloads(
    path: Path = typer.Argument(..., help="Kubernetes YAML: a file or a folder (e.g. a cdk8s dist/)."),
    mesh: str = typer.Option("imported", "--mesh", help="Name of the Mesh in the printed stack."),
    cluster: str = typer.Option("default", "--cluster", help="Name of the Cluster in the printed stack."),
) -> None:
    """Print a Python stack with a Service(...) for each Kubernetes Service in PATH."""
    from meshcode.analyze.workloads import load_workloads
    from meshcode.inference import infer_services, render_stack

    services, notes = infer_services(load_workloads(path))
    typer.echo(render_stack(services, notes, source=str(path), mesh=mesh, cluster=cluster), nl=False)
