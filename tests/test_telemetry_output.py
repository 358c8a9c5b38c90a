"""Observability output: pinned YAML, valid against Istio's CRDs, deterministic, and the CLI's errors."""
from __future__ import annotations

from pathlib import Path

import yaml

from meshcode import AccessLog, Cluster, EnvoyLog, Metrics, OpenTelemetry, OtelLog, Tracing, compile_mesh
from meshcode.loader import load_stacks
from meshcode.render import render_tree
from tests.support.core import line_of, run_cli
from tests.support.meshes import crdcheck, write_plan
from tests.support.paths import ROOT
from tests.support.telemetry import OTEL_HOST, extension_providers, mesh_with, service, telemetries


def small_example():
    reviews = service("reviews")
    return mesh_with(
        AccessLog(EnvoyLog(encoding="JSON", format={"status": "%RESPONSE_CODE%", "path": "%REQ(:PATH)%"})),
        AccessLog(OtelLog(OTEL_HOST), namespace="shop", filter="response.code >= 400"),
        Tracing(OpenTelemetry(OTEL_HOST), sampling=10, namespace="shop"),
        Metrics(service=reviews, disable=["REQUEST_SIZE"], tags={"request_host": None}),
        services=(reviews,), clusters=[Cluster("prod")],
    )


def telemetry_files(plan) -> dict[str, str]:
    return {path: body.decode() for path, body in render_tree(plan).items()
            if "/telemetry-" in path or "/istiooperator-" in path}


def test_small_example_snapshot(snapshot) -> None:
    files = telemetry_files(compile_mesh(small_example(), root=str(ROOT)))
    assert sorted(files) == ["prod/istio-system/istiooperator-prod.yaml", "prod/istio-system/telemetry-mesh-default.yaml",
                             "prod/shop/telemetry-namespace-default.yaml", "prod/shop/telemetry-reviews.yaml"]
    assert files == snapshot


def bookinfo_mesh():
    (mesh,) = [m for m in load_stacks(ROOT / "stacks") if m.name == "bookinfo"]
    return mesh


def test_small_example_and_bookinfo_pass_the_crds(tmp_path: Path) -> None:
    small = write_plan(compile_mesh(small_example()), tmp_path / "small")
    bookinfo = write_plan(compile_mesh(bookinfo_mesh()), tmp_path / "bookinfo")
    code, report = crdcheck(small, bookinfo)
    assert code == 0, report
    assert ", 0 errors" in report


def test_compiling_twice_gives_the_same_bytes() -> None:
    assert render_tree(compile_mesh(small_example())) == render_tree(compile_mesh(small_example()))


def test_no_yaml_aliases_in_output() -> None:
    """Shared dicts would come out as &id001 anchors, which some tools mishandle."""
    many = Metrics(namespace="shop", tags={"a": "request.method", "b": None},
                   tag_metrics=["REQUEST_COUNT", "REQUEST_DURATION", "REQUEST_SIZE"])
    for body in render_tree(compile_mesh(mesh_with(many))).values():
        assert b"&id" not in body and b"*id" not in body


def test_bookinfo_turns_on_json_logs_and_ten_percent_tracing() -> None:
    plan = compile_mesh(bookinfo_mesh(), root=str(ROOT))
    found = telemetries(plan, "prod")
    selectorless = [key for key, spec in found.items() if key[0] == "bookinfo" and "selector" not in spec]
    assert selectorless == [("bookinfo", "namespace-default")]
    spec = found["bookinfo", "namespace-default"]
    (log,) = spec["accessLogging"]
    (trace,) = spec["tracing"]
    providers = extension_providers(plan, "prod")
    assert providers[log["providers"][0]["name"]]["envoyFileAccessLog"]["logFormat"] == {"labels": {}}  # JSON
    assert trace["randomSamplingPercentage"] == 10.0
    assert providers[trace["providers"][0]["name"]]["opentelemetry"] == {
        "service": "opentelemetry-collector.observability.svc.cluster.local", "port": 4317}
    # and generated/ holds it
    on_disk = yaml.safe_load((ROOT / "generated/prod/bookinfo/telemetry-namespace-default.yaml").read_text())
    assert on_disk["spec"] == spec


BAD_STACK = """\
from meshcode import AccessLog, Cluster, EnvoyLog, Mesh

logs = [
    AccessLog(EnvoyLog(encoding="JSON"), namespace="shop"),
    AccessLog("otel", namespace="shop"),  # <- unknown provider
]
mesh = Mesh("obs", clusters=[Cluster("prod")], telemetry=logs)
"""


def test_cli_names_the_stack_line_and_writes_nothing(make_project) -> None:
    root = make_project(obs=BAD_STACK)
    result = run_cli("compile", "--root", str(root))
    assert result.exit_code == 1
    line = line_of(BAD_STACK, "# <- unknown provider")
    assert f"stacks/obs.py:{line}: error MC2701" in result.output
    assert not (root / "generated").exists()


CONFLICT_STACK = """\
from meshcode import Cluster, Mesh, OpenTelemetry, Tracing

otel = OpenTelemetry("opentelemetry-collector.observability.svc.cluster.local")
mesh = Mesh("obs", clusters=[Cluster("prod")], telemetry=[
    Tracing(otel, sampling=10, namespace="shop"),
    Tracing(otel, sampling=100, namespace="shop"),  # <- second namespace-level setting
])
"""


def test_cli_refuses_two_namespace_level_settings(make_project) -> None:
    root = make_project(obs=CONFLICT_STACK)
    result = run_cli("compile", "--root", str(root))
    assert result.exit_code == 1
    line = line_of(CONFLICT_STACK, "# <- second")
    assert f"stacks/obs.py:{line}: error MC2703 Telemetry shop/namespace-default" in result.output


BAD_SAMPLING = """\
from meshcode import Cluster, Mesh, Tracing

mesh = Mesh("obs", clusters=[Cluster("prod")], telemetry=[
    Tracing(sampling=150),  # <- not a percentage
])
"""


def test_cli_refuses_a_bad_sampling_percentage(make_project) -> None:
    root = make_project(obs=BAD_SAMPLING)
    result = run_cli("compile", "--root", str(root))
    assert result.exit_code == 1
    assert f"stacks/obs.py:{line_of(BAD_SAMPLING, '# <- not')}: error" in result.output
    assert "sampling" in result.output
