"""Workload awareness: the mesh checked against the Deployments and Services that really run.

Each check is shown broken (the finding, its code, level, text and the line it points at)
and fixed (the finding gone), on compiled meshes and on hand-written YAML.
"""
from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meshcode import Cluster, Dest, ExternalService, Mesh, Port, Route, Service, compile_mesh
from meshcode.analyze.workloads import (
    WorkloadsError, analyze_workloads, check_declared_services, check_service_ports, check_service_selectors,
    check_subsets_select_pods, check_workloads, load_workloads, parse_workloads, plan_resources,
)
from meshcode.analyze.lint import lint
from meshcode.cli import app as cli
from meshcode.plan import Resource
from tests.support.workloads import app, bookinfo, deployment, k8s_service, to_yaml, workloads

NS = "bookinfo"
MANAGED = {"app.kubernetes.io/managed-by": "meshcode"}
IST0173 = ("The Subset v3 defined in the DestinationRule does not select any pods. "
           "Which may lead to 503 UH (NoHealthyUpstream).")


def reviews_mesh() -> tuple[Mesh, Service]:
    reviews = Service("reviews", namespace=NS, ports=[Port(9080)], versions=["v1", "v2", "v3"])
    return Mesh("shop", clusters=[Cluster("prod")], services=[reviews]), reviews


def compiled(mesh: Mesh) -> list[Resource]:
    return plan_resources(compile_mesh(mesh))


def codes(findings) -> list[str]:
    return [f.code for f in findings]


# -- loading ---------------------------------------------------------------------------------

def test_parse_keeps_workloads_and_services_with_their_lines() -> None:
    text = to_yaml([
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
        k8s_service("reviews", {"app": "reviews"}),
        deployment("reviews-v1", {"app": "reviews", "version": "v1"}),
    ])
    found = parse_workloads(text, "k8s/bookinfo.yaml")
    assert [(r.kind, r.name) for r in found] == [("Service", "reviews"), ("Deployment", "reviews-v1")]
    lines = text.splitlines()
    for r in found:
        assert r.origin.file == "k8s/bookinfo.yaml"
        assert lines[r.origin.line - 1].startswith("apiVersion:")
        assert f"name: {r.name}" in "\n".join(lines[r.origin.line - 1:r.origin.line + 3])


def test_parse_reads_kubectl_lists_and_every_pod_owner() -> None:
    items = [deployment("a", {"app": "a"}, kind=kind) for kind in ("StatefulSet", "DaemonSet", "ReplicaSet")]
    cron = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c", "namespace": NS},
            "spec": {"jobTemplate": {"spec": {"template": {"metadata": {"labels": {"app": "c"}}}}}}}
    found = parse_workloads(to_yaml([{"apiVersion": "v1", "kind": "List", "items": items + [cron]}]), "x.yaml")
    assert [r.kind for r in found] == ["StatefulSet", "DaemonSet", "ReplicaSet", "CronJob"]
    index_labels = check_service_selectors([], found + workloads([k8s_service("c", {"app": "c"})]))
    assert index_labels == []  # the CronJob's pod template is found through jobTemplate


def test_load_reads_a_folder_recursively_in_path_order(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "a.yaml").write_text(to_yaml([k8s_service("details", {"app": "details"})]))
    (tmp_path / "b" / "c.yml").write_text(to_yaml([deployment("details-v1", {"app": "details"})]))
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.yaml").write_text("not: [valid")
    (tmp_path / "notes.txt").write_text("ignored")
    found = load_workloads(tmp_path)
    assert [(Path(r.origin.file).name, r.name) for r in found] == [("a.yaml", "details"), ("c.yml", "details-v1")]


def test_bad_manifests_are_typed_errors_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: [unclosed\n")
    with pytest.raises(WorkloadsError) as e:
        load_workloads(bad)
    assert e.value.code == "MC6000" and e.value.location.file == str(bad) and e.value.location.line >= 4
    assert "not valid YAML" in e.value.message
    scalar = tmp_path / "scalar.yaml"  # not a Kubernetes object: skipped, as `meshcode lint` skips it
    scalar.write_text("---\njust a string\n---\n" + to_yaml([k8s_service("details", {"app": "details"})]))
    assert [r.name for r in load_workloads(scalar)] == ["details"]
    with pytest.raises(WorkloadsError, match="no workload manifests"):
        load_workloads(tmp_path / "missing")


# -- IST0173: a subset whose labels select no pod ---------------------------------------------

def test_subset_without_pods_is_ist0173_at_the_service_line() -> None:
    mesh, reviews = reviews_mesh()
    broken = check_subsets_select_pods(compiled(mesh), workloads(app("reviews", ["v1", "v2"])))
    assert len(broken) == 1
    f = broken[0]
    assert (f.code, f.level, f.kind, f.namespace, f.name) == ("IST0173", "error", "DestinationRule", NS, "reviews")
    assert f.message.startswith(IST0173)
    assert "app=reviews, version=v3" in f.message  # the Service's selector and the subset's labels
    assert f.location == reviews.origin
    fixed = check_subsets_select_pods(compiled(mesh), workloads(app("reviews", ["v1", "v2", "v3"])))
    assert fixed == []


def test_subset_pods_must_be_the_services_own_and_in_its_namespace() -> None:
    mesh, _ = reviews_mesh()
    docs = app("reviews", ["v1", "v2"])
    docs.append(deployment("ratings-v3", {"app": "ratings", "version": "v3"}))  # another app's v3
    docs.append(deployment("reviews-v3", {"app": "reviews", "version": "v3"}, namespace="staging"))
    found = check_subsets_select_pods(compiled(mesh), workloads(docs))
    assert [f.message.split(" defined")[0] for f in found] == ["The Subset v3"]


def test_subset_check_on_hand_written_yaml_resolves_short_hosts() -> None:
    dr = {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
          "metadata": {"name": "reviews", "namespace": NS},
          "spec": {"host": "reviews", "subsets": [{"name": "v1", "labels": {"version": "v1"}},
                                                  {"name": "v3", "labels": {"version": "v3"}}]}}
    config = parse_workloads(to_yaml([dr]), "x") or [Resource(dr)]
    found = check_subsets_select_pods(config, workloads(app("reviews", ["v1"])))
    assert [f.message.startswith(IST0173) for f in found] == [True]


# -- IST0118: a Service port Istio cannot read a protocol from ---------------------------------

def test_port_without_protocol_name_is_ist0118_at_the_manifest_line() -> None:
    docs = app("reviews", ["v1"], ports=[{"port": 9080, "name": "web", "targetPort": 8080}])
    found = check_service_ports([], workloads(docs, "k8s/reviews.yaml"))
    assert len(found) == 1
    f = found[0]
    assert (f.code, f.level, f.kind, f.name) == ("IST0118", "info", "Service", "reviews")
    assert f.message == ("Port name web (port: 9080, targetPort: 8080) doesn't follow the naming "
                         "convention of Istio port.")
    assert f.location.file == "k8s/reviews.yaml" and f.location.line == 1


@pytest.mark.parametrize("port", [
    {"port": 9080, "name": "http-web"},
    {"port": 9080, "name": "web", "appProtocol": "http"},
    {"port": 9090, "name": "grpc-web-api"},
    {"port": 9000, "name": "TCP"},
    {"port": 3306, "name": "db"},  # well-known port: Istio assumes TCP
    {"port": 5353, "name": "dns", "protocol": "UDP"},
])
def test_ports_istio_can_read_are_fine(port: dict) -> None:
    assert check_service_ports([], workloads(app("reviews", ["v1"], ports=[port]))) == []


def test_app_protocol_wins_over_the_name_and_system_namespaces_are_skipped() -> None:
    docs = app("reviews", ["v1"], ports=[{"port": 9080, "name": "http", "appProtocol": "web"}])
    docs.append(k8s_service("kube-dns", {"k8s-app": "kube-dns"}, "kube-system", [{"port": 9153, "name": "metrics"}]))
    assert [(f.code, f.name) for f in check_service_ports([], workloads(docs))] == [("IST0118", "reviews")]


# -- a Service whose selector matches no workload ----------------------------------------------

def test_service_selecting_no_workload_is_a_warning() -> None:
    docs = [k8s_service("ghost", {"app": "ghost"}), deployment("ghost-v1", {"app": "ghoost"})]
    found = check_service_selectors([], workloads(docs, "k8s/ghost.yaml"))
    assert [(f.code, f.level, f.name) for f in found] == [("MC6001", "warning", "ghost")]
    assert "app=ghost" in found[0].message and found[0].location.line == 1
    docs[1] = deployment("ghost-v1", {"app": "ghost", "version": "v1"})
    assert check_service_selectors([], workloads(docs)) == []


def test_services_without_selector_are_not_judged() -> None:
    docs = [k8s_service("manual", None), {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
                                         "spec": {"type": "ExternalName", "externalName": "example.com",
                                                  "selector": {"app": "x"}}}]
    assert check_service_selectors([], workloads(docs)) == []


# -- a declared service with no Kubernetes Service ---------------------------------------------

def test_declared_service_without_kubernetes_service_is_an_error() -> None:
    ratings = Service("ratings", namespace=NS, ports=[Port(9080)], versions=["v1"])
    details = Service("details", namespace=NS, ports=[Port(9080)])  # no versions: no DR or VS of its own
    productpage = Service("productpage", namespace=NS, ports=[Port(9080)],
                          routes=[Route(to=Dest(details))])
    httpbin_org = ExternalService("httpbin-org", namespace=NS, hosts=["httpbin.org"], ports=[Port(443, "HTTPS")])
    mesh = Mesh("shop", clusters=[Cluster("prod")], services=[ratings, details, productpage],
                external_services=[httpbin_org])
    docs = [k8s_service("productpage", {"app": "productpage"})]
    found = check_declared_services(compiled(mesh), workloads(docs))
    by_name = {re.search(r"[a-z.-]+\.svc\.cluster\.local", f.message).group(): f for f in found}
    assert set(by_name) == {"details.bookinfo.svc.cluster.local", "ratings.bookinfo.svc.cluster.local"}
    assert all(f.code == "MC6002" and f.level == "error" for f in found)
    assert by_name["ratings.bookinfo.svc.cluster.local"].location == ratings.origin
    assert "declares" in by_name["ratings.bookinfo.svc.cluster.local"].message
    routed = by_name["details.bookinfo.svc.cluster.local"]
    assert "routes to" in routed.message and routed.location == productpage.origin  # where the route is
    docs += app("ratings", ["v1"]) + app("details", [])
    assert check_declared_services(compiled(mesh), workloads(docs)) == []


def test_routes_to_the_control_plane_are_not_judged_by_app_manifests() -> None:
    vs = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
          "metadata": {"name": "istiod-vs", "namespace": "istio-system", "labels": MANAGED},
          "spec": {"hosts": ["*"], "gateways": ["istiod-gateway"], "tls": [{
              "match": [{"port": 15012, "sniHosts": ["istiod.istio-system.svc"]}],
              "route": [{"destination": {"host": "istiod.istio-system.svc.cluster.local"}}]}]}}
    assert check_declared_services([Resource(vs)], workloads(bookinfo())) == []


def test_bookinfo_workloads_satisfy_every_check() -> None:
    mesh = Mesh("bookinfo", clusters=[Cluster("prod")], services=[
        Service(name, namespace=NS, ports=[Port(9080, name="http")], versions=versions)
        for name, versions in {"productpage": ["v1"], "reviews": ["v1", "v2", "v3"], "ratings": ["v1"],
                               "details": ["v1"]}.items()])
    assert check_workloads(compiled(mesh), workloads(bookinfo())) == []


def test_analyze_workloads_checks_shared_objects_once_and_relativises(tmp_path: Path) -> None:
    reviews = Service("reviews", namespace=NS, ports=[Port(9080)], versions=["v1", "v9"])
    mesh = Mesh("shop", clusters=[Cluster("a"), Cluster("b")], services=[reviews])
    found = analyze_workloads(compile_mesh(mesh), workloads(app("reviews", ["v1"])), Path(__file__).parent)
    assert codes(found) == ["IST0173"]
    assert found[0].location.file == Path(__file__).name and found[0].location.line == reviews.origin.line


# -- wired into `meshcode compile` -----------------------------------------------------------

STACK = """\
from meshcode import Cluster, Mesh, Port, Service

reviews = Service("reviews", namespace="bookinfo", ports=[Port(9080)], versions=["v1", "v2", "v3"])

mesh = Mesh("shop", clusters=[Cluster("prod")], services=[reviews])
"""


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_compile_with_workloads_refuses_a_subset_without_pods(make_project, tmp_path: Path) -> None:
    root = make_project(shop=STACK)
    k8s = tmp_path / "k8s.yaml"
    k8s.write_text(to_yaml(app("reviews", ["v1", "v2"])))
    result = run("compile", "--root", str(root), "--workloads", str(k8s))
    assert result.exit_code == 1
    assert f"stacks/shop.py:3: error IST0173 DestinationRule bookinfo/reviews: {IST0173}" in result.stderr
    assert not (root / "generated").exists()  # nothing written
    k8s.write_text(to_yaml(app("reviews", ["v1", "v2", "v3"], ports=[{"port": 9080, "name": "web"}])))
    result = run("compile", "--root", str(root), "--workloads", str(k8s))
    assert result.exit_code == 0, result.output
    assert "info IST0118 Service bookinfo/reviews" in result.stderr  # reported, not fatal
    assert (root / "generated" / "prod" / "bookinfo" / "destinationrule-reviews.yaml").is_file()


def test_compile_reads_the_workloads_setting(make_project) -> None:
    root = make_project(shop=STACK)
    (root / "pyproject.toml").write_text(textwrap.dedent("""\
        [tool.meshcode]
        repo_url = "https://example.com/mesh.git"
        workloads = "k8s"
    """))
    (root / "k8s").mkdir()
    (root / "k8s" / "reviews.yaml").write_text(to_yaml(app("reviews", ["v1", "v3"])))
    result = run("compile", "--root", str(root))
    assert result.exit_code == 1 and "error IST0173" in result.stderr and "Subset v2" in result.stderr
    (root / "k8s" / "reviews-v2.yaml").write_text(to_yaml([deployment("reviews-v2", {"app": "reviews",
                                                                                    "version": "v2"})]))
    assert run("compile", "--root", str(root)).exit_code == 0


def test_compile_without_workloads_checks_nothing_extra(make_project) -> None:
    root = make_project(shop=STACK)
    result = run("compile", "--root", str(root))
    assert result.exit_code == 0 and "IST0173" not in result.output


def test_unreadable_workloads_fail_the_compile(make_project, tmp_path: Path) -> None:
    root = make_project(shop=STACK)
    result = run("compile", "--root", str(root), "--workloads", str(tmp_path / "nope"))
    assert result.exit_code == 1 and "MC6000" in result.stderr and not (root / "generated").exists()


# -- wired into `meshcode lint` --------------------------------------------------------------

def test_lint_checks_generated_output_per_cluster_against_workloads(make_project, tmp_path: Path) -> None:
    two_clusters = STACK.replace('clusters=[Cluster("prod")]', 'clusters=[Cluster("east"), Cluster("west")]')
    root = make_project(shop=two_clusters)
    assert run("compile", "--root", str(root)).exit_code == 0
    k8s = tmp_path / "k8s.yaml"
    k8s.write_text(to_yaml(app("reviews", ["v1", "v2"], ports=[{"port": 9080, "name": "web"}])))
    result = run("lint", str(root / "generated"), "--workloads", str(k8s), "--format", "json")
    assert result.exit_code == 1
    found = json.loads(result.stdout)
    subsets = [f for f in found if f["code"] == "IST0173"]
    assert len(subsets) == 2 and all(f["file"].endswith("destinationrule-reviews.yaml") for f in subsets)
    assert {Path(f["file"]).parent.parent.name for f in subsets} == {"east", "west"}
    checked = lint([root / "generated"], workloads=load_workloads(k8s)).findings
    assert sorted(f.cluster for f in checked if f.code == "IST0173") == ["east", "west"]
    assert [f.cluster for f in checked if f.code == "IST0118"] == [""]  # about the workloads alone: once
    k8s.write_text(to_yaml(app("reviews", ["v1", "v2", "v3"])))
    result = run("lint", str(root / "generated"), "--workloads", str(k8s))
    assert result.exit_code == 0, result.output


def test_lint_plain_yaml_with_workloads_and_sarif_rules(tmp_path: Path) -> None:
    dr = {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
          "metadata": {"name": "ratings", "namespace": NS},
          "spec": {"host": "ratings", "subsets": [{"name": "v2", "labels": {"version": "v2"}}]}}
    (tmp_path / "dr.yaml").write_text(to_yaml([dr]))
    (tmp_path / "k8s.yaml").write_text(to_yaml(app("ratings", ["v1"])))
    result = run("lint", str(tmp_path / "dr.yaml"), "--workloads", str(tmp_path / "k8s.yaml"), "--format", "sarif")
    assert result.exit_code == 1
    run_ = json.loads(result.stdout)["runs"][0]
    assert {"IST0173", "IST0118", "MC6001", "MC6002"} <= {r["id"] for r in run_["tool"]["driver"]["rules"]}
    assert [(r["ruleId"], r["level"]) for r in run_["results"]] == [("IST0173", "error")]
    # without workloads nothing says whether the subset has pods; lint only notes the unknown host
    result = run("lint", str(tmp_path / "dr.yaml"), "--format", "json")
    assert result.exit_code == 0 and [f["code"] for f in json.loads(result.stdout)] == ["IST0174"]


def test_odd_hand_written_yaml_does_not_crash_the_checks() -> None:
    odd = [
        {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": "a"},
         "spec": {"host": 7, "subsets": "v1"}},
        {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": "b"},
         "spec": {"host": "b", "subsets": ["v1", {"name": "v2", "labels": ["x"]}]}},
        {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "c"},
         "spec": {"hosts": "c", "http": [{"route": "x"}, "y", {"mirror": "z"}]}},
        {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "d"}, "spec": []},
    ]
    loads = [k8s_service("b", ["app"]), k8s_service("e", {"app": 1}, ports=["http", {"port": "x", "name": 5}]),
             {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "f"}, "spec": {"template": 3}}]
    found = check_workloads([Resource(o) for o in odd], workloads(loads))
    assert {f.code for f in found} <= {"IST0173", "IST0118", "MC6001", "MC6002"}
