"""`meshcode import-workloads`: the printed stack is valid Python that compiles and matches the workloads."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from meshcode import Mesh, Service, compile_mesh
from meshcode.analyze.workloads import check_workloads, load_workloads, plan_resources
from meshcode.cli import app as cli
from tests.support.workloads import app, bookinfo, deployment, k8s_service, to_yaml


def import_stack(tmp_path: Path, docs: list[dict[str, Any]], *args: str) -> tuple[str, dict[str, Any]]:
    path = tmp_path / "k8s.yaml"
    path.write_text(to_yaml(docs))
    result = CliRunner().invoke(cli, ["import-workloads", str(path), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    namespace: dict[str, Any] = {}
    exec(compile(result.stdout, "imported.py", "exec"), namespace)
    return result.stdout, namespace


def services_of(namespace: dict[str, Any]) -> dict[str, Service]:
    mesh = namespace["mesh"]
    assert isinstance(mesh, Mesh)
    return {s.name: s for s in mesh.services}


def test_bookinfo_imports_to_a_stack_that_compiles_and_fits_its_workloads(tmp_path: Path) -> None:
    source, ns = import_stack(tmp_path, bookinfo(), "--mesh", "bookinfo", "--cluster", "prod")
    services = services_of(ns)
    assert sorted(services) == ["details", "productpage", "ratings", "reviews"]
    reviews = services["reviews"]
    assert reviews.namespace == "bookinfo"
    assert [v.name for v in reviews.versions] == ["v1", "v2", "v3"]
    assert [(p.number, p.protocol, p.port_name) for p in reviews.ports] == [(9080, "HTTP", "http")]
    assert reviews.service_account == "bookinfo-reviews"
    mesh = ns["mesh"]
    assert mesh.name == "bookinfo" and [c.name for c in mesh.clusters] == ["prod"]
    plan = compile_mesh(mesh)
    # the subsets the import declares select exactly the pods that run: no workload finding at all
    assert check_workloads(plan_resources(plan), load_workloads(tmp_path / "k8s.yaml")) == []


def test_ports_protocols_versions_and_accounts_are_read_as_istio_reads_them(tmp_path: Path) -> None:
    docs = app("api", ["1.0", "v2"], namespace="shop", ports=[
        {"port": 8080, "name": "web"},                                # no protocol prefix: assumed TCP
        {"port": 9090, "name": "grpc-api", "targetPort": 19090},
        {"port": 8443, "name": "secure", "appProtocol": "https"},     # appProtocol wins
        {"port": 5353, "name": "dns", "protocol": "UDP"},             # not routable: left out
    ])
    docs[1]["spec"]["template"]["spec"].pop("serviceAccountName")     # 1.0 runs as "default"
    docs.append(k8s_service("cache", {"app": "cache"}, "shop", [{"port": 6379, "name": "redis"}]))
    docs.append(deployment("cache", {"app": "cache"}, "shop", account="cache"))
    docs.append(deployment("batch", {"app": "batch"}, "shop"))
    source, ns = import_stack(tmp_path, docs)
    services = services_of(ns)
    api = services["api"]
    assert [(p.number, p.protocol, p.name, p.target_port) for p in api.ports] == [
        (8080, "TCP", "web", None), (9090, "GRPC", "grpc-api", 19090), (8443, "HTTPS", "secure", None)]
    assert {v.name: v.pod_labels for v in api.versions} == {"1-0": {"version": "1.0"}, "v2": {"version": "v2"}}
    assert api.service_account is None and "several service accounts (bookinfo-api, default)" in source
    assert "IST0118" in source and "port 5353 is UDP" in source
    cache = services["cache"]
    assert cache.versions == () and cache.service_account is None  # its account is its own name
    assert [(p.protocol, p.port_name) for p in cache.ports] == [("REDIS", "redis")]
    assert "# Deployment shop/batch is selected by no Service; left out" in source
    compile_mesh(ns["mesh"])


def test_names_that_are_not_identifiers_still_give_valid_python(tmp_path: Path) -> None:
    docs = app("tcp-echo", ["v1"], namespace="a") + app("tcp-echo", ["v1"], namespace="b")
    docs += app("class", ["v1"], namespace="a")
    source, ns = import_stack(tmp_path, docs)
    assert {(s.namespace, s.name) for s in ns["mesh"].services} == {("a", "tcp-echo"), ("b", "tcp-echo"),
                                                                    ("a", "class")}
    assert "tcp_echo_a = Service(" in source and "class_ = Service(" in source
    compile_mesh(ns["mesh"])


def test_no_services_still_prints_a_valid_stack(tmp_path: Path) -> None:
    docs = [deployment("lonely", {"app": "lonely"}), deployment("dns", {"app": "dns"}, account="dns.resolver")]
    docs.append(k8s_service("dns", {"app": "dns"}, ports=[{"port": 53, "name": "dns", "protocol": "UDP"}]))
    source, ns = import_stack(tmp_path, docs)
    assert ns["mesh"].services == ()
    assert "# Service bookinfo/dns has no port the mesh can route; left out" in source


EVIL = "x\nimport os; os.system('touch pwned')  #"


def _top_level_statements(source: str) -> list[str]:
    """What the printed stack would run: only the docstring, one import, and assignments."""
    import ast
    kinds = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            kinds.append("docstring")
        elif isinstance(node, ast.ImportFrom) and node.module == "meshcode":
            kinds.append("import meshcode")
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            kinds.append(f"= {ast.unparse(node.value.func)}(...)")
        else:
            kinds.append(ast.unparse(node))
    return kinds


def test_names_from_the_manifests_cannot_inject_code(tmp_path: Path) -> None:
    """Every manifest string and option the stack shows is escaped: newlines stay inside comments."""
    docs = app("api", ["v1", EVIL], namespace="shop", ports=[{"port": 8080, "name": EVIL},
                                                             {"port": 9090, "targetPort": EVIL}])
    docs[1]["spec"]["template"]["spec"]["serviceAccountName"] = EVIL
    docs.append(deployment(EVIL, {"app": "lonely"}, "shop"))
    docs.append(k8s_service("other", {"app": EVIL}, "shop", [{"port": 80, "name": "http"}]))
    folder = tmp_path / 'k8s"""\nimport os #'
    folder.mkdir()
    (folder / "all.yaml").write_text(to_yaml(docs))
    result = CliRunner().invoke(cli, ["import-workloads", str(folder), "--mesh", EVIL, "--cluster", EVIL],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    source = result.stdout
    assert "\nimport os" not in source
    assert _top_level_statements(source) == [
        "docstring", "import meshcode", "= Service(...)", "= Service(...)", "= Mesh(...)"]
    assert "x\\nimport os; os.system('touch pwned')  #" in source  # shown escaped, on one comment line
    namespace: dict[str, Any] = {}
    try:
        exec(compile(source, "imported.py", "exec"), namespace)
    except Exception as e:  # the mesh name is refused as a name, as it should be; nothing else ran
        assert "is not a valid DNS-1123 label" in str(e)
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()
