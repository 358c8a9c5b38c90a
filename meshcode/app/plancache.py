"""The canaries' tick plans kept between ticks, so a tick whose stacks did not change runs none of them.

Written whenever a tick runs the stacks (meshcode.app.canary.load_project), with what the stacks
read (files, their local modules, folders listed, paths probed, environment variables: the input
record), meshcode's code digest, the settings and the stack file names. Read back only when all of
those are as recorded; any doubt (no file, unreadable, another version, a different digest) and
the tick runs the stacks as before. Plain JSON, never a secret (see meshcode.delivery.tickplan).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshcode.app import inputs
from meshcode.delivery.tickplan import TickTarget, tick_from_json, tick_json

if TYPE_CHECKING:
    from meshcode.app.project import Project

CACHE_FILE = "canary-plans.json"
FORMAT = 1


def reads_digest(files: tuple[str, ...], record: inputs.InputRecord) -> str:
    """Digest of what the stacks read, as it is now: files' bytes, folders' names, probed paths' kinds, env values."""
    h = hashlib.sha256()
    for path in files:
        try:
            data = Path(path).read_bytes()
        except OSError:
            data = None
        h.update(f"file {path} {hashlib.sha256(data).hexdigest() if data is not None else '-'}\n".encode())
    for folder in sorted(record.listings):
        try:
            names = "\0".join(sorted(os.listdir(folder)))
        except OSError:
            names = "-"
        h.update(f"listing {folder} {hashlib.sha256(names.encode()).hexdigest()}\n".encode())
    for path in sorted(record.probes):
        kind = "dir" if os.path.isdir(path) else "file" if os.path.exists(path) else "-"
        h.update(f"probe {path} {kind}\n".encode())
    for key in sorted(record.env):
        h.update(f"env {key} {os.environ.get(key)!r}\n".encode())
    return h.hexdigest()


@dataclass(frozen=True)
class CachedPlans:
    """The tick plans as the last run of the stacks gave them, with what those stacks read."""

    ticks: dict[str, TickTarget]
    files: tuple[str, ...]
    record: inputs.InputRecord
    reads: str

    def current(self) -> bool:
        return reads_digest(self.files, self.record) == self.reads


def _key(project: Project) -> dict[str, Any]:
    """What the plans depend on besides the stacks' reads: meshcode's code, settings, the stack files."""
    return {"format": FORMAT, "code": inputs._code_digest(), "settings": project.settings.as_json(),
            "root": str(project.root), "stacks": sorted(p.name for p in project.stacks_dir.glob("*.py"))}


def _path(project: Project) -> Path:
    return project.root / ".meshcode" / CACHE_FILE


def save(project: Project, ticks: dict[str, TickTarget], files: tuple[str, ...], record: inputs.InputRecord,
         reads: str) -> None:
    """Keep the plans for the next tick; a plan that cannot be kept without a secret means none is kept."""
    path = _path(project)
    plans = {k: tick_json(t) for k, t in ticks.items()}
    if any(v is None for v in plans.values()):
        path.unlink(missing_ok=True)
        return
    data = {**_key(project), "files": list(files), "env": sorted(record.env), "listings": sorted(record.listings),
            "probes": sorted(record.probes), "reads": reads, "targets": plans}
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(exist_ok=True)
        tmp.write_text(json.dumps(data, sort_keys=True))
        os.replace(tmp, path)
    except OSError:  # no cache: the next tick runs the stacks
        for p in (tmp, path):
            try:
                p.unlink(missing_ok=True)
            except OSError:
                pass


def load(project: Project) -> CachedPlans | None:
    """The kept plans when everything they came from is as recorded; None on any doubt."""
    try:
        data = json.loads(_path(project).read_text())
        if not isinstance(data, dict) or any(data.get(k) != v for k, v in _key(project).items()):
            return None
        record = inputs.InputRecord(env={k: None for k in data["env"]}, listings=set(data["listings"]),
                                    probes=set(data["probes"]))
        cached = CachedPlans({k: tick_from_json(v) for k, v in data["targets"].items()},
                             tuple(data["files"]), record, data["reads"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return cached if cached.current() else None
