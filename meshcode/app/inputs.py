"""Skip a compile when none of its inputs changed.

While the stacks run, meshcode records what they read: every local Python module, every file
opened, every folder listed (os.listdir/scandir, so glob and pathlib too), every path whose
existence was probed (os.stat), every environment variable looked up. With the project's settings, canary state,
workloads and meshcode's own code, that is the whole input of a compile (the compiler is
pure). If a later `meshcode compile` finds the same inputs and the output tree as it was
left, it has nothing to do and stops before running any stack.
"""
from __future__ import annotations

import builtins
import hashlib
import io
import json
import os
import sys
import sysconfig
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshcode._version import __version__
from meshcode.gitops.tree import as_left, record_path

CACHE_FILE = "inputs.json"
_PACKAGE_DIR = Path(__file__).resolve().parent.parent
_LIBRARY_DIRS = tuple({str(Path(p).resolve()) for p in (
    sys.prefix, sys.base_prefix, sys.exec_prefix, sysconfig.get_paths()["stdlib"],
    sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"])})


@dataclass
class InputRecord:
    """What the stacks read: file paths (hashed later) and environment variables with values."""

    files: set[str] = field(default_factory=set)
    env: dict[str, str | None] = field(default_factory=dict)
    listings: set[str] = field(default_factory=set)  # folders listed: a file added there is a change
    probes: set[str] = field(default_factory=set)  # paths stat'ed: appearing or vanishing is a change


class _RecordingEnviron(MutableMapping):
    """os.environ that remembers which variables the stacks asked for."""

    def __init__(self, real: Any, record: InputRecord):
        self._real, self._record = real, record

    def __getitem__(self, key: str) -> str:
        self._record.env[key] = self._real.get(key)
        return self._real[key]

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self._record.env[key] = self._real.get(key)
        return key in self._real

    def __setitem__(self, key: str, value: str) -> None:
        self._real[key] = value

    def __delitem__(self, key: str) -> None:
        del self._real[key]

    def __iter__(self) -> Iterator[str]:
        for key in self._real:  # iterating reads every variable
            self._record.env[key] = self._real.get(key)
            yield key

    def __len__(self) -> int:
        return len(self._real)

    def copy(self) -> dict[str, str]:
        return {k: self[k] for k in self}


@contextmanager
def recording() -> Iterator[InputRecord]:
    """Record files opened and environment variables read inside the block."""
    record = InputRecord()
    real_open, real_environ = builtins.open, os.environ

    def recording_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, (str, bytes, os.PathLike)) and not any(c in mode for c in "wax+"):
            record.files.add(os.path.abspath(os.fsdecode(file)))
        return real_open(file, mode, *args, **kwargs)

    real_listdir, real_scandir, real_stat = os.listdir, os.scandir, os.stat

    def path_of(path: Any) -> str | None:
        return os.path.abspath(os.fsdecode(path)) if isinstance(path, (str, bytes, os.PathLike)) else None

    def recording_listdir(path: Any = ".") -> Any:
        if (p := path_of(path)) is not None:
            record.listings.add(p)
        return real_listdir(path)

    def recording_scandir(path: Any = ".") -> Any:
        if (p := path_of(path)) is not None:
            record.listings.add(p)
        return real_scandir(path)

    def recording_stat(path: Any, *args: Any, **kwargs: Any) -> Any:
        if (p := path_of(path)) is not None:
            record.probes.add(p)
        return real_stat(path, *args, **kwargs)

    builtins.open = io.open = recording_open  # type: ignore[assignment]
    os.environ = _RecordingEnviron(real_environ, record)  # type: ignore[assignment]
    os.listdir, os.scandir, os.stat = recording_listdir, recording_scandir, recording_stat  # type: ignore
    try:
        yield record
    finally:
        builtins.open = io.open = real_open  # type: ignore[assignment]
        os.environ = real_environ  # type: ignore[assignment]
        os.listdir, os.scandir, os.stat = real_listdir, real_scandir, real_stat  # type: ignore


def _local_modules() -> set[str]:
    """Python files of modules that are not installed libraries, nor meshcode itself."""
    out = set()
    for module in list(sys.modules.values()):
        f = getattr(module, "__file__", None)
        if not f or not f.endswith(".py"):
            continue
        path = str(Path(f).resolve())
        if path.startswith(_LIBRARY_DIRS) or path.startswith(str(_PACKAGE_DIR)):
            continue
        out.add(path)
    return out


def _hash_file(path: str) -> str | None:
    try:
        with io.FileIO(path) as f:
            return hashlib.sha256(f.read()).hexdigest()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
        return None


def _listing(folder: str) -> str | None:
    """The names in a folder (sorted, hashed), or None when it is not a listable folder."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return None
    return hashlib.sha256("\0".join(names).encode()).hexdigest()


def _kind(path: str) -> str:
    """What a probed path is now: a change of kind (appeared, vanished) changes the compile."""
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    return "dir" if os.path.isdir(path) else "file" if os.path.isfile(path) else f"other:{st.st_mode:o}"


def _tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    if folder.is_dir():
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                h.update(str(p.relative_to(folder)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def _code_digest() -> str:
    """meshcode's own source, by size and mtime: an upgrade or a local edit invalidates."""
    h = hashlib.sha256(__version__.encode() + sys.version.encode())
    for p in sorted(_PACKAGE_DIR.rglob("*.py")):
        st = p.stat()
        h.update(f"{p}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def fingerprint(project: Any, files: dict[str, str | None], env: dict[str, str | None],
                extra: dict[str, Any], listings: dict[str, str | None] | None = None,
                probes: dict[str, str] | None = None) -> str:
    body = {
        "listings": listings or {},
        "probes": probes or {},
        "code": _code_digest(),
        "settings": project.settings.as_json(),
        "root": str(project.root),
        "stacks": sorted(p.name for p in project.stacks_dir.glob("*.py")),  # a new stack file is an input too
        "state": _tree_digest(project.state_dir),
        "files": files,
        "env": env,
        "extra": extra,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def extra_inputs(project: Any, workloads: Path | str | None) -> dict[str, Any]:
    """Inputs given on the command line rather than read by the stacks."""
    path = project.workloads_path(workloads)
    if path is None:
        return {}
    path = Path(path).resolve()
    return {"workloads": str(path), "digest": _tree_digest(path) if path.is_dir() else _hash_file(str(path))}


def _own_folders(project: Any) -> tuple[str, ...]:
    """Folders meshcode itself writes or hashes separately: never inputs of the stacks."""
    return tuple(str(Path(p).resolve()) for p in (project.output_dir, project.root / ".meshcode",
                                                   project.state_dir))


def _inside(path: str, folders: tuple[str, ...]) -> bool:
    return any(path == f or path.startswith(f + os.sep) for f in folders)


def files_read(record: InputRecord) -> set[str]:
    """Absolute paths of every file the compile read: opened files and local Python modules."""
    return record.files | _local_modules()


def save(project: Any, record: InputRecord, extra: dict[str, Any], output: str | None) -> None:
    """Remember this compile's inputs and the output tree it left (`output`: the write's generation,
    naming the output record; None when none was kept, and then nothing is remembered)."""
    if output is None:
        return
    own = _own_folders(project)
    paths = {p for p in record.files | _local_modules() if not _inside(p, own)}
    files = {p: _hash_file(p) for p in sorted(paths)}
    listings = {p: _listing(p) for p in sorted(record.listings) if not _inside(p, own)}
    probes = {p: _kind(p) for p in sorted(record.probes - paths - set(listings)) if not _inside(p, own)}
    data = {"fingerprint": fingerprint(project, files, record.env, extra, listings, probes),
            "files": sorted(files), "env": sorted(record.env), "listings": sorted(listings),
            "probes": sorted(probes), "output": output}
    cache = project.root / ".meshcode" / CACHE_FILE
    tmp = cache.with_suffix(f".tmp-{os.getpid()}")
    try:
        cache.parent.mkdir(exist_ok=True)
        tmp.write_text(json.dumps(data))
        os.replace(tmp, cache)
    except OSError:  # no record, no skip: the next compile runs the stacks
        for p in (tmp, cache):
            try:
                p.unlink(missing_ok=True)
            except OSError:
                pass


def unchanged(project: Any, extra: dict[str, Any]) -> bool:
    """True when the recorded inputs hash the same and the output tree is as it was left."""
    try:
        data = json.loads((project.root / ".meshcode" / CACHE_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return False
    if "listings" not in data or "probes" not in data:  # a record from before listings were kept
        return False
    files = {p: _hash_file(p) for p in data["files"]}
    env = {k: os.environ.get(k) for k in data["env"]}
    listings = {p: _listing(p) for p in data["listings"]}
    probes = {p: _kind(p) for p in data["probes"]}
    if fingerprint(project, files, env, extra, listings, probes) != data["fingerprint"]:
        return False
    return isinstance(data.get("output"), str) and as_left(project.output_dir.resolve(), record_path(project.root),
                                                           data["output"])


def restate(project: Any, extra: dict[str, Any]) -> None:
    """Re-key the record to the canary state on disk now, the output left as it is.

    For a canary decision the compiler does not read (a recorded hold or failed check: no
    routing input changed, see meshcode.state.canary.routing_inputs), taken under the project
    lock after unchanged() held: the output on disk is the compile of the new state too, so the
    next compile or tick still has nothing to do.
    """
    path = project.root / ".meshcode" / CACHE_FILE
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return
    files = {p: _hash_file(p) for p in data["files"]}
    env = {k: os.environ.get(k) for k in data["env"]}
    listings = {p: _listing(p) for p in data["listings"]}
    probes = {p: _kind(p) for p in data["probes"]}
    data["fingerprint"] = fingerprint(project, files, env, extra, listings, probes)
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)
    except OSError:  # no record, no skip: the next compile runs the stacks
        forget(project)


def forget(project: Any) -> None:
    (project.root / ".meshcode" / CACHE_FILE).unlink(missing_ok=True)
