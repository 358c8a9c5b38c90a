"""Intent as expressions: each renders to safe Python source and evaluates to the same objects.

The importer builds `Expr` trees instead of text so that one tree is both what the stack file
says and what the importer checks (it evaluates the tree and compiles it); the rendered text
can only hold literals produced by `literal` (JSON-escaped strings, numbers, True/False/None)
and names from a fixed vocabulary, so nothing from the input can become code.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from meshcode.inference import q

#: a literal, an expression, or a list/tuple/dict of those
Value = Any
WIDTH = 110


class NotALiteral(ValueError):
    """A value from the input that has no faithful Python literal (NaN, a date, a non-string key)."""


@dataclass(frozen=True)
class Call:
    """`func(*args, **kwargs)`: func is a name of the meshcode SDK (never from the input)."""

    func: str
    args: tuple[Value, ...] = ()
    kwargs: tuple[tuple[str, Value], ...] = ()

    def with_kwargs(self, **more: Value) -> "Call":
        return Call(self.func, self.args, self.kwargs + tuple(more.items()))


@dataclass(frozen=True)
class Ref:
    """A module-level name the stack defines (a Service bound to a variable)."""

    name: str
    target: Any = field(default=None, compare=False)  # the Expr the name stands for


def call(func: str, *args: Value, **kwargs: Value) -> Call:
    """A Call with the keyword arguments whose value is not None/empty (the SDK's defaults)."""
    return Call(func, args, tuple((k, v) for k, v in kwargs.items() if v is not None and v != () and v != []
                                  and v != {}))


def literal(value: Value, indent: int = 0) -> str:
    """Python source for a JSON-like value (the string escaping is `inference.q`, JSON's)."""
    if isinstance(value, (Call, Ref)):
        return render(value, indent)
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotALiteral(f"{value!r} is not a finite number")
        return repr(float(value))
    if isinstance(value, str):
        return q(value)
    if isinstance(value, dict):
        for k in value:
            if not isinstance(k, str):
                raise NotALiteral(f"key {k!r} is not a string")
        flat = "{" + ", ".join(f"{q(k)}: {literal(v, indent)}" for k, v in value.items()) + "}"
        if len(flat) + indent <= WIDTH or not value:
            return flat
        pad = " " * (indent + 4)
        return "{\n" + "".join(f"{pad}{q(k)}: {literal(v, indent + 4)},\n" for k, v in value.items()) + " " * indent + "}"
    if isinstance(value, (list, tuple)):
        flat = "[" + ", ".join(literal(v, indent) for v in value) + "]"
        if len(flat) + indent <= WIDTH or not value:
            return flat
        pad = " " * (indent + 4)
        return "[\n" + "".join(f"{pad}{literal(v, indent + 4)},\n" for v in value) + " " * indent + "]"
    raise NotALiteral(f"{type(value).__name__} value {value!r} has no JSON/YAML meaning here")


def render(expr: Call | Ref, indent: int = 0, width: int = WIDTH) -> str:
    """One expression; a call that does not fit on one line gets one argument per line."""
    if isinstance(expr, Ref):
        return expr.name
    parts = [literal(a, indent + 4) for a in expr.args]
    parts += [f"{k}={literal(v, indent + 4)}" for k, v in expr.kwargs]
    flat = f"{expr.func}({', '.join(parts)})"
    if len(flat) + indent <= width and "\n" not in flat:
        return flat
    pad = " " * (indent + 4)
    return f"{expr.func}(\n" + "".join(f"{pad}{p},\n" for p in parts) + " " * indent + ")"


def evaluate(value: Value, names: Mapping[str, Callable[..., Any]], refs: Mapping[str, Any]) -> Any:
    """The objects the rendered source would build (names: the SDK vocabulary, refs: variables)."""
    if isinstance(value, Ref):
        return refs[value.name]
    if isinstance(value, Call):
        args = [evaluate(a, names, refs) for a in value.args]
        kwargs = {k: evaluate(v, names, refs) for k, v in value.kwargs}
        return names[value.func](*args, **kwargs)
    if isinstance(value, dict):
        return {k: evaluate(v, names, refs) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [evaluate(v, names, refs) for v in value]
    return value


def used_names(value: Value, out: set[str] | None = None) -> set[str]:
    """Every SDK name a value calls (for the stack's import line)."""
    out = set() if out is None else out
    if isinstance(value, Call):
        out.add(value.func)
        for a in value.args:
            used_names(a, out)
        for _, v in value.kwargs:
            used_names(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            used_names(v, out)
    elif isinstance(value, (list, tuple)):
        for v in value:
            used_names(v, out)
    return out
