"""Name patterns end at the end of the text: a trailing newline is never a valid name (issue 13).

Python's `$` also matches before a final newline, so `^[a-z0-9]…$` accepted "cart\\n", which
compiled with exit 0 and broke the kustomization and the manifest for good.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, Callable

import pytest

from meshcode import AccessLog, Cluster, Jwt, Match, Mesh, Port, Service
from meshcode.analyze.schema import Node
from meshcode.errors import IntentError
from tests.support.core import files_of
from tests.support.gitops import cli
from tests.support.paths import ROOT

PACKAGE = ROOT / "meshcode"
_RE_CALLS = {"compile", "match", "fullmatch", "search", "sub", "subn", "split", "findall", "finditer"}


def _regex_literals() -> list[tuple[str, int, str]]:
    """(file, line, pattern) of every literal pattern passed to a `re.*` call in the package."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "re"
                    and node.func.attr in _RE_CALLS and node.args
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                found.append((str(path.relative_to(ROOT)), node.lineno, node.args[0].value))
    return found


def _dollar_outside_class(pattern: str) -> bool:
    in_class, i = False, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            in_class = True
        elif c == "]":
            in_class = False
        elif c == "$" and not in_class:
            return True
        i += 1
    return False


def test_no_pattern_in_the_package_ends_with_dollar() -> None:
    literals = _regex_literals()
    assert len(literals) >= 10  # the scan finds the name patterns at all
    offenders = [f"{f}:{line}: {p!r}" for f, line, p in literals if _dollar_outside_class(p)]
    assert offenders == [], "use \\Z, not $ (which accepts a trailing newline):\n" + "\n".join(offenders)


BAD_NAMES: list[tuple[str, Callable[[], Any]]] = [
    ("service name", lambda: Service("cart\n", ports=[Port(8080)])),
    ("namespace", lambda: Service("cart", namespace="shop\n", ports=[Port(8080)])),
    ("port name", lambda: Port(8080, name="http\n")),
    ("version", lambda: Service("cart", ports=[Port(8080)], versions=["v1\n"])),
    ("cluster", lambda: Cluster("prod\n")),
    ("mesh", lambda: Mesh("shop\n", clusters=[Cluster("prod")])),
    ("header name", lambda: Match(headers={"x-user\n": "a"})),
    ("jwt claim", lambda: Jwt("https://id.example.com", "https://id.example.com/keys", required_claims={"groups\n": "admin"})),
    ("access-log provider", lambda: AccessLog(provider="envoy\n")),
]


@pytest.mark.parametrize("what,build", BAD_NAMES, ids=[b[0] for b in BAD_NAMES])
def test_a_trailing_newline_is_refused(what: str, build: Callable[[], Any]) -> None:
    with pytest.raises(IntentError) as e:
        build()
    assert "\\n" in str(e.value), e.value  # the message shows the bad value, newline escaped


def test_schema_patterns_end_at_the_end_of_the_text() -> None:
    """The bundled CRDs' ECMA-262 patterns: `$` is the end of input there, never before a newline."""
    node = Node({"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"})
    errors: list[str] = []
    node._check_scalar("cart", "metadata.name", errors)
    assert errors == []
    node._check_scalar("cart\n", "metadata.name", errors)
    assert errors == ["metadata.name: must match the pattern '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'"]
    in_class = Node({"type": "string", "pattern": "^[A-Za-z0-9!#$%&'*+\\-.^_\\x60|~]+$"})
    errors = []
    in_class._check_scalar("x-$user", "h", errors)  # `$` inside a class stays a literal
    assert errors == []


def test_compile_refuses_a_newline_in_a_name_and_writes_nothing(make_project: Callable[..., Path]) -> None:
    root = make_project(shop='''
        from meshcode import Cluster, Mesh, Port, Service
        cart = Service("cart\\n", namespace="shop", ports=[Port(8080)])
        mesh = Mesh("shop", clusters=[Cluster("prod")], services=[cart])
    ''')
    result = cli("compile", root=root)
    assert result.exit_code == 1
    assert "stacks/shop.py:3" in result.output and "'cart\\n'" in result.output
    assert not (root / "generated").exists() or files_of(root / "generated") == {}
