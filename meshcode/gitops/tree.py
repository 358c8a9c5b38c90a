"""Write the output tree atomically, touching only what meshcode owns.

The new tree is assembled beside the old one (unchanged files are hard links, so their
mtimes stay) and swapped in with one atomic rename-exchange: a compile killed at any
moment leaves the old tree or the new one, never a mixture.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import hashlib
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from meshcode.errors import OwnershipError, UnsafePathError, WriteError
from meshcode.plan import is_namespace_path

MANIFEST = ".meshcode-manifest"
_STAGING_PREFIX = ".meshcode-staging-"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def unsafe_reason(rel: str) -> str | None:
    """Why `rel` (a path meshcode writes, relative to the output folder) is not safe, or None.

    One rule for every path that is written, deleted or read back from the manifest: relative,
    '/'-separated, no empty, '.' or '..' segment, nothing non-printable (a newline would corrupt
    the manifest and the kustomization), no backslash.
    """
    if not rel or not isinstance(rel, str):
        return "is empty"
    if rel.startswith("/") or (len(rel) > 1 and rel[1] == ":"):
        return "is absolute"
    if "\\" in rel or not rel.isprintable():
        return "holds a backslash or a non-printable character"
    if any(part in ("", ".", "..") for part in rel.split("/")):
        return "has an empty, '.' or '..' segment"
    if rel.split("/", 1)[0].startswith(_STAGING_PREFIX):
        return "is meshcode's own staging name"
    return None


def check_paths(out: Path, paths: list[str] | dict[str, bytes]) -> None:
    """Refuse any path that would leave `out`, and any that passes through a symbolic link in it."""
    bad = [(p, why) for p in paths if (why := unsafe_reason(p))]
    if bad:
        shown = "; ".join(f"{p!r} {why}" for p, why in bad[:5])
        raise UnsafePathError(f"refusing to write outside {out}: {shown}")
    base = f"{out}{os.sep}"
    seen: set[str] = set()
    for rel in paths:
        parent = rel.rpartition("/")[0]
        while parent and parent not in seen:
            seen.add(parent)
            if os.path.islink(base + parent):
                raise UnsafePathError(
                    f"{out}/{parent} is a symbolic link (to {os.readlink(base + parent)}); meshcode writes real "
                    "folders only, so that it never writes outside the output folder: remove the link")
            parent = parent.rpartition("/")[0]


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


def parse_manifest(text: str, where: str) -> dict[str, str]:
    """path → sha256 from a manifest's text; an entry leaving the output folder is refused.

    The manifest decides what meshcode deletes and commits: a line like `../../etc/x` (a hand
    edit, a merge gone wrong) must never make meshcode touch a file outside the folder.
    """
    entries = {}
    for number, line in enumerate(text.splitlines(), 1):
        if line and not line.startswith("#"):
            sha, _, path = line.partition("  ")
            why = unsafe_reason(path)
            if why:
                raise UnsafePathError(f"{where}:{number}: the entry {path!r} {why}: it leaves the output folder; "
                                      "meshcode only owns files inside it (fix or delete the line)")
            entries[path] = sha
    return entries


def read_manifest(out: Path) -> dict[str, str]:
    """Paths meshcode wrote last time, with the sha256 of what it wrote."""
    try:
        text = (out / MANIFEST).read_text()
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except (OSError, UnicodeDecodeError) as e:
        raise WriteError(f"cannot read {out / MANIFEST}: {e}") from None
    return parse_manifest(text, str(out / MANIFEST))


def manifest_bytes(files: dict[str, bytes]) -> bytes:
    lines = ["# sha256 of every file meshcode wrote here (`sha256sum -c` reads this format)"]
    lines += [f"{digest(data)}  {path}" for path, data in sorted(files.items())]
    return ("\n".join(lines) + "\n").encode()


def departing_namespaces(out: Path, files: Mapping[str, bytes]) -> dict[str, bytes]:
    """Owned Namespace files on disk that `files` no longer has (what a compile would take away)."""
    gone = {}
    for rel in read_manifest(out):
        if rel not in files and is_namespace_path(rel):
            try:
                gone[rel] = (out / rel).read_bytes()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                continue
    return gone


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def plan_change(out: Path, files: dict[str, bytes]) -> TreeChange:
    """Compare the wanted files with the disk; refuse to take over files meshcode did not write."""
    check_paths(out, files)
    owned = read_manifest(out)
    change = TreeChange()
    foreign = []
    base = f"{out}{os.sep}"  # plain strings: tens of thousands of paths, pathlib would dominate
    fresh = not os.path.isdir(out)  # a first compile: nothing to read back (a failed open costs an exception)
    for path, data in files.items():
        current = None if fresh else _read(base + path)
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


def _exchange(a: Path, b: Path) -> int:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE): 0, or the errno it failed with.

    ENOSYS/EINVAL mean the call or the file system does not support it.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return errno.ENOSYS
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return 0 if rc == 0 else ctypes.get_errno()


def clean_staging(out: Path) -> None:
    """Remove what a killed compile left beside the output folder."""
    parent = out.parent
    if parent.is_dir():
        for p in parent.iterdir():
            if p.name.startswith(_STAGING_PREFIX + out.name):
                shutil.rmtree(p, ignore_errors=True)


def _refuse_mount_point(out: Path) -> None:
    if out.is_dir() and os.path.ismount(out):
        raise WriteError(
            f"{out} is a mount point: meshcode replaces the output folder in one atomic rename, which cannot "
            "replace a mount point; mount its parent folder instead, or set `output` to a folder inside the mount")


def _failed(out: Path, e: OSError) -> WriteError:
    where = f" ({e.filename})" if e.filename else ""
    why = f"{e.strerror or e}{where}"
    if e.errno == errno.EXDEV:  # a bind mount os.path.ismount cannot see
        why += (f": {out} or a folder in it is a mount point or on another file system than its parent; "
                "meshcode needs the output folder and its parent on one file system")
    return WriteError(f"could not write {out}: {why}; nothing changed: {out} is as it was, "
                      "and the next compile starts afresh")


def write_tree(out: Path, files: dict[str, bytes], dry_run: bool = False) -> TreeChange:
    """Make `out` hold exactly `files` among the files meshcode owns; foreign files stay.

    Any failure of the disk (full, read-only, permissions) raises WriteError with the old tree
    intact and the half-built staging folder removed.
    """
    out = out.resolve()
    change = plan_change(out, files)
    if dry_run or change.empty:
        return change
    _refuse_mount_point(out)
    try:
        clean_staging(out)
        stage = out.parent / f"{_STAGING_PREFIX}{out.name}-{os.getpid()}"
        stage.mkdir(parents=True)
    except OSError as e:
        raise _failed(out, e) from None
    try:
        _stage(out, stage, files, change)
    except OSError as e:
        shutil.rmtree(stage, ignore_errors=True)
        raise _failed(out, e) from None
    _swap(out, stage)
    return change


def _stage(out: Path, stage: Path, files: dict[str, bytes], change: TreeChange) -> None:
    """Build the new tree in `stage`: new bytes written, unchanged files and foreign ones hard-linked."""
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
    with open(stage / MANIFEST, "wb") as f:
        f.write(manifest_bytes(files))
        f.flush()
        os.fsync(f.fileno())  # a full disk can defer ENOSPC to the flush: know it before the swap


def _swap(out: Path, stage: Path) -> None:
    """Put `stage` in place of `out` atomically; on failure `out` is untouched and `stage` removed."""
    if not out.exists():
        try:
            os.rename(stage, out)
        except OSError as e:
            shutil.rmtree(stage, ignore_errors=True)
            raise _failed(out, e) from None
        return
    err = _exchange(stage, out)
    if err in (errno.ENOSYS, errno.EINVAL):  # no RENAME_EXCHANGE here: two renames, undone on failure
        backup = out.parent / f"{_STAGING_PREFIX}{out.name}-old-{os.getpid()}"
        try:
            os.rename(out, backup)
        except OSError as e:
            shutil.rmtree(stage, ignore_errors=True)
            raise _failed(out, e) from None
        try:
            os.rename(stage, out)
        except OSError as e:
            os.rename(backup, out)
            shutil.rmtree(stage, ignore_errors=True)
            raise _failed(out, e) from None
        stage = backup
    elif err:
        shutil.rmtree(stage, ignore_errors=True)
        raise _failed(out, OSError(err, os.strerror(err), str(out)))
    shutil.rmtree(stage, ignore_errors=True)  # the old tree; a leftover is cleaned by the next compile
