"""Intent checks at construction (IntentError at the constructing line) and reference checks
at compile (CompileError findings at the line of the object that holds the bad reference)."""
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest

from meshcode import (
    Canary,
    Cluster,
    CompileError,
    Dest,
    ExternalService,
    Ingress,
    IntentError,
    Match,
    Mesh,
    Mirror,
    Port,
    Prefix,
    Regex,
    Route,
    ServerTLS,
    Service,
    compile_mesh,
)


def here() -> int:
    """The caller's line number."""
    return sys._getframe(1).f_lineno


def mesh(*services: Service, **kw: Any) -> Mesh:
    return Mesh("m", clusters=[Cluster("c")], services=list(services), **kw)


def compile_error(m: Mesh) -> CompileError:
    with pytest.raises(CompileError) as info:
        compile_mesh(m)
    return info.value


def intent_error(build: Callable[[], Any]) -> IntentError:
    with pytest.raises(IntentError) as info:
        build()
    return info.value


# ---- construction -----------------------------------------------------------------------------
@pytest.mark.parametrize("build, message", [
    (lambda: Regex("(?=lookahead)"), "RE2"),
    (lambda: Regex(r"(a)\1"), "RE2"),
    (lambda: Regex("(unclosed"), "not a valid regular expression"),
    (lambda: Regex(""), "must not be empty"),
    (lambda: Match(headers={"End-User": "jason"}), "must be lower-case"),
    (lambda: Match(method="get"), "use 'GET'"),
    (lambda: Match(), "at least one condition"),
    (lambda: Route(to=42), "to= must be"),
    (lambda: Route(to={"v1": 50.5, "v2": 49.5}), "whole numbers"),
    (lambda: Route(to={"v1": True}), "whole numbers"),
    (lambda: Route(to={}), "names no destination"),
    (lambda: Route(to=[]), "to= must be"),
    (lambda: Mirror(["v1", "v2"]), "one version name"),
    (lambda: Ingress("i", hosts=["a.example.com", "a.example.com"], routes=[Route(to="x")]), "listed twice"),
    (lambda: Ingress("i", hosts=["Shop.Example.com"], routes=[Route(to="x")]), "not a valid host name"),
    (lambda: Ingress("i", hosts=["*"], tls=ServerTLS("c"), routes=[Route(to="x")]), "concrete hosts"),
    (lambda: Ingress("i", hosts=["a.example.com"], http_redirect=True, routes=[Route(to="x")]), "needs tls"),
    (lambda: ExternalService("e", hosts=["*.example.com"], ports=[443]), "wildcard hosts"),
    (lambda: Canary(stable="v1", candidate="v1"), "different versions"),
    (lambda: Service("s", ports=[Port(80), Port(80, name="web")]), "port numbers must be unique"),
    (lambda: Service("s", ports=[80], versions=["v1", "v1"]), "version names must be unique"),
], ids=lambda x: x if isinstance(x, str) else "")
def test_bad_values_are_refused_where_they_are_written(build: Callable[[], Any], message: str) -> None:
    error = intent_error(build)
    assert message in str(error)
    assert error.location is not None and error.location.file == __file__


def test_valid_values_pass() -> None:
    assert Regex("^/api/v[0-9]+(/.*)?$").value.startswith("^")
    assert Match(headers={"x-b3-traceid": Prefix("a")}, method="POST").method == "POST"
    assert Route(to=["v1"]).to == ("v1",)
    assert ExternalService("e", hosts=["*.example.com"], ports=[443], resolution="NONE").hosts == ("*.example.com",)


def test_the_error_names_the_line_of_the_nested_object() -> None:
    def build() -> Service:
        return Service(
            "s", ports=[80],
            routes=[
                Route(to={"v1": "half"}),
            ],
        )

    line = build.__code__.co_firstlineno + 4
    assert intent_error(build).location.line == line


# ---- references, at compile ---------------------------------------------------------------------
def test_a_route_with_no_destination_and_no_versions() -> None:
    route = Route(match=Match(uri=Prefix("/x")))
    line = here() - 1
    (finding,) = compile_error(mesh(Service("a", ports=[80], routes=[route]))).findings
    assert finding.location.line == line
    assert "no destination" in finding.message


def test_an_ambiguous_service_name_asks_for_a_namespace() -> None:
    a = Service("a", ports=[80], routes=[Route(match=Match(uri=Prefix("/b")), to=Dest("b"))])
    line = here() - 1
    error = compile_error(mesh(a, Service("b", namespace="one", ports=[80]), Service("b", namespace="two", ports=[80])))
    (finding,) = error.findings
    assert finding.location.line == line
    assert "ambiguous" in finding.message and "one, two" in finding.message


def test_a_namespaced_name_resolves_the_ambiguity() -> None:
    a = Service("a", ports=[80], routes=[Route(match=Match(uri=Prefix("/b")), to=Dest("b", namespace="two"))])
    plan = compile_mesh(mesh(a, Service("b", namespace="one", ports=[80]), Service("b", namespace="two", ports=[80])))
    vs = next(r for r in plan.folders["c"] if r.kind == "VirtualService" and r.name == "a")
    assert vs.spec["http"][0]["route"][0]["destination"]["host"] == "b.two.svc.cluster.local"


def test_a_service_object_outside_the_mesh_is_refused() -> None:
    stray = Service("stray", ports=[80])
    a = Service("a", ports=[80], routes=[Route(match=Match(uri=Prefix("/s")), to=stray)])
    line = here() - 1
    (finding,) = compile_error(mesh(a)).findings
    assert finding.location.line == line
    assert "not part of mesh" in finding.message


def test_a_dest_on_its_own_line_is_the_offending_object() -> None:
    typo = Dest("ratingz")
    line = here() - 1
    a = Service("a", ports=[80], routes=[Route(match=Match(uri=Prefix("/r")), to=typo)])
    (finding,) = compile_error(mesh(a)).findings
    assert finding.location.line == line
    assert finding.kind == "VirtualService" and finding.name == "a"


def test_ingress_errors_name_the_ingress_virtual_service() -> None:
    ing = Ingress("front", hosts=["a.example.com"], routes=[Route(to="nothing")])
    (finding,) = compile_error(mesh(Service("a", ports=[80]), ingresses=[ing])).findings
    assert (finding.kind, finding.namespace, finding.name) == ("VirtualService", "default", "front")


def test_duplicates_name_the_first_declaration_with_its_line() -> None:
    first = Service("a", ports=[80])
    first_line = here() - 1
    error = compile_error(mesh(first, Service("a", ports=[81])))
    assert f"test_core_validation.py:{first_line})" in error.findings[0].message


def test_a_second_default_route_is_refused() -> None:
    a = Service("a", ports=[80], versions=["v1", "v2"], routes=[
        Route(to="v1"),
        Route(to="v2"),
    ])
    line = here() - 2
    (finding,) = compile_error(mesh(a)).findings
    assert finding.code == "MC2105" and finding.location.line == line
    assert f"test_core_validation.py:{line - 1})" in finding.message  # where the first default is


def test_an_ingress_route_after_a_catch_all_is_refused() -> None:
    a = Service("a", ports=[80])
    ing = Ingress("front", hosts=["a.example.com"], routes=[
        Route(to=a),
        Route(match=Match(uri=Prefix("/admin")), to=a),
    ])
    line = here() - 2
    (finding,) = compile_error(mesh(a, ingresses=[ing])).findings
    assert finding.code == "MC2105" and finding.location.line == line
    assert "never reached" in finding.message
