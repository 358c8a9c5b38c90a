"""`meshcode graph`: the declared mesh as a picture (Graphviz SVG/PNG, DOT or Mermaid text)."""
from __future__ import annotations

import shutil
import subprocess

from meshcode.app.project import Project
from meshcode.delivery.store import load_states
from meshcode.errors import MeshcodeError
from meshcode.loader import load_stacks
from meshcode.render.graph import MeshGraph, build_graph, to_dot, to_mermaid

FORMATS = ("svg", "png", "dot", "mermaid")


def project_graphs(project: Project, *, mesh: str | None = None, namespace: str | None = None,
                   service: str | None = None, cluster: str | None = None) -> list[MeshGraph]:
    """One graph per mesh in the project's stacks (or the one named), focused as asked."""
    meshes = load_stacks(project.stacks_dir, project.root)
    chosen = [m for m in meshes if mesh is None or m.name == mesh]
    if not chosen:
        names = ", ".join(sorted(m.name for m in meshes)) or "none"
        raise MeshcodeError(f"no mesh named {mesh!r} in {project.stacks_dir.name}/ (meshes: {names})", code="MC5000")
    states = load_states(project.state_dir)
    return [build_graph(m, states, namespace=namespace, service=service, cluster=cluster) for m in chosen]


def render_graph(graph: MeshGraph, fmt: str) -> bytes:
    """The graph in one of FORMATS; SVG and PNG run Graphviz's `dot` (Debian/Ubuntu: graphviz)."""
    if fmt == "mermaid":
        return to_mermaid(graph).encode()
    dot = to_dot(graph)
    if fmt == "dot":
        return dot.encode()
    binary = shutil.which("dot")
    if binary is None:
        raise MeshcodeError("Graphviz's `dot` is not installed (apt-get install graphviz, brew install graphviz); "
                            "`--format mermaid` or `--format dot` need nothing", code="MC5000")
    done = subprocess.run([binary, f"-T{fmt}"], input=dot.encode(), capture_output=True, timeout=120, check=False)
    if done.returncode != 0:
        raise MeshcodeError(f"dot failed: {done.stderr.decode(errors='replace').strip()}", code="MC5000")
    return done.stdout
