"""YAML from disk → Resources that remember their file and line (the I/O edge of `meshcode lint`).

Parsing (with its bounds on aliases and depth) is `meshcode.safeyaml`'s. Multi-document files and
`kind: List` (or `*List`) wrappers are flattened, each item keeping its own line.

A `ParseCache` parses each distinct file text once per lint run: the same object in several
clusters' folders (a fleet repeats nearly every file once per cluster) is parsed once and its
documents are shared read-only by every file holding those bytes; each file still gets its own
Resources and locations.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable

import yaml

from meshcode.codes import check_failed, level_of
from meshcode.errors import Finding, SourceLocation
from meshcode.plan import Resource
from meshcode.gcpause import gc_paused
from meshcode.safeyaml import documents

SUFFIXES = (".yaml", ".yml", ".json")
KUSTOMIZATION_NAMES = frozenset({"kustomization.yaml", "kustomization.yml", "Kustomization"})


def yaml_files(path: Path) -> list[Path]:
    """The YAML files under a folder (sorted as paths, hidden files and folders skipped, symlinked
    folders not followed, unreadable folders skipped: what `rglob` gives), or the file itself."""
    if not path.is_dir():
        return [path]
    return [Path(name) for name in _file_names(path)]


def _file_names(path: Path) -> list[str]:
    """`yaml_files` as the strings `str(Path)` gives, without building 24k Path objects."""
    if not path.is_dir():
        return [str(path)]
    found: list[tuple[str, ...]] = []
    _walk(str(path), (), found)
    found.sort()  # as Path ordering: part by part
    base = str(path)
    prefix = "" if base == "." else base if base.endswith("/") else base + "/"
    return [prefix + "/".join(parts) for parts in found]


def _walk(folder: str, parts: tuple[str, ...], found: list[tuple[str, ...]]) -> None:
    """One scandir per folder (rglob also stats every file): the listing of a 24k-file fleet."""
    try:
        with os.scandir(folder) as it:
            entries = list(it)
    except PermissionError:
        return
    for entry in entries:
        name = entry.name
        if name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            _walk(entry.path, (*parts, name), found)
        elif os.path.splitext(name)[1] in SUFFIXES and entry.is_file():
            found.append((*parts, name))


def _item_lines(node: yaml.Node) -> list[int]:
    """1-based lines of the entries of a List document's `items` sequence."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if getattr(key, "value", None) == "items" and isinstance(value, yaml.SequenceNode):
                return [item.start_mark.line + 1 for item in value.value]
    return []


_NOT_AN_OBJECT = "not a Kubernetes object (needs apiVersion, kind and metadata.name); not checked"


def _envelope(doc: Any) -> tuple[str, str] | None:
    """None for a well-formed object; else (code, why): MC5002 for what is no Kubernetes object at
    all, IST0106 for an object whose identifying fields have the wrong type (the API server
    rejects it; no check could key it)."""
    if not isinstance(doc, dict) or not all(key in doc for key in ("apiVersion", "kind", "metadata")):
        return "MC5002", _NOT_AN_OBJECT
    metadata = doc["metadata"]
    fields = [("apiVersion", doc["apiVersion"], str), ("kind", doc["kind"], str), ("metadata", metadata, dict)]
    if isinstance(metadata, dict):
        if "name" not in metadata:
            return "MC5002", _NOT_AN_OBJECT
        fields += [(f"metadata.{key}", metadata[key], str) for key in ("name", "namespace") if key in metadata]
    for path, value, expected in fields:
        if not isinstance(value, expected):
            return "IST0106", (f"Schema validation error: {path}: must be {_type_name(expected())}, got "
                               f"{_type_name(value)}; not checked further")
    return None


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def parse_text(text: str, file: str, memo: dict[tuple, Any] | None = None) -> tuple[list[Resource], list[Finding]]:
    """Every Kubernetes object in one file's text, and findings for what is not one."""
    resources: list[Resource] = []
    findings: list[Finding] = []

    def add(doc: Any, line: int, what: str = "") -> None:
        problem = _envelope(doc)
        if problem is None:
            resources.append(Resource(doc, SourceLocation(file, line)))
            return
        code, why = problem
        if what and code == "MC5002":
            why = f"{what} is not a Kubernetes object (apiVersion, kind, metadata.name)"
        kind = doc.get("kind") if isinstance(doc, dict) and isinstance(doc.get("kind"), str) else ""
        findings.append(Finding(code, level_of(code), why, kind, location=SourceLocation(file, line)))

    try:
        for node, doc in documents(text, memo):
            line = node.start_mark.line + 1
            if doc is None:
                continue
            kind = doc.get("kind") if isinstance(doc, dict) else None
            if not isinstance(kind, str):
                add(doc, line)
                continue
            if kind in KUSTOMIZATION_NAMES:
                continue
            if kind.endswith("List") and isinstance(doc.get("items"), list):
                lines = _item_lines(node)
                for i, item in enumerate(doc["items"]):
                    add(item, lines[i] if i < len(lines) else line, f"item {i} of {kind}")
                continue
            add(doc, line)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(e, "problem", None) or str(e)
        findings.append(Finding("MC5001", level_of("MC5001"), f"not valid YAML: {problem}",
                                location=SourceLocation(file, line)))
    return resources, findings


Parsed = tuple[list[Resource], list[Finding]]
PARALLEL_MIN = 1500
"""Distinct new texts per worker below which one process parses them all (a worker costs ~0.05 s)."""
MAX_WORKERS = 4


class ParseCache:
    """Each distinct file parsed once, its documents shared read-only by every file with those
    bytes (no check or validator mutates a manifest). Files are known by a digest of their bytes,
    so a file seen before is neither decoded nor kept as text.

    Kept for the clusters of one lint run, loaded one after another: an entry lives while the
    cluster being loaded or the one before uses it, so memory follows (at most two of) the largest
    clusters, not the fleet. Many new texts at once are parsed by forked workers as well (`add`).
    """

    def __init__(self, workers: int | None = None, parallel_min: int = PARALLEL_MIN) -> None:
        self.memo: dict[tuple, Any] = {}
        self.workers = _available_cpus() if workers is None else workers
        self.parallel_min = parallel_min
        self._current: dict[bytes, Parsed] = {}
        self._previous: dict[bytes, Parsed] = {}

    def next_group(self) -> None:
        """A new cluster starts loading: what the last one used may still be reused by it."""
        self._previous, self._current = self._current, {}

    def drop_unused(self) -> None:
        """The cluster is loaded: what only earlier clusters used is released, and the scalar
        memo (a copy of every distinct scalar of the cluster) before the checks run."""
        self._previous = {}
        self.memo = {}

    def get(self, key: bytes) -> Parsed | None:
        """The objects and findings of the file with this digest (at lines of the file '', see
        `_located`), if parsed before."""
        got = self._current.get(key)
        if got is None:
            got = self._previous.pop(key, None)
            if got is not None:
                self._current[key] = got
        return got

    def add(self, texts: dict[bytes, str]) -> None:
        """Parse new texts (by digest): split between this process and forked workers when there
        are enough of them to pay for a fork."""
        keys = list(texts)
        workers = min(self.workers, MAX_WORKERS, len(keys) // max(self.parallel_min, 1))
        if workers > 1:
            parsed = _parse_forked([texts[k] for k in keys], self.memo, workers)
        else:
            parsed = [_parse_guarded(texts[k], self.memo) for k in keys]
        self._current.update(zip(keys, parsed))


def digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _parse_forked(texts: list[str], memo: dict[tuple, Any], workers: int) -> list[Parsed]:
    """Each text parsed, one contiguous share per process: this one parses the first share while
    forked children parse the others and send their results back pickled (YAML parsing is CPU
    bound; a thread would hold the GIL). Any trouble with a child (no fork on this platform,
    other threads alive, a child that fails) and this process parses that share itself: the
    results are the same either way, as parsing is deterministic."""
    size = -(-len(texts) // workers)
    shares = [texts[i:i + size] for i in range(0, len(texts), size)]
    children: list[tuple[int, int] | None] = [None] + [_fork_parser(share, memo) for share in shares[1:]]
    done = [_parse_guarded(text, memo) for text in shares[0]]
    for share, child in zip(shares[1:], children[1:]):
        got = _collect(child) if child is not None else None
        if got is None or len(got) != len(share):
            got = [_parse_guarded(text, memo) for text in share]
        done += got
    return done


def _fork_parser(texts: list[str], memo: dict[tuple, Any]) -> tuple[int, int] | None:
    """(pid, read end of its pipe) of a child parsing `texts`, or None when forking is unsafe."""
    if not hasattr(os, "fork") or threading.active_count() > 1:  # a lock held by another thread stays held
        return None
    try:
        read, write = os.pipe()
        pid = os.fork()
    except OSError:
        return None
    if pid == 0:  # the child: parse, send, leave without running the parent's exit handlers
        status = 1
        try:
            os.close(read)
            with os.fdopen(write, "wb") as out:
                pickle.dump([_parse_guarded(text, memo) for text in texts], out, protocol=pickle.HIGHEST_PROTOCOL)
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    return pid, read


def _collect(child: tuple[int, int]) -> list[Parsed] | None:
    """A child's results, or None when it failed."""
    pid, read = child
    try:
        with os.fdopen(read, "rb") as stream:
            data = stream.read()
    finally:
        _, status = os.waitpid(pid, 0)
    if status != 0:
        return None
    try:
        got = pickle.loads(data)
    except Exception:  # noqa: BLE001 - a truncated stream: parse that share here
        return None
    return got if isinstance(got, list) else None


def _parse_guarded(text: str, memo: dict[tuple, Any]) -> Parsed:
    try:
        return parse_text(text, "", memo)
    except Exception as e:  # noqa: BLE001 - any input gives findings, never a traceback
        return [], [replace(check_failed("reading YAML", e), location=SourceLocation("", 1))]


def _located(parsed: tuple[list[Resource], list[Finding]], file: str) -> tuple[list[Resource], list[Finding]]:
    """A parse result (locations in the file '') as one file's own: new Resources over the shared
    documents, findings at that file's lines."""
    resources, findings = parsed
    return ([Resource(r.obj, SourceLocation(file, r.origin.line if r.origin else 1)) for r in resources],
            [replace(f, location=SourceLocation(file, f.location.line if f.location else 1)) for f in findings])


def load_paths(paths: Iterable[Path | str], cache: ParseCache | None = None) -> tuple[list[Resource], list[Finding]]:
    """Every object in the given files and folders (folders: *.yaml, *.yml, *.json, recursively).

    With a `cache`, files whose text it has seen share those documents (see ParseCache)."""
    resources: list[Resource] = []
    findings: list[Finding] = []
    cache = ParseCache() if cache is None else cache
    cache.next_group()
    with gc_paused():
        files: list[tuple[str, bytes | Finding]] = []  # each file's digest, or why it has none
        new: dict[bytes, str] = {}  # the texts no earlier file had
        for path in paths:
            for f in _file_names(Path(path)):
                if os.path.basename(f) in KUSTOMIZATION_NAMES:
                    continue
                try:
                    data = _read_bytes(f)
                    key = digest(data)
                    if key not in new and cache.get(key) is None:
                        new[key] = _decode(data, f)
                    files.append((f, key))
                except (OSError, UnicodeDecodeError) as e:
                    files.append((f, Finding("MC5001", level_of("MC5001"), f"cannot read: {e}",
                                             location=SourceLocation(f, 1))))
        cache.add(new)
        del new
        for f, key in files:
            if isinstance(key, Finding):
                findings.append(key)
                continue
            got, notes = _located(cache.get(key) or ([], []), f)
            resources += got
            findings += notes
    cache.drop_unused()
    return resources, findings


def _read_bytes(f: str) -> bytes:
    """The file's bytes (os.read: a third of Path.read_text's cost); on any trouble, the error
    `Path.read_text` gives, as it words it."""
    try:
        fd = os.open(f, os.O_RDONLY)
        try:
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
        finally:
            os.close(fd)
        return b"".join(chunks)
    except OSError:
        Path(f).read_text(encoding="utf-8")
        return Path(f).read_bytes()  # readable after all


def _decode(data: bytes, f: str) -> str:
    """What `Path.read_text(encoding="utf-8")` gives for these bytes (universal newlines); on a
    decoding error, read_text's own (it counts the position in its own way)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Path(f).read_text(encoding="utf-8")
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text
