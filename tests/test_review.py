"""`meshcode review`: the pull-request comment says what a change means, in a real git repository."""
from __future__ import annotations

from pathlib import Path

from meshcode.gitops.diff import ObjectChange, ObjectKey, TreeDiff
from meshcode.gitops.summary import summarize
from tests.support.gitops import cli, init_repo

STACK = '''
from meshcode import Call, Canary, Cluster, Mesh, Port, Service, ZeroTrust
pay = Service("payments", namespace="payments", ports=[Port(8080)], versions=["v1"])
cart = Service("cart", namespace="shop", ports=[Port(8080)], versions=["v1", "v2"], service_account="cart",
               canary=Canary(stable="v1", candidate="v2", weight={weight}), calls=[{calls}])
mesh = Mesh("shop", clusters=[Cluster("prod")], services=[cart, pay],
            zero_trust=[ZeroTrust(namespace="payments", mtls="{mtls}")])
'''


def test_the_comment_names_canary_mtls_and_new_allow_changes(make_project) -> None:
    root = make_project(shop=STACK.format(weight=10, mtls="PERMISSIVE", calls='Call(pay, methods=["GET"])'))
    assert cli("compile", root=root).exit_code == 0
    init_repo(root)
    (root / "stacks" / "shop.py").write_text(STACK.format(
        weight=25, mtls="STRICT", calls='Call(pay, methods=["GET"]), Call(pay, methods=["POST"], paths=["/charge"])'))
    result = cli("review", "--against", "main", root=root)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith("<!-- meshcode-review -->")
    assert "| prod | 0 | 3 | 0 |" in text
    assert "- namespace payments: mTLS PERMISSIVE → STRICT" in text
    assert "- shop/cart: traffic v1 90% / v2 10% → v1 75% / v2 25%" in text
    assert "- new allow: cart POST /charge port 8080 → payments/" in text
    assert "```mermaid" in text and "svc_shop_cart" in text
    assert not (root / "generated" / "prod" / "shop").joinpath("x").exists()  # review writes nothing
    assert cli("compile", "--check", root=root).exit_code == 1  # generated/ still the base's


def test_warnings_need_a_human() -> None:
    def vs(weights: dict[str, int]) -> dict:
        return {"kind": "VirtualService", "spec": {"http": [{"route": [
            {"destination": {"host": "r", "subset": k}, "weight": w} for k, w in weights.items()]}]}}

    allow_any = {"kind": "AuthorizationPolicy", "spec": {"action": "ALLOW", "rules": [{"to": [
        {"operation": {"methods": ["GET"]}}]}]}}
    diff = TreeDiff(changes=[
        ObjectChange(ObjectKey("prod", "VirtualService", "shop", "r"), "changed", "shop/vs.yaml",
                     vs({"v1": 90, "v2": 10}), vs({"v1": 10, "v2": 90})),
        ObjectChange(ObjectKey("prod", "AuthorizationPolicy", "shop", "open"), "added", "shop/ap.yaml", None, allow_any),
        ObjectChange(ObjectKey("prod", "Namespace", "", "old"), "removed", "_cluster/ns.yaml",
                     {"kind": "Namespace", "metadata": {"name": "old"}}, None),
    ])
    summary = summarize(diff)
    assert any("weight jump of 80 points" in w for w in summary.warnings)
    assert any("admits any caller" in w for w in summary.warnings)
    assert any(w.startswith("DANGER: Namespace old leaves") for w in summary.warnings)
    assert "shop/r: traffic v1 90% / v2 10% → v1 10% / v2 90%" in summary.lines


def test_no_change_says_so(make_project, tmp_path: Path) -> None:
    root = make_project(shop=STACK.format(weight=10, mtls="STRICT", calls=""))
    assert cli("compile", root=root).exit_code == 0
    init_repo(root)
    result = cli("review", "--against", "main", "--output", str(tmp_path / "c.md"), root=root)
    assert result.exit_code == 0
    assert "No change to `generated/`." in (tmp_path / "c.md").read_text()
