"""`meshcode lint` never crashes (issue 13): any input, however malformed, gives findings or a
clean error, never a traceback.

Known crashers are pinned first; then hypothesis mutates real Istio YAML (Istio's samples, the
lint test data, and this repo's own generated/ output) structurally (any value or key replaced by
any JSON or YAML value) and as text (YAML's odd corners spliced into a line), and lints each
mutation in-process with schema validation on. A crash, or MC5004 (the safety net that turns an
unexpected exception inside a check into a finding), fails the test.

A longer run: MESHCODE_FUZZ_EXAMPLES=5000 ./dev test tests/test_lint_fuzz.py
"""
from __future__ import annotations

import copy
import datetime
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshcode.analyze.lint import LintResult, lint
from meshcode.analyze.schema import CrdSchemas, bundled_crds
from tests.support.paths import ROOT

SOURCES = [ROOT / "tests" / "data" / "istio-samples", ROOT / "tests" / "data" / "lint", ROOT / "generated"]
EXAMPLES = int(os.environ.get("MESHCODE_FUZZ_EXAMPLES", "120"))


@lru_cache(maxsize=1)
def sample_docs() -> tuple[dict[str, Any], ...]:
    docs = []
    for source in SOURCES:
        for path in sorted(source.rglob("*.yaml")):
            if path.name != "kustomization.yaml":
                docs += [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    return tuple(docs)


def lint_text(tmp: Path, text: str) -> LintResult:
    path = tmp / "input.yaml"
    path.write_text(text, encoding="utf-8")
    crds: CrdSchemas = bundled_crds()
    return lint([path], schemas=crds)


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    """Start CEL before hypothesis runs: cel-python raises the recursion limit when it first starts."""
    assert bundled_crds().cel.check("self == 1", 1) is None


def assert_clean(result: LintResult) -> None:
    failed = [f.describe() for f in result.findings if f.code == "MC5004"]
    assert not failed, failed


# ---- the crashes the issue names, and more found on the way -------------------------------------
PINNED = {
    "kind is a list": "apiVersion: networking.istio.io/v1\nkind: [VirtualService]\nmetadata: {name: a}\n",
    "namespace is a number": "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
                             "metadata: {name: a, namespace: 5}\nspec: {host: a}\n",
    "subset name is a list": "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
                             "metadata: {name: a, namespace: shop}\nspec: {host: a, subsets: [{name: [v1]}]}\n",
    "exportTo is a number": "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
                            "metadata: {name: a, namespace: shop}\nspec: {hosts: [a], exportTo: 5}\n",
    "match keys of mixed types": "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
                                 "metadata: {name: a, namespace: shop}\nspec:\n  hosts: [a]\n  http:\n"
                                 "  - match: [{uri: {exact: /a}, 5: x}]\n  - match: [{uri: {exact: /a}, 5: x}]\n",
    "selector keys of mixed types": "apiVersion: networking.istio.io/v1\nkind: Gateway\n"
                                    "metadata: {name: g, namespace: shop}\nspec:\n  selector: {5: a, b: c}\n"
                                    "  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*']}]\n"
                                    "---\napiVersion: networking.istio.io/v1\nkind: Gateway\n"
                                    "metadata: {name: h, namespace: shop}\nspec:\n  selector: {5: a, b: c}\n"
                                    "  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*']}]\n",
    "chart is a list": "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: a, namespace: argocd}\n"
                       "spec: {project: p, destination: {server: s}, source: {repoURL: 'https://istio-release"
                       ".storage.googleapis.com/charts', chart: [base], targetRevision: 1.30.3}}\n",
    "a date that is no date": "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {x: 2001-13-45}\n",
    "a recursive alias": "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: &s {x: *s}\n",
    "nested 500 deep": "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: " + "[" * 500 + "]" * 500 + "\n",
}


@pytest.mark.parametrize("text", PINNED.values(), ids=PINNED.keys())
def test_malformed_input_gives_findings_not_a_traceback(tmp_path: Path, text: str) -> None:
    result = lint_text(tmp_path, text)
    assert_clean(result)
    assert any(f.level == "error" for f in result.findings)  # each of these is broken, and said so


# ---- mutations ------------------------------------------------------------------------------------
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["", "*", ".", "~", "mesh", "a/b", "../x", "(?=x)", "\n", "ü", "5", "1.2.3.4/33", "-1s",
                     "99999999999999s", "reviews", "v1", "http", "TCP"]),
    st.dates(), st.binary(max_size=4),
)
keys = st.one_of(st.sampled_from(["name", "namespace", "kind", "host", "hosts", "subset", "subsets", "exportTo",
                                  "gateways", "http", "tcp", "tls", "route", "match", "port", "number", "x"]),
                 st.integers(min_value=-1, max_value=9), st.none(), st.booleans(), st.dates())
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
                      max_leaves=6)
# Splices for a line's value: YAML's corners (tags, anchors, flow syntax, odd scalars).
TEXT_SPLICES = ["2001-13-45", "!!binary '@@'", "*nowhere", "&a [*a]", "{", "[a, {b: }", "? [a]\n: b", "!!set {a}",
                "!!python/object:os.system x", "<<: 5", ".nan", "1e999", "!!int 99999999999999999999999999",
                "!!float abc", "|\n  text", "'unterminated", "- - -", "0x_", "!Ref x", "\t", "@", "%YAML 1.1"]


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, prefix + (i,))
    return out


@st.composite
def mutated_documents(draw: st.DrawFn) -> list[Any]:
    docs = sample_docs()
    chosen = [copy.deepcopy(docs[draw(st.integers(0, len(docs) - 1))]) for _ in range(draw(st.integers(1, 3)))]
    for doc in chosen:
        for _ in range(draw(st.integers(1, 4))):
            paths = _paths(doc)
            path = paths[draw(st.integers(0, len(paths) - 1))]
            if not path:
                continue
            parent = doc
            for step in path[:-1]:
                parent = parent[step]
            op = draw(st.sampled_from(["replace", "delete", "add"]))
            if op == "replace" or not isinstance(parent, dict):
                parent[path[-1]] = draw(values)
            elif op == "delete":
                del parent[path[-1]]
            else:
                parent[draw(keys)] = draw(values)
    return chosen


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.function_scoped_fixture])
@given(docs=mutated_documents(), splice=st.none() | st.tuples(st.integers(0, 10_000), st.sampled_from(TEXT_SPLICES)))
def test_lint_survives_any_mutation_of_real_istio_yaml(tmp_path: Path, docs: list[Any],
                                                       splice: tuple[int, str] | None) -> None:
    try:
        text = yaml.safe_dump_all(docs, allow_unicode=True, sort_keys=False)
    except yaml.YAMLError:
        return  # not representable as YAML (hypothesis drew a value PyYAML cannot dump)
    if splice is not None:
        lines = text.splitlines()
        i = splice[0] % len(lines)
        head, sep, _ = lines[i].partition(": ")
        lines[i] = f"{head}: {splice[1]}" if sep else splice[1]
        text = "\n".join(lines) + "\n"
    assert_clean(lint_text(tmp_path, text))


def test_the_fuzzer_reaches_the_checks(tmp_path: Path) -> None:
    """The mutations are not all thrown out by the loader: most documents stay objects that are checked."""
    doc = copy.deepcopy(next(d for d in sample_docs() if d.get("kind") == "VirtualService"))
    doc["spec"]["exportTo"] = 5
    doc["spec"]["http"] = [{"route": [{"destination": {"host": ["reviews"]}, "weight": datetime.date(2020, 1, 1)}]}]
    result = lint_text(tmp_path, yaml.safe_dump(doc))
    assert result.objects == 1
    messages = [f.message for f in result.findings if f.code == "IST0106"]
    assert any("spec.exportTo: must be of type array" in m for m in messages)
    assert any("destination.host: must be of type string" in m for m in messages)
