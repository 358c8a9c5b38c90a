"""The generated tree meshcode owns, as it stands on disk (at a git ref: `meshcode.gitops.git.owned_at_ref`).

Only files listed in the ownership manifest count: foreign files in the output folder are
never part of a diff or a commit.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from meshcode.gitops.tree import MANIFEST, digest, read_manifest


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
