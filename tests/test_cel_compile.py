"""The compiled CEL fast path (meshcode/analyze/cel_compile.py) never disagrees with cel-python.

Every `x-kubernetes-validations` rule of the bundled CRDs is evaluated by both, on values
generated from the rule's own field names and literals (so fields are present, missing, of the
wrong type, equal or not), and on the values the repository's generated/ and test data hold.
Wherever the fast path gives a verdict it must be cel-python's; where it is unsure it defers,
and the verdict and message are cel-python's by construction.
"""
from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from meshcode.analyze.cel import CelRules
from meshcode.analyze.cel_compile import Fallback, Skipped
from meshcode.analyze.loader import load_paths
from meshcode.analyze.schema import BUNDLED_CRDS, CrdSchemas, lazy_crds
from tests.support.paths import ROOT


def _rules_in(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        for r in schema.get("x-kubernetes-validations") or ():
            if isinstance(r, dict) and isinstance(r.get("rule"), str):
                yield r["rule"]
        for v in schema.values():
            yield from _rules_in(v)
    elif isinstance(schema, list):
        for v in schema:
            yield from _rules_in(v)


@lru_cache(maxsize=1)
def bundled_rules() -> list[str]:
    crds = lazy_crds(BUNDLED_CRDS)
    for load in list(crds._pending.values()):
        crds.add_crd(load())
    return sorted({rule for schema, _ in crds.schemas.values() for rule in _rules_in(schema)})


def _interpreted(rule: str, value: Any) -> str | None:
    return CelRules(compiled=False).check(rule, value)


def _interpreted_outcome(rule: str, value: Any) -> tuple[str | None, int]:
    """cel-python's verdict, and whether it skipped the rule (an error it takes for a gap)."""
    rules = CelRules(compiled=False)
    return rules.check(rule, value), rules.skipped


@contextmanager
def _memory_ceiling(extra: int = 1 << 30) -> Iterator[None]:
    """At most `extra` more bytes of address space inside the block (MemoryError past it).

    cel-python builds the error of a macro whose predicate fails on several items by nesting the
    previous errors' texts: some generated values took it to 6-23 GB. Such a value is no verdict
    to compare with; the suite must not take the machine's memory for it.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as f:
        used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    ceiling = used + extra if hard == resource.RLIM_INFINITY else min(used + extra, hard)
    resource.setrlimit(resource.RLIMIT_AS, (ceiling, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@lru_cache(maxsize=None)
def _fast(rule: str) -> Any:
    return CelRules()._compiled(rule)


def test_the_bundled_rules_are_many_and_most_compile() -> None:
    rules = bundled_rules()
    assert len(rules) >= 100
    compiled = [r for r in rules if _fast(r) is not None]
    assert len(compiled) >= 0.75 * len(rules)  # the rest (url(), duration(), …) run on cel-python


def _vocabulary(rule: str) -> tuple[list[str], list[Any]]:
    names = sorted(set(re.findall(r"\b[A-Za-z_][A-Za-z0-9_]*\b", rule)) - {"self", "has", "true", "false"})
    literals: list[Any] = [a or b for a, b in re.findall(r"""'([^']*)'|"([^"]*)\"""", rule)]
    literals += [int(n) for n in re.findall(r"(?<![\w.])\d+(?![\w.])", rule)]
    return names or ["x"], literals


def _values(rule: str) -> st.SearchStrategy[Any]:
    """Objects whose fields are the rule's names (each present or not), holding the rule's literals
    mostly, else odd values (other types, text, int64 edges, null)."""
    names, literals = _vocabulary(rule)
    odd = st.one_of(
        st.sampled_from(["", "*", "a", "/a", "a/b", "//", "http://x.example/p", "1.2.3.4", "*.a.b", "A_b"]),
        st.text(max_size=6),
        st.integers(min_value=-3, max_value=70000) | st.sampled_from([2**63 - 1, 2**63, -2**63 - 1]),
        st.booleans(), st.none(), st.floats(allow_nan=False, width=32),
    )
    scalars = (st.sampled_from(literals) | st.sampled_from(literals) | st.sampled_from(literals) | odd) \
        if literals else odd
    values = st.recursive(
        scalars,
        lambda inner: scalars | scalars | st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(names), inner, max_size=4)
        | st.dictionaries(st.sampled_from(names) | st.text(max_size=3), inner, max_size=3),
        max_leaves=6,
    )
    # At most four entries per container: cel-python's error for a macro whose predicate fails on
    # many items nests the reprs of the previous ones, and grows exponentially with their number.
    return st.dictionaries(st.sampled_from(names), values, max_size=4) | values


def _agree(rule: str, value: Any) -> bool:
    """Asserts agreement; True when the fast path decided (rather than deferring)."""
    fast = _fast(rule)
    try:
        with _memory_ceiling():
            expected = _interpreted_outcome(rule, value)
    except MemoryError:
        reject()  # beyond what the reference can evaluate (see _memory_ceiling)
    if fast is None:
        return False
    try:
        holds = fast(value)
    except Fallback:
        return False
    except Skipped:
        assert expected == (None, 1), (rule, value)
        return True
    assert holds in (True, False)
    assert (None if holds else "rule failed", 0) == expected, (rule, value)
    return True


@pytest.mark.parametrize("rule", bundled_rules())
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_the_fast_path_agrees_with_cel_python_on_generated_values(rule: str, data: st.DataObject) -> None:
    value = data.draw(_values(rule))
    _agree(rule, value)
    if isinstance(value, dict):  # and on a list of them, for the list rules (self.all(l, …))
        _agree(rule, [value, value])


def _rule_sites(crds: CrdSchemas, obj: dict[str, Any]) -> list[tuple[str, Any]]:
    """(rule, value) of every rule the validator evaluates for `obj`, recorded as it validates."""
    seen: list[tuple[str, Any]] = []
    crds.cel.check = lambda rule, value: seen.append((rule, value))  # type: ignore[method-assign]
    crds.validate(obj)
    return seen


def test_the_fast_path_agrees_on_the_repositorys_objects_and_decides_most() -> None:
    resources, _ = load_paths([ROOT / "generated", ROOT / "tests" / "data"])
    crds = lazy_crds(BUNDLED_CRDS)
    decided = total = 0
    for r in resources:
        for rule, value in _rule_sites(crds, r.obj):
            total += 1
            decided += _agree(rule, value)
    assert total >= 200
    assert decided >= 0.8 * total


@pytest.mark.parametrize(("rule", "value", "verdict"), [
    ("false && self.x == 1", {}, False),  # cel-python evaluates both sides; the error is absorbed
    ("has(self.a.b)", {}, False),  # has() of an error is false
    ("self.x == 1", {}, Skipped),  # an error result, which cel-python's caller skips (a gap)
    ("self == 1", 1.0, None),  # a mixed-type comparison: cel-python decides
    ("self == 1", 2**64, None),  # outside int64: cel-python refuses the value
    ("self.all(k, k.y == 1)", [{"y": 2}, {}], False),  # false absorbs the error of the other item
    ("self.all(k, k.y == 1)", [{}, {}], Skipped),  # two errors combine into one
    ("self.exists_one(k, k.y == 1)", [{"y": 1}, {}], Skipped),
    ("self.filter(k, k == 'a').size() == 1", {"a": 1, "b": 2}, True),  # macros over a map range over keys
    ("'*' in self && self.size() > 1", ["*", "a"], True),
])
def test_edge_cases(rule: str, value: Any, verdict: Any) -> None:
    fast = _fast(rule)
    assert fast is not None
    if verdict in (True, False):
        assert fast(value) is verdict
        assert _interpreted(rule, value) == (None if verdict else "rule failed")
    elif verdict is Skipped:
        with pytest.raises(Skipped):
            fast(value)
        assert _interpreted_outcome(rule, value) == (None, 1)
    else:
        with pytest.raises(Fallback):
            fast(value)


def test_a_macro_failing_on_many_items_is_skipped_without_building_cel_pythons_message() -> None:
    """cel-python nests the reprs of the errors it folds, exponentially in their number: a Gateway
    with 40 nameless listeners would need far more memory than there is. Its verdict is known."""
    from meshcode.analyze.schema import lazy_crds as fresh
    crds = fresh(BUNDLED_CRDS)
    listeners = [{"port": 80 + i, "protocol": "HTTP"} for i in range(40)]
    gateway = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "g"},
               "spec": {"gatewayClassName": "istio", "listeners": listeners}}
    problems = crds.validate(gateway)
    assert problems is not None
    assert sum(p.endswith(".name: Required value") for p in problems) == 40
    assert crds.cel.skipped >= 1


def test_results_are_the_same_with_and_without_the_fast_path() -> None:
    """Whole-object verdicts and messages over the repository's objects and the schema cases."""
    resources, _ = load_paths([ROOT / "generated", ROOT / "tests" / "data"])
    fast, slow = lazy_crds(BUNDLED_CRDS), lazy_crds(BUNDLED_CRDS)
    slow.cel = CelRules(compiled=False)
    assert len(resources) >= 200
    failing = 0
    for r in resources:
        ours = fast.validate(r.obj)
        assert ours == slow.validate(r.obj), r.name
        failing += bool(ours)
    assert failing >= 10  # the invalid schema cases are among them
    assert fast.cel.run == slow.cel.run and fast.cel.skipped == slow.cel.skipped


_VALIDATE_ONE = """
import json, sys
from meshcode.analyze.schema import lazy_crds, BUNDLED_CRDS
crds = lazy_crds(BUNDLED_CRDS)
dr = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "a"},
      "spec": {"hosts": ["a"], "http": [{"timeout": sys.argv[1], "route": [{"destination": {"host": "a"}}]}]}}
print(json.dumps([crds.validate(dr), "celpy" in sys.modules]))
"""


def test_parse_trees_are_cached_so_a_process_whose_rules_compile_never_loads_cel_python(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}

    def run(timeout: str) -> list:
        out = subprocess.run([sys.executable, "-c", _VALIDATE_ONE, timeout], env=env, capture_output=True,
                             text=True, check=True).stdout
        return json.loads(out)

    assert run("5s") == [[], True]  # the first time, cel-python parses the rules
    assert run("5s") == [[], False]  # then their trees come from the cache
    refused = ["spec.http[0].timeout: Invalid value: must be a valid duration greater than 1ms"]
    assert run("500us") == [refused, False]
    (cached,) = (tmp_path / "meshcode" / "crds").glob("cel-trees-*.json")
    cached.write_text("{not json")  # a damaged cache is only a slower start
    assert run("500us") == [refused, True]
