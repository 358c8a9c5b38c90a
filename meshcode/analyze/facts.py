"""What the analysis derives from one object alone, kept from one compile to the next.

A one-service change leaves nearly every compiled object as it was, so the per-object facts of
the checks (`MeshIndex.cached`: a VirtualService's destinations, its rule-order and weight
problems, deprecated fields, …) are looked up instead of derived again. A fact is kept only
when nothing but the object can change it; its key is

- the object's content key (`key_of`, the one the schema gate and the render cache use: marshal
  format 2, which tells a list from a tuple and True from 1 — a compiled plan holds JSON values
  only);
- the fact's name and the function deriving it: module, name, first line and the values it
  closes over (a cluster domain). A function closing over anything but plain values (an index,
  a Resource), a bound method, a function with defaults, or a value marshal cannot write is
  derived every time, as without a store.

The store is named after meshcode's code by its caller, so facts derived by other code never
apply. Pure: the caller loads `previous` and saves `saved()` (only what this compile looked up,
so the store never grows stale).
"""
from __future__ import annotations

import hashlib
import marshal
from typing import Any, Callable, TypeVar

from meshcode.plan import Resource

T = TypeVar("T")
_PLAIN = (str, int, float, bool, bytes, type(None))
_MISSING = object()


def _plain(value: Any) -> bool:
    if isinstance(value, _PLAIN):
        return True
    if isinstance(value, (tuple, frozenset)):
        return all(_plain(v) for v in value)
    return False


def _identity(compute: Callable[..., Any]) -> bytes | None:
    """Module, name, first line and closed-over values of a plain function; None for anything else."""
    code = getattr(compute, "__code__", None)
    if code is None or getattr(compute, "__self__", None) is not None \
            or getattr(compute, "__defaults__", None) or getattr(compute, "__kwdefaults__", None):
        return None
    try:
        cells = tuple(c.cell_contents for c in compute.__closure__ or ())  # type: ignore[attr-defined]
    except ValueError:  # a cell not filled yet
        return None
    if not _plain(cells):
        return None
    ident = marshal.dumps((compute.__module__, compute.__qualname__, code.co_firstlineno, cells), 2)
    return hashlib.blake2b(ident, digest_size=16).digest()


class FactStore:
    """`store(name, r, compute)`: `compute(r)`, or what it gave for an object with the same content before."""

    def __init__(self, key_of: Callable[[Any], bytes], previous: dict[Any, Any] | None = None) -> None:
        self.key_of = key_of
        self.previous: dict[tuple[str, bytes, bytes], Any] = previous if isinstance(previous, dict) else {}
        self.used: dict[tuple[str, bytes, bytes], Any] = {}
        self._functions: dict[Callable[..., Any], bytes | None] = {}  # held: an id is never reused

    def __call__(self, name: str, r: Resource, compute: Callable[[Resource], T]) -> T:
        try:
            function = self._functions[compute]
        except KeyError:
            function = self._functions[compute] = _identity(compute)
        if function is None:
            return compute(r)
        key = (name, function, self.key_of(r.obj))
        value = self.previous.get(key, _MISSING)
        if value is _MISSING:
            value = compute(r)
        self.used[key] = value
        return value  # type: ignore[no-any-return]

    def saved(self) -> bytes | None:
        """`used` in marshal format (values marshal cannot write left out); None when nothing changed."""
        if self.used == self.previous:
            return None
        try:
            return marshal.dumps(self.used)
        except ValueError:
            kept: dict[tuple[str, bytes, bytes], Any] = {}
            for k, v in self.used.items():
                try:
                    marshal.dumps(v)
                except ValueError:
                    continue
                kept[k] = v
            return marshal.dumps(kept)
