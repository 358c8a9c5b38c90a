"""GitOps output that cannot destroy a cluster (issue 13): generated Namespaces are never deleted.

Namespaces came and went with meshcode's other objects (drop the last routed service of a
namespace, or go from two networks to one) while the generated ApplicationSet prunes: Argo CD
would have deleted the namespace and every workload in it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import yaml

from meshcode import Call, Cluster, Mesh, Patch, Port, Service, compile_mesh
from meshcode.errors import CompileError
from meshcode.plan import NEVER_DELETE, SYNC_OPTIONS
from tests.support.gitops import cli, write_stack

import pytest

TWO_NETWORKS = """\
from meshcode import Cluster, Mesh, Port, Service

cart = Service("cart", namespace="shop", ports=[Port(8080)], versions=["v1"])
{extra}
mesh = Mesh("shop", clusters=[Cluster("east", network="{east}"), Cluster("west", network="n2")],
            services=[cart{more}])
"""


def stack(east: str = "n1", with_jobs: bool = True) -> str:
    extra = 'batch = Service("batch", namespace="jobs", ports=[Port(9000, "TCP")])' if with_jobs else ""
    return TWO_NETWORKS.format(east=east, extra=extra, more=", batch" if with_jobs else "")


def namespaces(plan) -> dict[tuple[str, str], dict]:
    return {(folder, r.name): r.obj for folder, r in plan.resources() if r.kind == "Namespace"}


def test_every_generated_namespace_is_never_pruned_nor_deleted_by_argo_cd() -> None:
    cart = Service("cart", namespace="shop", ports=[Port(8080)], versions=["v1", "v2"])
    worker = Service("worker", namespace="jobs", ports=[Port(9000, "TCP")], calls=[Call(cart)])
    quiet = Service("ledger", namespace="finance", ports=[Port(7000, "TCP")])  # nothing routes to it
    mesh = Mesh("m", clusters=[Cluster("east", network="n1"), Cluster("west", network="n2")],
                services=[cart, worker, quiet])
    found = namespaces(compile_mesh(mesh))
    # every namespace of every declared service, and istio-system (network label), in both clusters
    assert sorted(found) == [(c, ns) for c in ("east", "west") for ns in ("finance", "istio-system", "jobs", "shop")]
    for obj in found.values():
        assert obj["metadata"]["annotations"][SYNC_OPTIONS] == "Prune=false,Delete=false"
    assert found[("east", "finance")]["metadata"]["labels"]["istio-injection"] == "enabled"


def test_a_service_placed_in_one_cluster_labels_its_namespace_there_only() -> None:
    svc = Service("cart", namespace="shop", ports=[Port(8080)], clusters=("east",))
    found = namespaces(compile_mesh(Mesh("m", clusters=[Cluster("east"), Cluster("west")], services=[svc])))
    assert ("east", "shop") in found and ("west", "shop") not in found


def test_a_patch_may_not_drop_the_never_delete_annotation() -> None:
    svc = Service("cart", namespace="shop", ports=[Port(8080)])
    patch = Patch("Namespace", "shop", [{"op": "remove", "path": "/metadata/annotations/" +
                                         SYNC_OPTIONS.replace("/", "~1")}])
    with pytest.raises(CompileError) as e:
        compile_mesh(Mesh("m", clusters=[Cluster("a")], services=[svc], patches=[patch]))
    assert e.value.findings[0].code == "MC2203" and NEVER_DELETE in e.value.findings[0].message


def test_diff_and_compile_warn_loudly_when_a_namespace_leaves(make_project: Callable[..., Path]) -> None:
    root = make_project(shop=stack())
    assert cli("compile", root=root).exit_code == 0
    write_stack(root, "shop", stack(east="n2", with_jobs=False))  # one network now, and no jobs service
    result = cli("diff", root=root)
    assert result.exit_code == 0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING: Namespace")]
    assert sorted(warnings) == sorted(
        f"WARNING: Namespace {ns} leaves generated/{c}/: Argo CD keeps it (it carries {SYNC_OPTIONS}: "
        "Prune=false,Delete=false) with every workload in it, but meshcode no longer manages its labels; "
        "delete it by hand if that is what you want"
        for c in ("east", "west") for ns in ("istio-system", "jobs"))
    assert "- east: Namespace istio-system" in result.stdout
    data = json.loads(cli("diff", "--format", "json", root=root).stdout)
    assert len(data["warnings"]) == 4
    compiled = cli("compile", root=root)
    assert compiled.exit_code == 0
    assert sum(line.startswith("WARNING: Namespace") for line in compiled.stderr.splitlines()) == 4


def test_a_namespace_committed_without_the_annotation_is_a_danger(make_project: Callable[..., Path]) -> None:
    """Output from before this rule: Argo CD judges prune by the live object, so say it plainly."""
    root = make_project(shop=stack())
    assert cli("compile", root=root).exit_code == 0
    path = root / "generated" / "east" / "_cluster" / "namespace-jobs.yaml"
    old = yaml.safe_load(path.read_text())
    del old["metadata"]["annotations"][SYNC_OPTIONS]
    path.write_text(yaml.safe_dump(old))
    write_stack(root, "shop", stack(with_jobs=False))
    result = cli("diff", root=root)
    danger = [line for line in result.stderr.splitlines() if line.startswith("DANGER")]
    assert len(danger) == 1 and "Namespace jobs leaves generated/east/" in danger[0]
    assert "would DELETE the namespace and every workload in it" in danger[0]
