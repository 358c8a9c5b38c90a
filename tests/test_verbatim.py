"""Verbatim: an object passed through as written, owned, placed and checked like any intent."""
from __future__ import annotations

from pathlib import Path

import pytest

from meshcode import Cluster, CompileError, IntentError, Mesh, Verbatim, compile_mesh
from meshcode.app.pipeline import check_plan
from tests.support.core import line_of

ENVOY_FILTER = {"apiVersion": "networking.istio.io/v1alpha3", "kind": "EnvoyFilter",
                "metadata": {"name": "lua", "namespace": "shop", "labels": {"team": "edge"}},
                "spec": {"workloadSelector": {"labels": {"app": "cart"}}, "configPatches": []}}


def test_the_object_is_kept_with_meshcode_ownership_added() -> None:
    plan = compile_mesh(Mesh("m", clusters=[Cluster("prod")], verbatim=[Verbatim(ENVOY_FILTER)]))
    (obj,) = [r.obj for r in plan.folders["prod"] if r.kind == "EnvoyFilter"]
    assert obj["spec"] == ENVOY_FILTER["spec"]
    assert obj["metadata"]["labels"] == {"team": "edge", "app.kubernetes.io/managed-by": "meshcode"}
    assert obj["metadata"]["annotations"]["meshcode.dev/verbatim"] == "true"
    assert obj["metadata"]["annotations"]["meshcode.dev/stack"] == "tests/test_verbatim.py"
    assert ENVOY_FILTER["metadata"] == {"name": "lua", "namespace": "shop", "labels": {"team": "edge"}}  # not mutated
    assert any(r.kind == "Namespace" and r.name == "shop" for r in plan.folders["prod"])


def test_placed_in_its_clusters_only_and_unknown_clusters_refused() -> None:
    mesh = Mesh("m", clusters=[Cluster("a"), Cluster("b")], verbatim=[Verbatim(ENVOY_FILTER, clusters=["b"])])
    plan = compile_mesh(mesh)
    assert [r.kind for r in plan.folders["a"]] == []
    assert [r.kind for r in plan.folders["b"]] == ["Namespace", "EnvoyFilter"]
    bad = Verbatim(ENVOY_FILTER, clusters=["c"])  # <- unknown cluster
    with pytest.raises(CompileError, match="MC2303.*cluster 'c'") as e:
        compile_mesh(Mesh("m", clusters=[Cluster("a")], verbatim=[bad]))
    assert e.value.findings[0].location.line == line_of(Path(__file__).read_text(), "# <- unknown " + "cluster")


def test_schema_errors_stop_the_compile_at_the_line() -> None:
    obj = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
           "metadata": {"name": "x", "namespace": "shop"}, "spec": {"hosts": ["x"], "htpp": []}}
    mesh = Mesh("m", clusters=[Cluster("prod")], verbatim=[Verbatim(obj)])  # <- typo in the spec
    with pytest.raises(CompileError) as e:
        check_plan(compile_mesh(mesh), Path("/nonexistent"), Path(__file__).parents[1])
    (f,) = e.value.findings
    assert f.code == "IST0106" and "spec.htpp" in f.message
    assert f.location.line == line_of(Path(__file__).read_text(), "# <- typo in " + "the spec")


def test_a_verbatim_object_that_clashes_with_a_derived_one_is_refused() -> None:
    from meshcode import Port, Service

    vs = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
          "metadata": {"name": "cart", "namespace": "shop"}, "spec": {"hosts": ["cart"]}}
    cart = Service("cart", namespace="shop", ports=[Port(80)], timeout="1s")
    with pytest.raises(CompileError, match="MC2004"):
        compile_mesh(Mesh("m", clusters=[Cluster("prod")], services=[cart], verbatim=[Verbatim(vs)]))


@pytest.mark.parametrize("obj, message", [
    ({**ENVOY_FILTER, "kind": "Secret", "apiVersion": "v1"}, "secrets never go to git"),
    ({**ENVOY_FILTER, "kind": "Namespace", "apiVersion": "v1"}, "meshcode writes every Namespace"),
    ({**ENVOY_FILTER, "metadata": {"name": "lua"}}, "metadata.namespace None"),
    ({**ENVOY_FILTER, "metadata": {"name": "Lua!", "namespace": "shop"}}, "not a valid object name"),
    ({**ENVOY_FILTER, "metadata": {"name": "lua\n", "namespace": "shop"}}, "not a valid object name"),
    ({**ENVOY_FILTER, "status": {}}, "status is written by the API server"),
    ({**ENVOY_FILTER, "metadata": {"name": "lua", "namespace": "shop", "uid": "1", "resourceVersion": "2"}},
     "resourceVersion, uid are written by the API server"),
    ({**ENVOY_FILTER, "metadata": {"name": "lua", "namespace": "shop",
                                   "labels": {"app.kubernetes.io/managed-by": "helm"}}}, "meshcode's to set"),
    ({**ENVOY_FILTER, "apiVersion": "networking istio/v1"}, "not a Kubernetes API version"),
    ({**ENVOY_FILTER, "kind": "envoyfilter"}, "not a Kubernetes kind"),
    ({**ENVOY_FILTER, "spec": {"x": object()}}, "obj"),
])
def test_refused_where_written(obj: dict, message: str) -> None:
    with pytest.raises(IntentError, match=message) as e:
        Verbatim(obj)
    assert e.value.location is not None and e.value.location.file.endswith("test_verbatim.py")
