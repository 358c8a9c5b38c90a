"""Every regex meshcode accepts is judged by RE2 itself (issue 13): the engine Envoy matches with
and whose syntax Kubernetes checks CRD patterns in. Python's `re` is a different language.
"""
from __future__ import annotations

import re
import warnings

import pytest

from meshcode import Match, Regex, Route, Service
from meshcode.errors import IntentError
from meshcode.regex import compile_re2, re2_error
from tests.support.lint import lint_text, messages

# Patterns Python's `re` compiles but RE2 refuses: look-around, back-references, possessive and
# atomic groups, conditionals, comments, flags RE2 lacks, escapes it does not know, repetition
# counts past its limit of 1000.
RE2_REJECTS = [
    r"(?=x)", r"(?!x)", r"(?<=x)y", r"(?<!x)y", r"(a)\1", r"(?P<n>a)(?P=n)", r"(?P<a>x)(?P=a)+",
    r"a{1001}", r"a{1,1001}", r"\Z", r"a++", r"a*+", r"a?+", r"(?>a)", r"(?#comment)", r"(a)?(?(1)b|c)",
    r"(a)(?(1)b)", r"(?x) a b", r"(?x:a b)", r"(?a)\w", r"(?a:\w)", r"(?u)a", r"(?u:\w)", r"\N{DIGIT ONE}",
    r"\u00e9", r"\U0001F600", r"[[:foo:]]",
]
# Valid RE2 that Python's `re` refuses (or reads differently).
RE2_ACCEPTS = [r"\p{Greek}+", r"\pN", r"\PL", r"(?<name>a)", r"\x{41}", r"\Qa.b\E", r"\z", r"(?U)a*", r"\C",
               r"[[:alpha:]]+", r"^/api/v[0-9]+(/.*)?$"]


def test_the_rejected_patterns_are_python_regexes_that_re2_refuses() -> None:
    assert len(RE2_REJECTS) == 27
    for pattern in RE2_REJECTS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # '[[:foo:]]' is a nested set to Python
            re.compile(pattern)  # an approximation built on `re` would let each of these through
        assert re2_error(pattern), pattern


@pytest.mark.parametrize("pattern", RE2_REJECTS)
def test_intent_refuses_what_re2_refuses(pattern: str) -> None:
    with pytest.raises(IntentError) as info:
        Regex(pattern)
    assert "RE2" in info.value.message and repr(pattern) in info.value.message
    assert info.value.location is not None and info.value.location.file == __file__


@pytest.mark.parametrize("pattern", RE2_ACCEPTS)
def test_intent_accepts_valid_re2(pattern: str) -> None:
    assert Regex(pattern).value == pattern


def test_greek_header_match_compiles_into_the_virtual_service() -> None:
    from meshcode import Cluster, Mesh, Port
    from meshcode.compile import compile_mesh

    svc = Service("greet", namespace="shop", ports=[Port(8080)], versions=["v1", "v2"],
                  routes=[Route(match=Match(headers={"x-lang": Regex(r"\p{Greek}+")}), to="v2"), Route(to="v1")])
    plan = compile_mesh(Mesh("m", clusters=[Cluster("c1")], services=[svc]))
    vs = next(r for r in plan.folders["c1"] if r.kind == "VirtualService")
    header = vs.obj["spec"]["http"][0]["match"][0]["headers"]["x-lang"]
    assert header == {"regex": r"\p{Greek}+"}
    assert compile_re2(header["regex"]).fullmatch("αβγ") and not compile_re2(header["regex"]).fullmatch("abc")


VS = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: reviews, namespace: shop}}
spec:
  hosts: [reviews]
  http:
  - match:
    - uri: {{regex: '{uri}'}}
      headers: {{x-lang: {{regex: '{header}'}}}}
    corsPolicy:
      allowOrigins: [{{regex: '{origin}'}}]
    route: [{{destination: {{host: reviews}}}}]
"""


def test_lint_reports_every_regex_field_re2_refuses() -> None:
    findings = lint_text(VS.format(uri="(?=x)", header=r"\p{Greek}", origin=r"a++"), file="vs.yaml")
    got = messages(findings, "IST0106")
    assert sorted(got) == [
        "Schema validation error: spec.http[0].corsPolicy.allowOrigins[0].regex: 'a++' is not a valid RE2 "
        "regular expression: bad repetition operator: ++",
        "Schema validation error: spec.http[0].match[0].uri.regex: '(?=x)' is not a valid RE2 regular "
        "expression: invalid perl operator: (?=",
    ]
    assert all(str(f.location) == "vs.yaml:2" for f in findings if f.code == "IST0106")


def test_lint_accepts_valid_re2_that_python_refuses() -> None:
    findings = lint_text(VS.format(uri=r"/items/\pN+", header=r"\p{Greek}+", origin=r"https://\Qa.b\E"))
    assert messages(findings, "IST0106") == []


def test_lint_checks_gateway_api_and_envoy_filter_regexes() -> None:
    text = r"""
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: shop}
spec:
  rules:
  - matches:
    - path: {type: RegularExpression, value: '/a(?!b)'}
      headers: [{name: x, type: RegularExpression, value: '\p{Greek}'}, {name: y, type: Exact, value: '(?=x'}]
---
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: ef, namespace: shop}
spec:
  configPatches:
  - applyTo: HTTP_FILTER
    match: {proxy: {proxyVersion: '^1\.(?=2)'}}
"""
    got = sorted(messages(lint_text(text), "IST0106"))
    assert len(got) == 2
    assert got[0].startswith("Schema validation error: spec.configPatches[0].match.proxy.proxyVersion:")
    assert got[1].startswith("Schema validation error: spec.rules[0].matches[0].path.value: '/a(?!b)'")
