"""Every git operation meshcode makes, in one place, through GitPython's `repo.git` (git's own CLI).

Finding the repository, repo-relative paths, owned files at a ref, committing meshcode's paths,
push, fetch and reset for the canary controller. Every git failure is a `GitError`.

Compile commits: `pending = prepare_commit(root, output_dir, state_dir, output_label, force)` (under
the project lock, before writing), then write, then `pending.commit(subject)`. Other changes in the
working tree or the index (a half-edited stack, a staged README) stay exactly as they were: the
commit is limited to meshcode's paths with a pathspec, so git leaves everything else as it was.
Canary commits: `commit_paths(repo, paths, message)`, which also refuses when the user has staged
files outside those paths (a decision commit must never look as if it carried them).

GitPython is imported only when a git operation runs: every compile asks for the output folder's
path in the repository, and that must not pay for importing it.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from meshcode.errors import DirtyInputError, GitError, HandEditError
from meshcode.gitops.snapshot import hand_edits
from meshcode.gitops.tree import MANIFEST, parse_manifest, read_manifest, record_path, refuse_unfinished

if TYPE_CHECKING:
    from git import Repo
    from git.objects import Commit


# ---- the repository -------------------------------------------------------------------------
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


NETWORK_TIMEOUT = 120  # seconds a push or fetch may take before it is killed (a job never hangs)


def _stderr(e: Exception) -> str:
    """What git said, without GitPython's framing ("stderr: '…'")."""
    text = str(getattr(e, "stderr", "") or e).strip()
    if text.startswith("stderr:"):
        text = text[len("stderr:"):].strip()
    return text.strip("'").strip()


def _git(repo: Repo, *args: str, paths: list[str] | None = None, timeout: float | None = None) -> str:
    """Run git through GitPython with literal pathspecs; `paths` go through stdin (no ARG_MAX limit)."""
    from git import GitCommandError

    try:
        with repo.git.custom_environment(GIT_LITERAL_PATHSPECS="1"):
            if paths is None:
                return repo.git.execute(["git", *args], kill_after_timeout=timeout)  # type: ignore[return-value,call-overload,no-any-return]
            with tempfile.TemporaryFile() as f:
                f.write(b"\0".join(p.encode() for p in paths) + b"\0")
                f.seek(0)
                return repo.git.execute(["git", *args, "--pathspec-from-file=-", "--pathspec-file-nul"],  # type: ignore[call-overload,no-any-return]
                                        istream=f)
    except GitCommandError as e:
        raise GitError(f"git {args[0]} failed: {_stderr(e) or f'exit status {e.status}'}") from None


def _entries(output: str) -> list[tuple[str, str]]:
    return [(item[:2], item[3:]) for item in output.split("\0") if item]


def _name_status(output: str) -> list[tuple[str, str]]:
    parts = [p for p in output.split("\0") if p]
    return list(zip(parts[0::2], parts[1::2]))


def dirty(repo: Repo, paths: list[str]) -> list[str]:
    """Changed, staged or untracked files under `paths` (relative to the repository)."""
    out = _git(repo, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames", "--", *paths)
    return [path for _xy, path in _entries(out)]


def staged(repo: Repo) -> list[str]:
    """Paths whose staged content differs from HEAD (everything in the index before a first commit)."""
    if not repo.head.is_valid():
        return sorted({path for path, _stage in repo.index.entries})
    return [p for p in _git(repo, "diff", "--cached", "--name-only", "-z", "--no-renames").split("\0") if p]


def _commit(repo: Repo, message: str, paths: list[str]) -> str:
    """`git commit` limited to `paths` (hooks and signing as configured); returns the new sha."""
    _git(repo, "commit", "--quiet", "--cleanup=whitespace", "-m", message, paths=paths)
    return repo.head.commit.hexsha


def check_index(repo: Repo, paths: list[str]) -> None:
    """Refuse (before anything is written) when a commit of `paths` would sweep in other staged files."""
    def inside(f: str) -> bool:
        return any(f == p or f.startswith(p.rstrip("/") + "/") for p in paths)

    others = [f for f in staged(repo) if not inside(f)]
    if others:
        raise GitError("the git index has staged changes outside the canary's files "
                       f"({', '.join(others[:5])}); commit or unstage them first")


def commit_paths(repo: Repo, paths: list[str], message: str) -> str:
    """Stage `paths` (additions, changes, deletions) and commit exactly them; returns the new sha.

    Refuses when other files are staged: the canary's commit records one decision and nothing else.
    """
    check_index(repo, paths)
    _git(repo, "add", "--all", paths=paths)
    return _index_commit(repo, message)


def _index_commit(repo: Repo, message: str) -> str:
    """Commit the index as it stands: pre-commit and commit-msg hooks, `git write-tree`, `git
    commit-tree`, `git update-ref`, post-commit, as GitPython's index commit does, with git's own
    C code writing the tree: GitPython reads every index entry into Python (1.1 s of a canary
    tick at 24.5k generated files). No index.lock is held while a hook runs, so a job killed in
    a hook leaves the repository usable for the next job (the kill-safety tests)."""
    from git.index.fun import run_commit_hook

    index = repo.index  # the hooks get GIT_INDEX_FILE from it; its entries are never read here
    run_commit_hook("pre-commit", index)
    editmsg = Path(repo.git_dir) / "COMMIT_EDITMSG"
    editmsg.write_bytes(message.encode())
    run_commit_hook("commit-msg", index, str(editmsg))
    message = editmsg.read_bytes().decode()
    editmsg.unlink()
    tree = _git(repo, "write-tree").strip()
    parent = repo.head.commit.hexsha if repo.head.is_valid() else None
    with tempfile.TemporaryFile() as f:
        f.write(message.encode())
        f.seek(0)
        sha = repo.git.execute(["git", "commit-tree", tree, *(["-p", parent] if parent else [])],  # type: ignore[call-overload]
                               istream=f).strip()
    subject = message.splitlines()[0] if message.strip() else ""
    _git(repo, "update-ref", "-m", f"commit{'' if parent else ' (initial)'}: {subject}", "HEAD", sha,
         parent or "0" * 40)
    run_commit_hook("post-commit", index)
    return str(sha)


def owned_at_ref(repo: Repo, ref: str, out_in_repo: str) -> tuple[str, dict[str, bytes]]:
    """(full commit sha, owned files) of the output folder at `ref`, from git objects, not the checkout."""
    from git import BadName
    from git.objects import Blob, Tree
    from gitdb.exc import BadObject

    try:
        commit = repo.commit(ref)
    except (BadName, BadObject, ValueError) as e:
        raise GitError(f"{ref!r} is not a commit in {repo.working_tree_dir} ({e})") from None
    try:
        folder = commit.tree / out_in_repo if out_in_repo else commit.tree
        manifest = folder / MANIFEST
    except KeyError:  # no generated tree (or no manifest) at that commit: nothing was owned
        return commit.hexsha, {}
    if not isinstance(folder, Tree) or not isinstance(manifest, Blob):
        return commit.hexsha, {}
    text = manifest.data_stream.read().decode(errors="replace")
    owned = set(parse_manifest(text, f"{ref}:{manifest.path}"))
    skip = len(folder.path) + 1 if folder.path else 0
    files = {}
    for item in folder.traverse():  # one walk instead of a tree lookup per file
        if isinstance(item, Blob) and item.path[skip:] in owned:
            files[item.path[skip:]] = item.data_stream.read()
    return commit.hexsha, files


# ---- remote (the canary controller's push, fetch and reconcile) -------------------------------
@dataclass(frozen=True, slots=True)
class PushResult:
    ok: bool
    rejected: bool = False  # non-fast-forward: someone else pushed first
    detail: str = ""


def tracking(repo: Repo) -> tuple[str, str]:
    """(remote, branch) to push to: the branch's upstream, else origin/<branch>."""
    try:
        branch = repo.active_branch
    except TypeError:
        raise GitError("HEAD is detached; check out the branch the canary state lives on") from None
    upstream = branch.tracking_branch()
    if upstream is not None:
        return upstream.remote_name, upstream.remote_head
    if not repo.remotes:
        raise GitError("--push: the repository has no remote")
    return ("origin" if "origin" in [r.name for r in repo.remotes] else repo.remotes[0].name), branch.name


def push(repo: Repo) -> PushResult:
    """Push HEAD upstream, bounded in time; `rejected` only for a race (the branch moved), never for a
    server that refuses the push (protected branch, pre-receive hook): that is git's message in `detail`."""
    remote, branch = tracking(repo)
    try:
        _git(repo, "push", remote, f"HEAD:refs/heads/{branch}", timeout=NETWORK_TIMEOUT)
        return PushResult(True)
    except GitError as e:
        text = str(e).removeprefix("git push failed: ").strip()
        race = any(s in text for s in ("non-fast-forward", "fetch first")) and "remote rejected" not in text
        return PushResult(False, rejected=race, detail=text)


def fetch_upstream(repo: Repo) -> Commit:
    remote, branch = tracking(repo)
    _git(repo, "fetch", remote, branch, timeout=NETWORK_TIMEOUT)
    return repo.commit("FETCH_HEAD")


def unpushed(repo: Repo) -> int:
    """Commits on HEAD that the remote-tracking branch (as last fetched) lacks; 0 without one."""
    remote, branch = tracking(repo)
    ref = f"refs/remotes/{remote}/{branch}"
    try:
        repo.commit(ref)
    except Exception:  # noqa: BLE001 - GitPython raises several kinds for a missing ref
        return 0
    return int(_git(repo, "rev-list", "--count", f"{ref}..HEAD").strip() or 0)


def is_ancestor(repo: Repo, ancestor: Commit | str, commit: Commit | str) -> bool:
    try:
        return bool(repo.is_ancestor(ancestor, commit))
    except Exception:  # noqa: BLE001 - an unknown revision is not an ancestor
        return False


def file_at(commit: Commit | None, path: str) -> bytes | None:
    if commit is None:
        return None
    try:
        return commit.tree[path].data_stream.read()  # type: ignore[no-any-return]
    except KeyError:
        return None


def reset_keep(repo: Repo, commit: Commit) -> None:
    """Move the branch to `commit`, dropping our unpushed commits but keeping unrelated local edits."""
    _git(repo, "reset", "--keep", commit.hexsha)


# ---- compile commits (`meshcode compile --commit`) ---------------------------------------------
STATE_COUNTS_AS = "canary state"


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


def refuse_hand_edits(output_dir: Path, out: str, record: Path | None = None) -> None:
    """Raise naming every owned file whose sha256 no longer matches the manifest (`out`: the folder's name;
    `record`: the project's output record, so that only files whose stat changed are read)."""
    edits = hand_edits(output_dir, record)
    if not edits:
        return
    lines = [f"  {e.how:8} {out}/{e.path}" for e in edits[:20]]
    if len(edits) > 20:
        lines.append(f"  … and {len(edits) - 20} more")
    raise HandEditError(
        f"{len(edits)} generated file(s) were changed by hand since meshcode wrote them "
        f"(their sha256 differs from {out}/{MANIFEST}):\n" + "\n".join(lines)
        + "\nput the change in a stack (a Patch is the escape hatch) and compile again, "
        "or pass --force to overwrite the edit")


@dataclass
class PendingCommit:
    """What must be known before the write to commit after it: the repo and the files owned before."""

    output_dir: Path
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
        refuse_unfinished(self.output_dir)  # a half-written tree is never committed
        self.now_owned = set(read_manifest(self.output_dir))
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
        sha = _commit(self.repo, message, [p for _st, p in paths])
        return CommitResult(sha, message, paths, folders, state, stacks)

    def _counts(self, paths: list[tuple[str, str]]) -> tuple[dict[str, FolderCounts], list[tuple[str, str]],
                                                             list[tuple[str, str]]]:
        from meshcode.gitops.diff import KUSTOMIZATION  # here: diff loads PyYAML, which a canary tick never needs

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


def prepare_commit(root: Path, output_dir: Path, state_dir: Path, stacks_dir: Path, out: str,
                   force: bool = False) -> PendingCommit:
    """Check the repository and hand edits before anything is written; call with the project lock held."""
    repo = open_repo(root)
    if not force:
        refuse_hand_edits(output_dir, out, record_path(root))
    try:
        out_in_repo = repo_path(repo, output_dir)
        state_in_repo = repo_path(repo, state_dir)
        stacks_in_repo = repo_path(repo, stacks_dir)
    except ValueError:
        raise GitError(f"{output_dir}, {state_dir} or {stacks_dir} is outside the git "
                       f"repository {repo.working_tree_dir}") from None
    return PendingCommit(output_dir, repo, set(read_manifest(output_dir)), out_in_repo, state_in_repo, stacks_in_repo)


__all__ = ["CommitResult", "GitError", "HandEditError", "DirtyInputError", "PendingCommit", "PushResult",
           "commit_message", "commit_paths", "dirty", "fetch_upstream", "file_at", "find_repo", "open_repo",
           "output_path_in_repo", "owned_at_ref", "prepare_commit", "push", "refuse_hand_edits", "repo_path",
           "reset_keep", "staged", "tracking"]


def origin_url(root: Path) -> str | None:
    """The `origin` remote's URL of the repository holding `root`, if any (for `meshcode init`)."""
    repo = find_repo(root)
    if repo is None:
        return None
    try:
        return next((r.url for r in repo.remotes if r.name == "origin"), None)
    finally:
        repo.close()
