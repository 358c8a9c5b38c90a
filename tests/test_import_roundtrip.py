"""`meshcode import` round trip: Istio's samples and security-task YAML → a stack → compile → the
same routing and policy meaning as the input (checked with the evaluators, not bytes).

Each case imports the Kubernetes Services the sample runs on plus one of Istio's networking
alternatives (they are applied one at a time in Istio's tasks), loads the written stack like
`meshcode compile` does, compiles it with every check, and compares meaning: every request of a
grid, per mesh host and per ingress gateway server, and every (workload, request) verdict and
workload-port mTLS mode. The totals are printed (`pytest -s -k totals`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from meshcode.app.pipeline import check_plan
from meshcode.compile import compile_meshes
from meshcode.loader import load_stacks
from tests.support import meaning
from tests.support.core import run_cli
from tests.support.paths import ROOT

SAMPLES = ROOT / "tests" / "data" / "istio-samples"
TASKS = ROOT / "tests" / "data" / "istio-security-tasks"
BOOKINFO = SAMPLES / "bookinfo" / "platform" / "kube" / "bookinfo.yaml"
DR_ALL = SAMPLES / "bookinfo" / "networking" / "destination-rule-all.yaml"
NETWORKING = sorted((SAMPLES / "bookinfo" / "networking").glob("*.yaml"))


def cases() -> list[Any]:
    out = []
    for f in NETWORKING:  # each alternative with the Services and, for routes to subsets, the subsets
        inputs = [BOOKINFO, f] if f.name.startswith("destination-rule") else [BOOKINFO, DR_ALL, f]
        out.append(pytest.param(inputs, id=f"bookinfo/{f.stem}"))
    out.append(pytest.param([BOOKINFO, SAMPLES / "bookinfo" / "networking" / "bookinfo-gateway.yaml"],
                            id="bookinfo/gateway-without-subsets"))
    out.append(pytest.param([SAMPLES / "httpbin"], id="httpbin"))
    echo = SAMPLES / "tcp-echo"
    out.append(pytest.param([echo / "tcp-echo-services.yaml", echo / "tcp-echo-all-v1.yaml"], id="tcp-echo/all-v1"))
    out.append(pytest.param([echo / "tcp-echo-services.yaml", echo / "tcp-echo-all-v1.yaml", echo / "tcp-echo-20-v2.yaml"],
                            id="tcp-echo/20-v2"))  # the task applies all-v1 first: its Gateway and subsets
    for f in sorted(TASKS.glob("*.yaml")):
        out.append(pytest.param([f], id=f"security/{f.stem}"))
    return out


def load(paths: list[Path]) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for p in paths:
        for f in sorted(p.rglob("*.yaml")) if p.is_dir() else [p]:
            docs += [d for d in yaml.safe_load_all(f.read_text()) if d]
    return meaning.applied(docs)


def import_and_compile(tmp_path: Path, inputs: list[Path]) -> tuple[str, list[dict[str, Any]]]:
    out = tmp_path / "stacks" / "imported.py"
    result = run_cli("import", *map(str, inputs), "--output", str(out))
    assert result.exit_code == 0, result.output
    meshes = load_stacks(out.parent, tmp_path)
    plan = compile_meshes(meshes, root=str(tmp_path))
    check_plan(plan, tmp_path / "generated", tmp_path)  # every check of `meshcode compile`, schemas of verbatim too
    (folder,) = [f for f in plan.folders if f != "argocd"]
    return result.output, [r.obj for r in plan.folders[folder]]


TOTALS: dict[str, int] = {"imported": 0, "verbatim": 0, "compared": 0, "mismatches": 0}


@pytest.mark.parametrize("inputs", cases())
def test_import_keeps_routing_and_policy_meaning(tmp_path: Path, inputs: list[Path]) -> None:
    report, compiled = import_and_compile(tmp_path, inputs)
    given = load(inputs)
    k8s = [o for o in given if o.get("kind") == "Service" and o.get("apiVersion") == "v1"]
    ours = compiled + k8s  # the Kubernetes Services stay with the workload manifests
    hosts = [f"{o['metadata']['name']}.{o['metadata'].get('namespace', 'default')}.svc.cluster.local" for o in k8s]
    grid = meaning.requests(given)
    servers = meaning.gateway_servers(given)
    pods = meaning.workloads(given)
    requests = meaning.policy_grid(given)
    pairs = [
        (meaning.mesh_routing(given, hosts, grid), meaning.mesh_routing(ours, hosts, grid)),
        (meaning.ingress_routing(given, servers, grid), meaning.ingress_routing(ours, servers, grid)),
        (meaning.verdicts(given, pods, requests), meaning.verdicts(ours, pods, requests)),
        (meaning.mtls_modes(given, pods, (80, 8000, 8080, 9000, 9080)),
         meaning.mtls_modes(ours, pods, (80, 8000, 8080, 9000, 9080))),
    ]
    mismatches = [(k, a[k], b.get(k)) for a, b in pairs for k in a if a[k] != b.get(k)]
    TOTALS["compared"] += sum(len(a) for a, _ in pairs)
    TOTALS["mismatches"] += len(mismatches)
    TOTALS["imported"] += report.count(": imported ")
    TOTALS["verbatim"] += report.count(": verbatim ")
    assert not mismatches, f"{len(mismatches)} meaning mismatches, first: {mismatches[:3]}\n{report}"


def test_totals() -> None:
    """Run last (after the parametrized cases in this module): the round-trip figures for the README."""
    if not TOTALS["compared"]:
        pytest.skip("run with the round-trip cases")
    print(f"\nround trip: {TOTALS['imported']} objects imported as intent, {TOTALS['verbatim']} kept verbatim, "
          f"{TOTALS['compared']} decisions compared, {TOTALS['mismatches']} meaning mismatches")
    assert TOTALS["mismatches"] == 0
