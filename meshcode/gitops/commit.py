"""Commit what meshcode owns — the output folder's owned files and the canary state — with the
stack edits that produced them, and nothing else.

The commit holds the intent and its output together, so a clean checkout of it passes
`meshcode compile --check`: every change under the stacks folder goes in with the output. Other
inputs the stacks read (a helper module or data file elsewhere in the repository) are not
swept in: when one has uncommitted changes the commit is refused before anything is written.

Used as: `pending = prepare_commit(project, force)` (under the project lock, before writing),
then write, then `pending.commit(subject)`. Other changes in the working tree or the index
(a half-edited stack, a staged README) stay exactly as they were: the commit is limited to
meshcode's paths with a pathspec, so git leaves everything else staged or unstaged as it was.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from git import GitCommandError, Repo

from meshcode.errors import MeshcodeError
from meshcode.gitops.diff import KUSTOMIZATION
from meshcode.gitops.repo import GitError, open_repo, repo_path
from meshcode.gitops.snapshot import hand_edits
from meshcode.gitops.tree import MANIFEST, read_manifest
from meshcode.project import Project

STATE_COUNTS_AS = "canary state"


class HandEditError(MeshcodeError):
    """A generated file differs from what meshcode wrote: committing would bury someone's edit."""

    code = "MC4003"


@dataclass
class FolderCounts:
    added: int = 0
    changed: int = 0
    removed: int = 0

    def short(self) -> str:
        parts = [f"{sign}{n}" for sign, n in (("+", self.added), ("~", self.changed), ("-", self.removed)) if n]
        return " ".join(parts)


@dataclass(frozen=True)
class CommitResult:
    """The commit made: its sha, full message and the repository paths it touched (status, path)."""

    sha: str
    message: str
    paths: list[tuple[str, str]]
    folders: dict[str, FolderCounts] = field(default_factory=dict)
    state: list[tuple[str, str]] = field(default_factory=list)
    stacks: list[tuple[str, str]] = field(default_factory=list)


class DirtyInputError(MeshcodeError):
    """A file the stacks read, outside the stacks folder, has uncommitted changes."""

    code = "MC4007"


def refuse_hand_edits(project: Project) -> None:
    """Raise naming every owned file whose sha256 no longer matches the manifest."""
    edits = hand_edits(project.output_dir)
    if not edits:
        return
    out = project.settings.output
    lines = [f"  {e.how:8} {out}/{e.path}" for e in edits[:20]]
    if len(edits) > 20:
        lines.append(f"  … and {len(edits) - 20} more")
    raise HandEditError(
        f"{len(edits)} generated file(s) were changed by hand since meshcode wrote them "
        f"(their sha256 differs from {out}/{MANIFEST}):\n" + "\n".join(lines)
        + "\nput the change in a stack (a Patch is the escape hatch) and compile again, "
        "or pass --force to overwrite the edit")


def _git(repo: Repo, *args: str, paths: list[str] | None = None) -> str:
    """Run git through GitPython with literal pathspecs; `paths` go through stdin (no ARG_MAX limit)."""
    try:
        with repo.git.custom_environment(GIT_LITERAL_PATHSPECS="1"):
            if paths is None:
                return repo.git.execute(["git", *args])  # type: ignore[return-value]
            with tempfile.TemporaryFile() as f:
                f.write(b"\0".join(p.encode() for p in paths) + b"\0")
                f.seek(0)
                return repo.git.execute(["git", *args, "--pathspec-from-file=-", "--pathspec-file-nul"],
                                        istream=f)  # type: ignore[return-value]
    except GitCommandError as e:
        raise GitError(f"git {args[0]} failed: {(e.stderr or str(e)).strip()}") from None


def _entries(output: str) -> list[tuple[str, str]]:
    return [(item[:2], item[3:]) for item in output.split("\0") if item]


def _name_status(output: str) -> list[tuple[str, str]]:
    parts = [p for p in output.split("\0") if p]
    return list(zip(parts[0::2], parts[1::2]))


@dataclass
class PendingCommit:
    """What must be known before the write to commit after it: the repo and the files owned before."""

    project: Project
    repo: Repo
    previously_owned: set[str]
    out_in_repo: str = ""
    state_in_repo: str = ""
    stacks_in_repo: str = ""
    now_owned: set[str] = field(default_factory=set)

    def _is_stack(self, rel_to_repo: str) -> bool:
        if not self.stacks_in_repo or not rel_to_repo.startswith(self.stacks_in_repo + "/"):
            return False
        return "__pycache__/" not in rel_to_repo and not rel_to_repo.endswith((".pyc", ".pyo"))

    def refuse_dirty_inputs(self, read: set[str]) -> None:
        """Before writing: refuse when a file the stacks read (outside the stacks folder) is uncommitted.

        `read` holds absolute paths (the compile's input record). Files outside the repository,
        and ones git ignores, cannot be committed and are not asked about.
        """
        top = Path(self.repo.working_tree_dir).resolve()  # type: ignore[arg-type]
        inside = []
        for path in sorted(read):
            try:
                rel = Path(path).resolve().relative_to(top).as_posix()
            except ValueError:
                continue
            if not self._is_stack(rel) and not self._owned(rel):
                inside.append(rel)
        if not inside:
            return
        found: set[str] = set()
        for i in range(0, len(inside), 500):  # `git status` takes no pathspec file: bounded argument lists
            status = _git(self.repo, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames",
                          "--", *inside[i:i + 500])
            found |= {path for _xy, path in _entries(status)}
        dirty = sorted(found)
        if dirty:
            raise DirtyInputError(
                "the stacks read file(s) with uncommitted changes outside the stacks folder: "
                + ", ".join(dirty[:10]) + ("…" if len(dirty) > 10 else "")
                + "; commit them first (or move them under the stacks folder), so that the commit holds "
                "every input of the output it records")

    def _owned(self, rel_to_repo: str) -> bool:
        if self._is_stack(rel_to_repo):
            return True
        if self.state_in_repo and rel_to_repo.startswith(self.state_in_repo + "/"):
            return ".tmp-" not in rel_to_repo.rsplit("/", 1)[-1]
        prefix = self.out_in_repo + "/" if self.out_in_repo else ""
        if not rel_to_repo.startswith(prefix):
            return False
        rel = rel_to_repo[len(prefix):]
        return rel == MANIFEST or rel in self.previously_owned or rel in self.now_owned

    def commit(self, subject: str | None = None) -> CommitResult | None:
        """Stage and commit meshcode's changed paths; None when they already match HEAD."""
        self.now_owned = set(read_manifest(self.project.output_dir))
        scopes = [p for p in (self.out_in_repo, self.state_in_repo, self.stacks_in_repo) if p] or ["."]
        status = _git(self.repo, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames",
                      "--", *scopes)
        candidates = sorted({path for _xy, path in _entries(status) if self._owned(path)})
        if not candidates:
            return None
        _git(self.repo, "add", "--all", paths=candidates)
        base = ["HEAD"] if self.repo.head.is_valid() else []
        staged = _git(self.repo, "diff", "--cached", "--name-status", "-z", "--no-renames", *base, "--", *scopes)
        wanted = set(candidates)
        paths = [(st[0], p) for st, p in _name_status(staged) if p in wanted]
        if not paths:
            return None
        folders, state, stacks = self._counts(paths)
        message = commit_message(subject, folders, state, stacks)
        _git(self.repo, "commit", "--quiet", "--cleanup=whitespace", "-m", message,
             paths=[p for _st, p in paths])
        return CommitResult(self.repo.head.commit.hexsha, message, paths, folders, state, stacks)

    def _counts(self, paths: list[tuple[str, str]]) -> tuple[dict[str, FolderCounts], list[tuple[str, str]],
                                                             list[tuple[str, str]]]:
        folders: dict[str, FolderCounts] = {}
        state, stacks = [], []
        prefix = self.out_in_repo + "/" if self.out_in_repo else ""
        for st, p in paths:
            if self._is_stack(p):
                stacks.append((st, p))
                continue
            if self.state_in_repo and p.startswith(self.state_in_repo + "/"):
                state.append((st, p))
                continue
            rel = p[len(prefix):]
            folder, _, rest = rel.partition("/")
            if not rest or rest == KUSTOMIZATION:  # the manifest, a folder's kustomization: not objects
                continue
            counts = folders.setdefault(folder, FolderCounts())
            if st == "A":
                counts.added += 1
            elif st == "D":
                counts.removed += 1
            else:
                counts.changed += 1
        return dict(sorted(folders.items())), state, stacks


def commit_message(subject: str | None, folders: dict[str, FolderCounts],
                   state: list[tuple[str, str]], stacks: list[tuple[str, str]] | None = None) -> str:
    """Subject (given, or counts per cluster), then a table of object counts and the state files."""
    summary = ", ".join(f"{f} {c.short()}" for f, c in folders.items())
    if state:
        summary += ("; " if summary else "") + f"{STATE_COUNTS_AS} ({len(state)} file(s))"
    lines = [subject or f"meshcode compile: {summary or 'generated files updated'}", "",
             "Compiled by `meshcode compile --commit` from the stacks; objects per cluster:", ""]
    if folders:
        width = max(len("cluster"), *(len(f) for f in folders))
        lines.append(f"{'cluster':<{width}}  added  changed  removed")
        for f, c in folders.items():
            lines.append(f"{f:<{width}}  {c.added:>5}  {c.changed:>7}  {c.removed:>7}")
    else:
        lines.append("(no object changed; generated metadata only)")
    how = {"A": "added", "D": "removed"}
    if state:
        lines += ["", f"{STATE_COUNTS_AS}:"]
        lines += [f"  {how.get(st, 'changed'):8} {p}" for st, p in state]
    if stacks:
        lines += ["", "stacks (the intent this output was compiled from):"]
        lines += [f"  {how.get(st, 'changed'):8} {p}" for st, p in stacks]
    return "\n".join(lines) + "\n"


def prepare_commit(project: Project, force: bool = False) -> PendingCommit:
    """Check the repository and hand edits before anything is written; call with the lock held."""
    repo = open_repo(project.root)
    if not force:
        refuse_hand_edits(project)
    try:
        out = repo_path(repo, project.output_dir)
        state = repo_path(repo, project.state_dir)
        stacks = repo_path(repo, project.stacks_dir)
    except ValueError:
        raise GitError(f"{project.output_dir}, {project.state_dir} or {project.stacks_dir} is outside the git "
                       f"repository {repo.working_tree_dir}") from None
    return PendingCommit(project, repo, set(read_manifest(project.output_dir)), out, state, stacks)


__all__ = ["CommitResult", "DirtyInputError", "HandEditError", "PendingCommit", "commit_message", "prepare_commit",
           "refuse_hand_edits"]
