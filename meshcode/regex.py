"""RE2: the one regular-expression engine meshcode checks patterns with.

Envoy evaluates every Istio regex match with RE2, and Kubernetes checks CRD `pattern`s and CEL
`matches()` with Go's regexp (RE2 syntax). Python's `re` is a different language (look-around and
back-references accepted, `\\p{Greek}` refused, `$` matching before a final newline), so a
pattern is only ever judged by RE2 itself, through the `google-re2` binding.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print every rejected pattern to stderr


class RegexError(ValueError):
    """A pattern RE2 does not accept; the message is RE2's own."""


@lru_cache(maxsize=4096)
def compile_re2(pattern: str) -> Any:
    """The compiled RE2 program of `pattern` (cached); RegexError when RE2 rejects it."""
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as e:
        raise RegexError(_reason(e)) from None
    except (TypeError, ValueError) as e:  # e.g. a NUL the binding cannot pass on
        raise RegexError(str(e)) from None


def re2_error(pattern: str) -> str | None:
    """Why RE2 rejects `pattern`, or None when it is valid RE2."""
    try:
        compile_re2(pattern)
    except RegexError as e:
        return str(e)
    return None


def _reason(error: Exception) -> str:
    arg = error.args[0] if error.args else error
    return arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
