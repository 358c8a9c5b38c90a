"""Istio itself through git: Helm-chart Applications per cluster, checked against the charts.

The Applications are checked for meaning (which charts each cluster role gets, the values that
carry the topology, the order Argo CD syncs them in), against the bundled Argo CD CRDs, against
the Istio 1.30.3 charts' own values (keys, profiles, the gateway chart's values.schema.json),
and the revision upgrade is walked through commit by commit in a real git repository.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from meshcode import Cluster, Ingress, IstioInstall, Mesh, Port, ProxyOptions, Route, Service, compile_mesh
from meshcode.analyze.charts import CHARTS, check_istio_charts
from meshcode.compile.argocd import GitOpsDefaults
from meshcode.plan import Plan
from tests.support.gitops import cli, crdcheck_against, init_repo
from tests.support.meshes import write_plan
from tests.support.multicluster import global_mesh

DEFAULTS = GitOpsDefaults("https://git.example.com/mesh.git", "main", "generated")
CHART_DIR = CHARTS / "istio-1.30.3"


def apps(plan: Plan) -> dict[str, dict[str, Any]]:
    return {r.name: r.obj for r in plan.folders.get("argocd", []) if r.kind == "Application"}


def charts_of(plan: Plan, cluster: str) -> dict[str, dict[str, Any]]:
    """app name → Application, for one cluster's install Applications."""
    return {n: a for n, a in apps(plan).items() if a["metadata"]["labels"].get("meshcode.dev/cluster") == cluster}


def values(app: dict[str, Any]) -> dict[str, Any]:
    return app["spec"]["source"]["helm"].get("valuesObject", {})


@pytest.fixture(scope="module")
def global_plan() -> Plan:
    return compile_mesh(global_mesh(), gitops=DEFAULTS)


def test_each_cluster_gets_the_charts_its_role_needs(global_plan: Plan) -> None:
    east1, east2, west1 = (charts_of(global_plan, c) for c in ("east-1", "east-2", "west-1"))
    chart = {n: a["spec"]["source"]["chart"] for n, a in {**east1, **east2, **west1}.items()}
    assert sorted(chart[n] for n in east1) == ["base", "gateway", "gateway", "istiod"]  # east-west + ingress
    assert sorted(chart[n] for n in east2) == ["base", "gateway", "istiod"]  # remote: webhooks, east-west
    assert sorted(chart[n] for n in west1) == ["base", "gateway", "gateway", "istiod", "istiod"]  # two revisions
    istiod = values(east1["global-east-1-istiod-1-30-3"])
    assert istiod["global"] == {"meshID": "shop-global", "multiCluster": {"clusterName": "east-1"},
                                "network": "network-east", "externalIstiod": True}
    assert (istiod["revision"], istiod["revisionTags"]) == ("1-30-3", ["prod-stable"])
    assert istiod["meshConfig"]["trustDomain"] == global_mesh().trust_domain
    # a revision named 1-31-0 runs Istio 1.31.0's chart; CRDs (base) come from the newest one
    assert west1["global-west-1-istiod-1-31-0"]["spec"]["source"]["targetRevision"] == "1.31.0"
    assert values(west1["global-west-1-istiod-1-31-0"])["revisionTags"] == ["prod-canary"]
    assert west1["global-west-1-istio-base"]["spec"]["source"]["targetRevision"] == "1.31.0"
    eastwest = values(east1["global-east-1-gateway-istio-eastwestgateway"])
    assert eastwest["networkGateway"] == "network-east"
    assert eastwest["labels"]["topology.istio.io/network"] == "network-east"
    for app in apps(global_plan).values():
        assert app["spec"]["destination"]["name"] in {"east-1", "east-2", "west-1", "in-cluster"}


def test_a_remote_never_runs_istiod(global_plan: Plan) -> None:
    remote_profile = yaml.safe_load((CHART_DIR / "istiod" / "files" / "profile-remote.yaml").read_text())
    assert remote_profile["istiodRemote"]["enabled"] is True  # the chart skips its Deployment then
    (remote,) = [a for a in charts_of(global_plan, "east-2").values() if a["spec"]["source"]["chart"] == "istiod"]
    v = values(remote)
    assert v["profile"] == "remote"
    assert v["global"]["remotePilotAddress"] == "eastwest.east-1.shop.example.com"
    assert v["istiodRemote"] == {"injectionPath": "/inject/cluster/east-2/net/network-east"}
    assert "meshConfig" not in v  # a remote's proxies read mesh config from their primary
    assert remote["metadata"]["name"].endswith("istio-remote-1-30-3")


def test_sync_waves_put_crds_before_istiod_before_gateways_before_mesh_config(global_plan: Plan) -> None:
    def wave(obj: dict[str, Any]) -> int:
        return int(obj["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", "0"))

    argocd = {(r.kind, r.name): r.obj for r in global_plan.folders["argocd"]}
    by_chart: dict[str, set[int]] = {}
    for app in apps(global_plan).values():
        chart = app["spec"]["source"].get("chart")
        if chart:
            by_chart.setdefault(chart, set()).add(wave(app))
    appset = wave(argocd[("ApplicationSet", "global")])
    assert max(by_chart["base"]) < min(by_chart["istiod"]) < min(by_chart["gateway"]) < appset
    assert wave(argocd[("AppProject", "global-istio")]) < min(by_chart["base"])
    # the bootstrap Application syncs exactly this mesh's files, so the waves apply
    bootstrap = argocd[("Application", "global-bootstrap")]["spec"]["source"]
    listed = bootstrap["directory"]["include"].strip("{}").split(",")
    assert sorted(listed) == sorted(f"argocd/{k.lower()}-{n}.yaml" for k, n in argocd)


def test_values_are_values_the_charts_define_and_the_gateway_schema_accepts(global_plan: Plan) -> None:
    assert check_istio_charts(global_plan.folders["argocd"]) == []
    schema = json.loads((CHART_DIR / "gateway" / "values.schema.json").read_text())
    gateways = [a for a in apps(global_plan).values() if a["spec"]["source"].get("chart") == "gateway"]
    assert len(gateways) == 5
    for app in gateways:
        jsonschema.validate(values(app), schema)


def test_a_values_typo_is_refused_at_the_stack_line(make_project) -> None:
    root = make_project(shop='''
        from meshcode import Cluster, Mesh, Patch, Port, Service
        mesh = Mesh("shop", clusters=[Cluster("prod")],
                    services=[Service("cart", namespace="shop", ports=[Port(80)])],
                    patches=[Patch("Application", "shop-prod-istiod",
                                   [{"op": "add", "path": "/spec/source/helm/valuesObject/global/meshId", "value": "x"}])])
    ''')
    result = cli("compile", root=root)
    assert result.exit_code == 1
    assert "MC5141" in result.output and "'global.meshId'" in result.output
    assert not (root / "generated").exists()


def test_applications_pass_the_argo_cd_crds(tmp_path: Path, global_plan: Plan) -> None:
    out = write_plan(global_plan, tmp_path / "generated")
    code, report = crdcheck_against("argo-cd", out / "argocd")
    assert code == 0, report
    assert " 0 errors" in report


def test_istioctl_keeps_istio_operators_and_writes_no_install_applications() -> None:
    mesh = global_mesh()
    plan = compile_mesh(mesh.model_copy(update={"install": IstioInstall(method="istioctl")}), gitops=DEFAULTS)
    assert not apps(plan)
    assert all(any(r.kind == "IstioOperator" for r in plan.folders[c.name]) for c in mesh.clusters)


def test_install_options_are_typed_and_reach_both_outputs() -> None:
    svc = Service("cart", namespace="shop", ports=[Port(80)])
    install = IstioInstall(cni=True, profile="stable", proxy=ProxyOptions(dns_capture=True, dns_auto_allocate=True))
    ing = Ingress("tcp", hosts=["*"], routes=[Route(to="cart")], port=31400)
    helm = compile_mesh(Mesh("m", clusters=[Cluster("c")], services=[svc], ingresses=[ing], install=install),
                        gitops=DEFAULTS)
    charts = {a["spec"]["source"]["chart"]: values(a) for a in charts_of(helm, "c").values()}
    assert set(charts) == {"base", "istiod", "cni", "gateway"}
    assert charts["istiod"]["profile"] == "stable" and charts["istiod"]["cni"] == {"enabled": True}
    metadata = {"ISTIO_META_DNS_CAPTURE": "true", "ISTIO_META_DNS_AUTO_ALLOCATE": "true"}
    assert charts["istiod"]["meshConfig"]["defaultConfig"]["proxyMetadata"] == metadata
    assert 31400 in [p["port"] for p in charts["gateway"]["service"]["ports"]]  # the TCP ingress port is exposed
    operator = compile_mesh(Mesh("m", clusters=[Cluster("c")], services=[svc],
                                 install=install.model_copy(update={"method": "istioctl"})))
    (iop,) = [r.obj for r in operator.folders["c"] if r.kind == "IstioOperator"]
    assert iop["spec"]["meshConfig"]["defaultConfig"]["proxyMetadata"] == metadata
    assert iop["spec"]["components"]["cni"] == {"enabled": True}
    with pytest.raises(Exception, match="dns_auto_allocate needs dns_capture"):
        ProxyOptions(dns_auto_allocate=True)


def test_no_key_material_is_generated(global_plan: Plan) -> None:
    kinds = {r.kind for items in global_plan.folders.values() for r in items}
    assert "Secret" not in kinds
    text = yaml.safe_dump([r.obj for items in global_plan.folders.values() for r in items])
    assert "BEGIN CERTIFICATE" not in text and "PRIVATE KEY" not in text


UPGRADE = '''
from meshcode import Cluster, Mesh, Port, Service
cluster = Cluster("prod", revision={revision!r}, revision_tags={tags!r}, injection="prod-stable")
mesh = Mesh("shop", clusters=[cluster], services=[Service("cart", namespace="shop", ports=[Port(80)], versions=["v1"])])
'''


def test_a_revision_upgrade_is_a_sequence_of_reviewed_commits(make_project) -> None:
    root = make_project(shop=UPGRADE.format(revision="1-30-3", tags={"prod-stable": "1-30-3"}))
    repo = init_repo(root)
    apps_dir = root / "generated" / "argocd" / "argocd"

    def step(revision: str, tags: dict[str, str]) -> tuple[int, str]:
        (root / "stacks" / "shop.py").write_text(UPGRADE.format(revision=revision, tags=tags))
        diff = cli("diff", "--format", "json", root=root)
        result = cli("compile", "--commit", root=root)
        return result.exit_code, diff.stdout + result.output

    assert cli("compile", "--commit", root=root).exit_code == 0
    assert (apps_dir / "application-shop-prod-istiod-1-30-3.yaml").is_file()
    # 1. install the canary control plane beside the old one
    code, out = step("1-30-3", {"prod-stable": "1-30-3", "prod-canary": "1-31-0"})
    assert code == 0, out
    assert "shop-prod-istiod-1-31-0" in out
    assert (apps_dir / "application-shop-prod-istiod-1-31-0.yaml").is_file()
    # removing 1-30-3 now is refused: the prod-stable tag (and through it, namespace shop) still uses it
    head = repo.head.commit.hexsha
    before = {p: p.read_bytes() for p in (root / "generated").rglob("*") if p.is_file()}
    code, out = step("1-31-0", {"prod-stable": "1-31-0", "prod-canary": "1-31-0"})
    assert code == 1 and "MC2310" in out and "namespace shop" in out and "tag prod-stable" in out, out
    assert repo.head.commit.hexsha == head
    assert {p: p.read_bytes() for p in (root / "generated").rglob("*") if p.is_file()} == before
    # 2. move the stable tag: namespaces keep their label, the tag now resolves to the new revision
    code, out = step("1-30-3", {"prod-stable": "1-31-0", "prod-canary": "1-31-0"})
    assert code == 0, out
    new = yaml.safe_load((apps_dir / "application-shop-prod-istiod-1-31-0.yaml").read_text())
    assert values(new)["revisionTags"] == ["prod-canary", "prod-stable"]
    ns = yaml.safe_load((root / "generated" / "prod" / "_cluster" / "namespace-shop.yaml").read_text())
    assert ns["metadata"]["labels"]["istio.io/rev"] == "prod-stable"
    # 3. nothing points at 1-30-3 any more: it goes, with the cascade finalizer uninstalling it
    code, out = step("1-31-0", {"prod-stable": "1-31-0", "prod-canary": "1-31-0"})
    assert code == 0, out
    assert not (apps_dir / "application-shop-prod-istiod-1-30-3.yaml").exists()
    assert new["metadata"]["finalizers"] == ["resources-finalizer.argocd.argoproj.io"]
    messages = [c.message for c in repo.iter_commits()]
    assert len(messages) == 5  # initial, first compile, then three reviewed steps, each its own commit



def test_ambient_clusters_get_cni_and_ztunnel() -> None:
    from meshcode import DataPlane

    svc = Service("cart", namespace="shop", ports=[Port(80)])
    plan = compile_mesh(Mesh("amb", clusters=[Cluster("c", network="n1")], services=[svc],
                             data_plane=[DataPlane("ambient", namespace="shop")]), gitops=DEFAULTS)
    charts = {a["spec"]["source"]["chart"]: values(a) for a in charts_of(plan, "c").values()}
    assert {"cni", "ztunnel", "istiod", "base"} <= set(charts)
    assert charts["istiod"]["profile"] == charts["cni"]["profile"] == charts["ztunnel"]["profile"] == "ambient"
    assert charts["ztunnel"]["multiCluster"] == {"clusterName": "c"} and charts["ztunnel"]["network"] == "n1"
    assert check_istio_charts(plan.folders["argocd"]) == []
    sidecar = compile_mesh(Mesh("sc", clusters=[Cluster("c")], services=[svc]), gitops=DEFAULTS)
    assert {a["spec"]["source"]["chart"] for a in charts_of(sidecar, "c").values()} == {"base", "istiod"}


def test_every_install_application_in_the_repository_passes_the_charts() -> None:
    """generated/argocd/ of this repository: every values key known, every gateway's values schema-valid."""
    from meshcode.analyze.loader import load_paths
    from tests.support.paths import ROOT

    resources, notes = load_paths([ROOT / "generated" / "argocd"])
    assert not notes
    assert check_istio_charts(resources) == []
    schema = json.loads((CHART_DIR / "gateway" / "values.schema.json").read_text())
    gateways = [r.obj for r in resources if r.kind == "Application"
                and r.obj["spec"].get("source", {}).get("chart") == "gateway"]
    assert len(gateways) >= 5
    for app in gateways:
        jsonschema.validate(values(app), schema)
