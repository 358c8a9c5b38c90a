"""User patches, the escape hatch: RFC 6902 operations on any generated object.

A patch that applies changes exactly what it says (and only where it is placed); one whose
path does not exist is a compile error at the patch's own file and line, and nothing is
written; patched output still passes the Istio CRD schemas.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from meshcode import (
    Canary,
    Cluster,
    CompileError,
    Mesh,
    Patch,
    Port,
    Service,
    compile_mesh,
)
from tests.support.gitops import cli, crdcheck_against, shop_stack, write_stack
from tests.support.meshes import objects, write_plan


def shop(*patches: Patch) -> Mesh:
    cart = Service("cart", namespace="shop", ports=[Port(8080)], versions=["v1", "v2"],
                   canary=Canary(stable="v1", candidate="v2", weight=10))
    return Mesh("shop", clusters=[Cluster("prod"), Cluster("staging")], services=[cart], patches=list(patches))


def vs(plan, cluster: str) -> dict:
    return objects(plan, cluster)[("VirtualService", "shop", "cart")]


def test_operations_apply_to_the_generated_object() -> None:
    plan = compile_mesh(shop(Patch("VirtualService", "cart", [
        {"op": "add", "path": "/spec/http/0/timeout", "value": "3s"},
        {"op": "replace", "path": "/spec/http/0/route/1/weight", "value": 30},
        {"op": "replace", "path": "/spec/http/0/route/0/weight", "value": 70},
        {"op": "add", "path": "/metadata/labels/team", "value": "carts"},
    ])))
    plain = vs(compile_mesh(shop()), "prod")
    for cluster in ("prod", "staging"):
        http = vs(plan, cluster)["spec"]["http"][0]
        assert http["timeout"] == "3s"
        assert [(d["destination"]["subset"], d["weight"]) for d in http["route"]] == [("v1", 70), ("v2", 30)]
        assert vs(plan, cluster)["metadata"]["labels"]["team"] == "carts"
        assert vs(plan, cluster)["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "meshcode"
    assert plain["spec"]["http"][0]["route"][1]["weight"] == 10  # compiling again is unaffected


def test_a_patch_placed_in_one_cluster_leaves_the_others() -> None:
    plan = compile_mesh(shop(Patch("DestinationRule", "cart", cluster="staging", namespace="shop", ops=[
        {"op": "add", "path": "/spec/trafficPolicy", "value": {"connectionPool": {"tcp": {"maxConnections": 5}}}},
    ])))
    staging = objects(plan, "staging")[("DestinationRule", "shop", "cart")]["spec"]
    prod = objects(plan, "prod")[("DestinationRule", "shop", "cart")]["spec"]
    assert staging["trafficPolicy"] == {"connectionPool": {"tcp": {"maxConnections": 5}}}
    assert "trafficPolicy" not in prod


@pytest.mark.parametrize("op", [
    {"op": "remove", "path": "/spec/nosuchfield"},
    {"op": "replace", "path": "/spec/http/7/timeout", "value": "1s"},
    {"op": "add", "path": "/spec/missing/child", "value": 1},
    {"op": "test", "path": "/spec/hosts/0", "value": "other"},
])
def test_a_path_that_does_not_exist_is_an_error_at_the_patch_line(op: dict) -> None:
    patch = Patch("VirtualService", "cart", [op]); line = sys._getframe().f_lineno
    with pytest.raises(CompileError) as e:
        compile_mesh(shop(patch))
    findings = [f for f in e.value.findings if f.code == "MC2201"]
    assert findings and all(f.location and f.location.line == line for f in findings)
    assert all(f.location.file.endswith("test_gitops_patches.py") for f in findings)
    assert "does not apply" in findings[0].message


def test_a_patch_on_an_object_that_is_not_generated_is_an_error() -> None:
    patch = Patch("VirtualService", "kart", [{"op": "remove", "path": "/spec/http"}]); line = sys._getframe().f_lineno
    with pytest.raises(CompileError) as e:
        compile_mesh(shop(patch))
    (f,) = [f for f in e.value.findings if f.code == "MC2202"]
    assert f.location.line == line and "kart" in f.message


def test_bad_patch_in_a_stack_stops_the_compile_and_writes_nothing(make_project) -> None:
    root = make_project(shop=shop_stack())
    assert cli("compile", root=root).exit_code == 0
    before = {p: p.read_bytes() for p in (root / "generated").rglob("*") if p.is_file()}
    source = shop_stack(20).replace(
        "mesh = Mesh(", 'from meshcode import Patch\n'
        'fix = Patch("VirtualService", "cart", [{"op": "remove", "path": "/spec/tcp"}])\n'
        "mesh = Mesh(patches=[fix], name=")
    write_stack(root, "shop", source)
    line = next(i for i, text in enumerate(source.splitlines(), 1) if text.startswith("fix = Patch("))
    result = cli("compile", root=root)
    assert result.exit_code == 1
    assert f"stacks/shop.py:{line}: error MC2201" in result.output
    assert {p: p.read_bytes() for p in (root / "generated").rglob("*") if p.is_file()} == before


def test_patched_output_passes_the_istio_crds(tmp_path: Path) -> None:
    plan = compile_mesh(shop(
        Patch("VirtualService", "cart", [
            {"op": "add", "path": "/spec/http/0/timeout", "value": "3s"},
            {"op": "add", "path": "/spec/http/0/retries", "value": {"attempts": 2, "perTryTimeout": "1s"}},
        ]),
        Patch("DestinationRule", "cart", [
            {"op": "add", "path": "/spec/trafficPolicy", "value": {"loadBalancer": {"simple": "LEAST_REQUEST"}}},
        ]),
    ))
    out = write_plan(plan, tmp_path / "generated")
    code, report = crdcheck_against("istio", out)
    assert code == 0, report
    assert " 0 errors" in report
