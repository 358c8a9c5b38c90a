"""Argo CD output: an AppProject and an ApplicationSet per mesh in generated/argocd/.

Asserts what Argo CD would do with them (which Applications the list generator makes, where
each points, how it syncs), that they pass the Argo CD CRD schemas, and how several meshes
and the project settings compose.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from meshcode import (
    IstioInstall,
    ArgoCD,
    Cluster,
    CompileError,
    Mesh,
    Port,
    Service,
    compile_mesh,
    compile_meshes,
)
from meshcode.compile.argocd import GitOpsDefaults
from meshcode.app.project import Project
from tests.support.gitops import cli, crdcheck_against, init_repo, shop_stack
from tests.support.meshes import objects, write_plan

DEFAULTS = GitOpsDefaults("https://git.example.com/mesh.git", "main", "generated")


def cart() -> Service:
    return Service("cart", namespace="shop", ports=[Port(8080)], versions=["v1", "v2"])


def shop(**kw: Any) -> Mesh:
    clusters = kw.pop("clusters", [Cluster("prod"), Cluster("staging")])
    kw.setdefault("install", IstioInstall(method="istioctl"))  # the install Applications: test_install_helm.py
    return Mesh(kw.pop("name", "shop"), clusters=clusters, services=[cart()], **kw)


def argo(plan) -> dict[tuple[str, str, str], dict[str, Any]]:
    return objects(plan, "argocd")


def applications(appset: dict[str, Any]) -> list[dict[str, Any]]:
    """Render the ApplicationSet's list generator the way the controller does (for {{.key}} fields)."""
    (gen,) = appset["spec"]["generators"]
    template = yaml.safe_dump(appset["spec"]["template"])
    apps = []
    for element in gen["list"]["elements"]:
        text = template
        for k, v in element.items():
            text = text.replace("{{." + k + "}}", str(v))
        assert "{{" not in text, f"unresolved template field in {text}"
        apps.append(yaml.safe_load(text))
    return apps


def test_one_application_per_cluster_folder_pointing_at_its_folder_and_cluster() -> None:
    plan = compile_mesh(shop(), gitops=DEFAULTS)
    objs = argo(plan)
    appset = objs[("ApplicationSet", "argocd", "shop")]
    apps = applications(appset)
    assert [a["metadata"]["name"] for a in apps] == ["shop-prod", "shop-staging"]
    for app, cluster in zip(apps, ["prod", "staging"]):
        spec = app["spec"]
        assert spec["source"] == {"repoURL": "https://git.example.com/mesh.git", "targetRevision": "main",
                                  "path": f"generated/{cluster}"}
        assert spec["destination"] == {"name": cluster}
        assert spec["project"] == "shop"
        assert spec["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
        assert "ServerSideApply=true" in spec["syncPolicy"]["syncOptions"]
        assert app["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "meshcode"
    assert appset["spec"]["goTemplate"] is True and "missingkey=error" in appset["spec"]["goTemplateOptions"]
    # every path an Application reads is a folder the compile produces
    assert {a["spec"]["source"]["path"].removeprefix("generated/") for a in apps} == set(plan.folders) - {"argocd"}


def test_app_project_allows_exactly_the_repo_clusters_and_kinds_generated() -> None:
    plan = compile_mesh(shop(), gitops=DEFAULTS)
    project = argo(plan)[("AppProject", "argocd", "shop")]["spec"]
    assert project["sourceRepos"] == ["https://git.example.com/mesh.git"]
    assert project["destinations"] == [{"name": "prod", "namespace": "*"}, {"name": "staging", "namespace": "*"}]
    generated = {(r.api_version.rpartition("/")[0], r.kind, bool(r.namespace))
                 for f in ("prod", "staging") for r in plan.folders[f]}
    allowed = {(e["group"], e["kind"], True) for e in project["namespaceResourceWhitelist"]}
    allowed |= {(e["group"], e["kind"], False) for e in project["clusterResourceWhitelist"]}
    assert allowed == generated
    assert ("", "Namespace", False) in allowed


def test_sync_policy_is_intent() -> None:
    manual = compile_mesh(shop(argocd=ArgoCD(automated=False)), gitops=DEFAULTS)
    sync = applications(argo(manual)[("ApplicationSet", "argocd", "shop")])[0]["spec"]["syncPolicy"]
    assert "automated" not in sync and sync["syncOptions"] == ["ServerSideApply=true"]

    cautious = compile_mesh(shop(argocd=ArgoCD(prune=False, self_heal=False,
                                               sync_options=("PruneLast=true", "ServerSideApply=true"))),
                            gitops=DEFAULTS)
    sync = applications(argo(cautious)[("ApplicationSet", "argocd", "shop")])[0]["spec"]["syncPolicy"]
    assert sync["automated"] == {"prune": False, "selfHeal": False}
    assert sync["syncOptions"] == ["ServerSideApply=true", "PruneLast=true"]


def test_mesh_settings_override_project_settings_and_clusters_can_be_renamed() -> None:
    mesh = shop(argocd=ArgoCD(repo_url="https://other.example.com/x.git", target_revision="release",
                              namespace="gitops", project="payments-team", cluster_names={"prod": "in-cluster"}))
    objs = argo(compile_mesh(mesh, gitops=DEFAULTS))
    appset = objs[("ApplicationSet", "gitops", "shop")]
    apps = {a["metadata"]["name"]: a["spec"] for a in applications(appset)}
    assert apps["shop-prod"]["destination"] == {"name": "in-cluster"}
    assert apps["shop-prod"]["source"]["path"] == "generated/prod"  # the folder keeps the meshcode name
    assert apps["shop-staging"]["destination"] == {"name": "staging"}
    assert apps["shop-prod"]["source"]["repoURL"] == "https://other.example.com/x.git"
    assert apps["shop-prod"]["source"]["targetRevision"] == "release"
    assert apps["shop-prod"]["project"] == "payments-team"
    project = objs[("AppProject", "gitops", "payments-team")]["spec"]
    assert {"name": "in-cluster", "namespace": "*"} in project["destinations"]


def test_no_repo_url_means_no_argocd_folder_and_a_note() -> None:
    bare = compile_mesh(shop())  # no project settings: SDK use, tests
    assert "argocd" not in bare.folders and not [n for n in bare.notes if n.code == "MC2403"]
    plan = compile_mesh(shop(), gitops=GitOpsDefaults(repo_url=None))
    assert "argocd" not in plan.folders
    (note,) = [n for n in plan.notes if n.code == "MC2403"]
    assert "repo_url" in note.message and note.location and note.location.file.endswith(".py")
    assert "argocd" not in compile_mesh(shop(argocd=None), gitops=DEFAULTS).folders


def test_reserved_cluster_name_and_unknown_mapping_are_errors_at_their_line() -> None:
    with pytest.raises(CompileError) as e:
        compile_mesh(shop(clusters=[Cluster("argocd")]), gitops=DEFAULTS)
    (f,) = [f for f in e.value.findings if f.code == "MC2401"]
    assert f.location and f.location.file.endswith("test_gitops_argocd.py")
    with pytest.raises(CompileError) as e:
        compile_mesh(shop(argocd=ArgoCD(cluster_names={"prdo": "x"})), gitops=DEFAULTS)
    assert "'prdo'" in str(e.value) and "MC2402" in str(e.value)


def test_several_meshes_share_the_argocd_folder_without_conflict() -> None:
    a = shop(name="shop", clusters=[Cluster("prod")])
    b = Mesh("pay", clusters=[Cluster("pay-prod")], install=IstioInstall(method="istioctl"),
             services=[Service("ledger", namespace="pay", ports=[Port(80)], versions=["v1"])])
    plan = compile_meshes([a, b], gitops=DEFAULTS)
    keys = set(argo(plan))
    assert keys == {("AppProject", "argocd", "shop"), ("ApplicationSet", "argocd", "shop"),
                    ("AppProject", "argocd", "pay"), ("ApplicationSet", "argocd", "pay")}
    pay_apps = applications(argo(plan)[("ApplicationSet", "argocd", "pay")])
    assert [a["spec"]["source"]["path"] for a in pay_apps] == ["generated/pay-prod"]
    # a cluster folder still belongs to exactly one mesh
    with pytest.raises(CompileError, match="output folder 'prod' is produced by meshes"):
        compile_meshes([a, shop(name="other", clusters=[Cluster("prod")])], gitops=DEFAULTS)


def test_two_meshes_with_one_project_name_are_an_error() -> None:
    a = shop(name="shop", clusters=[Cluster("prod")], argocd=ArgoCD(project="team"))
    b = shop(name="shop2", clusters=[Cluster("dev")], argocd=ArgoCD(project="team"))
    with pytest.raises(CompileError) as e:
        compile_meshes([a, b], gitops=DEFAULTS)
    assert "MC2404" in str(e.value) and "AppProject argocd/team" in str(e.value)


def test_argocd_output_passes_the_argo_cd_crds(tmp_path: Path) -> None:
    a = shop(name="shop", argocd=ArgoCD(cluster_names={"prod": "in-cluster"}, sync_options=("PruneLast=true",)))
    b = Mesh("pay", clusters=[Cluster("pay-prod")], argocd=ArgoCD(automated=False),
             install=IstioInstall(method="istioctl"),
             services=[Service("ledger", namespace="pay", ports=[Port(80)], versions=["v1"])])
    out = write_plan(compile_meshes([a, b], gitops=DEFAULTS), tmp_path / "generated")
    code, report = crdcheck_against("argo-cd", out / "argocd")
    assert code == 0, report
    assert "4 checked against a CRD, 0 errors" in report


def test_project_settings_flow_into_the_output_and_the_path_is_relative_to_the_git_top(make_project) -> None:
    root = make_project(shop=shop_stack())
    (root / "pyproject.toml").write_text('[tool.meshcode]\nrepo_url = "https://git.example.com/a.git"\n'
                                         'target_revision = "v2"\noutput = "deploy/generated"\n')
    init_repo(root.parent)  # the meshcode project is a sub-folder of the repository
    assert Project.open(root).gitops_defaults() == GitOpsDefaults(
        "https://git.example.com/a.git", "v2", "project/deploy/generated")
    result = cli("compile", root=root)
    assert result.exit_code == 0, result.output
    appset = yaml.safe_load((root / "deploy/generated/argocd/argocd/applicationset-shop.yaml").read_text())
    apps = applications(appset)
    assert [a["spec"]["source"]["path"] for a in apps] == ["project/deploy/generated/prod",
                                                            "project/deploy/generated/staging"]
    assert all(a["spec"]["source"]["targetRevision"] == "v2" for a in apps)
    assert appset["metadata"]["annotations"]["meshcode.dev/stack"] == "stacks/shop.py"
    assert (root / "deploy/generated/argocd/kustomization.yaml").is_file()


def test_patches_reach_the_argocd_objects_too() -> None:
    from meshcode import Patch
    mesh = shop(patches=[Patch("ApplicationSet", "shop", [
        {"op": "add", "path": "/spec/template/metadata/finalizers",
         "value": ["resources-finalizer.argocd.argoproj.io"]}])])
    appset = argo(compile_mesh(mesh, gitops=DEFAULTS))[("ApplicationSet", "argocd", "shop")]
    assert applications(appset)[0]["metadata"]["finalizers"] == ["resources-finalizer.argocd.argoproj.io"]


def test_repo_stacks_compile_into_argocd_output() -> None:
    """The repository's own generated/ has an ApplicationSet for each mesh in stacks/."""
    from tests.support.paths import ROOT
    files = sorted(p.name for p in (ROOT / "generated" / "argocd" / "argocd").glob("*.yaml"))
    meshes = {m.name for m in Project.open(ROOT).build().meshes}
    mesh_config = [f for f in files if not f.startswith("application-") and not f.endswith("-istio.yaml")]
    assert mesh_config == sorted([f"applicationset-{m}.yaml" for m in meshes] + [f"appproject-{m}.yaml" for m in meshes])
    assert any(f.startswith("application-global-") for f in files)  # Istio's Helm charts: test_install_helm.py

