"""The project's git repository (GitPython): finding it, and paths as git sees them."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from meshcode.errors import MeshcodeError

if TYPE_CHECKING:  # GitPython is imported only by the commands that use git (diff, commit)
    from git import Repo


class GitError(MeshcodeError):
    """The project is not in a git repository, or git refused an operation."""

    code = "MC4004"


def find_repo(root: Path) -> Repo | None:
    """The git repository holding `root` (searching upwards), or None."""
    from git import InvalidGitRepositoryError, NoSuchPathError, Repo

    try:
        return Repo(root, search_parent_directories=True)
    except (InvalidGitRepositoryError, NoSuchPathError):
        return None


def open_repo(root: Path) -> Repo:
    repo = find_repo(root)
    if repo is None or repo.working_tree_dir is None:
        raise GitError(f"{root} is not inside a git repository (run `git init` there first)")
    return repo


def repo_path(repo: Repo, path: Path) -> str:
    """`path` relative to the repository's top, with '/' separators ('' for the top itself)."""
    top = Path(repo.working_tree_dir).resolve()  # type: ignore[arg-type]
    rel = path.resolve().relative_to(top).as_posix()
    return "" if rel == "." else rel


def output_path_in_repo(root: Path, output: Path, fallback: str) -> str:
    """The output folder as Argo CD addresses it: relative to the git top, else the setting.

    Runs on every compile, so it looks for the `.git` entry itself instead of importing GitPython.
    """
    out = output.resolve()
    for top in (root.resolve(), *root.resolve().parents):
        if (top / ".git").exists():
            try:
                rel = out.relative_to(top).as_posix()
            except ValueError:  # output lies outside the repository
                break
            return "" if rel == "." else rel
    return fallback.strip("/")
