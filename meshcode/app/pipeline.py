"""The build pipeline after loading, in one place for every caller: compile → checks.

`meshcode compile`, `meshcode diff`, each canary step and the cdk8s `MeshChart` all compile
through `compile_checked`, so none of them skips a check or an input: the workloads' pod ports,
the GitOps defaults, the shared analysis, the mTLS migration step against what is deployed
(the PeerAuthentication modes in the output folder), the workload checks, and the schema gate
(every generated object against the bundled CRDs, `meshcode.app.gate`).
"""
from __future__ import annotations

import marshal
import os
from pathlib import Path
from typing import Iterable, Mapping

from meshcode.analyze import analyze_plan
from meshcode.analyze.facts import FactStore
from meshcode.analyze.workloads import analyze_workloads, pod_ports
from meshcode.app.gate import schema_gate
from meshcode.app.inputs import _code_digest
from meshcode.compile import compile_meshes
from meshcode.compile.argocd import GitOpsDefaults
from meshcode.compile.istio_install import revision_removal_findings
from meshcode.compile.security_checks import mtls_step_findings
from meshcode.errors import CompileError, Finding
from meshcode.gitops.deployed import deployed_control_planes, deployed_mtls_modes
from meshcode.intent.topology import Mesh
from meshcode.plan import Plan, Resource
from meshcode.state.canary import CanaryState


def compile_checked(meshes: Iterable[Mesh], *, states: Mapping[str, CanaryState], root: Path,
                    gitops: GitOpsDefaults | None, output_dir: Path,
                    workloads: list[Resource] | None = None) -> tuple[Plan, list[Finding]]:
    """(plan, findings) of a compile every check passed; raises CompileError with every error otherwise."""
    plan = compile_meshes(meshes, states=states, root=str(root), gitops=gitops,
                          workload_ports=pod_ports(workloads) if workloads is not None else None)
    return plan, check_plan(plan, output_dir, root, workloads)


def check_plan(plan: Plan, output_dir: Path, root: Path, workloads: list[Resource] | None = None) -> list[Finding]:
    """analyze → mTLS step against `output_dir` → workloads → the schema gate (every object
    against the bundled CRDs); raises CompileError on any error finding."""
    facts_path = root / ".meshcode" / f"analysis-facts-{_code_digest()[:16]}"
    facts = load_facts(facts_path)
    findings = analyze_plan(plan, facts)
    save_facts(facts_path, facts)
    findings = findings + mtls_step_findings(plan, deployed_mtls_modes(output_dir))
    findings = findings + revision_removal_findings(plan, deployed_control_planes(output_dir))
    if workloads is not None:
        findings = findings + analyze_workloads(plan, workloads, root)
    findings = findings + schema_gate(plan, root)
    errors = [f for f in findings if f.level == "error"]
    if errors:
        raise CompileError(errors)
    return findings


def load_facts(path: Path) -> FactStore:
    """The analysis facts the last compile kept (meshcode.analyze.facts); none when unreadable."""
    from meshcode.render.tree import content_key  # the key the gate and the render cache share

    try:
        previous = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        previous = {}
    return FactStore(content_key, previous)


def save_facts(path: Path, facts: FactStore) -> None:
    """Keep what this compile looked up (only that), for the next; a speed-up only, so any disk
    trouble just means no store. Stores of other meshcode code are removed."""
    data = facts.saved()
    if data is None:
        return
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, path)
        for stale in path.parent.glob("analysis-facts-*"):
            if stale != path and ".tmp-" not in stale.name:
                stale.unlink(missing_ok=True)
    except OSError:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
