"""Write the output tree, touching only the files that changed and only files meshcode owns.

Readers never see a mixture of two compiles in anything meshcode commits (docs/architecture.md,
"Writing generated/"):

- a first compile (no output folder yet) builds the whole tree beside it and renames it into place;
- a later compile writes only what changed. Before touching anything it writes a journal
  (`<out>/.meshcode-pending/journal`: every path about to change, with the sha256 it will hold) and
  every new body into that folder; then it renames each body into place (objects before the
  kustomizations that list them, removals after them), replaces the manifest last (the
  generation marker: manifest and files agree again) and removes the pending folder.

A compile killed at any moment leaves the old tree, the new tree, or a journal. The next compile
reads the journal: files it names with the digest it names are meshcode's (never reported as hand
edits, never refused as foreign), and that compile finishes the tree. Nothing meshcode commits is
made while a journal exists, so git (and Argo CD, which reads commits) only ever holds whole trees.
A disk error (full, read-only, permissions) undoes what was done and leaves the folder as it was.

Unchanged files are not read back: the output record (`.meshcode/output-record`) keeps each
owned file's (size, mtime, ctime, inode) with the sha256 it had, and only a file whose stat
changed, or was written within the record's own timestamp tick (git's "racy clean" rule), is read.
"""
from __future__ import annotations

import errno
import hashlib
import marshal
import os
import re
import shutil
import stat as stat_mod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from meshcode.errors import OwnershipError, UnsafePathError, WriteError
from meshcode.plan import is_namespace_path

MANIFEST = ".meshcode-manifest"
PENDING = ".meshcode-pending"  # an unfinished write: its journal, the new bodies and undo copies
_JOURNAL = "journal"
_RESERVED = ".meshcode-"  # names meshcode itself uses in and beside the output folder
_STAGING_PREFIX = ".meshcode-staging-"
RECORD_FILE = "output-record"
_RECORD_FORMAT = 1

StatKey = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode


def record_path(root: Path) -> Path:
    """Where a project keeps its output record (local, never committed: .meshcode/ ignores itself)."""
    return root / ".meshcode" / RECORD_FILE


def unsafe_reason(rel: str) -> str | None:
    """Why `rel` (a path meshcode writes, relative to the output folder) is not safe, or None.

    One rule for every path that is written, deleted or read back from the manifest: relative,
    '/'-separated, no empty, '.' or '..' segment, nothing non-printable (a newline would corrupt
    the manifest and the kustomization), no backslash, and none of meshcode's own names.
    """
    if not rel or not isinstance(rel, str):
        return "is empty"
    if rel.startswith("/") or (len(rel) > 1 and rel[1] == ":"):
        return "is absolute"
    if "\\" in rel or not rel.isprintable():
        return "holds a backslash or a non-printable character"
    if any(part in ("", ".", "..") for part in rel.split("/")):
        return "has an empty, '.' or '..' segment"
    if rel.split("/", 1)[0].startswith(_RESERVED):
        return "is one of meshcode's own names (.meshcode-*: staging, journal, manifest)"
    return None


def check_paths(out: Path, paths: list[str] | dict[str, bytes]) -> None:
    """Refuse any path that would leave `out`, and any that passes through a symbolic link in it."""
    bad = [] if _all_plain(paths) else [(p, why) for p in paths if (why := unsafe_reason(p))]
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
    generation: str | None = None  # names the output record this write left (None: none kept)
    # what the plan learnt, for the write: sha256 of every wanted file, stats of files as they are
    digests: dict[str, str] = field(default_factory=dict, repr=False)
    stats: dict[str, StatKey] = field(default_factory=dict, repr=False)
    unfinished: bool = field(default=False, repr=False)  # a journal or a stale manifest: write even if empty
    loaded: tuple = field(default=({}, 0, None), repr=False)  # the output record the plan used

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)

    def summary(self) -> str:
        return (f"{len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} removed, "
                f"{self.unchanged} unchanged")


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digests(files: Mapping[str, bytes]) -> dict[str, str]:
    """sha256 of every file; a body shared by several clusters (one bytes object) is hashed once."""
    seen: dict[int, str] = {}
    out = {}
    for path, data in files.items():
        sha = seen.get(id(data))
        if sha is None:
            sha = seen[id(data)] = hashlib.sha256(data).hexdigest()
        out[path] = sha
    return out


# ---- the manifest ------------------------------------------------------------------------------
# Safe paths checked in bulk (the common case): name characters only, no segment empty or starting
# with '.', so none is '.', '..' or one of meshcode's own names. Anything else takes the path-by-path
# check, which says exactly what is wrong.
_ENTRIES = re.compile(r"^([0-9a-f]{64})  (.+)", re.M)  # `.` stops at the line end
_PLAIN = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.@+,=~/-\n"


def _all_plain(paths: list[str] | Mapping[str, object]) -> bool:
    """Whether every path is plainly safe, in a few passes of C code over all of them at once."""
    try:
        joined = ("\n" + "\n".join(paths) + "\n").encode("ascii")  # type: ignore[arg-type]
    except (UnicodeEncodeError, TypeError):
        return False
    return not (joined.translate(None, _PLAIN) or b"\n." in joined or b"/." in joined or b"//" in joined
                or b"\n/" in joined or b"/\n" in joined or b"\n\n" in joined)


def parse_manifest(text: str, where: str) -> dict[str, str]:
    """path → sha256 from a manifest's text; an entry leaving the output folder is refused.

    The manifest decides what meshcode deletes and commits: a line like `../../etc/x` (a hand
    edit, a merge gone wrong) must never make meshcode touch a file outside the folder.
    """
    if text.endswith("\n") and "\n\n" not in text and "\r" not in text:
        found = _ENTRIES.findall(text)
        lines = text.count("\n") - text.count("\n#") - text.startswith("#")  # entry lines, comments aside
        if len(found) == lines and _all_plain([path for _sha, path in found]):
            return {path: sha for sha, path in found}
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


_MANIFESTS: dict[str, tuple[StatKey, dict[str, str]]] = {}  # parsed manifests of this process, by stat


def _key(st: os.stat_result) -> StatKey:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def read_manifest(out: Path) -> dict[str, str]:
    """Paths meshcode wrote last time, with the sha256 of what it wrote (parsed once per version)."""
    path = os.path.join(out, MANIFEST)
    try:
        with open(path, "rb") as f:
            key = _key(os.fstat(f.fileno()))
            hit = _MANIFESTS.get(path)
            if hit is not None and hit[0] == key:
                return dict(hit[1])
            text = f.read().decode()
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except (OSError, UnicodeDecodeError) as e:
        raise WriteError(f"cannot read {path}: {e}") from None
    entries = parse_manifest(text, path)
    _MANIFESTS[path] = (key, entries)
    return dict(entries)


def manifest_bytes(files: dict[str, bytes], shas: Mapping[str, str] | None = None) -> bytes:
    shas = shas if shas is not None else digests(files)
    lines = ["# sha256 of every file meshcode wrote here (`sha256sum -c` reads this format)"]
    lines += [f"{shas[path]}  {path}" for path in sorted(files)]
    return ("\n".join(lines) + "\n").encode()


# ---- the journal of an unfinished write --------------------------------------------------------
def read_journal(out: Path) -> dict[str, set[str]]:
    """path → digests an unfinished write may have left there ('-': it may have removed it); {} if none.

    A line that is not a safe path is ignored: the journal only ever widens what counts as meshcode's.
    """
    try:
        with open(os.path.join(out, PENDING, _JOURNAL), "rb") as f:
            text = f.read().decode(errors="replace")
    except OSError:
        return {}
    claims: dict[str, set[str]] = {}
    for line in text.splitlines():
        sha, _, path = line.partition("  ")
        if path and not unsafe_reason(path):
            claims.setdefault(path, set()).add(sha)
    return claims


def unfinished(out: Path) -> bool:
    """Whether a write of `out` was interrupted (its pending folder is still there)."""
    return os.path.lexists(os.path.join(out, PENDING))


def refuse_unfinished(out: Path) -> None:
    """Nothing is committed from a tree a killed compile left half-written."""
    if unfinished(out):
        raise WriteError(f"{out} holds an unfinished write ({PENDING}/: a compile was interrupted); "
                         "run `meshcode compile` to finish it, then commit")


# ---- the output record -------------------------------------------------------------------------
def load_record(path: Path | None, out: Path) -> tuple[dict[str, tuple[int, int, int, int, str]], int, str | None]:
    """(entries, stamp, generation) of the record left by the last write of `out`; ({}, 0, None) if none.

    `stamp` is the record file's mtime: an entry whose mtime is not older may have been rewritten
    within the same timestamp tick after it was taken, so it is not trusted (git's racy-clean rule).
    """
    if path is None:
        return {}, 0, None
    try:
        with open(path, "rb") as f:
            stamp = os.fstat(f.fileno()).st_mtime_ns
            data = marshal.loads(f.read())
        if data["format"] != _RECORD_FORMAT or data["out"] != str(out):
            return {}, 0, None
        return data["entries"], stamp, data["generation"]
    except (OSError, EOFError, ValueError, TypeError, KeyError):
        return {}, 0, None


def _save_record(path: Path | None, out: Path, entries: dict[str, tuple[int, int, int, int, str]]) -> str | None:
    """Keep `entries`; returns the generation that names them, None when it could not be kept."""
    if path is None:
        return None
    body = marshal.dumps(entries)
    generation = hashlib.blake2b(body, digest_size=16).hexdigest()
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(marshal.dumps({"format": _RECORD_FORMAT, "out": str(out), "generation": generation,
                                   "entries": entries}))
        os.replace(tmp, path)
    except OSError:  # only a speed-up: without a record the next compile reads the files back
        for p in (tmp, path):
            try:
                p.unlink(missing_ok=True)
            except OSError:
                pass
        return None
    return generation


def as_left(out: Path, record: Path, generation: str) -> bool:
    """Whether every owned file (and the manifest) is as the write named `generation` left it.

    Stats only, except a file written within the record's timestamp tick, whose bytes are
    compared by digest. Used by the no-op check: no manifest parsing, no reading.
    """
    entries, stamp, kept = load_record(record, out)
    if kept != generation or not entries or unfinished(out):
        return False
    base = f"{out}{os.sep}"
    lstat = os.lstat
    racy = []
    for rel, entry in entries.items():
        try:
            st = lstat(base + rel)
        except (OSError, ValueError):
            return False
        if (st.st_mtime_ns != entry[1] or st.st_size != entry[0] or st.st_ctime_ns != entry[2]
                or st.st_ino != entry[3]):
            return False
        if entry[1] >= stamp:
            racy.append(rel)
    return all(_current(base + rel)[0] == entries[rel][4] for rel in racy)


def _current(path: str) -> tuple[str | None, StatKey | None]:
    """(sha256, stat) of a regular file, stat taken before reading; (None, None) if it is not one."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat_mod.S_ISREG(st.st_mode):
                return None, None
            return hashlib.sha256(f.read()).hexdigest(), _key(st)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None, None


def _disk_digests(out: Path, paths: list[str], record: Path | None,
                  loaded: tuple | None = None) -> tuple[dict[str, str | None], dict[str, StatKey]]:
    """sha256 of each path as it is on disk (None: missing, or not a regular file), and its stat.

    A file whose stat equals the record's (and is older than the record) is not read: its
    digest is the recorded one.
    """
    known, stamp, _gen = loaded if loaded is not None else load_record(record, out)
    base = f"{out}{os.sep}"
    lstat = os.lstat
    shas: dict[str, str | None] = {}
    stats: dict[str, StatKey] = {}
    regular = stat_mod.S_ISREG
    for rel in paths:  # the loop of a change compile over every owned file: kept lean
        try:
            st = lstat(base + rel)
        except (FileNotFoundError, NotADirectoryError):
            shas[rel] = None
            continue
        entry = known.get(rel)
        if (entry is not None and st.st_mtime_ns == entry[1] and entry[1] < stamp and st.st_size == entry[0]
                and st.st_ctime_ns == entry[2] and st.st_ino == entry[3] and regular(st.st_mode)):
            shas[rel], stats[rel] = entry[4], entry[:4]
            continue
        if not regular(st.st_mode):  # a folder or a link where a file was: never meshcode's
            shas[rel] = "?"
            continue
        sha, key2 = _current(base + rel)
        shas[rel] = sha if sha is not None else "?"
        if key2 is not None:
            stats[rel] = key2
    return shas, stats


def owned_digests(out: Path, record: Path | None = None) -> tuple[dict[str, str], dict[str, str | None], dict[str, set[str]]]:
    """(manifest, what each owned file holds now, the journal's claims), reading only files whose stat changed."""
    owned = read_manifest(out)
    now, _stats = _disk_digests(out, list(owned), record)
    return owned, now, read_journal(out)


# ---- planning ----------------------------------------------------------------------------------
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


def plan_change(out: Path, files: dict[str, bytes], record: Path | None = None) -> TreeChange:
    """Compare the wanted files with the disk; refuse to take over files meshcode did not write.

    An owned file counts as unchanged by its digest: read from the output record when the
    file's stat is the recorded one, from the file otherwise.
    """
    check_paths(out, files)
    change = TreeChange(digests=digests(files))
    wanted = change.digests
    if not os.path.isdir(out):  # a first compile: nothing to compare
        change.added = list(files)
        return change
    owned = read_manifest(out)
    claims = read_journal(out)
    change.unfinished = unfinished(out)
    extra = [p for p in owned if p not in files] + [p for p in claims if p not in files and p not in owned]
    change.loaded = load_record(record, out)
    now, change.stats = _disk_digests(out, [*files, *extra], record, change.loaded)
    foreign = []
    for path, sha in wanted.items():
        current = now[path]
        if current is None:
            change.added.append(path)
        elif current == sha:
            change.unchanged += 1
        elif path in owned or current in claims.get(path, ()):
            change.changed.append(path)
            if current != owned.get(path) and current not in claims.get(path, ()):
                change.hand_edited.append(path)
        else:
            foreign.append(path)
    if foreign:
        raise OwnershipError(
            f"{len(foreign)} file(s) in {out} were not written by meshcode and would be overwritten: "
            + ", ".join(sorted(foreign)[:5]) + ("…" if len(foreign) > 5 else "")
            + f" (move them away, or list them in {MANIFEST} to hand them over)")
    base = f"{out}{os.sep}"

    def gone(p: str) -> bool:  # an owned file or link goes; a folder someone made in its place stays
        if p in owned:
            return now[p] not in (None, "?") or os.path.islink(base + p)
        return now[p] is not None and now[p] in claims[p]

    change.removed = sorted(p for p in extra if gone(p))
    if owned != wanted:  # the manifest itself is stale (an interrupted write): rewrite it
        change.unfinished = True
    return change


# ---- writing -----------------------------------------------------------------------------------
def _failed(out: Path, e: OSError) -> WriteError:
    where = f" ({e.filename})" if e.filename else ""
    why = f"{e.strerror or e}{where}"
    if e.errno == errno.EXDEV:  # a bind mount os.path.ismount cannot see
        why += (f": {out} or a folder in it is a mount point or on another file system than its parent; "
                "meshcode needs the whole output folder on one file system (and its parent, for a first compile)")
    return WriteError(f"could not write {out}: {why}; nothing changed: {out} is as it was, "
                      "and the next compile starts afresh")


def clean_staging(out: Path) -> None:
    """Remove what a killed first compile left beside the output folder."""
    parent = out.parent
    if parent.is_dir():
        for p in parent.iterdir():
            if p.name.startswith(_STAGING_PREFIX + out.name):
                shutil.rmtree(p, ignore_errors=True)


def write_tree(out: Path, files: dict[str, bytes], dry_run: bool = False, record: Path | None = None) -> TreeChange:
    """Make `out` hold exactly `files` among the files meshcode owns; foreign files stay.

    Any failure of the disk (full, read-only, permissions) raises WriteError with the old tree
    as it was and nothing of the attempt left. `record` (the project's output record) spares
    reading back files whose stat did not change, and is updated after the write.
    """
    out = out.resolve()
    change = plan_change(out, files, record)
    if dry_run:
        return change
    if change.empty and not change.unfinished:
        entries = {p: (*change.stats[p], change.digests[p]) for p in sorted(files) if p in change.stats}
        _record_manifest(out, entries, change)
        known, stamp, generation = change.loaded
        racy = any(e[1] >= stamp for e in known.values())
        if len(entries) != len(files) + 1:
            change.generation = None
        elif known == entries and generation and not racy:
            change.generation = generation
        else:
            change.generation = _save_record(record, out, entries)
        return change
    try:
        clean_staging(out)
    except OSError as e:
        raise _failed(out, e) from None
    if os.path.isdir(out):
        written = _write_changes(out, files, change)
    else:
        written = _write_fresh(out, files, change)
    stats = {**change.stats, **written}
    entries = {p: (*stats[p], change.digests[p]) for p in sorted(files) if p in stats}
    _record_manifest(out, entries, change)
    change.generation = _save_record(record, out, entries) if len(entries) == len(files) + 1 else None
    return change


def _record_manifest(out: Path, entries: dict, change: TreeChange) -> None:
    try:
        with open(os.path.join(out, MANIFEST), "rb") as f:
            st = os.fstat(f.fileno())
            entries[MANIFEST] = (*_key(st), digest(f.read()))
    except OSError:
        pass


def _write_file(path: str, data: bytes, sync: bool = False) -> None:
    with open(path, "wb") as f:
        f.write(data)
        if sync:
            f.flush()
            os.fsync(f.fileno())  # a full disk can defer ENOSPC to the flush: know it before any rename


def _write_fresh(out: Path, files: dict[str, bytes], change: TreeChange) -> dict[str, StatKey]:
    """A first compile: build the tree beside `out`, then one rename (readers see no folder or all of it)."""
    stage = out.parent / f"{_STAGING_PREFIX}{out.name}-{os.getpid()}"
    dst = f"{stage}{os.sep}"
    stats: dict[str, StatKey] = {}
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        os.makedirs(stage)
        made = {""}
        for path, data in files.items():
            folder = path.rpartition("/")[0]
            if folder not in made:
                os.makedirs(dst + folder, exist_ok=True)
                made.add(folder)
            fd = os.open(dst + path, flags, 0o666)
            try:
                if os.write(fd, data) != len(data):
                    raise OSError(errno.EIO, "short write", dst + path)
                stats[path] = _key(os.fstat(fd))
            finally:
                os.close(fd)
        _write_file(dst + MANIFEST, manifest_bytes(files, change.digests), sync=True)
        os.rename(stage, out)  # `out` does not exist (or is an empty folder made meanwhile)
    except OSError as e:
        shutil.rmtree(stage, ignore_errors=True)
        raise _failed(out, e) from None
    return stats


def _order(change: TreeChange) -> list[str]:
    """Objects first, then the kustomizations listing them: each kustomization only names files present."""
    writes = change.added + change.changed
    return ([p for p in writes if not p.endswith("/kustomization.yaml")]
            + [p for p in writes if p.endswith("/kustomization.yaml")])


def _missing_folders(base: str, folder: str) -> list[str]:
    """`folder` and its missing ancestors, outermost first."""
    missing = []
    while folder and not os.path.isdir(base + folder):
        missing.append(folder)
        folder = folder.rpartition("/")[0]
    return missing[::-1]


def _write_changes(out: Path, files: dict[str, bytes], change: TreeChange) -> dict[str, StatKey]:
    """Write only what changed: journal and bodies first, then renames, the manifest last."""
    base = f"{out}{os.sep}"
    pending = base + PENDING
    claims = read_journal(out)  # a killed write's claims stay until a write completes
    writes = _order(change)
    lines = [f"{sha}  {path}" for path, shas in sorted(claims.items()) for sha in sorted(shas)]
    lines += [f"{change.digests[p]}  {p}" for p in writes] + [f"-  {p}" for p in change.removed]
    try:
        if os.path.islink(pending) or os.path.isfile(pending):
            os.unlink(pending)
        shutil.rmtree(pending, ignore_errors=True)  # a killed write's bodies and undo copies: stale now
        os.mkdir(pending)
        _write_file(f"{pending}/{_JOURNAL}.tmp", ("\n".join(lines) + "\n").encode(), sync=True)
        os.rename(f"{pending}/{_JOURNAL}.tmp", f"{pending}/{_JOURNAL}")
        for i, path in enumerate(writes):
            _write_file(f"{pending}/{i}", files[path])
        _write_file(f"{pending}/manifest", manifest_bytes(files, change.digests), sync=True)
    except OSError as e:
        shutil.rmtree(pending, ignore_errors=True)
        raise _failed(out, e) from None
    undo: list[tuple[str, str]] = []  # (what, path) in the order done
    stats: dict[str, StatKey] = {}
    existing = set(change.changed)
    try:
        for i, path in enumerate(writes):
            target = base + path
            if path in existing:
                os.link(target, f"{pending}/old-{i}", follow_symlinks=False)
                undo.append(("restore", f"{pending}/old-{i}\0{target}"))
            else:
                for folder in _missing_folders(base, path.rpartition("/")[0]):
                    os.mkdir(base + folder)
                    undo.append(("rmdir", base + folder))
                undo.append(("unlink", target))
            os.replace(f"{pending}/{i}", target)
            stats[path] = _key(os.lstat(target))
        for j, path in enumerate(change.removed):
            os.rename(base + path, f"{pending}/gone-{j}")
            undo.append(("restore", f"{pending}/gone-{j}\0{base + path}"))
        os.replace(f"{pending}/manifest", base + MANIFEST)  # the generation marker: the write is complete
    except OSError as e:
        if not _undo(undo):  # the journal stays: the next compile recognises and finishes this write
            raise WriteError(f"could not write {out}: {e.strerror or e}; the write could not be undone either: "
                             f"{out}/{PENDING}/ records it, and the next compile finishes it") from None
        shutil.rmtree(pending, ignore_errors=True)
        raise _failed(out, e) from None
    for path in change.removed:  # folders the removals emptied (a foreign file keeps its folder)
        folder = path.rpartition("/")[0]
        while folder:
            try:
                os.rmdir(base + folder)
            except OSError:
                break
            folder = folder.rpartition("/")[0]
    try:
        os.unlink(f"{pending}/{_JOURNAL}")  # the journal goes first: what is left of the folder is litter
        shutil.rmtree(pending, ignore_errors=True)
    except OSError:
        pass  # a complete tree with its pending folder left: the next compile tidies it
    return stats


def _undo(steps: list[tuple[str, str]]) -> bool:
    """Put back what a failed write changed, newest first; False if some step could not be undone."""
    ok = True
    for what, arg in reversed(steps):
        try:
            if what == "restore":
                saved, target = arg.split("\0")
                os.replace(saved, target)
            elif what == "unlink":
                os.unlink(arg)
            else:
                os.rmdir(arg)
        except FileNotFoundError:
            continue  # the step itself had not happened
        except OSError:
            ok = False
    return ok
