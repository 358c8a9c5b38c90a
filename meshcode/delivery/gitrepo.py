"""The git edge of the controller: commit state + generated output together, push, reconcile.

Commits go through GitPython's index (hooks included), limited to the paths the canary owns;
a commit would refuse to sweep in anything else the user has staged.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from git import GitCommandError, Repo
from git.objects import Commit

from meshcode.errors import StateError
from meshcode.gitops.repo import find_repo, repo_path


@dataclass(frozen=True, slots=True)
class PushResult:
    ok: bool
    rejected: bool = False  # non-fast-forward: someone else pushed first
    detail: str = ""


def open_repo(root: Path) -> Repo:
    repo = find_repo(root)
    if repo is None or repo.working_tree_dir is None:
        raise StateError(f"{root} is not inside a git repository; canary steps are git commits")
    return repo


rel = repo_path  # a path relative to the repository's top, '/'-separated


def dirty(repo: Repo, paths: list[str]) -> list[str]:
    """Changed, staged or untracked files under `paths` (relative to the repository)."""
    out = repo.git.status("--porcelain", "--untracked-files=all", "--", *paths)
    return [line[3:] for line in out.splitlines() if line.strip()]


def staged(repo: Repo) -> list[str]:
    """Paths whose staged content differs from HEAD (everything in the index before a first commit)."""
    if not repo.head.is_valid():
        return sorted({path for path, _stage in repo.index.entries})
    return repo.git.diff("--cached", "--name-only").splitlines()


def commit_paths(repo: Repo, paths: list[str], message: str) -> str:
    """Stage `paths` (additions, changes, deletions) and commit them; returns the new sha."""
    def inside(f: str) -> bool:
        return any(f == p or f.startswith(p.rstrip("/") + "/") for p in paths)

    others = [f for f in staged(repo) if not inside(f)]
    if others:
        raise StateError("the git index has staged changes outside the canary's files "
                         f"({', '.join(others[:5])}); commit or unstage them first")
    repo.git.add("-A", "--", *paths)
    return repo.index.commit(message).hexsha


def tracking(repo: Repo) -> tuple[str, str]:
    """(remote, branch) to push to: the branch's upstream, else origin/<branch>."""
    try:
        branch = repo.active_branch
    except TypeError:
        raise StateError("HEAD is detached; check out the branch the canary state lives on") from None
    upstream = branch.tracking_branch()
    if upstream is not None:
        return upstream.remote_name, upstream.remote_head
    if not repo.remotes:
        raise StateError("--push: the repository has no remote")
    return ("origin" if "origin" in [r.name for r in repo.remotes] else repo.remotes[0].name), branch.name


def push(repo: Repo) -> PushResult:
    remote, branch = tracking(repo)
    try:
        repo.git.push(remote, f"HEAD:refs/heads/{branch}")
        return PushResult(True)
    except GitCommandError as e:
        text = str(e.stderr or e)
        rejected = any(s in text for s in ("non-fast-forward", "fetch first", "rejected"))
        return PushResult(False, rejected=rejected, detail=text.strip())


def fetch_upstream(repo: Repo) -> Commit:
    remote, branch = tracking(repo)
    repo.git.fetch(remote, branch)
    return repo.commit("FETCH_HEAD")


def file_at(commit: Commit | None, path: str) -> bytes | None:
    if commit is None:
        return None
    try:
        return commit.tree[path].data_stream.read()
    except KeyError:
        return None


def reset_keep(repo: Repo, commit: Commit) -> None:
    """Move the branch to `commit`, dropping our unpushed commits but keeping unrelated local edits."""
    repo.git.reset("--keep", commit.hexsha)
