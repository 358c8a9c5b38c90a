"""Run the user's stack files and collect the meshes they define (the I/O edge of intent)."""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import CodeType, ModuleType

from meshcode.errors import IntentError, MeshcodeError, SourceLocation, StackError
from meshcode.intent.topology import Mesh


_LOADED: set[str] = set()  # module names earlier loads imported from a stacks folder (any project)


def _ours(f: str | None, folder: Path, helpers: Path | None) -> bool:
    """A module file from the stacks folder, or a helper module at the top of the project root."""
    if not f:
        return False
    return f.startswith(str(folder) + "/") or (helpers is not None and Path(f).parent == helpers)


def _forget_modules(folder: Path, helpers: Path | None) -> None:
    """Drop stack and helper modules loaded before (from this project or another's), so a second
    load runs the stacks afresh and never mistakes an old project's `bookinfo` for this one's."""
    for name in list(_LOADED):
        sys.modules.pop(name, None)
    _LOADED.clear()
    for name, mod in list(sys.modules.items()):  # loaded some other way (e.g. imported by a test)
        if _ours(getattr(mod, "__file__", None), folder, helpers):
            del sys.modules[name]


def _remember_modules(folder: Path, helpers: Path | None, before: set[str]) -> None:
    """Note the modules this load imported from the stacks folder or the root (only the new names)."""
    for name in set(sys.modules) - before:
        if _ours(getattr(sys.modules[name], "__file__", None), folder, helpers):
            _LOADED.add(name)


class _SourceLoader(importlib.machinery.SourceFileLoader):
    """Compiles a stack or helper module from its source every time, never from `__pycache__`.

    Python trusts a cached .pyc whose source has the same size and mtime (whole seconds): a stack
    edited twice within a second (`weight=20` → `weight=30`), or restored by a checkout with an old
    mtime, would compile from the stale bytecode. The input record hashes what the stacks read, so
    the code that runs must be exactly those bytes. Nothing is written beside the user's files.
    """

    def get_code(self, fullname: str) -> CodeType:
        path = self.get_filename(fullname)
        return self.source_to_code(self.get_data(path), path)  # type: ignore[no-any-return]


class _ProjectModules(importlib.abc.MetaPathFinder):
    """Finds modules as the path finder does; those from the stacks folder or the helpers' folder
    load through _SourceLoader."""

    def __init__(self, folder: Path, helpers: Path | None):
        self.folder, self.helpers = folder, helpers

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader) \
                or not _ours(spec.origin, self.folder, self.helpers):
            return None
        spec.loader = _SourceLoader(fullname, spec.origin)  # type: ignore[arg-type]
        return spec


def _user_frame(tb: traceback.StackSummary, folder: Path) -> SourceLocation | None:
    for frame in reversed(tb):
        if str(Path(frame.filename).resolve()).startswith(str(folder) + "/"):
            return SourceLocation(frame.filename, frame.lineno or 0)
    return None


def load_stacks(folder: Path, root: Path | None = None) -> list[Mesh]:
    """Import every `*.py` in `folder` (not `_*.py`) and return the Mesh objects they define.

    Stacks may import each other by module name, and the project's own helper modules: `_*.py`
    beside the stacks, and `*.py` files at the top of the project root (e.g. `teams.py` shared
    with other tooling); each Mesh is returned once. Errors name the stack file relative to
    `root` (when given), as compile errors do.
    """
    try:
        return _load_stacks(folder.resolve(), root.resolve() if root is not None else None)
    except MeshcodeError as e:
        if root is not None and e.location is not None:
            e.location = e.location.relative_to(root)
        raise


def _load_stacks(folder: Path, helpers: Path | None = None) -> list[Mesh]:
    if not folder.is_dir():
        raise StackError(f"no stacks folder at {folder}")
    files = sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))
    if not files:
        raise StackError(f"no stack files (*.py) in {folder}")
    _forget_modules(folder, helpers)
    before = set(sys.modules)
    finder = _ProjectModules(folder, helpers)
    sys.meta_path.insert(0, finder)
    sys.path.insert(0, str(folder))
    if helpers is not None and helpers != folder:
        sys.path.insert(1, str(helpers))  # after the stacks folder: a stack's own name wins
    meshes: dict[int, Mesh] = {}
    try:
        for path in files:
            try:
                module = importlib.import_module(path.stem)
            except MeshcodeError:
                raise
            except SyntaxError as e:
                raise StackError(f"syntax error: {e.msg}", SourceLocation(str(path), e.lineno or 0)) from None
            except (Exception, SystemExit) as e:  # the user's code raised: point at their line
                loc = _user_frame(traceback.extract_tb(e.__traceback__), folder)
                raise StackError(f"{type(e).__name__}: {e}", loc or SourceLocation(str(path), 0)) from None
            if getattr(module, "__file__", None) and Path(module.__file__).resolve() != path:
                raise StackError(f"stack {path.name} is shadowed by another module named {path.stem!r} "
                                 f"({module.__file__}); rename the stack", SourceLocation(str(path), 1))
            for value in vars(module).values():
                if isinstance(value, Mesh):
                    meshes.setdefault(id(value), value)
    finally:
        sys.meta_path.remove(finder)
        sys.path.remove(str(folder))
        if helpers is not None and helpers != folder:
            sys.path.remove(str(helpers))
        _remember_modules(folder, helpers, before)
    if not meshes:
        raise StackError(f"the stacks in {folder} define no Mesh (assign one to a module-level name)")
    return sorted(meshes.values(), key=lambda m: m.name)


__all__ = ["load_stacks", "IntentError"]
