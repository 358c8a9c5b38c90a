"""`meshcode lint` on Gateway API and ambient objects: each broken case and its fix."""
from __future__ import annotations

from pathlib import Path

from meshcode import compile_mesh
from meshcode.analyze import analyze_plan
from tests.support.lint import codes, lint_text, messages
from tests.test_ambient import AMBIENT, shop

BASE = """
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: shop}
spec: {selector: {app: reviews}, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: reviews-v1, namespace: shop}
spec: {selector: {app: reviews, version: v1}, ports: [{name: http, port: 9080}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: shop}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
"""

MESH_ROUTE = """
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reviews, namespace: shop}
spec:
  parentRefs: [{group: "", kind: Service, name: reviews, port: 9080}]
  rules: [{backendRefs: [{name: %s, port: %d}]}]
"""


def test_a_clean_ambient_namespace_has_no_findings():
    assert codes(lint_text(BASE + MESH_ROUTE % ("reviews-v1", 9080))) == []


def test_routes_to_missing_services_and_ports():
    found = lint_text(BASE + MESH_ROUTE % ("reviews-v9", 9080))
    assert codes(found) == ["MC5201"] and "reviews-v9" in messages(found, "MC5201")[0]
    found = lint_text(BASE + MESH_ROUTE % ("reviews-v1", 8080))
    assert codes(found) == ["MC5201"] and "port 8080" in messages(found, "MC5201")[0]
    missing_parent = (BASE + MESH_ROUTE % ("reviews-v1", 9080)).replace("name: reviews, port: 9080", "name: nope, port: 9080")
    assert codes(lint_text(missing_parent)) == ["MC5201"]


INGRESS = """
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: shop}
spec:
  gatewayClassName: istio
  listeners:
  - {name: http, hostname: shop.example.com, port: 80, protocol: HTTP}
  - {name: admin, hostname: admin.example.com, port: 8080, protocol: HTTP}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: edge, namespace: shop}
spec:
  parentRefs: [{name: edge, sectionName: %s}]
  hostnames: [%s]
  rules: [{backendRefs: [{name: reviews, port: 9080}]}]
"""


def test_listeners_without_routes_and_hostnames_no_listener_accepts():
    found = lint_text(BASE + INGRESS % ("http", "shop.example.com"))
    assert codes(found) == ["MC5203"] and "listener 'admin'" in messages(found, "MC5203")[0]
    found = lint_text(BASE + (INGRESS % ("http", "other.example.com")).replace("sectionName: http", "sectionName: http}, {name: edge, sectionName: admin"))
    assert codes(found) == ["MC5203"] and "other.example.com" in messages(found, "MC5203")[0]
    assert codes(lint_text(BASE + INGRESS % ("nope", "shop.example.com"))) == ["MC5201", "MC5203", "MC5203"]


def test_cross_namespace_backends_need_a_reference_grant():
    route = """
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: web}
spec:
  parentRefs: [{group: "", kind: Service, name: reviews, namespace: shop, port: 9080}]
  rules: [{backendRefs: [{name: reviews-v1, namespace: shop, port: 9080}]}]
"""
    grant = """
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: web-httproutes-services, namespace: shop}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: web}]
  to: [{group: "", kind: Service}]
"""
    assert codes(lint_text(BASE + route)) == ["MC5202"]
    assert codes(lint_text(BASE + route + grant)) == []


def test_a_missing_waypoint_is_an_error():
    without = BASE.replace("name: waypoint, namespace: shop", "name: other, namespace: shop")
    found = lint_text(without)
    assert codes(found) == ["MC5204"] and "namespace shop uses waypoint 'waypoint'" in messages(found, "MC5204")[0]


def test_l7_attributes_in_a_ztunnel_policy_are_flagged():
    policy = """
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews, namespace: shop}
spec:
  %s
  action: ALLOW
  rules: [{from: [{source: {principals: [cluster.local/ns/shop/sa/web]}}], to: [{operation: {methods: [GET]}}]}]
"""
    found = lint_text(BASE + policy % "selector: {matchLabels: {app: reviews}}")
    assert codes(found) == ["MC5205"] and "methods" in messages(found, "MC5205")[0]
    assert codes(lint_text(BASE + policy % 'targetRefs: [{kind: Service, group: "", name: reviews}]')) == []


def test_a_virtual_service_beside_a_route_for_the_same_host():
    vs = """
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews}}]}]
"""
    found = lint_text(BASE + MESH_ROUTE % ("reviews-v1", 9080) + vs)
    assert "MC5206" in codes(found)


def test_compiled_ambient_output_is_clean():
    findings = analyze_plan(compile_mesh(shop(AMBIENT)))
    assert [f for f in findings if f.code.startswith("MC52")] == []
