"""One registry of codes: every code meshcode can report is in meshcode/codes.py, with a level."""
from __future__ import annotations

import re
from pathlib import Path

import meshcode
from meshcode.codes import CODES
from meshcode.errors import MeshcodeError

PACKAGE = Path(meshcode.__file__).parent
CODE = re.compile(r"""["']((?:MC|IST)\d{4})["']""")


def _codes_in_source() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "codes.py":
            continue
        text = path.read_text()
        for m in CODE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            found.setdefault(m.group(1), []).append(f"{path.relative_to(PACKAGE.parent)}:{line}")
    return found


def test_every_code_in_the_source_is_registered() -> None:
    missing = {c: where for c, where in _codes_in_source().items() if c not in CODES}
    assert not missing, ("codes used but not in meshcode/codes.py (add a Code(...) entry for each): "
                         + "; ".join(f"{c} at {', '.join(w)}" for c, w in sorted(missing.items())))


def test_every_error_class_has_a_registered_code_of_level_error() -> None:
    def subclasses(cls: type) -> list[type]:
        return [cls] + [s for c in cls.__subclasses__() for s in subclasses(c)]

    for cls in subclasses(MeshcodeError):
        if not cls.__module__.startswith("meshcode."):
            continue
        assert cls.__module__ == "meshcode.errors", f"{cls.__name__} is defined in {cls.__module__}, not meshcode.errors"
        assert cls.code in CODES and CODES[cls.code].level == "error", cls


def test_every_error_class_has_a_code_of_its_own() -> None:
    def subclasses(cls: type) -> list[type]:
        return [cls] + [s for c in cls.__subclasses__() for s in subclasses(c)]

    seen: dict[str, str] = {}
    for cls in subclasses(MeshcodeError):
        if cls.__module__ == "meshcode.errors":
            assert seen.setdefault(cls.code, cls.__name__) == cls.__name__, f"{cls.__name__} reuses {cls.code}"


def test_codes_are_well_formed() -> None:
    names = [c.name for c in CODES.values()]
    assert len(names) == len(set(names)), "two codes share a name"
    for key, c in CODES.items():
        assert key == c.code and c.level in ("error", "warning", "info") and c.description, c
