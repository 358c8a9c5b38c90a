"""`meshcode compile` as a workflow: lock, (prepare the commit), skip when no input changed,
build, write (or check), record the inputs, (commit). The CLI only parses and prints.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from meshcode.app import inputs
from meshcode.app.project import Build, Project
from meshcode.errors import MeshcodeError
from meshcode.gcpause import gc_paused
from meshcode.gitops.tree import TreeChange, departing_namespaces

if TYPE_CHECKING:  # loaded once a compile has something to do
    from meshcode.gitops.diff import TreeDiff
    from meshcode.gitops.git import CommitResult


@dataclass(frozen=True)
class CompileOutcome:
    """What a compile did: nothing (`up_to_date`), or the build, the tree change and the commit."""

    up_to_date: bool = False
    build: Build | None = None
    change: TreeChange | None = None
    committed: CommitResult | None = None
    departing: TreeDiff | None = None  # Namespaces this write removes from the output (a GitOps danger)


def up_to_date(project: Project) -> bool:
    """Whether a plain `meshcode compile` would find nothing to do (no input changed, the output as left).

    Needs none of the compiler, nor the CLI: the `meshcode` command asks this first, before it
    imports its argument parser, so the common no-op costs start-up and stats. The project lock is
    the same flock(2) lock `Project.locked` takes; held by another command, the answer is "no" and
    the full command says who holds it.
    """
    import fcntl

    try:
        fd = os.open(project.lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return inputs.unchanged(project, inputs.extra_inputs(project, None))
    finally:
        os.close(fd)  # closing releases the lock


def compile_project(project: Project, *, check: bool = False, workloads: Path | None = None,
                    commit: bool = False, message: str | None = None, force: bool = False,
                    no_cache: bool = False) -> CompileOutcome:
    """One compile of the project; raises a MeshcodeError (nothing written) on any error."""
    if (commit and check) or ((message is not None or force) and not commit):
        raise MeshcodeError("--commit cannot go with --check; -m/--force need --commit")
    with project.locked(), gc_paused():  # the build, the write and the input record: see meshcode.gcpause
        # checks hand edits and the repository before anything is written
        pending = project.prepare_commit(force=force) if commit else None
        cache_key = inputs.extra_inputs(project, workloads)
        if not (check or commit or no_cache) and inputs.unchanged(project, cache_key):
            return CompileOutcome(up_to_date=True)
        from meshcode.gitops.diff import diff_trees

        with inputs.recording() as record:
            build = project.build(workloads=workloads)
        if pending is not None:  # before writing: every input outside stacks/ must be committed already
            pending.refuse_dirty_inputs(inputs.files_read(record) | {str(project.root / "pyproject.toml")})
        departing = diff_trees(departing_namespaces(project.output_dir, build.files), {})
        change = project.write(build, dry_run=check)
        if not check:
            inputs.save(project, record, cache_key, change.generation)
        committed = pending.commit(message) if pending is not None else None
    return CompileOutcome(False, build, change, committed, departing)
