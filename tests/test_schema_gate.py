"""Never write what the schemas reject (issue 13).

Two layers. The intent refuses, at the user's line, every value the CRDs are known to reject
(ServiceEntry rules, protobuf duration and integer ranges). Behind it, every generated object
is validated against the bundled CRD schemas (OpenAPI + CEL) before anything is written: an
object that still fails (here made with a Patch, the escape hatch) is IST0106 at the stack line,
exit 1, and generated/ stays as it was.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from meshcode import (
    CircuitBreaker,
    ExternalService,
    OutlierDetection,
    Port,
    Retries,
    Service,
    Zipkin,
)
from meshcode.analyze import schema
from meshcode.analyze.schema import BUNDLED_CRDS, Node, bundled_crds, lazy_crds, load_crds
from meshcode.errors import IntentError
from meshcode.app.project import Project
from tests.support.core import fingerprint
from tests.support.gitops import cli


def refused(build: Callable[[], Any]) -> IntentError:
    with pytest.raises(IntentError) as info:
        build()
    assert info.value.location is not None and info.value.location.file == __file__
    return info.value


# ---- the intent refuses what the CRDs reject -------------------------------------------------------
def external(**kw: Any) -> ExternalService:
    return ExternalService("db", namespace="shop", hosts=["db.example.com"], ports=[Port(5432, protocol="TCP")], **kw)


@pytest.mark.parametrize("build, message", [
    (lambda: external(addresses=["10.0.0.0/24"], resolution="DNS"), "CIDR addresses (10.0.0.0/24) need resolution"),
    (lambda: external(addresses=["10.0.0.0/24"], resolution="DNS_ROUND_ROBIN"), "need resolution 'NONE' or 'STATIC'"),
    (lambda: external(resolution="NONE", endpoints=["1.2.3.4"]), "resolution NONE cannot have endpoints"),
    (lambda: external(resolution="DNS_ROUND_ROBIN", endpoints=["a.example.com", "b.example.com"]), "at most one"),
    (lambda: external(resolution="STATIC", endpoints=["db.internal"]), "needs IP addresses as endpoints"),
    (lambda: external(addresses=["10.0.0.300"]), "not an IP address or CIDR range"),
    (lambda: ExternalService("any", hosts=["*"], ports=[443], resolution="NONE"), "host '*' is not allowed"),
    (lambda: ExternalService("dup", hosts=["a.example.com"], ports=[443, Port(443, name="other")]), "port numbers"),
])
def test_external_service_rules_of_the_service_entry_crd(build: Callable[[], Any], message: str) -> None:
    assert message in refused(build).message


@pytest.mark.parametrize("value", ["10000000000000s", "9223372037s", 10**400, float("inf"), float("nan"),
                                   "1" * 400 + "s"])
def test_durations_past_what_kubernetes_parses_are_refused_not_a_crash(value: Any) -> None:
    error = refused(lambda: Service("web", ports=[Port(8080)], timeout=value))
    assert "duration" in error.message


def test_the_longest_duration_kubernetes_parses_is_accepted() -> None:
    assert Retries(attempts=1, per_try_timeout="9223372036s").per_try_timeout == "9223372036s"


@pytest.mark.parametrize("build", [
    lambda: CircuitBreaker(max_connections=2**31),
    lambda: CircuitBreaker(max_pending_requests=2**40),
    lambda: CircuitBreaker(max_requests=2**31),
    lambda: CircuitBreaker(max_requests_per_connection=2**31),
    lambda: CircuitBreaker(max_retries=2**31),
    lambda: OutlierDetection(consecutive_5xx_errors=2**32),
    lambda: OutlierDetection(consecutive_gateway_errors=2**32),
    lambda: Zipkin("zipkin.istio-system", max_tag_length=2**32),
])
def test_integers_past_their_protobuf_type_are_refused(build: Callable[[], Any]) -> None:
    assert "less than or equal to" in refused(build).message


def test_integers_at_their_protobuf_limit_are_accepted() -> None:
    assert CircuitBreaker(max_connections=2**31 - 1).max_connections == 2**31 - 1
    assert OutlierDetection(consecutive_5xx_errors=2**32 - 1).consecutive_5xx_errors == 2**32 - 1


# ---- the validator: Kubernetes' and Istio's ranges -------------------------------------------------
def test_integer_formats_are_checked() -> None:
    node = Node({"type": "object", "properties": {"n": {"type": "integer", "format": "int32"},
                                                  "u": {"type": "integer", "format": "uint32"}}})
    errors: list[str] = []
    node.check({"n": 2**31, "u": -1}, "", errors, None)
    assert errors == ["n: 2147483648 is out of range for its format (int32: -2147483648 to 2147483647)",
                      "u: -1 is out of range for its format (uint32: 0 to 4294967295)"]
    errors.clear()
    node.check({"n": 2**31 - 1, "u": 2**32 - 1}, "", errors, None)
    assert errors == []


def test_cel_durations_have_go_range_not_protobuf_range() -> None:
    """10^10 s fits protobuf's Duration (cel-python's own range), not Go's time.Duration (the API server's)."""
    vs = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "a"},
          "spec": {"hosts": ["a"], "http": [{"timeout": "10000000000s", "route": [{"destination": {"host": "a"}}]}]}}
    problems = bundled_crds().validate(vs)
    assert problems and "spec.http[0].timeout" in problems[0] and "out of range" in problems[0]
    vs["spec"]["http"][0]["timeout"] = "9223372036s"
    assert bundled_crds().validate(vs) == []


# ---- the gate before anything is written -------------------------------------------------------------
STACK = """\
from meshcode import *

web = Service("web", namespace="shop", ports=[Port(8080)], versions=["v1", "v2"],
              routes=[Route(to={{"v1": 90, "v2": 10}})])
db = ExternalService("db", namespace="shop", hosts=["db.example.com"], ports=[Port(5432, protocol="TCP")],
                     addresses=["10.0.0.7"], resolution="STATIC", endpoints=["10.0.0.7"])
patches = {patches}
mesh = Mesh("m", clusters=[Cluster("c1")], services=[web], external_services=[db], patches=patches)
"""
ESCAPES = {  # what the intent cannot say, but a Patch (the escape hatch) can
    "cidr-with-dns": ('Patch("ServiceEntry", "db", [{"op": "replace", "path": "/spec/addresses/0", '
                      '"value": "10.0.0.0/24"}, {"op": "replace", "path": "/spec/resolution", "value": "DNS"}])',
                      "CIDR addresses are allowed only for NONE/STATIC resolution types"),
    "none-with-endpoints": ('Patch("ServiceEntry", "db", [{"op": "replace", "path": "/spec/resolution", '
                            '"value": "NONE"}])', "NONE mode cannot set endpoints"),
    "duration-past-range": ('Patch("VirtualService", "web", [{"op": "add", "path": "/spec/http/0/timeout", '
                            '"value": "10000000000000s"}])', "spec.http[0].timeout: Invalid value"),
    "integer-past-uint32": ('Patch("DestinationRule", "web", [{"op": "add", "path": "/spec/trafficPolicy", '
                            '"value": {"outlierDetection": {"consecutive5xxErrors": 4294967296}}}])',
                            "consecutive5xxErrors: should be less than or equal to 4294967295"),
}


@pytest.mark.parametrize("patch, message", ESCAPES.values(), ids=ESCAPES.keys())
def test_an_object_the_schemas_reject_is_an_error_at_the_stack_line_and_nothing_is_written(
        make_project: Callable[..., Path], patch: str, message: str) -> None:
    root = make_project(m=STACK.format(patches="[]"))
    assert cli("compile", root=root).exit_code == 0
    before = fingerprint(root / "generated")
    source = STACK.format(patches=f"[{patch}]")
    (root / "stacks" / "m.py").write_text(source)
    result = cli("compile", root=root)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    line = next(i for i, text in enumerate(source.splitlines(), 1)
                if text.startswith(("web = ", "db = ")) and ("ServiceEntry" in patch) == text.startswith("db"))
    assert f"stacks/m.py:{line}: error IST0106" in result.output
    assert message in result.output
    assert fingerprint(root / "generated") == before


def test_validated_objects_are_not_validated_again(make_project: Callable[..., Path]) -> None:
    root = make_project(m=STACK.format(patches="[]"))
    crds = bundled_crds()
    before = crds.checked
    Project.open(root).build()
    first = crds.checked - before
    assert first >= 4  # VirtualService, DestinationRule, ServiceEntry, Sidecar, … (Namespaces have no CRD)
    Project.open(root).build()
    assert crds.checked - before == first  # nothing new: every object's content was validated before
    (root / "stacks" / "m.py").write_text(STACK.format(patches="[]").replace("90, ", "80, ").replace("10}", "20}"))
    Project.open(root).build()
    assert crds.checked - before == first + 1  # only the changed VirtualService


# ---- loading the schemas: once, lazily, from a cached form --------------------------------------------
def test_the_lazy_index_finds_every_bundled_crd_as_a_full_parse_does() -> None:
    lazy, full = lazy_crds(BUNDLED_CRDS), load_crds([BUNDLED_CRDS])
    assert lazy.groups == full.groups and lazy.schemas == {}
    for load in list(lazy._pending.values()):
        lazy.add_crd(load())
    assert lazy.schemas == full.schemas and len(full.schemas) >= 40


def test_a_compile_reads_only_the_crds_of_the_kinds_it_emits() -> None:
    crds = lazy_crds(BUNDLED_CRDS)
    crds.validate({"apiVersion": "networking.istio.io/v1", "kind": "Sidecar", "metadata": {"name": "a"}, "spec": {}})
    assert {k for g, _, k in crds.schemas} == {"Sidecar"}
    assert ("argoproj.io", "ApplicationSet") in crds._pending


def test_parsed_crds_are_cached_as_json_and_a_broken_cache_is_ignored(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    text = (BUNDLED_CRDS / "argo-cd" / "appproject-crd.yaml").read_text()
    first = schema._parse_crd(text)
    (cached,) = (tmp_path / "meshcode" / "crds").glob("*.json")
    assert json.loads(cached.read_text()) == first and first["spec"]["names"]["kind"] == "AppProject"
    start = time.perf_counter()
    assert schema._parse_crd(text) == first
    assert time.perf_counter() - start < 0.5
    cached.write_text("{not json")
    assert schema._parse_crd(text) == first  # a broken cache falls back to the YAML
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))
    (tmp_path / "file").write_text("not a folder")
    assert schema._parse_crd(text) == first  # an unwritable cache is no error


def test_cli_compile_prints_no_traceback_for_an_intent_past_a_range(make_project: Callable[..., Path]) -> None:
    root = make_project(m=STACK.format(patches="[]").replace('versions=["v1", "v2"],',
                                                              'versions=["v1", "v2"], timeout=1e400,'))
    result = cli("compile", root=root)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "stacks/m.py:3: error MC1000" in result.output and "duration" in result.output


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))
