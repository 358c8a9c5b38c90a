"""`meshcode review`: the pull-request comment — what changes per cluster, what it means, what needs a human.

Compiles the branch (writing nothing), compares with `generated/` at the base ref, and renders
one Markdown comment: a table of objects added/changed/removed per cluster, the semantic summary
(`gitops.summary`), the warnings, and a Mermaid graph of the services the change touches.
"""
from __future__ import annotations

from dataclasses import dataclass

from meshcode.app.diff import diff_project
from meshcode.app.project import Project
from meshcode.delivery.store import load_states
from meshcode.gitops.summary import Summary, summarize
from meshcode.render.graph import build_graph, to_mermaid

MARKER = "<!-- meshcode-review -->"  # the workflow edits its own comment instead of adding one per push
ROUTING_KINDS = {"VirtualService", "DestinationRule", "HTTPRoute", "GRPCRoute", "TCPRoute", "AuthorizationPolicy",
                 "Sidecar", "ServiceEntry"}


@dataclass(frozen=True)
class Review:
    against: str
    markdown: str
    summary: Summary
    changed: bool


def review_project(project: Project, against: str | None) -> Review:
    outcome = diff_project(project, against)
    out = project.settings.output
    summary = summarize(outcome.diff, out)
    lines = [MARKER, f"### meshcode: what this change does (against `{outcome.label}`)", ""]
    if outcome.diff.empty:
        lines.append(f"No change to `{out}/`.")
        return Review(outcome.label, "\n".join(lines) + "\n", summary, False)
    lines += ["| cluster | added | changed | removed |", "| --- | ---: | ---: | ---: |"]
    for s in outcome.diff.summary():
        if s.added or s.changed or s.removed:
            lines.append(f"| {s.folder} | {s.added} | {s.changed} | {s.removed} |")
    if summary.warnings:
        lines += ["", "**Needs a human:**", *(f"- :warning: {w}" for w in summary.warnings)]
    if summary.lines:
        lines += ["", "**What it means:**", *(f"- {line}" for line in summary.lines)]
    touched = frozenset(f"{c.key.namespace}/{c.key.name}" for c in outcome.diff.changes
                        if c.key.kind in ROUTING_KINDS and c.key.namespace)
    states = load_states(project.state_dir)
    for mesh in outcome.build.meshes:
        graph = build_graph(mesh, states, around=touched)
        if any(n.kind != "cluster" for n in graph.nodes.values()):
            lines += ["", f"<details><summary>Services touched in mesh {mesh.name}</summary>", "",
                      "```mermaid", to_mermaid(graph).rstrip(), "```", "", "</details>"]
    lines += ["", "<details><summary>Objects</summary>", ""]
    lines += [f"- {c.change} {c.key.describe()} [{c.key.folder}]" for c in outcome.diff.changes]
    lines += ["", "</details>"]
    return Review(outcome.label, "\n".join(lines) + "\n", summary, True)
