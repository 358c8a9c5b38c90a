"""meshcode lint against Istio's own analyzer tests, and a broken and a fixed input per analyzer
added for issue 17 (IST0002, IST0101, IST0109, IST0118, IST0128/0129, IST0131, IST0132, IST0134,
IST0138, IST0140, IST0150, IST0157, IST0165).

Istio's expected findings (tests/support/istio_cases.py) are matched as a multiset per case; what
meshcode misses or adds is listed below with the reason, so a change in coverage shows here.
"""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from meshcode.cli import app

from meshcode.analyze.meshconfig import MeshConfig, load_mesh_config
from tests.support.istio_cases import CASES, DATA, coverage, evaluate
from tests.support.lint import codes, lint_text, messages

# (case, code, origin) Istio expects that meshcode does not report, and why
NOT_COVERED = {
    **{("misannoted", code, origin): "annotation analyzers (IST0107/0108/0125/0135) are not implemented"
       for code, origin in next(c for c in CASES if c.name == "misannoted").expected},
    **{(c.name, code, origin): "EnvoyFilter analyzers (IST0151-0155) are not implemented"
       for c in CASES if c.analyzer == "envoyfilter.EnvoyPatchAnalyzer" for code, origin in c.expected},
    **{("authorizationpolicies", "IST0127", origin): "needs the pods a policy selects (workload level)"
       for origin in ("AuthorizationPolicy httpbin-empty/httpbin-empty-namespace-wide",
                      "AuthorizationPolicy httpbin/httpbin-nopods",
                      "AuthorizationPolicy istio-system/meshwide-httpbin-v1",
                      "AuthorizationPolicy test-ambient/no-workload")},
    ("conflicting gateways detect by sub selector", "IST0145", "Gateway alpha"):
        "gateways whose selectors differ conflict only through the pods both select (workload level)",
    ("conflicting gateways detect by sub selector", "IST0145", "Gateway beta"):
        "gateways whose selectors differ conflict only through the pods both select (workload level)",
    ("sidecarDefaultSelector", "IST0167", "Sidecar ns-ambient/namespace-scoped"): "ambient mode is not modelled",
    ("sidecarDefaultSelector", "IST0167", "Sidecar ns-ambient/pod-scoped"): "ambient mode is not modelled",
    ("virtualServiceGateways", "IST0132", "VirtualService httpbin-bogus"):
        "a missing gateway is reported once (IST0101), not also as not serving the host",
}
# (case, code, origin) meshcode reports beyond Istio's expectation, and why
BEYOND = {
    ("dupmatches", "IST0130", "VirtualService overlapping-in-two-matches"):
        "the rule's only match is covered by the previous rule's prefix, so the rule is unreachable",
}


def test_coverage_of_istios_config_level_analyzer_tests() -> None:
    outcomes = [evaluate(c) for c in CASES]
    missed = {(o.case.name, code, origin) for o in outcomes for code, origin in o.missed}
    extra = {(o.case.name, code, origin) for o in outcomes for code, origin in o.extra}
    assert missed == set(NOT_COVERED)
    assert extra == set(BEYOND)
    found, total = coverage(outcomes)
    assert (found, total) == (98, 126)


@pytest.mark.parametrize("case", [c for c in CASES if not c.expected], ids=lambda c: c.name)
def test_istios_clean_cases_stay_clean(case) -> None:
    assert evaluate(case).extra == []


# -- a broken and a fixed input per analyzer ---------------------------------------------------

def vs(body: str, name: str = "reviews", namespace: str = "shop") -> str:
    return f"""
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: {namespace}}}
spec:
{body}"""


SERVICES = """
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: shop}
spec: {selector: {app: reviews}, ports: [{name: http, port: 9080}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [shop.example.com]
    tls: {mode: SIMPLE, credentialName: shop-cert}
"""


def gateway(name: str, credential: str, selector: str = "{istio: ingressgateway}", ns: str = "shop") -> str:
    return f"""
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: {name}, namespace: {ns}}}
spec:
  selector: {selector}
  servers:
  - port: {{number: 443, name: https, protocol: HTTPS}}
    hosts: [{name}.example.com]
    tls: {{mode: SIMPLE, credentialName: {credential}}}
"""


def service(ports: str, extra: str = "", name: str = "api") -> str:
    return f"""
---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: shop}}
spec: {{{extra}ports: {ports}}}
"""


def telemetry(body: str) -> str:
    return f"""
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {{name: mesh-default, namespace: istio-system}}
spec:
{body}"""


MESH = """
---
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    extensionProviders:
    - name: otel
      opentelemetry: {service: otel.observability.svc.cluster.local, port: 4317}
    - name: ls
      lightstep: {service: ls.observability.svc.cluster.local, port: 443, accessToken: x}
"""

CASES_17: dict[str, tuple[str, str, list[str]]] = {
    "IST0002 deprecated VirtualService field": (
        vs("  hosts: [reviews]\n  http:\n  - fault: {delay: {percent: 10, fixedDelay: 1s}}\n"
           "    route: [{destination: {host: reviews}}]\n"),
        vs("  hosts: [reviews]\n  http:\n  - fault: {delay: {percentage: {value: 10}, fixedDelay: 1s}}\n"
           "    route: [{destination: {host: reviews}}]\n"),
        ["IST0002"]),
    "IST0002 deprecated DestinationRule field": (
        "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: r2, namespace: shop}\n"
        "spec:\n  host: reviews\n  trafficPolicy: {outlierDetection: {consecutiveErrors: 5}}\n",
        "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: r2, namespace: shop}\n"
        "spec:\n  host: reviews\n  trafficPolicy: {outlierDetection: {consecutive5xxErrors: 5}}\n",
        ["IST0002"]),
    "IST0002 Sidecar egressProxy": (
        "---\napiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: default, namespace: shop}\n"
        "spec:\n  outboundTrafficPolicy: {mode: REGISTRY_ONLY, egressProxy: {host: egress.example.com}}\n",
        "---\napiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: default, namespace: shop}\n"
        "spec:\n  outboundTrafficPolicy: {mode: REGISTRY_ONLY}\n",
        ["IST0002"]),
    "IST0002 Lightstep tracing provider": (
        MESH + telemetry("  tracing: [{providers: [{name: ls}]}]\n"),
        MESH + telemetry("  tracing: [{providers: [{name: otel}]}]\n"),
        ["IST0002"]),
    "IST0101 route entry without destination": (
        vs("  hosts: [reviews]\n  http:\n  - route:\n    - {}\n"),
        vs("  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews}\n"),
        ["IST0101"]),
    "IST0101 Telemetry provider the mesh config does not define": (
        MESH + telemetry("  accessLogging: [{providers: [{name: otel-als}]}]\n"),
        MESH + telemetry("  accessLogging: [{providers: [{name: otel}]}]\n"),
        ["IST0101"]),
    "IST0109 exported to one namespace, overlapping a host exported to all": (
        vs("  hosts: ['*.example.com']\n  exportTo: ['*']\n  http: [{route: [{destination: {host: reviews}}]}]\n",
           name="wild") +
        vs("  hosts: [api.example.com]\n  exportTo: [shop]\n  http: [{route: [{destination: {host: reviews}}]}]\n",
           name="api"),
        vs("  hosts: ['*.example.com']\n  exportTo: ['*']\n  http: [{route: [{destination: {host: reviews}}]}]\n",
           name="wild") +
        vs("  hosts: [api.example.org]\n  exportTo: [shop]\n  http: [{route: [{destination: {host: reviews}}]}]\n",
           name="api"),
        ["IST0109", "IST0109"]),
    "IST0118 Service port without protocol": (
        service("[{name: web, port: 8080}]"), service("[{name: http-web, port: 8080}]"), ["IST0118"]),
    "IST0150 ExternalName Service port named tcp": (
        service("[{name: tcp, port: 443}]", "type: ExternalName, externalName: api.example.com, "),
        service("[{name: https, port: 443}]", "type: ExternalName, externalName: api.example.com, "),
        ["IST0150"]),
    "IST0128 credentialName without workloadSelector": (
        "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: db, namespace: shop}\n"
        "spec:\n  host: reviews\n  trafficPolicy: {tls: {mode: SIMPLE, credentialName: db-ca}}\n",
        "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: db, namespace: shop}\n"
        "spec:\n  host: reviews\n  workloadSelector: {matchLabels: {app: reviews}}\n"
        "  trafficPolicy: {tls: {mode: SIMPLE, credentialName: db-ca}}\n",
        ["IST0128"]),
    "IST0129 port-level credentialName without workloadSelector": (
        "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: db, namespace: shop}\n"
        "spec:\n  host: reviews\n  trafficPolicy:\n    portLevelSettings:\n"
        "    - {port: {number: 9080}, tls: {mode: MUTUAL, credentialName: db-client}}\n",
        "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: db, namespace: shop}\n"
        "spec:\n  host: reviews\n  workloadSelector: {matchLabels: {app: reviews}}\n  trafficPolicy:\n"
        "    portLevelSettings:\n    - {port: {number: 9080}, tls: {mode: MUTUAL, credentialName: db-client}}\n",
        ["IST0129"]),
    "IST0131 method-less match covers a GET match": (
        vs("  hosts: [reviews]\n  http:\n  - match: [{uri: {prefix: /api}}]\n"
           "    route: [{destination: {host: reviews, subset: v1}}]\n"
           "  - match: [{uri: {prefix: /api/v2}, method: {exact: GET}}]\n"
           "    route: [{destination: {host: reviews, subset: v2}}]\n"),
        vs("  hosts: [reviews]\n  http:\n  - match: [{uri: {prefix: /api/v2}, method: {exact: GET}}]\n"
           "    route: [{destination: {host: reviews, subset: v2}}]\n"
           "  - match: [{uri: {prefix: /api}}]\n"
           "    route: [{destination: {host: reviews, subset: v1}}]\n"),
        ["IST0130", "IST0131"]),
    "IST0131 overlap inside a single rule": (
        vs("  hosts: [reviews]\n  http:\n  - match: [{uri: {prefix: /api}}, {uri: {prefix: /api/v2}}]\n"
           "    route: [{destination: {host: reviews}}]\n"),
        vs("  hosts: [reviews]\n  http:\n  - match: [{uri: {prefix: /api}}, {uri: {prefix: /web}}]\n"
           "    route: [{destination: {host: reviews}}]\n"),
        ["IST0131"]),
    "IST0132 host not served by the gateway": (
        vs("  hosts: [www.example.com]\n  gateways: [edge]\n  http: [{route: [{destination: {host: reviews}}]}]\n",
           name="web"),
        vs("  hosts: [shop.example.com]\n  gateways: [edge]\n  http: [{route: [{destination: {host: reviews}}]}]\n",
           name="web"),
        ["IST0132"]),
    "IST0134 TCP ServiceEntry without addresses": (
        "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: db, namespace: shop}\n"
        "spec: {hosts: [db.example.com], ports: [{number: 5432, name: tcp, protocol: TCP}], resolution: DNS}\n",
        "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: db, namespace: shop}\n"
        "spec: {hosts: [db.example.com], ports: [{number: 5432, name: tcp, protocol: TCP}], resolution: DNS}\n"
        "---\napiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nmetadata: {name: mesh, namespace: istio-system}\n"
        "spec:\n  meshConfig:\n    defaultConfig:\n      proxyMetadata: {ISTIO_META_DNS_CAPTURE: 'true', "
        "ISTIO_META_DNS_AUTO_ALLOCATE: 'true'}\n",
        ["IST0134"]),
    "IST0138 two gateways share a certificate": (
        gateway("a", "wildcard-cert") + gateway("b", "wildcard-cert", ns="web"),
        gateway("a", "a-cert") + gateway("b", "b-cert", ns="web"),
        ["IST0138", "IST0138"]),
    "IST0140 ingress route bypasses the subset split": (
        vs("  hosts: [reviews]\n  http: [{route: [{destination: {host: reviews, subset: v1}}]}]\n") +
        vs("  hosts: [shop.example.com]\n  gateways: [edge]\n  http: [{route: [{destination: {host: reviews}}]}]\n",
           name="web"),
        vs("  hosts: [reviews]\n  http: [{route: [{destination: {host: reviews, subset: v1}}]}]\n") +
        vs("  hosts: [shop.example.com]\n  gateways: [edge]\n"
           "  http: [{route: [{destination: {host: reviews, subset: v1}}]}]\n", name="web"),
        ["IST0140"]),
    "IST0157 access logging without provider or default": (
        telemetry("  accessLogging: [{filter: {expression: 'response.code >= 400'}}]\n"),
        telemetry("  accessLogging: [{providers: [{name: envoy}], filter: {expression: 'response.code >= 400'}}]\n"),
        ["IST0157"]),
    "IST0165 VirtualService bound to an internal gateway": (
        vs("  hosts: [shop.example.com]\n  gateways: [shop/edge~istio-autogenerated-k8s-gateway~https]\n"
           "  http: [{route: [{destination: {host: reviews}}]}]\n", name="web"),
        "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: web, namespace: shop}\n"
        "spec:\n  parentRefs: [{name: edge}]\n  hostnames: [shop.example.com]\n"
        "  rules: [{backendRefs: [{name: reviews, port: 9080}]}]\n",
        ["IST0165"]),
}


@pytest.mark.parametrize("name", list(CASES_17))
def test_broken_input_is_reported(name: str) -> None:
    broken, _, expected = CASES_17[name]
    assert codes(lint_text(SERVICES + broken)) == sorted(expected)


@pytest.mark.parametrize("name", list(CASES_17))
def test_fixed_input_is_clean(name: str) -> None:
    _, fixed, _ = CASES_17[name]
    assert [f.describe() for f in lint_text(SERVICES + fixed)] == []


def test_messages_read_like_istioctl() -> None:
    found = lint_text(SERVICES + CASES_17["IST0138 two gateways share a certificate"][0])
    assert messages(found, "IST0138") == [
        "Duplicate certificate in multiple gateways [shop/a web/b] may cause 404s if clients re-use HTTP2 "
        "connections (credentialName wildcard-cert).",
        "Duplicate certificate in multiple gateways [web/b shop/a] may cause 404s if clients re-use HTTP2 "
        "connections (credentialName wildcard-cert).",
    ]
    found = lint_text(SERVICES + CASES_17["IST0140 ingress route bypasses the subset split"][0])
    assert messages(found, "IST0140") == [
        "Subset in virtual service shop/reviews has no effect on ingress gateway shop/web requests"]
    found = lint_text(SERVICES + CASES_17["IST0165 VirtualService bound to an internal gateway"][0])
    assert messages(found, "IST0165") == [
        "Gateway reference in VirtualService shop/web is to an implementation-generated internal Gateway: "
        "shop/edge~istio-autogenerated-k8s-gateway~https."]


def test_a_gateway_with_a_narrower_selector_is_told_only() -> None:
    """Istio's rule: B counts for A when A's selector is a subset of B's."""
    text = SERVICES + gateway("a", "c") + gateway("b", "c", "{istio: ingressgateway, type: internal}")
    assert [(f.code, f.name) for f in lint_text(text) if f.code == "IST0138"] == [("IST0138", "a")]


@pytest.mark.parametrize("source", ["bare", "configmap", "operator"])
def test_mesh_config_file_forms(tmp_path, source: str) -> None:
    body = "extensionProviders:\n- name: otel\n  opentelemetry: {service: o.svc, port: 4317}\n"
    text = {"bare": body,
            "configmap": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\n"
                         "data:\n  mesh: |\n" + "".join("    " + line + "\n" for line in body.splitlines()),
            "operator": "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nmetadata: {name: x}\n"
                        "spec:\n  meshConfig:\n" + "".join("    " + line + "\n" for line in body.splitlines())}[source]
    f = tmp_path / "mesh.yaml"
    f.write_text(text)
    mesh = load_mesh_config(f)
    assert mesh.extension_providers == {"otel": "opentelemetry"}
    assert mesh.knows_provider("otel") and mesh.knows_provider("envoy") and not mesh.knows_provider("zipkin")


def test_lightstep_case_from_istio_with_its_mesh_config() -> None:
    mesh = load_mesh_config(DATA / "telemetry-lightstep-meshconfig.yaml")
    assert isinstance(mesh, MeshConfig) and mesh.extension_providers == {"lightstep": "lightstep"}


def test_cli_mesh_config_option(tmp_path) -> None:
    f = tmp_path / "telemetry.yaml"
    f.write_text("apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: {name: t, namespace: istio-system}\n"
                 "spec:\n  tracing: [{providers: [{name: lightstep}]}]\n")
    runner = CliRunner()
    plain = runner.invoke(app, ["lint", str(f), "--format", "json"])
    assert (plain.exit_code, plain.stdout) == (0, "[]\n")
    with_mesh = runner.invoke(app, ["lint", str(f), "--format", "json", "--mesh-config",
                                    str(DATA / "telemetry-lightstep-meshconfig.yaml")])
    assert with_mesh.exit_code == 0, with_mesh.output
    assert [r["code"] for r in json.loads(with_mesh.stdout)] == ["IST0002"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n")
    broken = runner.invoke(app, ["lint", str(f), "--mesh-config", str(bad)])
    assert broken.exit_code == 1 and "holds no mesh config" in broken.stderr


def test_ist0002_names_every_place_a_deprecated_traffic_policy_field_is_set() -> None:
    """The four places a DestinationRule holds a traffic policy, and several fields in each."""
    policy = "{loadBalancer: {warmupDurationSecs: 10s, consistentHash: {minimumRingSize: 1024}}, " \
             "outlierDetection: {consecutiveErrors: 5}}"
    found = messages(lint_text(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: r, namespace: shop}\n"
        f"spec:\n  host: reviews\n  trafficPolicy:\n    outlierDetection: {{consecutiveErrors: 0}}\n"
        f"    portLevelSettings: [{policy}, {{}}, {policy}]\n"
        f"  subsets:\n  - name: v1\n    trafficPolicy: {policy}\n"
        f"  - name: v2\n    trafficPolicy: {{portLevelSettings: [{policy}]}}\n"), "IST0002")
    places = ["spec.trafficPolicy.portLevelSettings[0]", "spec.trafficPolicy.portLevelSettings[2]",
              "spec.subsets[0].trafficPolicy", "spec.subsets[1].trafficPolicy.portLevelSettings[0]"]
    fields = [("loadBalancer.consistentHash.minimumRingSize", "loadBalancer.consistentHash.ringHash.minimumRingSize"),
              ("loadBalancer.warmupDurationSecs", "loadBalancer.warmup"),
              ("outlierDetection.consecutiveErrors", "outlierDetection.consecutive5xxErrors")]
    assert sorted(found) == sorted(f"Deprecated: {place}.{field} is deprecated; use {use}"
                                   for place in places for field, use in fields)
