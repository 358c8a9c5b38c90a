"""Each check of `meshcode lint` / the compile's analysis: a broken input and its fix.

Every case lints BASE (Services, a DestinationRule, a Gateway, namespaces) plus a few objects;
the broken variant must report the expected codes, the fixed variant nothing at all.
"""
from __future__ import annotations

import pytest

from tests.support.lint import codes, lint_text, messages

BASE = """
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: shop}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: shop}
spec:
  selector: {app: ratings}
  ports: [{name: http, port: 9080}, {name: grpc, port: 9090}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: shop-gw, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [shop.example.com]
    tls: {mode: SIMPLE, credentialName: shop-cert}
"""


def vs(spec: str, name: str = "reviews", namespace: str = "shop", extra_meta: str = "") -> str:
    return f"""
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: {namespace}{extra_meta}}}
spec:
{spec}"""


def route(host: str = "reviews", extra: str = "") -> str:
    return f"""  hosts: [reviews]
  http:
  - route:
    - destination: {{host: {host}{extra}}}
"""


TCP_ECHO = """
---
apiVersion: v1
kind: Service
metadata: {name: tcp-echo, namespace: shop}
spec:
  selector: {app: tcp-echo}
  ports: [{name: tcp, port: 9000}]
"""


def echo_gateway(protocol: str) -> str:
    return f"""
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: echo-gw, namespace: shop}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 31400, name: {protocol.lower()}, protocol: {protocol}}}
    hosts: ["*"]
"""


def echo_routes(section: str) -> str:
    match = "  - match: [{port: 31400}]\n    route:" if section == "tcp" else "  - route:"
    return TCP_ECHO + vs(f"""  hosts: ["*"]
  gateways: [echo-gw]
  {section}:
{match}
    - destination: {{host: tcp-echo, port: {{number: 9000}}}}
""", name="tcp-echo")


CASES: dict[str, tuple[str, str, list[str]]] = {
    # name: (broken objects, fixed objects, codes the broken variant reports)
    "http routes behind a TCP gateway server, to a TCP port": (
        echo_gateway("TCP") + echo_routes("http"), echo_gateway("TCP") + echo_routes("tcp"), ["MC5131", "MC5132"]),
    "tcp routes behind an HTTP gateway server": (
        echo_gateway("HTTP") + echo_routes("tcp"), echo_gateway("TCP") + echo_routes("tcp"), ["MC5131"]),
    "route host does not exist": (vs(route("reviewz")), vs(route("reviews")), ["IST0101"]),
    "route host in another namespace by FQDN": (
        vs(route("reviews.web.svc.cluster.local")), vs(route("reviews.shop.svc.cluster.local")), ["IST0101"]),
    "mirror host does not exist": (
        vs("  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews}\n"
           "    mirror: {host: reviews-shadow}\n"),
        vs("  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews}\n"
           "    mirror: {host: reviews, subset: v2}\n"),
        ["IST0101"]),
    "subset no DestinationRule defines": (
        vs(route(extra=", subset: v3")), vs(route(extra=", subset: v2")), ["IST0101"]),
    "ambiguous destination port": (
        vs(route("ratings"), name="ratings"), vs(route("ratings", ", port: {number: 9080}"), name="ratings"),
        ["IST0112"]),
    "destination port the service lacks": (
        vs(route(extra=", port: {number: 8080}")), vs(route(extra=", port: {number: 9080}")), ["IST0101"]),
    "service entry host and port": (
        vs("  hosts: [api.example.com]\n  http:\n  - route:\n    - destination: {host: api.example.com, "
           "port: {number: 80}}\n", name="api") + """
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: shop}
spec:
  hosts: [api.example.com]
  ports: [{number: 443, name: https, protocol: HTTPS}]
  resolution: DNS
""",
        vs("  hosts: [api.example.com]\n  http:\n  - route:\n    - destination: {host: api.example.com, "
           "port: {number: 443}}\n", name="api") + """
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: shop}
spec:
  hosts: [api.example.com]
  ports: [{number: 443, name: https, protocol: HTTPS}]
  resolution: DNS
""",
        ["IST0101"]),
    "gateway does not exist": (
        vs("  hosts: [shop.example.com]\n  gateways: [shop-gateway]\n" + route()[len("  hosts: [reviews]\n"):],
           name="edge"),
        vs("  hosts: [shop.example.com]\n  gateways: [shop-gw]\n" + route()[len("  hosts: [reviews]\n"):],
           name="edge"),
        ["IST0101"]),
    "gateway does not serve the host": (
        vs("  hosts: [www.example.com]\n  gateways: [shop/shop-gw]\n" + route()[len("  hosts: [reviews]\n"):],
           name="edge"),
        vs("  hosts: [shop.example.com]\n  gateways: [shop/shop-gw]\n" + route()[len("  hosts: [reviews]\n"):],
           name="edge"),
        ["IST0132"]),
    "two VirtualServices claim one host on the mesh gateway": (
        vs(route()) + vs(route(extra=", subset: v1"), name="reviews-canary"),
        vs(route()) + vs("  hosts: [shop.example.com]\n  gateways: [shop-gw]\n"
                         + route(extra=", subset: v1")[len("  hosts: [reviews]\n"):], name="reviews-canary"),
        ["IST0109", "IST0109"]),
    "rule after a catch-all is unreachable": (
        vs("  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews, subset: v1}\n"
           "  - match: [{headers: {end-user: {exact: qa}}}]\n    route:\n"
           "    - destination: {host: reviews, subset: v2}\n"),
        vs("  hosts: [reviews]\n  http:\n  - match: [{headers: {end-user: {exact: qa}}}]\n    route:\n"
           "    - destination: {host: reviews, subset: v2}\n"
           "  - route:\n    - destination: {host: reviews, subset: v1}\n"),
        ["IST0130"]),
    "duplicate match makes a rule unreachable": (
        vs("  hosts: [reviews]\n  http:\n"
           "  - match: [{uri: {prefix: /api}}]\n    route:\n    - destination: {host: reviews, subset: v1}\n"
           "  - match: [{uri: {prefix: /api}}]\n    route:\n    - destination: {host: reviews, subset: v2}\n"),
        vs("  hosts: [reviews]\n  http:\n"
           "  - match: [{uri: {prefix: /api/v2}}]\n    route:\n    - destination: {host: reviews, subset: v2}\n"
           "  - match: [{uri: {prefix: /api}}]\n    route:\n    - destination: {host: reviews, subset: v1}\n"),
        ["IST0130", "IST0131"]),
    "two gateways serve one host on one port": (
        """
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: shop-gw-2, namespace: web}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["*.example.com"]
    tls: {mode: SIMPLE, credentialName: web-cert}
""",
        """
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: shop-gw-2, namespace: web}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["*.example.org"]
    tls: {mode: SIMPLE, credentialName: web-cert}
""",
        ["IST0145", "IST0145"]),
    "TLS origination without CA certificates": (
        """
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings, namespace: shop}
spec:
  host: ratings
  trafficPolicy:
    tls: {mode: SIMPLE}
    portLevelSettings:
    - port: {number: 9090}
      tls: {mode: MUTUAL, clientCertificate: /etc/certs/cert.pem, privateKey: /etc/certs/key.pem}
""",
        """
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings, namespace: shop}
spec:
  host: ratings
  workloadSelector: {matchLabels: {app: reviews}}  # a credentialName is read only with one (istioctl)
  trafficPolicy:
    tls: {mode: SIMPLE, caCertificates: /etc/certs/ca.pem}
    portLevelSettings:
    - port: {number: 9090}
      tls: {mode: MUTUAL, credentialName: ratings-client}
""",
        ["IST0128", "IST0129"]),
    "DestinationRule host matches no service": (
        """
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: rating, namespace: shop}
spec:
  host: rating
""",
        """
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: rating, namespace: shop}
spec:
  host: ratings
""",
        ["IST0174"]),
    "TCP ServiceEntry without addresses": (
        """
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db, namespace: shop}
spec:
  hosts: [db.example.com]
  ports: [{number: 5432, name: tcp-pg, protocol: TCP}]
  resolution: DNS
""",
        """
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db, namespace: shop}
spec:
  hosts: [db.example.com]
  addresses: [240.240.0.10]
  ports: [{number: 5432, name: tcp-pg, protocol: TCP}]
  resolution: DNS
""",
        ["IST0134"]),
    "ServiceEntries disagree on a port's protocol": (
        """
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api-http, namespace: shop}
spec:
  hosts: [api.example.com]
  ports: [{number: 443, name: http, protocol: HTTP}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api-tls, namespace: shop}
spec:
  hosts: [api.example.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS
""",
        """
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api-http, namespace: shop}
spec:
  hosts: [api.example.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api-tls, namespace: shop}
spec:
  hosts: [api.example.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS
""",
        ["IST0177", "IST0177"]),
    "two namespace-wide Sidecars": (
        """
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: shop}
spec: {egress: [{hosts: [./*]}]}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: strict, namespace: shop}
spec: {egress: [{hosts: [./*, istio-system/*]}]}
""",
        """
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: shop}
spec: {egress: [{hosts: [./*]}]}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: strict, namespace: shop}
spec:
  workloadSelector: {labels: {app: reviews}}
  egress: [{hosts: [./*, istio-system/*]}]
""",
        ["IST0111", "IST0111"]),
    "two namespace-wide Telemetry objects": (
        """
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: logs, namespace: shop}
spec: {accessLogging: [{providers: [{name: envoy}]}]}
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: traces, namespace: shop}
spec: {tracing: [{randomSamplingPercentage: 10}]}
""",
        """
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: logs, namespace: shop}
spec: {accessLogging: [{providers: [{name: envoy}]}]}
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: traces, namespace: shop}
spec:
  selector: {matchLabels: {app: reviews}}
  tracing: [{randomSamplingPercentage: 10}]
""",
        ["IST0160", "IST0160"]),
    "AuthorizationPolicy source namespace does not exist": (
        """
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews, namespace: shop}
spec:
  selector: {matchLabels: {app: reviews}}
  rules:
  - from: [{source: {namespaces: [shop, billing]}}]
  - from: [{source: {notNamespaces: ["legacy-*"]}}]
""",
        """
---
apiVersion: v1
kind: Namespace
metadata: {name: billing}
---
apiVersion: v1
kind: Namespace
metadata: {name: legacy-apps}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews, namespace: shop}
spec:
  selector: {matchLabels: {app: reviews}}
  rules:
  - from: [{source: {namespaces: [shop, billing]}}]
  - from: [{source: {notNamespaces: ["legacy-*"]}}]
""",
        ["IST0101", "IST0101"]),
    "split weights do not sum to 100": (
        vs("  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews, subset: v1}\n"
           "      weight: 90\n    - destination: {host: reviews, subset: v2}\n      weight: 20\n"),
        vs("  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews, subset: v1}\n"
           "      weight: 80\n    - destination: {host: reviews, subset: v2}\n      weight: 20\n"),
        ["MC5101"]),
    "a lone destination's weight is ignored": (
        vs("  hosts: [reviews]\n  tcp:\n  - route:\n    - destination: {host: reviews, subset: v1}\n"
           "      weight: 50\n"),
        vs("  hosts: [reviews]\n  tcp:\n  - route:\n    - destination: {host: reviews, subset: v1}\n"
           "      weight: 100\n"),
        ["MC5102"]),
    "plain text to a STRICT namespace": (
        """
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings, namespace: shop}
spec:
  host: ratings
  trafficPolicy: {tls: {mode: DISABLE}}
""",
        """
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings, namespace: shop}
spec:
  host: ratings
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
""",
        ["MC5111"]),
    "Istio mTLS to a namespace that disables it": (
        """
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: shop}
spec: {mtls: {mode: DISABLE}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings, namespace: shop}
spec:
  host: ratings.shop.svc.cluster.local
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
""",
        """
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: shop}
spec: {mtls: {mode: PERMISSIVE}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings, namespace: shop}
spec:
  host: ratings.shop.svc.cluster.local
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
""",
        ["MC5111"]),
    "plain TLS origination to a STRICT workload": (
        """
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: ratings, namespace: shop}
spec:
  selector: {matchLabels: {app: ratings}}
  mtls: {mode: STRICT}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings, namespace: shop}
spec:
  host: ratings
  trafficPolicy: {tls: {mode: SIMPLE, caCertificates: /etc/ca.pem}}
""",
        """
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: ratings, namespace: shop}
spec:
  selector: {matchLabels: {app: ratings}}
  mtls: {mode: STRICT}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings, namespace: shop}
spec:
  host: ratings
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
""",
        ["MC5112"]),
    "locality failover without outlier detection": (
        """
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings, namespace: shop}
spec:
  host: ratings
  trafficPolicy:
    loadBalancer:
      localityLbSetting:
        enabled: true
        failover: [{from: us-east1, to: us-west1}]
""",
        """
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings, namespace: shop}
spec:
  host: ratings
  trafficPolicy:
    loadBalancer:
      localityLbSetting:
        enabled: true
        failover: [{from: us-east1, to: us-west1}]
    outlierDetection: {consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s}
""",
        ["MC5121"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_broken_input_is_reported(name: str) -> None:
    broken, _, expected = CASES[name]
    assert codes(lint_text(BASE + broken)) == sorted(expected)


@pytest.mark.parametrize("name", list(CASES))
def test_fixed_input_is_clean(name: str) -> None:
    _, fixed, _ = CASES[name]
    assert lint_text(BASE + fixed) == []


def test_base_is_clean() -> None:
    assert lint_text(BASE) == []


def test_levels_follow_istio() -> None:
    found = lint_text(BASE + CASES["route host does not exist"][0] + CASES["TCP ServiceEntry without addresses"][0]
                      + CASES["duplicate match makes a rule unreachable"][0].replace("name: reviews", "name: r2"))
    levels = {f.code: f.level for f in found}
    assert levels == {"IST0101": "error", "IST0134": "warning", "IST0130": "warning", "IST0131": "info",
                      "IST0109": "error"}


def test_messages_name_what_is_missing_and_where() -> None:
    text = BASE + vs(route("reviewz"))
    found = lint_text(text)
    (f,) = found
    assert f.message == 'Referenced host not found: "reviewz" (http[0].route[0])'
    assert (f.kind, f.namespace, f.name) == ("VirtualService", "shop", "reviews")
    assert f.location is not None and f.location.file == "test.yaml"
    # the line of the VirtualService document's first key (1-based), after the last separator
    lines = text.splitlines()
    assert lines[f.location.line - 1] == "apiVersion: networking.istio.io/v1"
    assert lines[f.location.line - 2] == "---" and "---" not in lines[f.location.line:]


@pytest.mark.parametrize("gateway_host,vs_host,served", [
    ("shop.example.com", "shop.example.com", True),
    ("*.example.com", "shop.example.com", True),
    ("*.example.com", "*.shop.example.com", True),
    ("*", "anything.example.org", True),
    ("shop/shop.example.com", "shop.example.com", True),
    ("./shop.example.com", "shop.example.com", True),
    ("*/shop.example.com", "shop.example.com", True),
    ("web/shop.example.com", "shop.example.com", False),
    ("*.example.org", "shop.example.com", False),
    ("api.shop.example.com", "*.shop.example.com", True),
    ("shop.example.com", "www.example.com", False),
])
def test_gateway_host_forms(gateway_host: str, vs_host: str, served: bool) -> None:
    text = f"""
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: gw, namespace: shop}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 80, name: http, protocol: HTTP}}
    hosts: ["{gateway_host}"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: edge, namespace: shop}}
spec:
  hosts: ["{vs_host}"]
  gateways: [gw]
  http:
  - route:
    - destination: {{host: reviews.shop.svc.cluster.local}}
---
apiVersion: v1
kind: Service
metadata: {{name: reviews, namespace: shop}}
spec: {{ports: [{{port: 80, name: http}}]}}
"""
    assert codes(lint_text(text)) == ([] if served else ["IST0132"])


def test_host_visibility_follows_export_to() -> None:
    hidden = """
apiVersion: v1
kind: Service
metadata:
  name: reviews
  namespace: shop
  annotations: {networking.istio.io/exportTo: "."}
spec: {ports: [{port: 9080}]}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: shop}
spec:
  hosts: [api.example.com]
  exportTo: ["."]
  ports: [{number: 443, name: https, protocol: HTTPS}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: web}
spec:
  hosts: [web]
  http:
  - route:
    - destination: {host: reviews.shop.svc.cluster.local}
  - match: [{uri: {prefix: /api}}]
    route:
    - destination: {host: api.example.com}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: web}
spec: {ports: [{port: 80}]}
"""
    found = lint_text(hidden)
    assert sorted(messages(found, "IST0101")) == [
        'Referenced host not found: "api.example.com" (http[1].route[0])',
        'Referenced host not found: "reviews.shop.svc.cluster.local" (http[0].route[0])',
    ]
    # IST0130 too: the catch-all rule comes first; the visibility is what this test is about
    visible = hidden.replace('exportTo: ["."]', 'exportTo: [".", web]').replace(
        '{networking.istio.io/exportTo: "."}', '{networking.istio.io/exportTo: ".,web"}')
    assert "IST0101" not in codes(lint_text(visible))


def test_wildcard_service_entry_covers_hosts() -> None:
    text = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: wiki, namespace: shop}
spec:
  hosts: ["*.wikipedia.org"]
  ports: [{number: 443, name: https, protocol: HTTPS}]
  resolution: NONE
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: wiki, namespace: shop}
spec:
  hosts: [en.wikipedia.org]
  http:
  - route:
    - destination: {host: en.wikipedia.org}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: wiki, namespace: shop}
spec:
  host: "*.wikipedia.org"
"""
    assert lint_text(text) == []
    moved = text.replace('hosts: ["*.wikipedia.org"]', 'hosts: ["*.wikipedia.com"]')
    assert codes(lint_text(moved)) == ["IST0101", "IST0174"]


def test_same_object_defined_twice_is_not_a_conflict() -> None:
    """Istio's samples apply alternative definitions of one VirtualService one after another."""
    one = vs(route(extra=", subset: v1"))
    assert lint_text(BASE + one + one.replace("v1}", "v2}")) == []


def test_prefix_covered_match_is_ineffective() -> None:
    text = BASE + vs("  hosts: [reviews]\n  http:\n"
                     "  - match: [{uri: {prefix: /api}}]\n    route:\n    - destination: {host: reviews, subset: v1}\n"
                     "  - match: [{uri: {prefix: /api/v2}}, {uri: {exact: /health}}]\n    route:\n"
                     "    - destination: {host: reviews, subset: v2}\n")
    found = lint_text(text)
    assert codes(found) == ["IST0131"]
    assert "prefix '/api'" in found[0].message


def test_mtls_workload_policy_is_respected() -> None:
    """A workload-level PERMISSIVE policy overrides the namespace's STRICT for that Service's pods."""
    text = BASE + """
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: shop}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: ratings-migration, namespace: shop}
spec:
  selector: {matchLabels: {app: ratings}}
  mtls: {mode: PERMISSIVE}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings, namespace: shop}
spec:
  host: ratings
  trafficPolicy: {tls: {mode: DISABLE}}
"""
    assert lint_text(text) == []
    assert codes(lint_text(text.replace("mode: PERMISSIVE", "mode: STRICT"))) == ["MC5111"]


def test_subset_inherits_outlier_detection() -> None:
    text = BASE + """
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings, namespace: shop}
spec:
  host: ratings
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 5}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      loadBalancer: {localityLbSetting: {enabled: true, failoverPriority: [topology.kubernetes.io/region]}}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      loadBalancer: {localityLbSetting: {distribute: [{from: us-east1/*, to: {"us-east1/*": 100}}]}}
"""
    assert lint_text(text) == []
    assert codes(lint_text(text.replace("    outlierDetection: {consecutive5xxErrors: 5}\n", ""))) == ["MC5121"]
