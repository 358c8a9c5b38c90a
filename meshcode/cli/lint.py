"""`meshcode lint`: the compile's checks (and CRD schemas) over any Istio YAML. Exit 1 on errors."""
from __future__ import annotations

import sys

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from meshcode._version import __version__
from meshcode.cli.terminal import findings_table, is_terminal, working
from meshcode.cli.main import RootOption, app


class LintFormat(str, Enum):
    table = "table"
    json = "json"
    sarif = "sarif"


@app.command()
def lint(
    paths: Optional[list[Path]] = typer.Argument(
        None, help="YAML files or folders (default: the project's generated/, one cluster per folder)."),
    crds: Optional[list[Path]] = typer.Option(
        None, "--crds",
        help="Extra CRD file or folder (e.g. `kubectl get crd -o yaml`) to validate against, beside the bundled "
        "Istio 1.30, Gateway API 1.6 and Argo CD 3.5 CRDs; a CRD given here replaces the bundled one of its kind."),
    no_schemas: bool = typer.Option(False, "--no-schemas", help="Skip schema and CEL validation."),
    output: LintFormat = typer.Option(LintFormat.table, "--format", help="table, json (array of findings) or sarif."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 on warnings too."),
    workloads: Optional[Path] = typer.Option(
        None, "--workloads", help="Kubernetes workload YAML (file or folder, e.g. a cdk8s dist/): also check "
        "subsets select pods (IST0173), Services exist (MC6002), selectors match (MC6001), port names (IST0118)."),
    mesh_config: Optional[Path] = typer.Option(
        None, "--mesh-config", help="Istio mesh config (a MeshConfig YAML, the `istio` ConfigMap or an "
        "IstioOperator) for the checks that read it: Telemetry providers (IST0157), Lightstep (IST0002), "
        "ServiceEntry address auto-allocation (IST0134). Default: an `istio` ConfigMap or IstioOperator among "
        "the inputs, else Istio's defaults."),
    root: Optional[Path] = RootOption,
) -> None:
    """Check Istio YAML for broken references, conflicts and schema errors."""
    from meshcode.analyze.report import to_json, to_sarif, to_table
    from meshcode.app.lint import lint_paths

    with working("linting…"):
        result = lint_paths(paths or (), crds or (), validate_schemas=not no_schemas, workloads=workloads,
                            root=root, mesh_config=mesh_config)
    if output is LintFormat.json:
        typer.echo(to_json(result.findings), nl=False)
    elif output is LintFormat.sarif:
        typer.echo(to_sarif(result.findings, __version__), nl=False)
    elif is_terminal(sys.stdout):
        from rich.console import Console  # only a terminal's table needs rich

        findings_table(result.findings, result.objects, Console())
    else:
        typer.echo(to_table(result.findings, result.objects), nl=False)
    failing = {"error", "warning"} if strict else {"error"}
    if any(f.level in failing for f in result.findings):
        raise typer.Exit(1)
