"""`meshcode graph` (a picture of the declared mesh) and `meshcode review` (the pull-request comment)."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from meshcode.app.project import Project
from meshcode.cli.main import RootOption, app


class GraphFormat(str, Enum):
    svg = "svg"
    png = "png"
    dot = "dot"
    mermaid = "mermaid"


@app.command()
def graph(
    output: Optional[Path] = typer.Option(None, "--output", "-o",
                                          help="File to write (default: stdout for dot/mermaid, mesh.<format> otherwise)."),
    fmt: GraphFormat = typer.Option(GraphFormat.svg, "--format", help="svg or png (Graphviz), dot, or mermaid text."),
    mesh: Optional[str] = typer.Option(None, "--mesh", help="Only this mesh (default: every mesh in stacks/)."),
    namespace: Optional[str] = typer.Option(None, "--namespace", help="Only the services of this namespace."),
    service: Optional[str] = typer.Option(None, "--service", help="A service ('name' or 'namespace/name') and its neighbours."),
    cluster: Optional[str] = typer.Option(None, "--cluster", help="Only what runs in this cluster."),
    root: Optional[Path] = RootOption,
) -> None:
    """Draw the mesh: services and versions with their current split, declared calls (green: enforced
    by ZeroTrust), routes with matches and weights, ingress hosts, external services, clusters."""
    from meshcode.app.graph import project_graphs, render_graph

    project = Project.open(root)
    graphs = project_graphs(project, mesh=mesh, namespace=namespace, service=service, cluster=cluster)
    for g in graphs:
        data = render_graph(g, fmt.value)
        target = output if output is not None and len(graphs) == 1 else \
            (output.with_name(f"{output.stem}-{g.name}{output.suffix}") if output is not None else None)
        if target is None and fmt.value in ("svg", "png"):
            target = Path(f"{g.name}.{fmt.value}")
        if target is None:
            typer.echo(data.decode(), nl=False)
        else:
            target.write_bytes(data)
            typer.echo(f"wrote {target}", err=True)


@app.command()
def review(
    against: str = typer.Option("origin/main", "--against", metavar="REF",
                                help="The base to compare with (generated/ as committed there)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the Markdown here (default: stdout)."),
    root: Optional[Path] = RootOption,
) -> None:
    """The pull-request comment: objects changed per cluster, what they mean, what needs a human, and a graph."""
    from meshcode.app.review import review_project

    result = review_project(Project.open(root), against)
    if output is None:
        typer.echo(result.markdown, nl=False)
    else:
        output.write_text(result.markdown, encoding="utf-8")
