"""The generated tree meshcode owns, as it stands on disk or at a git ref (read from git objects).

Only files listed in the ownership manifest count: foreign files in the output folder are
never part of a diff or a commit.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from git import BadName, Repo
from git.objects import Blob, Tree
from gitdb.exc import BadObject

from meshcode.gitops.repo import GitError
from meshcode.gitops.tree import MANIFEST, digest, parse_manifest, read_manifest


@dataclass(frozen=True, slots=True)
class HandEdit:
    """An owned file whose bytes differ from what meshcode wrote (or that is gone)."""

    path: str
    how: str  # "edited" | "deleted"


def owned_on_disk(out: Path) -> dict[str, bytes]:
    """Every file the manifest lists that is still on disk, keyed relative to `out`."""
    files = {}
    for rel in read_manifest(out):
        try:
            files[rel] = (out / rel).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            continue
    return files


def hand_edits(out: Path) -> list[HandEdit]:
    """Owned files someone changed or deleted since meshcode wrote them (sha256 ≠ manifest)."""
    found = []
    for rel, sha in sorted(read_manifest(out).items()):
        try:
            data = (out / rel).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            found.append(HandEdit(rel, "deleted"))
            continue
        if digest(data) != sha:
            found.append(HandEdit(rel, "edited"))
    return found


def owned_at_ref(repo: Repo, ref: str, out_in_repo: str) -> tuple[str, dict[str, bytes]]:
    """(full commit sha, owned files) of the output folder at `ref`, from git objects, not the checkout."""
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
