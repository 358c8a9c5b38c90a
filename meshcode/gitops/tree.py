"""Write the output tree atomically, touching only what meshcode owns.

The new tree is assembled beside the old one (unchanged files are hard links, so their
mtimes stay) and swapped in with one atomic rename-exchange: a compile killed at any
moment leaves the old tree or the new one, never a mixture.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from meshcode.errors import MeshcodeError

MANIFEST = ".meshcode-manifest"
_STAGING_PREFIX = ".meshcode-staging-"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


class OwnershipError(MeshcodeError):
    """meshcode would have to overwrite or delete a file it did not write."""

    code = "MC4001"


@dataclass
class TreeChange:
    """What a write did (or, with dry_run, would do), as paths relative to the output folder."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    hand_edited: list[str] = field(default_factory=list)  # owned files that differ from what meshcode wrote

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)

    def summary(self) -> str:
        return (f"{len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} removed, "
                f"{self.unchanged} unchanged")


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_manifest(out: Path) -> dict[str, str]:
    """Paths meshcode wrote last time, with the sha256 of what it wrote."""
    try:
        text = (out / MANIFEST).read_text()
    except FileNotFoundError:
        return {}
    entries = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            sha, _, path = line.partition("  ")
            entries[path] = sha
    return entries


def manifest_bytes(files: dict[str, bytes]) -> bytes:
    lines = ["# sha256 of every file meshcode wrote here (`sha256sum -c` reads this format)"]
    lines += [f"{digest(data)}  {path}" for path, data in sorted(files.items())]
    return ("\n".join(lines) + "\n").encode()


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def plan_change(out: Path, files: dict[str, bytes]) -> TreeChange:
    """Compare the wanted files with the disk; refuse to take over files meshcode did not write."""
    owned = read_manifest(out)
    change = TreeChange()
    foreign = []
    base = f"{out}{os.sep}"  # plain strings: tens of thousands of paths, pathlib would dominate
    for path, data in files.items():
        current = _read(base + path)
        if current is None:
            change.added.append(path)
        elif current == data:
            change.unchanged += 1
        elif path in owned:
            change.changed.append(path)
            if digest(current) != owned[path]:
                change.hand_edited.append(path)
        else:
            foreign.append(path)
    if foreign:
        raise OwnershipError(
            f"{len(foreign)} file(s) in {out} were not written by meshcode and would be overwritten: "
            + ", ".join(sorted(foreign)[:5]) + ("…" if len(foreign) > 5 else "")
            + f" (move them away, or list them in {MANIFEST} to hand them over)")
    change.removed = sorted(p for p in owned if p not in files and os.path.lexists(base + p))
    return change


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


def clean_staging(out: Path) -> None:
    """Remove what a killed compile left beside the output folder."""
    parent = out.parent
    if parent.is_dir():
        for p in parent.iterdir():
            if p.name.startswith(_STAGING_PREFIX + out.name):
                shutil.rmtree(p, ignore_errors=True)


def write_tree(out: Path, files: dict[str, bytes], dry_run: bool = False) -> TreeChange:
    """Make `out` hold exactly `files` among the files meshcode owns; foreign files stay."""
    out = out.resolve()
    clean_staging(out)
    change = plan_change(out, files)
    if dry_run or change.empty:
        return change
    stage = out.parent / f"{_STAGING_PREFIX}{out.name}-{os.getpid()}"
    stage.mkdir(parents=True)
    owned = read_manifest(out)
    src, dst = f"{out}{os.sep}", f"{stage}{os.sep}"
    made_dirs: set[str] = set()

    def place(rel: str) -> str:
        target = dst + rel
        parent = os.path.dirname(target)
        if parent not in made_dirs:
            os.makedirs(parent, exist_ok=True)
            made_dirs.add(parent)
        return target

    fresh = set(change.added) | set(change.changed)
    for path, data in files.items():
        target = place(path)
        if path in fresh:
            with open(target, "wb") as f:
                f.write(data)
        else:
            os.link(src + path, target)
    if out.is_dir():  # keep every file, symlink and empty folder meshcode does not own
        for dirpath, dirs, names in os.walk(out):
            prefix = "" if dirpath == str(out) else dirpath[len(src):] + os.sep
            if prefix and not dirs and not names:
                os.makedirs(dst + prefix, exist_ok=True)
            links = [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]
            for n in names + links:
                rel = prefix + n
                if rel == MANIFEST or rel in files or rel in owned:
                    continue
                os.link(src + rel, place(rel), follow_symlinks=False)
    (stage / MANIFEST).write_bytes(manifest_bytes(files))
    if out.exists():
        if not _exchange(stage, out):
            backup = out.parent / f"{_STAGING_PREFIX}{out.name}-old-{os.getpid()}"
            os.rename(out, backup)
            os.rename(stage, out)
            stage = backup
        shutil.rmtree(stage)
    else:
        os.rename(stage, out)
    return change
