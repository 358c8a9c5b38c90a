"""The `meshcode` command: parses, calls the application layer (meshcode.app), prints.

Exit codes: 0 ok, 1 findings / a stale tree / changes found / refused input / a disk error,
2 usage errors (a bad flag, a path that does not exist).

This module holds the typer `app`, the shared options and the one error handler, and the
`compile` command; each other command group lives in its own module and registers itself on
`app` (meshcode/cli/commands.py lists them; importing `meshcode.cli` imports them all).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn, Optional

import click
import typer
from typer.core import TyperGroup

from meshcode._version import __version__
from meshcode.errors import CompileError, Finding, MeshcodeError
from meshcode.app.compile import compile_project
from meshcode.app.project import Project
from meshcode.redact import redact
from meshcode.cli.terminal import working



class _Meshcode(TyperGroup):
    """The one error handler of every command: a MeshcodeError (or an OSError the edges did not
    turn into one) is printed with its code and exits 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MeshcodeError as e:
            fail(e)
        except OSError as e:
            fail(disk_error(e))


app = typer.Typer(help="Service-mesh configuration as code: compile Python intent into Istio YAML.",
                  no_args_is_help=True, add_completion=True, pretty_exceptions_enable=False, cls=_Meshcode,
                  rich_markup_mode=None)  # help text is plain: "[tool.meshcode]" is not markup

RootOption = typer.Option(None, "--root", help="Project root (default: nearest folder with pyproject.toml).")
WorkloadsOption = typer.Option(
    None, "--workloads", help="Kubernetes YAML (file or folder, e.g. a cdk8s dist/) to check the mesh against; "
    "default: [tool.meshcode] workloads.")


# Exit codes: 0 ok; 1 findings, a stale tree, changes found (`diff --exit-code`), a refused input
# or an environment failure (disk full, read-only); 2 usage: a bad flag (click) or a path given on
# the command line that does not exist.
TOOL_ERRORS = frozenset({"MC5000"})


def exit_code(error: MeshcodeError) -> int:
    return 2 if error.code in TOOL_ERRORS else 1


def fail(error: MeshcodeError) -> NoReturn:
    typer.echo(redact(str(error)), err=True)  # a URL in an error never shows its credentials
    raise typer.Exit(exit_code(error))


def fail_json(error: MeshcodeError) -> NoReturn:
    """`--json` commands: the failure as JSON on stdout too, so scripts always get a document."""
    from meshcode.analyze.report import as_record

    findings = getattr(error, "findings", None)
    if not findings:  # one error (e.g. an IntentError raised while the stack ran): one finding at its line
        findings = [Finding(error.code, "error", error.message, location=error.location)]
    record: dict[str, Any] = {"ok": False, "error": {"code": error.code, "message": redact(str(error))},
                              "findings": [as_record(f) for f in findings]}
    typer.echo(json.dumps(record, indent=2))
    raise typer.Exit(exit_code(error))


def disk_error(e: OSError) -> MeshcodeError:
    """An OSError the edges did not turn into a MeshcodeError: a clean message, never a traceback."""
    where = f": {e.filename}" if e.filename else ""
    return MeshcodeError(f"{e.strerror or e}{where}", code="MC4006")


def warn_namespaces(lines: list[str]) -> None:
    """Namespaces leaving the output: bold red on stderr (see gitops.diff.namespace_warnings)."""
    for line in lines:
        typer.echo(typer.style(line, fg="red", bold=True), err=True)


def print_notes(notes: list[Finding]) -> None:
    for n in notes:
        typer.echo(redact(n.describe()), err=True)


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"meshcode {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=version_callback, is_eager=True,
                                      help="Print the version and exit.")) -> None:
    """meshcode: one Python intent, the right Istio config for every cluster."""


def _compile_json(project: Project, outcome: Any, check: bool) -> None:
    from meshcode.gitops.diff import namespace_warnings
    from meshcode.analyze.report import as_record

    out = project.settings.output
    if outcome.up_to_date:
        typer.echo(json.dumps({"ok": True, "up_to_date": True, "output": out}, indent=2))
        return
    build, change, committed = outcome.build, outcome.change, outcome.committed
    stale = check and not change.empty
    record = {
        "ok": not stale, "up_to_date": change.empty, "output": out, "check": check,
        "clusters": sorted(build.plan.folders),
        "added": list(change.added), "changed": list(change.changed), "removed": list(change.removed),
        "hand_edited": list(change.hand_edited),
        "warnings": namespace_warnings(outcome.departing, out) if outcome.departing is not None else [],
        "notes": [as_record(n) for n in build.notes],
        "committed": committed.sha if committed else None,
    }
    typer.echo(json.dumps(record, indent=2))
    if stale:
        raise typer.Exit(1)


@app.command()
def compile(
    check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 if generated/ is not up to date."),
    workloads: Optional[Path] = WorkloadsOption,
    commit: bool = typer.Option(False, "--commit", help="Then git-commit the stack edits with what meshcode owns "
                                "(generated/, canary state); refused when another input the stacks read is "
                                "uncommitted."),
    message: Optional[str] = typer.Option(None, "--message", "-m", help="Commit subject (with --commit)."),
    force: bool = typer.Option(False, "--force", help="With --commit: overwrite generated files edited by hand."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Run the stacks even when no input changed."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome (or the errors) as JSON on stdout."),
    root: Optional[Path] = RootOption,
) -> None:
    """Compile every stack in stacks/ into generated/<cluster>/.

    When nothing the stacks read has changed (stack and local module files, files they open,
    environment variables they read, canary state, settings, meshcode itself) and generated/
    is as the last compile left it, the compile stops early: there is nothing to do.
    """
    from meshcode.gitops.diff import namespace_warnings

    try:
        project = Project.open(root)
        with working("compiling…"):
            outcome = compile_project(project, check=check, workloads=workloads, commit=commit, message=message,
                                      force=force, no_cache=no_cache)
    except MeshcodeError as e:
        if as_json:
            fail_json(e)
        raise
    except OSError as e:
        if as_json:
            fail_json(disk_error(e))
        raise
    if as_json:
        _compile_json(project, outcome, check)
        return
    if outcome.up_to_date:
        typer.echo(f"{project.settings.output}/ is up to date: no input changed since the last compile")
        return
    build, change, committed = outcome.build, outcome.change, outcome.committed
    assert build is not None and change is not None
    print_notes(build.notes)
    if outcome.departing is not None:
        warn_namespaces(namespace_warnings(outcome.departing, project.settings.output))
    for path in change.hand_edited:
        typer.echo(f"warning: {project.settings.output}/{path} was edited by hand; "
                   + ("the compile would restore it" if check else "restored it from the stacks"), err=True)
    out = project.settings.output
    if check:
        if change.empty:
            typer.echo(f"{out}/ is up to date ({change.unchanged} files)")
            return
        typer.echo(f"{out}/ is not up to date with stacks/ (run `meshcode compile`):", err=True)
        for label, paths in (("added", change.added), ("changed", change.changed), ("removed", change.removed)):
            for p in paths:
                typer.echo(f"  {label:8} {out}/{p}", err=True)
        raise typer.Exit(1)
    clusters = sorted(build.plan.folders)
    typer.echo(f"compiled {len(build.meshes)} mesh(es) into {out}/ for {', '.join(clusters)}: {change.summary()}")
    if commit:
        typer.echo(f"committed {committed.sha[:12]}: {committed.message.splitlines()[0]}" if committed
                   else f"nothing to commit: {out}/ and canary state match HEAD")
