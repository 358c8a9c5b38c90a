"""Observability intent that cannot compile: an error naming the intent's file and line, nothing built."""
from __future__ import annotations

from meshcode import AccessLog, Cluster, EnvoyLog, ExternalService, Metrics, OpenTelemetry, OtelLog, Port, Tracing, Zipkin
from tests.support.telemetry import OTEL_HOST, compile_errors, mesh_with, only_error, service


def test_unknown_provider_name() -> None:
    log = AccessLog("otel", namespace="shop")
    finding = only_error(mesh_with(log), "MC2701")
    assert "provider 'otel', which no mesh config defines" in finding.message
    assert "envoy" in finding.message  # lists what is defined
    assert finding.location.file.endswith("test_telemetry_errors.py")
    assert finding.location.line == log.origin.line


def test_unknown_tracing_and_metrics_providers() -> None:
    errors = compile_errors(mesh_with(Tracing("jaeger", sampling=1), Metrics(provider="datadog", disable=True)))
    assert [f.code for f in errors] == ["MC2701", "MC2701"]


def test_provider_of_the_wrong_kind() -> None:
    otel = OpenTelemetry(OTEL_HOST)
    finding = only_error(mesh_with(Tracing(otel), AccessLog("otel-tracing")), "MC2706")
    assert "trace provider, not a log provider" in finding.message
    assert "not a metrics provider" in only_error(mesh_with(Metrics(provider="envoy", disable=True)), "MC2706").message


def test_one_provider_name_with_two_settings() -> None:
    first = OtelLog(OTEL_HOST, 4317)
    second = OtelLog("collector.other.svc.cluster.local", 4317)
    finding = only_error(mesh_with(AccessLog(first), AccessLog(second, namespace="shop")), "MC2702")
    assert finding.location.line == second.origin.line
    assert f":{first.origin.line}" in finding.message
    # the same settings twice are one provider, not a conflict
    assert not [f for f in _errors_or_none(mesh_with(AccessLog(OtelLog(OTEL_HOST)),
                                                      AccessLog(OtelLog(OTEL_HOST), namespace="shop")))]


def test_two_access_logs_for_one_provider_in_one_namespace() -> None:
    first = AccessLog(EnvoyLog(encoding="JSON"), namespace="shop")
    second = AccessLog("envoy-json", namespace="shop", filter="response.code >= 500")
    finding = only_error(mesh_with(first, second), "MC2703")
    assert "namespace shop" in finding.message and f":{first.origin.line}" in finding.message
    assert finding.location.line == second.origin.line
    assert (finding.kind, finding.namespace, finding.name) == ("Telemetry", "shop", "namespace-default")


def test_two_tracing_settings_for_the_same_traffic() -> None:
    otel = OpenTelemetry(OTEL_HOST)
    only_error(mesh_with(Tracing(otel, sampling=10, namespace="shop"),
                         Tracing(otel, sampling=20, namespace="shop", mode="CLIENT")), "MC2703")
    only_error(mesh_with(Tracing(otel, sampling=10), Tracing(sampling=20)), "MC2703")  # both mesh-wide


def test_contradicting_metric_settings() -> None:
    reviews = service("reviews")
    finding = only_error(mesh_with(
        Metrics(service=reviews, tags={"api": "request.headers['x-api']"}),
        Metrics(service=reviews, tags={"api": None}, tag_metrics=["REQUEST_COUNT"]),
        services=(reviews,),
    ), "MC2703")
    assert "REQUEST_COUNT tag api" in finding.message
    only_error(mesh_with(Metrics(reporting_interval="10s"), Metrics(reporting_interval="20s")), "MC2703")


def test_compatible_settings_merge_without_error() -> None:
    reviews = service("reviews")
    assert _errors_or_none(mesh_with(
        Metrics(service=reviews, disable=["REQUEST_SIZE"]),
        Metrics(service=reviews, disable=["REQUEST_SIZE", "RESPONSE_SIZE"], mode="CLIENT"),
        Metrics(service=reviews, tags={"api": "request.method"}, mode="SERVER"),
        Metrics(service=reviews, tags={"api": None}, mode="CLIENT"),
        AccessLog("envoy", service=reviews, mode="CLIENT"),
        AccessLog("envoy", service=reviews, mode="SERVER", filter="response.code >= 400"),
        services=(reviews,),
    )) == []


def test_service_that_is_not_there() -> None:
    finding = only_error(mesh_with(AccessLog("envoy", service="ghost")), "MC2704")
    assert "not a service of the mesh" in finding.message
    api = ExternalService("api", namespace="shop", hosts=["api.example.com"], ports=[Port(443, "HTTPS")])
    finding = only_error(mesh_with(Metrics(service="shop/api", disable=True), external_services=[api]), "MC2704")
    assert "external service" in finding.message


def test_a_service_never_added_to_the_mesh() -> None:
    forgotten = service("forgotten")
    finding = only_error(mesh_with(AccessLog("envoy", service=forgotten)), "MC2704")
    assert "'forgotten': not a service of the mesh" in finding.message


def test_unknown_cluster() -> None:
    finding = only_error(mesh_with(AccessLog("envoy", clusters=["moon"])), "MC2303")
    assert "'moon'" in finding.message


def test_overlapping_workload_selectors() -> None:
    """IST0159: two Telemetry objects selecting one pod; meshcode refuses to generate them."""
    reviews = service("reviews")
    finding = only_error(mesh_with(
        AccessLog("envoy", service=reviews),
        Metrics(namespace="shop", selector={"app": "reviews", "version": "v2"}, disable=True),
        services=(reviews,),
    ), "MC2705")
    assert "IST0159" in finding.message
    # one label with different values never overlaps: different apps, or tier=db vs tier=web
    assert _errors_or_none(mesh_with(
        AccessLog("envoy", service=reviews),
        Metrics(namespace="shop", selector={"app": "ratings", "version": "v2"}, disable=True),
        services=(reviews,),
    )) == []
    assert _errors_or_none(mesh_with(
        Metrics(namespace="shop", selector={"tier": "db"}, disable=True),
        Metrics(namespace="shop", selector={"tier": "web"}, disable=True),
        Metrics(namespace="pay", selector={"tier": "db", "app": "x"}, disable=True),
    )) == []
    # a pod labelled app=reviews, tier=db would match both
    only_error(mesh_with(
        Metrics(namespace="shop", selector={"tier": "db"}, disable=True),
        AccessLog("envoy", service=reviews),
        services=(reviews,),
    ), "MC2705")


def test_errors_in_several_clusters_are_reported_once() -> None:
    errors = compile_errors(mesh_with(
        AccessLog("envoy", namespace="shop"), AccessLog("envoy", namespace="shop", filter="true"),
        clusters=[Cluster("a", network="n1"), Cluster("b", network="n1")],
    ))
    assert [f.code for f in errors] == ["MC2703"]


def test_errors_are_all_reported_at_once() -> None:
    errors = compile_errors(mesh_with(
        AccessLog("nope"), Tracing(Zipkin("zipkin.istio-system.svc.cluster.local"), sampling=1),
        Tracing(sampling=2), AccessLog("envoy", service="ghost"),
    ))
    assert sorted(f.code for f in errors) == ["MC2701", "MC2703", "MC2704"]


def _errors_or_none(mesh) -> list:
    from meshcode import CompileError, compile_mesh

    try:
        compile_mesh(mesh)
    except CompileError as e:
        return [f.describe() for f in e.findings]
    return []
