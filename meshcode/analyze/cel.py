"""CEL `x-kubernetes-validations` rules, evaluated with cel-python (the optional `lint` extra).

cel-python implements standard CEL; the Kubernetes extension functions that the shared CRDs use
(strings' substring/split/…, url(), isURL(), isIP()) are added here. A rule that needs anything
else, or that reads `oldSelf` (transition rules, never run on create), is skipped and counted.
"""
from __future__ import annotations

import hashlib
import importlib.util
import ipaddress
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from meshcode.analyze.cel_compile import TREE_FORMAT, Skipped, compile_rule, plain_tree
from meshcode.analyze.usercache import cache_dir, save_json

_UNLOADED: Any = object()
celpy: Any = _UNLOADED  # imported on first use: most compiles validate nothing new
celtypes: Any = None


def _celpy() -> Any:
    """cel-python, imported on first use (it costs a tenth of a second); None when not installed."""
    global celpy, celtypes
    if celpy is _UNLOADED:
        try:
            import celpy as module
            from celpy import celtypes as types
        except ImportError:  # pragma: no cover - exercised by monkeypatching in tests
            module, types = None, None
        celpy, celtypes = module, types
    return celpy

GO_MAX_DURATION_SECONDS = 9_223_372_036  # Go's time.Duration: 2**63 - 1 nanoseconds, whole seconds
# Runtime errors that say "this evaluator lacks something", not "the object is invalid".
_EVALUATOR_GAPS = ("undeclared reference", "no such", "unsupported", "no matching overload")


_patterns: dict[str, Any] = {}


def _matches(text: str, pattern: str) -> bool:
    """CEL's matches() as cel-python runs it (re2.search), each pattern compiled once;
    a pattern RE2 rejects raises, and the interpreter reports it."""
    compiled = _patterns.get(pattern)
    if compiled is None:
        import re2
        compiled = _patterns[pattern] = re2.compile(pattern)
    return compiled.search(text) is not None


def available() -> bool:
    return _celpy() is not None


_found: bool | None = None


def _installed() -> bool:
    """Whether cel-python is there, without importing it (a tenth of a second) while nothing needs it."""
    global _found
    if celpy is not _UNLOADED:
        return celpy is not None
    if _found is None:
        _found = importlib.util.find_spec("celpy") is not None
    return _found


# Parse trees of rules, in cel_compile's plain form, kept in the user's cache folder (as the
# bundled CRDs' JSON is): a process whose rules all compile never imports cel-python, whose
# parser takes a tenth of a second to build. Keyed by cel-python's and lark's versions.
_trees: dict[str, Any] | None = None
_parser: Any = None


def _trees_file() -> Path:
    from importlib.metadata import PackageNotFoundError, version

    try:
        versions = f"{TREE_FORMAT};{version('cel-python')};{version('lark')}"
    except PackageNotFoundError:
        versions = TREE_FORMAT
    return cache_dir() / f"cel-trees-{hashlib.sha256(versions.encode()).hexdigest()[:16]}.json"


def parsed_rule(rule: str) -> Any:
    """The rule's parse tree (plain form), from the cache or cel-python's parser; None when it
    does not parse (cel-python then skips it)."""
    global _trees, _parser
    if _trees is None:
        try:
            _trees = json.loads(_trees_file().read_bytes())
            if not isinstance(_trees, dict):
                _trees = {}
        except (OSError, ValueError):
            _trees = {}
    tree = _trees.get(rule)
    if tree is not None:
        return tree
    if _celpy() is None:
        return None
    if _parser is None:
        _parser = celpy.Environment()
    try:
        tree = plain_tree(_parser.compile(rule))
    except Exception:  # noqa: BLE001 - a rule cel-python cannot parse is its to report (it skips it)
        return None
    _trees[rule] = tree
    _save_trees(_trees)
    return tree


def _save_trees(trees: dict[str, Any]) -> None:
    """Only a speed-up: unwritable, the rules are parsed again next time."""
    save_json(_trees_file(), trees)


def _functions() -> dict[str, Callable[..., Any]]:
    S = celtypes.StringType
    B = celtypes.BoolType

    class URL(S):
        """url(s): the string, marked as parsed; getters read its parts."""

    def url(s: Any) -> Any:
        text = str(s)
        if not _is_url(text):
            raise ValueError(f"URL parse error during conversion from string: {text!r}")
        return URL(text)

    def _is_url(text: str) -> bool:
        if not text or any(c.isspace() for c in text):
            return False
        parts = urlsplit(text)
        return bool(parts.scheme and (parts.netloc or parts.path)) or text.startswith("/")

    def substring(s: Any, start: Any, end: Any = None) -> Any:
        text = str(s)
        a, b = int(start), len(text) if end is None else int(end)
        if a < 0 or b > len(text) or a > b:
            raise ValueError(f"substring({a}, {b}) out of range for a string of length {len(text)}")
        return S(text[a:b])

    def port(u: Any) -> Any:
        p = urlsplit(str(u)).port
        return S("" if p is None else str(p))

    def duration(value: Any) -> Any:
        """duration(): Kubernetes' CEL parses with Go's time.ParseDuration, whose range (about 292
        years) is far shorter than protobuf's; past it the rule errors and the object is refused."""
        d = celtypes.DurationType(value)
        if abs(d.total_seconds()) > GO_MAX_DURATION_SECONDS:
            raise ValueError(f"duration {value} is out of range (at most {GO_MAX_DURATION_SECONDS}s)")
        return d

    return {
        "duration": duration,
        "url": url,
        "isURL": lambda s: B(_is_url(str(s))),
        "getScheme": lambda u: S(urlsplit(str(u)).scheme),
        "getHost": lambda u: S(urlsplit(str(u)).netloc.rpartition("@")[2]),
        "getHostname": lambda u: S(urlsplit(str(u)).hostname or ""),
        "getPort": port,
        "getEscapedPath": lambda u: S(urlsplit(str(u)).path),
        "substring": substring,
        "split": lambda s, sep, n=-1: celtypes.ListType(
            [S(x) for x in str(s).split(str(sep), -1 if int(n) < 0 else max(int(n) - 1, 0))]),
        "lowerAscii": lambda s: S(str(s).lower()),
        "upperAscii": lambda s: S(str(s).upper()),
        "trim": lambda s: S(str(s).strip()),
        "indexOf": lambda s, sub: celtypes.IntType(str(s).find(str(sub))),
        "isIP": lambda s: B(_is_ip(str(s))),
    }


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


_MEMO_ENTRIES = 50_000
_MEMO_VALUE_CHARS = 2_000


def _memo_key(rule: str, value: Any) -> tuple[str, str] | None:
    """(rule, value as canonical JSON), or None for values too large (or odd) to be worth it."""
    try:
        text = json.dumps(value, separators=(",", ":"), sort_keys=True)
    except (TypeError, ValueError):
        return None
    return (rule, text) if len(text) <= _MEMO_VALUE_CHARS else None


@dataclass
class CelRules:
    """Compiles each distinct rule once and evaluates it against values; counts what it ran."""

    run: int = 0
    skipped: int = 0
    _programs: dict[str, Any] = field(default_factory=dict)
    _env: Any = None
    _functions: dict[str, Callable[..., Any]] | None = None
    _memo: dict[tuple[str, str], tuple[str | None, bool]] = field(default_factory=dict)
    _fast: dict[str, Callable[[Any], bool] | None] = field(default_factory=dict)
    _held: dict[tuple[str, str], bool] = field(default_factory=dict)  # compiled verdicts on strings
    compiled: bool = True  # False: every rule on cel-python's interpreter (the tests compare both)

    def _program(self, rule: str) -> Any:
        """The rule as cel-python's program, or None when it cannot run here (no cel-python,
        oldSelf, a parse gap)."""
        if rule in self._programs:
            return self._programs[rule]
        program = None
        if _celpy() is not None and "oldSelf" not in rule:
            if self._env is None:
                self._env = celpy.Environment()
                self._functions = _functions()
            try:
                program = self._env.program(self._env.compile(rule), functions=self._functions)
            except Exception:  # noqa: BLE001 - a rule this evaluator cannot parse is skipped, not failed
                program = None
        self._programs[rule] = program
        return program

    def _compiled(self, rule: str) -> Callable[[Any], bool] | None:
        """The rule as Python closures (cel_compile), or None when it must run on cel-python."""
        fast = None
        if self.compiled and "oldSelf" not in rule and _installed():
            tree = parsed_rule(rule)
            if tree is not None:
                fast = compile_rule(tree, _matches)
        self._fast[rule] = fast
        return fast

    def check(self, rule: str, value: Any) -> str | None:
        """None when the rule holds (or was skipped); else why it fails.

        Most rules run as compiled closures (`cel_compile`), exact where they decide; the rest,
        and every value they are unsure of, run on cel-python, which interprets a rule in about a
        millisecond. Generated objects repeat the same small values (a duration, a port list)
        thousands of times: its results are memoised per (rule, value as JSON), for values of
        modest size.
        """
        fast = self._fast[rule] if rule in self._fast else self._compiled(rule)
        if fast is not None:
            scalar = type(value) is str  # a duration, a host: the same few thousands of times
            if scalar:
                held = self._held.get((rule, value))
                if held is not None:
                    self.run += 1
                    return None if held else "rule failed"
            try:
                holds = fast(value)
            except Skipped:  # an error result cel-python would skip as an evaluator gap
                self.skipped += 1
                return None
            except Exception:  # noqa: BLE001 - Fallback, or anything unforeseen: the interpreter decides
                pass
            else:
                self.run += 1
                if scalar:
                    if len(self._held) >= _MEMO_ENTRIES:
                        self._held.clear()
                    self._held[(rule, value)] = holds
                return None if holds else "rule failed"
        key = _memo_key(rule, value)
        if key is not None:
            hit = self._memo.get(key)
            if hit is not None:
                why, skipped = hit
                if skipped:
                    self.skipped += 1
                else:
                    self.run += 1
                return why
        skipped_before = self.skipped
        why = self._check(rule, value)
        if key is not None:
            if len(self._memo) >= _MEMO_ENTRIES:
                self._memo.clear()
            self._memo[key] = (why, self.skipped != skipped_before)
        return why

    def _check(self, rule: str, value: Any) -> str | None:
        program = self._program(rule)
        if program is None:
            self.skipped += 1
            return None
        try:
            result = program.evaluate({"self": celpy.json_to_cel(value)})
        except Exception as e:  # noqa: BLE001 - cel-python raises its own and Python errors alike
            result = e
        if isinstance(result, Exception):
            text = str(result)
            if any(gap in text.lower() for gap in _EVALUATOR_GAPS):
                self.skipped += 1
                return None
            self.run += 1  # the API server rejects an object whose rule errors at runtime
            return f"rule could not be evaluated: {text[:160]}"
        self.run += 1
        return None if bool(result) else "rule failed"
