"""meshcode inside a cdk8s app: a Chart holding exactly what `meshcode compile` writes for a cluster.

Teams that define their Deployments and Services with cdk8s keep one `cdk8s synth`; the
mesh's Istio objects come from the same compile as `generated/<cluster>/`, object for
object (kustomization.yaml, a kustomize file rather than a cluster object, is not included).

Needs the extra: `pip install 'meshcode[cdk8s]'`, and Node.js (cdk8s runs on jsii).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

try:
    import cdk8s
    from constructs import Construct
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError("meshcode.integrations.cdk8s needs the cdk8s extra: pip install 'meshcode[cdk8s]' "
                      "(and Node.js, which cdk8s runs on)") from e

from meshcode.app.pipeline import compile_checked
from meshcode.app.project import Project
from meshcode.delivery.store import load_states
from meshcode.errors import MeshcodeError
from meshcode.intent.topology import Mesh
from meshcode.plan import Plan, Resource
from meshcode.settings import find_root, load_settings
from meshcode.state.canary import CanaryState


def construct_id(r: Resource) -> str:
    """Unique within a cluster: the compiler refuses two objects with one kind, namespace and name."""
    return "-".join(part for part in (r.kind.lower(), r.namespace, r.name) if part)


def api_object(scope: Construct, r: Resource) -> cdk8s.ApiObject:
    """One meshcode resource as an ApiObject whose JSON is the resource's manifest, unchanged.

    cdk8s's Python props take only apiVersion, kind and metadata, and it tidies what it is
    given; JSON patches apply after that, so one patch replacing the whole document puts the
    manifest in verbatim (and costs fewer calls into cdk8s's Node runtime than one per field).
    """
    metadata = {"name": r.name, **({"namespace": r.namespace} if r.namespace else {})}
    obj = cdk8s.ApiObject(scope, construct_id(r), api_version=r.api_version, kind=r.kind, metadata=metadata)
    obj.add_json_patch(cdk8s.JsonPatch.replace("", r.obj))
    return obj


def add_resources(scope: Construct, resources: Iterable[Resource]) -> list[cdk8s.ApiObject]:
    return [api_object(scope, r) for r in resources]


def project_root(mesh: Mesh) -> Path:
    """The project the mesh's stack lives in, so stack annotations read as `meshcode compile` writes them."""
    start = Path(mesh.origin.file).parent if mesh.origin else Path.cwd()
    return find_root(start)


def project_states(root: Path) -> dict[str, CanaryState]:
    """Committed canary state, which `meshcode compile` reads too (weights of running canaries)."""
    return load_states(Project(root, load_settings(root)).state_dir)


def compile_for_cdk8s(mesh: Mesh, *, states: Mapping[str, CanaryState] | None = None,
                      root: Path | str | None = None, workloads: list[Resource] | None = None) -> Plan:
    """compile → the checks of every compile (meshcode.app.pipeline), raising on errors as `meshcode compile` does.

    The project's GitOps defaults and its deployed mTLS modes apply as for `meshcode compile`.
    """
    where = Path(root) if root is not None else project_root(mesh)
    project = Project(where, load_settings(where))
    if states is None:
        states = load_states(project.state_dir)
    plan, _findings = compile_checked([mesh], states=states, root=project.root, gitops=project.gitops_defaults(),
                                      output_dir=project.output_dir, workloads=workloads)
    return plan


def chart_workloads(*scopes: Construct) -> list[Resource]:
    """The Deployments, Services, … that cdk8s charts define, for the workload checks."""
    out: list[Resource] = []
    for scope in scopes:
        for child in scope.node.find_all():
            if isinstance(child, cdk8s.ApiObject):
                out.append(Resource(child.to_json()))
    return out


class MeshChart(cdk8s.Chart):
    """A Chart with the Istio objects of one cluster of a meshcode Mesh.

    `cluster` may be omitted when the mesh has one. `states` and `root` default to the
    project the stack lives in, as for `meshcode compile`. With `workloads` (charts of this
    app, or Resources), the mesh is checked against them (IST0173 and friends) at synth.
    """

    def __init__(self, scope: Construct, id: str, *, mesh: Mesh, cluster: str | None = None,
                 states: Mapping[str, CanaryState] | None = None, root: Path | str | None = None,
                 workloads: Iterable[Construct | Resource] | None = None) -> None:
        super().__init__(scope, id, disable_resource_name_hashes=True)
        if cluster is None:
            if len(mesh.clusters) != 1:
                raise MeshcodeError(f"mesh {mesh.name!r} has clusters {', '.join(c.name for c in mesh.clusters)}; "
                                    "pass cluster=<name> to MeshChart", mesh.origin)
            cluster = mesh.clusters[0].name
        loaded = None
        if workloads is not None:
            items = list(workloads)
            loaded = [w for w in items if isinstance(w, Resource)]
            loaded += chart_workloads(*(w for w in items if not isinstance(w, Resource)))
        plan = compile_for_cdk8s(mesh, states=states, root=root, workloads=loaded)
        if cluster not in plan.folders:
            raise MeshcodeError(f"mesh {mesh.name!r} has no cluster {cluster!r} "
                                f"(clusters: {', '.join(sorted(plan.folders))})", mesh.origin)
        self.mesh = mesh
        self.cluster = cluster
        self.resources: list[Resource] = list(plan.folders[cluster])
        add_resources(self, self.resources)


def app_from_plan(plan: Plan, *, outdir: str | None = None,
                  output: cdk8s.YamlOutputType = cdk8s.YamlOutputType.FILE_PER_CHART) -> cdk8s.App:
    """One App with a Chart per output folder holding the plan's resources as ApiObjects.

    The same objects `meshcode compile` renders, built the cdk8s way: what the fleet
    benchmark times against meshcode's own renderer.
    """
    app = cdk8s.App(outdir=outdir, yaml_output_type=output) if outdir else cdk8s.App(yaml_output_type=output)
    for folder in sorted(plan.folders):
        chart = cdk8s.Chart(app, folder, disable_resource_name_hashes=True)
        add_resources(chart, plan.folders[folder])
    return app


__all__ = ["MeshChart", "add_resources", "api_object", "app_from_plan", "chart_workloads", "compile_for_cdk8s",
           "construct_id"]
