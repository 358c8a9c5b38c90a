"""Observability compile: Telemetry at the right scope, merged per scope, providers in every mesh config."""
from __future__ import annotations

from collections import Counter

from meshcode import (
    AccessLog, ApiVersions, Cluster, EnvoyLog, EnvTag, HeaderTag, Metrics, OpenTelemetry, OtelLog, Tracing, Zipkin,
    compile_mesh,
)
from meshcode.compile.telemetry import MESH_TELEMETRY, NAMESPACE_TELEMETRY, workload_name
from tests.support.telemetry import OTEL_HOST, extension_providers, mesh_config_of, mesh_with, service, telemetries

ZIPKIN_HOST = "zipkin.istio-system.svc.cluster.local"


def test_mesh_namespace_and_workload_scopes() -> None:
    reviews = service("reviews")
    plan = compile_mesh(mesh_with(
        AccessLog(EnvoyLog()),
        AccessLog(EnvoyLog(encoding="JSON"), namespace="shop"),
        AccessLog(EnvoyLog(encoding="JSON"), service=reviews, filter="response.code >= 400"),
        services=(reviews,),
    ))
    found = telemetries(plan)
    assert set(found) == {("istio-system", MESH_TELEMETRY), ("shop", NAMESPACE_TELEMETRY), ("shop", "reviews")}
    assert "selector" not in found["istio-system", MESH_TELEMETRY]
    assert "selector" not in found["shop", NAMESPACE_TELEMETRY]
    assert found["shop", "reviews"]["selector"] == {"matchLabels": {"app": "reviews"}}
    assert found["istio-system", MESH_TELEMETRY]["accessLogging"] == [{"providers": [{"name": "envoy"}]}]
    assert found["shop", "reviews"]["accessLogging"] == [
        {"providers": [{"name": "envoy-json"}], "filter": {"expression": "response.code >= 400"}}]


def test_the_root_namespace_is_the_mesh_scope() -> None:
    plan = compile_mesh(mesh_with(AccessLog("envoy", namespace="istio-system"), Tracing(sampling=5)))
    assert list(telemetries(plan)) == [("istio-system", MESH_TELEMETRY)]
    custom = compile_mesh(mesh_with(Tracing(sampling=5), root_namespace="mesh-root"))
    assert list(telemetries(custom)) == [("mesh-root", MESH_TELEMETRY)]


def test_namespace_intents_merge_into_one_selectorless_telemetry() -> None:
    """IST0160 never fires: however many namespace-level intents, one object per namespace."""
    otel = OpenTelemetry(OTEL_HOST)
    plan = compile_mesh(mesh_with(
        AccessLog(EnvoyLog(encoding="JSON"), namespace="shop"),
        AccessLog(OtelLog(OTEL_HOST), namespace="shop", filter="response.code >= 400"),
        Tracing(otel, sampling=10, namespace="shop"),
        Metrics(namespace="shop", disable=["REQUEST_SIZE"]),
        Metrics(namespace="shop", tags={"request_host": None}),
        AccessLog("envoy", namespace="pay"),
        Tracing(otel, sampling=1, namespace="pay", mode="SERVER"),
        Tracing(otel, sampling=50, namespace="pay", mode="CLIENT"),
    ))
    found = telemetries(plan)
    selectorless = Counter(ns for (ns, _), spec in found.items() if "selector" not in spec)
    assert selectorless == {"shop": 1, "pay": 1}
    shop = found["shop", NAMESPACE_TELEMETRY]
    assert [a["providers"] for a in shop["accessLogging"]] == [[{"name": "envoy-json"}], [{"name": "otel"}]]
    assert shop["accessLogging"][1]["filter"] == {"expression": "response.code >= 400"}
    assert shop["tracing"] == [{"providers": [{"name": "otel-tracing"}], "randomSamplingPercentage": 10.0}]
    assert shop["metrics"] == [{"overrides": [
        {"match": {"metric": "REQUEST_SIZE"}, "disabled": True},
        {"match": {"metric": "ALL_METRICS"}, "tagOverrides": {"request_host": {"operation": "REMOVE"}}},
    ]}]
    pay = found["pay", NAMESPACE_TELEMETRY]
    assert [(t["match"]["mode"], t["randomSamplingPercentage"]) for t in pay["tracing"]] == [
        ("SERVER", 1.0), ("CLIENT", 50.0)]


def test_every_intent_for_one_service_lands_in_one_workload_telemetry() -> None:
    reviews = service("reviews")
    plan = compile_mesh(mesh_with(
        Tracing(sampling=100, service=reviews),
        Metrics(service="shop/reviews", disable=True),
        AccessLog("envoy", service="reviews"),
        Metrics(namespace="shop", selector={"app": "reviews"}, reporting_interval="30s"),
        services=(reviews,),
    ))
    found = telemetries(plan)
    assert list(found) == [("shop", "reviews")]
    spec = found["shop", "reviews"]
    assert spec["selector"] == {"matchLabels": {"app": "reviews"}}
    assert spec["tracing"] == [{"randomSamplingPercentage": 100.0}]  # no provider: inherits the parent's
    assert spec["metrics"] == [{"overrides": [{"match": {"metric": "ALL_METRICS"}, "disabled": True}],
                                "reportingInterval": "30s"}]
    assert spec["accessLogging"] == [{"providers": [{"name": "envoy"}]}]


def test_tracing_sampling_tags_and_modes() -> None:
    plan = compile_mesh(mesh_with(Tracing(
        Zipkin(ZIPKIN_HOST), sampling=0.5, mode="CLIENT", disable_span_reporting=False,
        tags={"env": "prod", "user": HeaderTag("end-user", default="anonymous"),
              "cluster": EnvTag("ISTIO_META_CLUSTER_ID")},
    )))
    (tracing,) = telemetries(plan)["istio-system", MESH_TELEMETRY]["tracing"]
    assert tracing == {
        "providers": [{"name": "zipkin"}],
        "match": {"mode": "CLIENT"},
        "randomSamplingPercentage": 0.5,
        "customTags": {
            "cluster": {"environment": {"name": "ISTIO_META_CLUSTER_ID"}},
            "env": {"literal": {"value": "prod"}},
            "user": {"header": {"name": "end-user", "defaultValue": "anonymous"}},
        },
    }
    assert isinstance(tracing["randomSamplingPercentage"], float)


def test_metric_overrides_per_metric_and_mode() -> None:
    reviews = service("reviews")
    plan = compile_mesh(mesh_with(
        Metrics(service=reviews, mode="SERVER", disable=["REQUEST_SIZE", "RESPONSE_SIZE"],
                tags={"request_operation": "request.method", "destination_port": None},
                tag_metrics=["REQUEST_COUNT", "REQUEST_DURATION"], provider="prometheus"),
        services=(reviews,),
    ))
    (metrics,) = telemetries(plan)["shop", "reviews"]["metrics"]
    assert metrics["providers"] == [{"name": "prometheus"}]
    assert metrics["overrides"] == [
        {"match": {"metric": "REQUEST_SIZE", "mode": "SERVER"}, "disabled": True},
        {"match": {"metric": "RESPONSE_SIZE", "mode": "SERVER"}, "disabled": True},
        *[{"match": {"metric": m, "mode": "SERVER"}, "tagOverrides": {
            "destination_port": {"operation": "REMOVE"},
            "request_operation": {"operation": "UPSERT", "value": "request.method"}}}
          for m in ("REQUEST_COUNT", "REQUEST_DURATION")],
    ]
    # prometheus is one of Istio's built-in providers: nothing to add to the mesh config
    assert "extensionProviders" not in mesh_config_of(plan, "prod")


def test_every_named_provider_is_in_the_mesh_config() -> None:
    otel_tracing = OpenTelemetry(OTEL_HOST)
    plan = compile_mesh(mesh_with(
        AccessLog(EnvoyLog(encoding="JSON"), namespace="shop"),
        AccessLog(OtelLog(OTEL_HOST, 4317), namespace="pay"),
        AccessLog("otel", namespace="web"),  # by name: the OtelLog above defines it
        Tracing(otel_tracing, sampling=10),
        AccessLog("envoy"),  # Istio's built-in: not redefined
    ))
    providers = extension_providers(plan, "prod")
    assert providers == {
        "envoy-json": {"name": "envoy-json", "envoyFileAccessLog": {"path": "/dev/stdout",
                                                                    "logFormat": {"labels": {}}}},
        "otel": {"name": "otel", "envoyOtelAls": {"service": OTEL_HOST, "port": 4317}},
        "otel-tracing": {"name": "otel-tracing", "opentelemetry": {"service": OTEL_HOST, "port": 4317}},
    }
    assert list(providers) == sorted(providers)
    named = {p["name"] for spec in telemetries(plan).values()
             for section in ("accessLogging", "tracing", "metrics") for item in spec.get(section, [])
             for p in item.get("providers", [])}
    assert named - set(providers) == {"envoy"}


def test_declared_providers_go_to_every_control_plane() -> None:
    zipkin = Zipkin(ZIPKIN_HOST)
    plan = compile_mesh(mesh_with(zipkin, Tracing("zipkin", namespace="shop", sampling=1)))
    assert set(extension_providers(plan, "prod")) == {"zipkin"}
    assert telemetries(plan)["shop", NAMESPACE_TELEMETRY]["tracing"][0]["providers"] == [{"name": "zipkin"}]


def test_providers_follow_the_telemetry_into_each_cluster() -> None:
    """A provider is in the mesh config of exactly the clusters whose control plane serves a
    Telemetry that names it; a remote's proxies use its primary's, so the remote has none."""
    clusters = [
        Cluster("east", network="n1", region="r1"),
        Cluster("west", network="n1", region="r2"),
        Cluster("edge", role="remote", primary="east", network="n1", region="r1",
                remote_pilot_address="istiod.east.example.com"),
    ]
    west_only = service("ledger", clusters=["west"])
    edge_only = service("kiosk", clusters=["edge"])
    plan = compile_mesh(mesh_with(
        AccessLog(OtelLog(OTEL_HOST), service=west_only),
        AccessLog(EnvoyLog(encoding="JSON"), service=edge_only),
        Tracing(Zipkin(ZIPKIN_HOST), sampling=1, namespace="shop", clusters=["east"]),
        services=(west_only, edge_only), clusters=clusters,
    ))
    assert set(telemetries(plan, "west")) == {("shop", "ledger")}
    assert set(telemetries(plan, "east")) == {("shop", "kiosk"), ("shop", NAMESPACE_TELEMETRY)}
    assert telemetries(plan, "edge") == {}
    assert set(extension_providers(plan, "west")) == {"otel"}
    assert set(extension_providers(plan, "east")) == {"envoy-json", "zipkin"}
    assert mesh_config_of(plan, "edge") is None


def test_one_object_is_shared_by_the_clusters_that_serve_it() -> None:
    plan = compile_mesh(mesh_with(AccessLog("envoy", namespace="shop"),
                                  clusters=[Cluster("a", network="n1"), Cluster("b", network="n1")]))
    (a,) = [r for r in plan.folders["a"] if r.kind == "Telemetry"]
    (b,) = [r for r in plan.folders["b"] if r.kind == "Telemetry"]
    assert a is b


def test_older_control_planes_get_v1alpha1() -> None:
    plan = compile_mesh(mesh_with(AccessLog("envoy"), api_versions=ApiVersions(telemetry="v1alpha1")))
    (r,) = [r for r in plan.folders["prod"] if r.kind == "Telemetry"]
    assert r.api_version == "telemetry.istio.io/v1alpha1"


def test_workload_names() -> None:
    assert workload_name((("app", "reviews"),)) == "reviews"
    both = workload_name((("app", "reviews"), ("version", "v2")))
    assert both.startswith("reviews-v2-") and both != workload_name((("app", "reviews-v2"),))
    odd = workload_name((("team", "Payments_EU"),))
    assert odd.startswith("payments-eu-") and odd == workload_name((("team", "Payments_EU"),))
    assert workload_name((("app", "mesh-default"),)).startswith("mesh-default-")
    assert len(workload_name((("app", "x" * 63), ("v", "y" * 63)))) <= 63


def test_tracing_without_any_provider_is_noted() -> None:
    reviews = service("reviews")
    alone = compile_mesh(mesh_with(Tracing(sampling=5, service=reviews), services=(reviews,)))
    (note,) = [n for n in alone.notes if n.code == "MC0701"]
    assert note.level == "info" and "service reviews" in note.message
    inherited = compile_mesh(mesh_with(Tracing(Zipkin(ZIPKIN_HOST)), Tracing(sampling=5, service=reviews),
                                       services=(reviews,)))
    assert not [n for n in inherited.notes if n.code == "MC0701"]
