"""Helpers to compile small meshes in tests and look at the result as plain dicts."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from meshcode import Mesh, compile_mesh
from meshcode.plan import Plan
from meshcode.render import render_tree
from tests.support.paths import CRDCHECK, CRDS


def objects(plan: Plan, cluster: str | None = None) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(kind, namespace, name) → manifest for one cluster (the only one when not named)."""
    if cluster is None:
        (cluster,) = plan.folders
    return {r.key: r.obj for r in plan.folders[cluster]}


def compiled(mesh: Mesh, **kwargs: Any) -> dict[tuple[str, str, str], dict[str, Any]]:
    return objects(compile_mesh(mesh, **kwargs))


def write_plan(plan: Plan, out: Path) -> Path:
    for rel, data in render_tree(plan).items():
        p = out / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return out


def crdcheck(*paths: Path) -> tuple[int, str]:
    """Run the independent checker (tests/support/crdcheck.py) over the bundled CRDs; returns (exit code, output)."""
    proc = subprocess.run([sys.executable, str(CRDCHECK), "--crds", str(CRDS), *map(str, paths)],
                          capture_output=True, text=True)
    return proc.returncode, proc.stdout + proc.stderr


def load_yaml_dir(folder: Path) -> list[dict[str, Any]]:
    """Every Kubernetes object under `folder` (kustomization files are kustomize's, not objects)."""
    docs = []
    for p in sorted(folder.rglob("*.yaml")):
        if p.name == "kustomization.yaml":
            continue
        docs += [d for d in yaml.safe_load_all(p.read_text()) if d]
    return docs
