"""Observability intent: what users can write, and the mistakes refused where they are written."""
from __future__ import annotations

import pytest

from meshcode import (
    AccessLog, EnvoyLog, EnvTag, HeaderTag, IntentError, Jaeger, Mesh, Metrics, OpenTelemetry, OtelLog, Tracing,
    Zipkin,
)
from tests.support.telemetry import OTEL_HOST, service


def test_envoy_log_names_and_formats() -> None:
    assert EnvoyLog().provider_name == "envoy"
    assert EnvoyLog().extension_provider() == {"name": "envoy", "envoyFileAccessLog": {"path": "/dev/stdout"}}
    json_log = EnvoyLog(encoding="json")
    assert json_log.provider_name == "envoy-json"
    assert json_log.extension_provider()["envoyFileAccessLog"]["logFormat"] == {"labels": {}}
    text = EnvoyLog(name="envoy-short", format="%RESPONSE_CODE% %REQ(:PATH)%")
    assert text.extension_provider() == {"name": "envoy-short", "envoyFileAccessLog": {
        "path": "/dev/stdout", "logFormat": {"text": "%RESPONSE_CODE% %REQ(:PATH)%"}}}
    fields = EnvoyLog(encoding="JSON", format={"status": "%RESPONSE_CODE%", "path": "%REQ(:PATH)%"})
    assert fields.extension_provider()["envoyFileAccessLog"]["logFormat"] == {
        "labels": {"path": "%REQ(:PATH)%", "status": "%RESPONSE_CODE%"}}


def test_otel_and_tracing_providers() -> None:
    als = OtelLog(OTEL_HOST, 4317, attributes={"code": "%RESPONSE_CODE%"}, format="%REQ(:PATH)%")
    assert als.extension_provider() == {"name": "otel", "envoyOtelAls": {
        "service": OTEL_HOST, "port": 4317,
        "logFormat": {"text": "%REQ(:PATH)%", "labels": {"code": "%RESPONSE_CODE%"}}}}
    assert Zipkin("zipkin.istio-system.svc.cluster.local").extension_provider() == {
        "name": "zipkin", "zipkin": {"service": "zipkin.istio-system.svc.cluster.local", "port": 9411}}
    jaeger = Jaeger("observability/jaeger-collector.observability.svc.cluster.local", trace_id_64bit=True)
    assert isinstance(jaeger, Zipkin) and jaeger.provider_name == "jaeger"
    assert jaeger.extension_provider()["zipkin"] == {
        "service": "observability/jaeger-collector.observability.svc.cluster.local", "port": 9411,
        "enable64bitTraceId": True}
    http = OpenTelemetry(OTEL_HOST, 4318, http_path="/v1/traces", http_timeout="2s",
                         http_headers={"x-tenant": "shop"}, max_tag_length=256)
    assert http.extension_provider()["opentelemetry"] == {
        "service": OTEL_HOST, "port": 4318, "maxTagLength": 256,
        "http": {"path": "/v1/traces", "timeout": "2s", "headers": [{"name": "x-tenant", "value": "shop"}]}}


def test_a_service_object_stands_for_its_host() -> None:
    collector = service("collector", namespace="observability")
    assert OtelLog(collector).service == "collector.observability.svc.cluster.local"


def test_scope_text() -> None:
    reviews = service("reviews")
    assert AccessLog("envoy").scope_text == "the mesh"
    assert AccessLog("envoy", namespace="shop").scope_text == "namespace shop"
    assert AccessLog("envoy", service=reviews).scope_text == "service reviews"
    assert AccessLog("envoy", service="shop/reviews").provider_names == ("envoy",)


@pytest.mark.parametrize("build, message", [
    (lambda: Tracing(sampling=101), "less than or equal to 100"),
    (lambda: Tracing(sampling=-1), "greater than or equal to 0"),
    (lambda: Tracing(sampling="10%"), "percentage"),
    (lambda: Tracing(sampling=True), "percentage"),
    (lambda: Tracing(EnvoyLog()), "tracing provider"),
    (lambda: Tracing(tags={"env": ""}), "must not be empty"),
    (lambda: Tracing(tags={"bad tag": "x"}), "not a valid tag name"),
    (lambda: AccessLog(Zipkin("zipkin.istio-system.svc.cluster.local")), "access log provider"),
    (lambda: AccessLog([]), "at least 1"),
    (lambda: AccessLog("envoy", filter="response.code >= 400)"), "unbalanced"),
    (lambda: AccessLog("envoy", filter="request.headers['x-user'"), "unbalanced"),
    (lambda: AccessLog("envoy", filter="  "), "must not be empty"),
    (lambda: AccessLog(["envoy", EnvoyLog()]), "unique"),
    (lambda: AccessLog("Envoy"), "not a valid provider name"),
    (lambda: AccessLog("envoy", selector={"app": "x"}), "needs namespace"),
    (lambda: AccessLog("envoy", namespace="shop", selector={}), "must not be empty"),
    (lambda: AccessLog("envoy", service="reviews", namespace="shop", selector={"app": "x"}), "not both"),
    (lambda: AccessLog("envoy", service=service("reviews"), namespace="other"), "is in namespace shop"),
    (lambda: AccessLog("envoy", mode="INBOUND"), "mode"),
    (lambda: EnvoyLog(format={"a": "%START_TIME%"}), "TEXT log takes a format string"),
    (lambda: EnvoyLog(encoding="JSON", format="%START_TIME%"), "JSON log takes a dict"),
    (lambda: EnvoyLog(path="stdout"), "absolute"),
    (lambda: OtelLog("*.example.com"), "concrete host"),
    (lambda: OtelLog("/collector.example.com"), "namespace before '/' is empty"),
    (lambda: OtelLog(OTEL_HOST, 70000), "less than or equal to 65535"),
    (lambda: OpenTelemetry(OTEL_HOST, http_timeout="1s"), "need http_path"),
    (lambda: OpenTelemetry(OTEL_HOST, http_path="v1/traces"), "must start with '/'"),
    (lambda: Metrics(service="reviews"), "say what to change"),
    (lambda: Metrics(disable=["REQUESTS"]), "not a standard Istio metric"),
    (lambda: Metrics(disable=["REQUEST_COUNT", "request_count"]), "unique"),
    (lambda: Metrics(tags={"bad-label": "x"}), "not a valid metric label name"),
    (lambda: Metrics(tags={"api": "request.headers['x-api'"}), "unbalanced"),
    (lambda: Metrics(reporting_interval="0s"), "positive"),
    (lambda: EnvTag("1BAD"), "not an environment variable name"),
    (lambda: Mesh("m", clusters=["prod"], telemetry=["envoy"]), "telemetry takes AccessLog"),
])
def test_bad_intent_is_an_error_at_its_line(build, message) -> None:
    with pytest.raises(IntentError) as info:
        build()
    assert message in str(info.value)
    assert info.value.location is not None and info.value.location.file == __file__


def test_metric_names_are_case_insensitive() -> None:
    m = Metrics(disable=["request_size", "Response_Size"], tags={"request_host": None}, tag_metrics="request_count")
    assert m.disable == ("REQUEST_SIZE", "RESPONSE_SIZE")
    assert m.tag_metrics == ("REQUEST_COUNT",)
    assert Metrics(disable=True).disable is True


def test_tags_and_providers_are_values() -> None:
    t = Tracing(Zipkin("zipkin.istio-system.svc.cluster.local"), sampling=2.5,
                tags={"user": HeaderTag("end-user", default="anonymous"), "cluster": EnvTag("ISTIO_META_CLUSTER_ID")})
    assert t.provider_names == ("zipkin",)
    assert Tracing(sampling=5).provider_names == ()
    assert t.origin is not None and t.origin.file == __file__
