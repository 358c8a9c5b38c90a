"""`meshcode lint` as a workflow: default to the project's output folder, check the paths exist, lint."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from meshcode.analyze.lint import LintResult, lint
from meshcode.analyze.workloads import load_workloads
from meshcode.app.project import Project
from meshcode.errors import MeshcodeError


def _from_cwd(path: Path) -> Path:
    """Findings name files as the user would type them: relative to the cwd when inside it."""
    rel = os.path.relpath(path)
    return Path(rel) if not rel.startswith("..") else path


def lint_paths(paths: Sequence[Path], crds: Sequence[Path] = (), *, validate_schemas: bool = True,
               workloads: Path | None = None, root: Path | None = None,
               mesh_config: Path | None = None) -> LintResult:
    """Lint `paths` (default: the project's output folder, one cluster per folder)."""
    targets = list(paths) or [_from_cwd(Project.open(root).output_dir)]
    missing = [str(p) for p in [*targets, *crds, *([mesh_config] if mesh_config else [])] if not p.exists()]
    if missing:
        raise MeshcodeError(f"no such file or folder: {', '.join(missing)}", code="MC5000")
    return lint(targets, crds, validate_schemas=validate_schemas,
                workloads=load_workloads(workloads) if workloads else None, mesh_config=mesh_config)
