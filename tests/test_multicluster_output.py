"""Every cluster folder of the multi-cluster meshes builds with kustomize and passes the CRD schemas."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from meshcode import compile_mesh
from meshcode.plan import Plan
from tests.support.meshes import crdcheck, write_plan
from tests.support.multicluster import global_mesh
from tests.test_multicluster_invariants import TOPOLOGIES


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, Plan]]:
    """Each topology's output written to its own folder."""
    out = []
    for name, build in sorted(TOPOLOGIES.items()):
        plan = compile_mesh(build())
        out.append((write_plan(plan, tmp_path_factory.mktemp(name)), plan))
    return out


def test_every_cluster_folder_passes_crdcheck(written: list[tuple[Path, Plan]]) -> None:
    folders = [root / folder for root, plan in written for folder in plan.folders]
    code, output = crdcheck(*folders)  # one run: loading the CRDs is most of its time
    assert code == 0, output
    assert " 0 errors" in output
    objects = sum(len(plan.folders[f]) for _, plan in written for f in plan.folders)
    assert f"crdcheck: {objects + len(folders)} objects" in output  # + one kustomization.yaml each


def _kustomize_works() -> bool:
    kubectl = shutil.which("kubectl")
    if not kubectl:
        return False
    probe = subprocess.run([kubectl, "kustomize", "--help"], capture_output=True, text=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not _kustomize_works() and not os.environ.get("CI"),
                    reason="kubectl with kustomize is not installed; in CI this fails instead")
def test_every_cluster_folder_builds_with_kubectl_kustomize(written: list[tuple[Path, Plan]]) -> None:
    for root, plan in written:
        for folder, items in plan.folders.items():
            proc = subprocess.run(["kubectl", "kustomize", str(root / folder)], capture_output=True, text=True, check=False)
            assert proc.returncode == 0, f"{folder}: {proc.stderr}"
            built = {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"])
                     for d in yaml.safe_load_all(proc.stdout) if d}
            applied = {r.key for r in items if r.kind != "IstioOperator"}
            assert built == applied, f"{folder}: kustomize built {sorted(built ^ applied)} differently"


def test_repo_generated_holds_the_global_stack() -> None:
    """generated/ is what `meshcode compile` writes for stacks/global.py (see also compile --check)."""
    from tests.support.paths import ROOT

    mesh = global_mesh()
    assert len({c.network for c in mesh.clusters}) >= 2
    assert len({c.region for c in mesh.clusters}) >= 2
    assert len(mesh.clusters) >= 3 and any(c.role == "remote" for c in mesh.clusters)
    assert any(s.canary for s in mesh.services)
    for c in mesh.clusters:
        assert (ROOT / "generated" / c.name / "kustomization.yaml").is_file()
        # its install: the Helm Applications of the charts it needs (tests/test_install_helm.py)
        assert list((ROOT / "generated" / "argocd").rglob(f"application-{mesh.name}-{c.name}-istio-base.yaml"))
