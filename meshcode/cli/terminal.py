"""What a person at a terminal sees: rich tables with coloured levels, a spinner while work runs.

Only when the stream is a terminal: pipes, files and CI logs get the plain text the reports
module writes (stable, greppable), so scripts never parse colour codes.
"""
from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, TextIO

from meshcode.errors import Finding

if TYPE_CHECKING:  # loaded when the command runs, not with every `meshcode` command
    from rich.console import Console


LEVEL_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def is_terminal(stream: TextIO) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())


def findings_table(findings: list[Finding], objects: int, console: Console) -> None:
    """Findings as a wrapped table: the message column folds to the terminal's width."""
    from rich.table import Table
    from meshcode.analyze.report import summary

    if findings:
        table = Table(show_edge=False, header_style="bold", pad_edge=False, expand=False)
        for column, style in (("LOCATION", "dim"), ("LEVEL", ""), ("CODE", "bold"), ("OBJECT", ""), ("MESSAGE", "")):
            table.add_column(column, style=style, overflow="fold", no_wrap=column != "MESSAGE")
        for f in findings:
            where = f"{f.location.file}:{f.location.line}" if f.location else "-"
            obj = f"{f.kind} {f.namespace + '/' if f.namespace else ''}{f.name}".strip() or "-"
            if f.cluster:
                obj += f" [{f.cluster}]"
            table.add_row(where, f"[{LEVEL_STYLE[f.level]}]{f.level}[/]", f.code, obj, f.message)
        console.print(table, markup=True, highlight=False)
    text = summary(findings, objects) if findings else f"no problems found in {objects} objects"
    worst = next((lvl for lvl in ("error", "warning") if any(f.level == lvl for f in findings)), None)
    console.print(text, style=LEVEL_STYLE[worst] if worst else "green", markup=False, highlight=False)


@contextlib.contextmanager
def working(message: str) -> Iterator[None]:
    """A spinner on stderr while something that may take more than a second runs (terminals only)."""
    if not is_terminal(sys.stderr):
        yield
        return
    from rich.console import Console  # terminals only: pipes and CI logs never load rich

    with Console(stderr=True).status(message, spinner="dots"):
        yield
