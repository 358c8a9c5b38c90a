"""`meshcode graph`: the picture says what the intent says (nodes, splits, calls, focus), in every format."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from meshcode import Call, Canary, Cluster, Ingress, Mesh, Port, Prefix, Route, Service, ZeroTrust
from meshcode.render.graph import build_graph, to_dot, to_mermaid
from meshcode.state.canary import CanaryState
from tests.support.gitops import cli
from tests.support.paths import ROOT

PAYMENTS = Service("payments", namespace="pay", ports=[Port(8080)], versions=["v1"])
CART = Service("cart", namespace="shop", ports=[Port(8080)], versions=["v1", "v2"], calls=[Call(PAYMENTS, methods=["POST"])],
               canary=Canary(stable="v1", candidate="v2", weight=10))
FRONT = Service("frontend", namespace="shop", ports=[Port(80)], versions=["v1"], calls=["cart"],
                clusters=["east"])
MESH = Mesh("shop", clusters=[Cluster("east", network="n1"), Cluster("west", network="n2")],
            services=[PAYMENTS, CART, FRONT],
            ingresses=[Ingress("web", namespace="shop", hosts=["shop.example.com"],
                               routes=[Route(match={"uri": Prefix("/")}, to="frontend")])],
            zero_trust=[ZeroTrust(namespace="pay")])


def test_nodes_edges_and_splits_follow_the_intent() -> None:
    g = build_graph(MESH)
    labels = {n.id: n.label for n in g.nodes.values()}
    assert "v1 90% / v2 10%" in labels["svc_shop_cart"]
    assert "clusters: east" in labels["svc_shop_frontend"]
    assert {n.id for n in g.nodes.values() if n.kind == "cluster"} == {"cluster_east", "cluster_west"}
    edges = {(e.source, e.target): e for e in g.edges}
    assert edges[("svc_shop_cart", "svc_pay_payments")].kind == "call-allowed"  # pay is under ZeroTrust
    assert edges[("svc_shop_cart", "svc_pay_payments")].label == "allowed by ZeroTrust: POST"
    assert edges[("svc_shop_frontend", "svc_shop_cart")].kind == "call"  # shop has no ZeroTrust
    assert edges[("host_shop_web", "svc_shop_frontend")].label == "prefix /"


def test_canary_state_shows_where_the_rollout_stands() -> None:
    state = CanaryState(name="cart", stable="v1", candidate="v2", phase="progressing", step=1, weight=25)
    g = build_graph(MESH, {"shop/shop/cart": state})
    assert "v1 75% / v2 25% (progressing, stage 2)" in g.nodes["svc_shop_cart"].label


def test_focus_on_namespace_service_and_cluster() -> None:
    assert {n.id for n in build_graph(MESH, namespace="pay").nodes.values() if n.kind != "cluster"} == \
        {"svc_pay_payments"}
    around = {n.id for n in build_graph(MESH, service="shop/cart").nodes.values() if n.kind != "cluster"}
    assert around == {"svc_shop_cart", "svc_pay_payments", "svc_shop_frontend"}
    west = {n.id for n in build_graph(MESH, cluster="west").nodes.values() if n.kind == "service"}
    assert "svc_shop_frontend" not in west and "svc_shop_cart" in west


def test_dot_and_mermaid_escape_every_label() -> None:
    hostile = Mesh("m", clusters=[Cluster("c")], services=[Service("x", namespace="ns", ports=[Port(80)],
                   versions=["v1"], routes=[Route(match={"headers": {"x-a": 'q"];evil'}}, to="v1")])])
    dot, mermaid = to_dot(build_graph(hostile)), to_mermaid(build_graph(hostile))
    assert 'q\\"];evil' in dot  # the quote is escaped inside a quoted DOT string
    assert "q  ;evil" in mermaid and '"];evil' not in mermaid  # quotes and brackets cannot end a Mermaid label
    assert mermaid.startswith("flowchart LR\n")


@pytest.mark.skipif(shutil.which("dot") is None and not __import__("os").environ.get("CI"),
                    reason="Graphviz not installed (./dev test installs it; CI requires it)")
def test_cli_writes_svg_png_and_mermaid(tmp_path: Path) -> None:
    for fmt in ("svg", "png"):
        out = tmp_path / f"bookinfo.{fmt}"
        result = cli("graph", "--mesh", "bookinfo", "--format", fmt, "--output", str(out), root=ROOT)
        assert result.exit_code == 0, result.output
        data = out.read_bytes()
        assert data.startswith(b"\x89PNG") if fmt == "png" else b"<svg" in data and b"productpage" in data
    text = cli("graph", "--mesh", "bookinfo", "--format", "mermaid", root=ROOT)
    assert text.exit_code == 0 and "svc_bookinfo_reviews" in text.stdout
    missing = cli("graph", "--mesh", "nope", root=ROOT)
    assert missing.exit_code == 2 and "no mesh named 'nope'" in missing.output  # a usage error
