"""cdk8s interop: `cdk8s synth` of an app with a MeshChart holds exactly what `meshcode compile` writes.

The app in tests/cdk8s_app defines bookinfo's Deployments and Services with cdk8s and its mesh
with meshcode. It is synthesised for real (cdk8s on its Node.js runtime), in a subprocess as
`cdk8s synth` runs it, and compared object by object with a real `meshcode compile`.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

cdk8s = pytest.importorskip("cdk8s")

from meshcode import Cluster, Mesh, Port, Service, compile_mesh  # noqa: E402
from meshcode.analyze.workloads import load_workloads  # noqa: E402
from meshcode.cli import app as cli  # noqa: E402
from meshcode.errors import CompileError, MeshcodeError  # noqa: E402
from meshcode.integrations.cdk8s import MeshChart, app_from_plan, chart_workloads  # noqa: E402
from meshcode.loader import load_stacks  # noqa: E402
from tests.support.meshes import crdcheck  # noqa: E402
from tests.support.paths import ROOT  # noqa: E402

APP = ROOT / "tests" / "cdk8s_app"
Key = tuple[str, str, str]


def by_key(docs: list[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    out: dict[Key, dict[str, Any]] = {}
    for d in docs:
        key = (d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"])
        assert key not in out, f"{key} twice"
        out[key] = d
    return out


def yaml_docs(*paths: Path) -> list[dict[str, Any]]:
    return [d for p in paths for d in yaml.safe_load_all(p.read_text()) if d]


def generated(root: Path, cluster: str) -> dict[Key, dict[str, Any]]:
    folder = root / "generated" / cluster
    return by_key(yaml_docs(*(p for p in sorted(folder.rglob("*.yaml")) if p.name != "kustomization.yaml")))


def app_module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"cdk8s_app_{name}", APP / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def synthesised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the app, synthesised (`python main.py`, what `cdk8s synth` runs) and compiled."""
    root = tmp_path_factory.mktemp("cdk8s") / "app"
    shutil.copytree(APP, root, ignore=shutil.ignore_patterns("dist", "generated", "__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("CDK8S_OUTDIR", None)
    proc = subprocess.run([sys.executable, "main.py"], cwd=root, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = CliRunner().invoke(cli, ["compile", "--root", str(root)], catch_exceptions=False)
    assert result.exit_code == 0, result.output  # [tool.meshcode] workloads = "dist": checked against them
    return root


def test_synth_holds_exactly_what_meshcode_compile_writes(synthesised: Path) -> None:
    synth = by_key(yaml_docs(synthesised / "dist" / "mesh.k8s.yaml"))
    written = generated(synthesised, "prod")
    assert set(synth) == set(written)
    for key in written:
        assert synth[key] == written[key], key
    kinds = {k for k, _, _ in written}
    assert {"Namespace", "DestinationRule", "VirtualService", "Gateway"} <= kinds
    reviews = synth[("VirtualService", "bookinfo", "reviews")]
    assert reviews["metadata"]["annotations"]["meshcode.dev/stack"] == "stacks/bookinfo.py"
    assert [d["weight"] for d in reviews["spec"]["http"][-1]["route"]] == [90, 10]
    code, out = crdcheck(synthesised / "dist" / "mesh.k8s.yaml")
    assert code == 0, out


def test_synthesised_workloads_feed_the_workload_checks(synthesised: Path) -> None:
    found = load_workloads(synthesised / "dist")
    kinds = sorted((w.kind, w.name) for w in found)
    assert ("Deployment", "reviews-v3") in kinds and ("Service", "ratings") in kinds
    assert len([k for k in kinds if k[0] == "Deployment"]) == 6
    result = CliRunner().invoke(cli, ["compile", "--root", str(synthesised), "--check",
                                      "--workloads", str(synthesised / "dist" / "workloads.k8s.yaml")])
    assert result.exit_code == 0, result.output


def test_mesh_chart_checks_the_apps_workloads_at_synth() -> None:
    (mesh,) = load_stacks(APP / "stacks")
    workloads_module = app_module("bookinfo_workloads")
    app = cdk8s.App()
    versions = {**workloads_module.VERSIONS, "reviews": ["v1", "v2"]}  # v3 is not deployed
    broken = workloads_module.BookinfoWorkloads(app, "workloads", versions=versions)
    with pytest.raises(CompileError) as e:
        MeshChart(app, "mesh", mesh=mesh, workloads=[broken])
    (finding,) = e.value.findings
    reviews = next(s for s in mesh.services if s.name == "reviews")
    assert (finding.code, finding.name) == ("IST0173", "reviews")
    assert str(finding.location) == f"stacks/bookinfo.py:{reviews.origin.line}"
    assert "Subset v3" in finding.message

    fixed_app = cdk8s.App()
    fixed = workloads_module.BookinfoWorkloads(fixed_app, "workloads")
    chart = MeshChart(fixed_app, "mesh", mesh=mesh, workloads=[fixed])
    assert [r.obj for r in chart.resources] == chart.to_json()
    assert len(chart_workloads(fixed)) == 4 * 3 + 2  # per app: ServiceAccount, Service, Deployments


def test_mesh_chart_needs_a_cluster_it_can_name() -> None:
    svc = Service("reviews", namespace="bookinfo", ports=[Port(9080)], versions=["v1"])
    mesh = Mesh("two", clusters=[Cluster("a"), Cluster("b")], services=[svc])
    with pytest.raises(MeshcodeError, match="pass cluster="):
        MeshChart(cdk8s.App(), "mesh", mesh=mesh, states={}, root=str(ROOT))
    with pytest.raises(MeshcodeError, match="no cluster 'c'"):
        MeshChart(cdk8s.App(), "mesh", mesh=mesh, cluster="c", states={}, root=str(ROOT))
    chart = MeshChart(cdk8s.App(), "mesh", mesh=mesh, cluster="b", states={}, root=str(ROOT))
    assert {"Namespace", "DestinationRule", "VirtualService"} <= {r.kind for r in chart.resources}
    assert chart.to_json() == [r.obj for r in compile_mesh(mesh, root=str(ROOT)).folders["b"]]


def test_app_from_plan_builds_every_cluster_as_api_objects(tmp_path: Path) -> None:
    svc = Service("reviews", namespace="bookinfo", ports=[Port(9080)], versions=["v1", "v2"])
    plan = compile_mesh(Mesh("two", clusters=[Cluster("a"), Cluster("b")], services=[svc]))
    app = app_from_plan(plan, outdir=str(tmp_path / "dist"))
    app.synth()
    for folder, resources in plan.folders.items():
        synth = by_key(yaml_docs(tmp_path / "dist" / f"{folder}.k8s.yaml"))
        assert synth == by_key([r.obj for r in resources])
