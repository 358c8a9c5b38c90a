"""Moving one namespace from sidecars to ambient is one word, and `meshcode diff` shows exactly what changes."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from tests.support.gitops import cli, write_stack

STACK = '''
from meshcode import Call, Cluster, DataPlane, Mesh, Port, Service, ZeroTrust

web = Service("web", namespace="shop", ports=[Port(8080)], versions=["v1", "v2"],
              calls=[Call("cart", methods=["GET"])], routes=[])
cart = Service("cart", namespace="shop", ports=[Port(8080)], versions=["v1"], timeout="2s")
report = Service("report", namespace="legacy", ports=[Port(8080)], versions=["v1"], calls=[Call(cart)])
mesh = Mesh("m", clusters=[Cluster("prod")], services=[web, cart, report],
            data_plane=[DataPlane("{mode}", namespace="shop"), DataPlane("sidecar", namespace="legacy")],
            zero_trust=[ZeroTrust(namespace="shop", egress_lockdown=False)])
'''


def changes(root: Path) -> set[tuple[str, str, str, str]]:
    result = cli("diff", "--format", "json", root=root)
    assert result.exit_code == 0, result.output
    return {(o["change"], o["kind"], o["namespace"], o["name"]) for o in json.loads(result.output)["objects"]}


def test_switching_one_namespace_to_ambient_changes_exactly_its_objects(make_project: Callable[..., Path]) -> None:
    root = make_project(shop=STACK.replace("{mode}", "sidecar"))
    assert cli("compile", root=root).exit_code == 0
    write_stack(root, "shop", STACK.replace("{mode}", "ambient"))  # the one word
    got = changes(root)
    assert got == {
        # routing: VirtualServices become Gateway API routes to per-version Services
        ("removed", "VirtualService", "shop", "web"), ("removed", "VirtualService", "shop", "cart"),
        ("added", "HTTPRoute", "shop", "web"), ("added", "HTTPRoute", "shop", "cart"),
        ("added", "Service", "shop", "web-v1"), ("added", "Service", "shop", "web-v2"),
        ("added", "Service", "shop", "cart-v1"),
        # the data plane: namespace labels, the waypoint; Istio installs ztunnel and the CNI agent,
        # istiod takes the ambient profile (the Helm Applications Argo CD syncs first)
        ("changed", "Namespace", "", "shop"), ("added", "Gateway", "shop", "waypoint"),
        ("changed", "Application", "argocd", "m-prod-istiod"), ("added", "Application", "argocd", "m-prod-ztunnel"),
        ("added", "Application", "argocd", "m-prod-istio-cni"), ("changed", "Application", "argocd", "m-bootstrap"),
        # authorization by layer: the service policies move to the waypoint, ztunnel admits the waypoint
        ("changed", "AuthorizationPolicy", "shop", "cart-allow"),
        ("added", "AuthorizationPolicy", "shop", "cart-from-waypoint"),
        ("added", "AuthorizationPolicy", "shop", "web-allow"),
        ("added", "AuthorizationPolicy", "shop", "web-from-waypoint"),
        # Argo CD's project admits exactly the kinds the mesh generates: now routes, Gateways, Services
        ("changed", "AppProject", "argocd", "m"),
    }
    assert not [c for c in got if c[2] == "legacy"]  # the namespace left on sidecars does not move
    result = cli("diff", "--format", "json", root=root)
    patches = {o["name"]: o.get("patch") for o in json.loads(result.output)["objects"] if o["change"] == "changed"}
    assert {"op": "add", "path": "/metadata/labels/istio.io~1dataplane-mode", "value": "ambient"} in patches["shop"]
    assert {"op": "remove", "path": "/metadata/labels/istio-injection"} in patches["shop"]
    assert {"op": "add", "path": "/spec/source/helm/valuesObject/profile", "value": "ambient"} in patches["m-prod-istiod"]
    kinds = {(op["value"]["group"], op["value"]["kind"]) for op in patches["m"] if op["op"] == "add"}
    assert {("gateway.networking.k8s.io", "HTTPRoute"), ("gateway.networking.k8s.io", "Gateway"), ("", "Service")} <= kinds
    assert {op["path"] for op in patches["m"] if op["op"] == "remove"} <= set()  # VirtualService is still used by legacy
