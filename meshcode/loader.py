"""Run the user's stack files and collect the meshes they define (the I/O edge of intent)."""
from __future__ import annotations

import importlib
import sys
import traceback
from pathlib import Path

from meshcode.errors import IntentError, MeshcodeError, SourceLocation, StackError
from meshcode.intent.topology import Mesh


_LOADED: set[str] = set()  # module names earlier loads imported from a stacks folder (any project)


def _forget_modules(folder: Path) -> None:
    """Drop stack modules loaded before (from this folder or another project's), so a second
    load runs the stacks afresh and never mistakes an old project's `bookinfo` for this one's."""
    prefix = str(folder) + "/"
    for name in list(_LOADED):
        sys.modules.pop(name, None)
    _LOADED.clear()
    for name, mod in list(sys.modules.items()):  # loaded some other way (e.g. imported by a test)
        f = getattr(mod, "__file__", None)
        if f and f.startswith(prefix):
            del sys.modules[name]


def _remember_modules(folder: Path, before: set[str]) -> None:
    """Note the modules this load imported from the stacks folder (cheap: only the new names)."""
    prefix = str(folder) + "/"
    for name in set(sys.modules) - before:
        f = getattr(sys.modules[name], "__file__", None)
        if f and f.startswith(prefix):
            _LOADED.add(name)


def _user_frame(tb: traceback.StackSummary, folder: Path) -> SourceLocation | None:
    for frame in reversed(tb):
        if str(Path(frame.filename).resolve()).startswith(str(folder) + "/"):
            return SourceLocation(frame.filename, frame.lineno or 0)
    return None


def load_stacks(folder: Path, root: Path | None = None) -> list[Mesh]:
    """Import every `*.py` in `folder` (not `_*.py`) and return the Mesh objects they define.

    Stacks may import each other by module name; each Mesh is returned once. Errors name the
    stack file relative to `root` (when given), as compile errors do.
    """
    try:
        return _load_stacks(folder.resolve())
    except MeshcodeError as e:
        if root is not None and e.location is not None:
            e.location = e.location.relative_to(root)
        raise


def _load_stacks(folder: Path) -> list[Mesh]:
    if not folder.is_dir():
        raise StackError(f"no stacks folder at {folder}")
    files = sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))
    if not files:
        raise StackError(f"no stack files (*.py) in {folder}")
    _forget_modules(folder)
    before = set(sys.modules)
    sys.path.insert(0, str(folder))
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
        sys.path.remove(str(folder))
        _remember_modules(folder, before)
    if not meshes:
        raise StackError(f"the stacks in {folder} define no Mesh (assign one to a module-level name)")
    return sorted(meshes.values(), key=lambda m: m.name)


__all__ = ["load_stacks", "IntentError"]
