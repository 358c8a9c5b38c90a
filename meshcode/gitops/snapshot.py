"""The generated tree meshcode owns, as it stands on disk (at a git ref: `meshcode.gitops.git.owned_at_ref`).

Only files listed in the ownership manifest count: foreign files in the output folder are
never part of a diff or a commit.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from meshcode.gitops.tree import owned_digests, read_manifest


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


def hand_edits(out: Path, record: Path | None = None) -> list[HandEdit]:
    """Owned files someone changed or deleted since meshcode wrote them (sha256 ≠ manifest).

    A file an interrupted write left (its journal names it with that digest, or names it as
    removed) is meshcode's, not a hand edit. With the project's output `record`, only files whose
    stat changed since the last write are read.
    """
    owned, now, claims = owned_digests(out, record)
    found = []
    for rel, sha in sorted(owned.items()):
        current = now[rel]
        if current == sha or current in claims.get(rel, ()):
            continue
        if current is None:
            if "-" not in claims.get(rel, ()):
                found.append(HandEdit(rel, "deleted"))
        else:
            found.append(HandEdit(rel, "edited"))
    return found
