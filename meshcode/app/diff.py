"""`meshcode diff` as a workflow: build (writing nothing) and compare with the owned tree on disk or at a ref."""
from __future__ import annotations

from dataclasses import dataclass

from meshcode.app.project import Build, Project
from meshcode.gitops import git
from meshcode.gitops.diff import TreeDiff, diff_trees
from meshcode.gitops.snapshot import owned_on_disk


@dataclass(frozen=True)
class DiffOutcome:
    build: Build
    label: str  # what was compared with: "working tree" or "REF (sha)"
    diff: TreeDiff


def old_tree(project: Project, against: str | None) -> tuple[str, dict[str, bytes]]:
    """(label, owned files) of the side being compared with: working tree, or a ref read from git objects."""
    if against is None:
        return "working tree", owned_on_disk(project.output_dir)
    repo = git.open_repo(project.root)
    try:
        sha, files = git.owned_at_ref(repo, against, git.repo_path(repo, project.output_dir))
    finally:
        repo.close()
    return f"{against} ({sha[:12]})", files


def diff_project(project: Project, against: str | None = None) -> DiffOutcome:
    build = project.build()
    label, old = old_tree(project, against)
    return DiffOutcome(build, label, diff_trees(old, build.files))
