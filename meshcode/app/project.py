"""A project on disk: its settings and folders, the lock, and the build (load → compile → check → render → write)."""
from __future__ import annotations

import marshal
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from meshcode._version import __version__
from meshcode.errors import Finding, LockedError, MachinePathError
from meshcode.gcpause import gc_paused
from meshcode.gitops.tree import TreeChange, WriteError, record_path, write_tree
from meshcode.settings import Settings, find_root, load_settings

if TYPE_CHECKING:  # the build's modules load when a build runs: a compile with nothing to do never needs them
    from filelock import FileLock

    from meshcode.compile.argocd import GitOpsDefaults
    from meshcode.gitops.git import PendingCommit
    from meshcode.intent.topology import Mesh
    from meshcode.plan import Plan
    from meshcode.state.canary import CanaryState


class _UsedEntries(dict):
    """A render cache view that keeps only what this compile used (so it never grows stale)."""

    def __init__(self, previous: dict[bytes, bytes]):
        super().__init__()
        self.previous = previous

    def get(self, key: bytes, default: bytes | None = None) -> bytes | None:
        body = self.previous.get(key)
        if body is not None:
            self[key] = body
        return body

    @property
    def entries(self) -> dict[bytes, bytes]:
        return dict(self)


def refuse_machine_paths(files: dict[str, bytes], plan: Plan, root: Path, out: str) -> None:
    """No generated file may contain the project's absolute path or a stack file's folder.

    The compiler writes stack files relative to the project (errors.portable_path); this is the
    last check before writing, for anything else that would carry one (a Patch, a label value).
    """
    folders = {str(root.resolve()), str(root)}
    origins = {r.origin.file for _folder, r in plan.resources() if r.origin is not None}  # a few stack files
    folders |= {os.path.dirname(f) for f in origins if os.path.isabs(f)}
    needles = [f.encode() for f in sorted({f for f in folders if len(f) > 1}, key=len, reverse=True)]
    seen: set[int] = set()
    for path, data in files.items():
        if id(data) in seen:  # a body shared by several clusters is one bytes object: scanned once
            continue
        seen.add(id(data))
        for needle in needles:  # a substring search per folder (a few) beats one alternation regex
            if needle in data:
                shortest = min((n for n in needles if n in data), key=data.index)
                raise MachinePathError(f"{out}/{path} would contain the local path {shortest.decode()!r}; "
                                       "generated output is committed and synced to clusters, so it never names a "
                                       "folder of this machine: use a path relative to the project")


@dataclass(frozen=True)
class Build:
    """One compile's results, before anything is written."""

    meshes: list[Mesh]
    plan: Plan
    files: dict[str, bytes]
    notes: list[Finding]


@dataclass(frozen=True)
class Project:
    root: Path
    settings: Settings

    @classmethod
    def open(cls, start: Path | str | None = None) -> "Project":
        root = find_root(Path(start or os.getcwd()))
        return cls(root, load_settings(root))

    @property
    def stacks_dir(self) -> Path:
        return self.root / self.settings.stacks

    @property
    def output_dir(self) -> Path:
        return self.root / self.settings.output

    @property
    def state_dir(self) -> Path:
        return self.root / self.settings.state

    @property
    def lock_path(self) -> Path:
        return self.root / ".meshcode" / "lock"

    def lock(self, wait: float = 0) -> FileLock:
        """One writer at a time per repository; a second gets a clear error instead of interleaving."""
        from filelock import FileLock  # an flock(2) lock: `try_lock` below takes the same one without the library

        path = self.lock_path
        ignore = path.parent / ".gitignore"  # the lock is local, never part of a commit
        try:
            path.parent.mkdir(exist_ok=True)
            if not ignore.exists():
                ignore.write_text("*\n")
        except OSError as e:
            raise WriteError(f"cannot create {path.parent} for the project lock: {e.strerror or e}; "
                             "meshcode needs a writable project folder") from None
        return FileLock(str(path), timeout=wait)

    def locked(self, wait: float = 0):
        from filelock import Timeout

        lock = self.lock(wait)
        try:
            lock.acquire()
        except Timeout:
            raise LockedError(f"another meshcode command holds {lock.lock_file}; "
                              "wait for it to finish (compiles in one repository never interleave)") from None
        except OSError as e:  # after Timeout, which is an OSError too
            raise WriteError(f"cannot take the project lock {lock.lock_file}: {e.strerror or e}") from None
        return lock

    def gitops_defaults(self) -> GitOpsDefaults:
        """What the Argo CD output needs from outside the stacks: [tool.meshcode] and the git layout."""
        from meshcode.compile.argocd import GitOpsDefaults
        from meshcode.gitops.git import output_path_in_repo

        return GitOpsDefaults(self.settings.repo_url, self.settings.target_revision,
                              output_path_in_repo(self.root, self.output_dir, self.settings.output))

    def workloads_path(self, override: Path | str | None = None) -> Path | None:
        """Workload manifests to check against: `--workloads` (from the cwd), else the setting (from the root)."""
        if override is not None:
            return Path(override)
        return self.root / self.settings.workloads if self.settings.workloads else None

    def build(self, states: dict[str, CanaryState] | None = None,
              workloads: Path | str | None = None, meshes: list[Mesh] | None = None) -> Build:
        """load stacks → compile → analyze (+ workloads) → render; raises before anything is written.

        `meshes`: the stacks as already run by the caller (a canary tick runs them once per tick)."""
        from meshcode.analyze.workloads import load_workloads
        from meshcode.app.pipeline import compile_checked
        from meshcode.delivery.store import load_states
        from meshcode.loader import load_stacks

        from meshcode.render.tree import shared_content_keys

        with gc_paused(), shared_content_keys():  # what the build allocates lives until it ends (meshcode.gcpause)
            if meshes is None:
                meshes = load_stacks(self.stacks_dir, self.root)
            if states is None:
                states = load_states(self.state_dir)
            workloads_path = self.workloads_path(workloads)
            plan, findings = compile_checked(
                meshes, states=states, root=self.root, gitops=self.gitops_defaults(), output_dir=self.output_dir,
                workloads=load_workloads(workloads_path) if workloads_path is not None else None)
            files = self.render(plan)
            refuse_machine_paths(files, plan, self.root, self.settings.output)
        return Build(meshes, plan, files, plan.notes + findings)

    def render(self, plan: Plan) -> dict[str, bytes]:
        """render_tree with the YAML of the last compile reused for objects that did not change."""
        from meshcode.render.tree import RENDER_FORMAT, render_tree

        path = self.root / ".meshcode" / f"render-cache-{__version__}-{RENDER_FORMAT}"
        try:
            previous = marshal.loads(path.read_bytes())
        except (FileNotFoundError, EOFError, ValueError, TypeError):
            previous = {}
        used = _UsedEntries(previous)
        files = render_tree(plan, used)
        if used.entries != previous:
            tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
            try:
                path.parent.mkdir(exist_ok=True)
                tmp.write_bytes(marshal.dumps(used.entries))
                os.replace(tmp, path)
                for stale in path.parent.glob("render-cache*"):  # caches of other versions or formats
                    if stale != path and ".tmp-" not in stale.name:
                        stale.unlink(missing_ok=True)
            except OSError:  # only a speed-up: a full or read-only disk just means no cache
                try:
                    tmp.unlink(missing_ok=True)
                except OSError:
                    pass
        return files

    def prepare_commit(self, force: bool = False) -> PendingCommit:
        """Check the repository and hand edits before the write of a `compile --commit`."""
        from meshcode.gitops.git import prepare_commit

        return prepare_commit(self.root, self.output_dir, self.state_dir, self.stacks_dir, self.settings.output,
                              force)

    @property
    def record_path(self) -> Path:
        """The output record: what each owned file's stat was when it held what meshcode wrote."""
        return record_path(self.root)

    def write(self, build: Build, dry_run: bool = False) -> TreeChange:
        return write_tree(self.output_dir, build.files, dry_run=dry_run, record=self.record_path)
