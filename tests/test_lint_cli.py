"""`meshcode lint`: output formats (table, JSON, SARIF 2.1.0), exit codes, defaults, --crds."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meshcode.codes import CODES
from meshcode.cli import app
from tests.support.paths import CRDS, ROOT

runner = CliRunner()

BROKEN = """\
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: shop}
spec: {ports: [{name: http, port: 9080}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviewz}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db, namespace: shop}
spec:
  hosts: [db.example.com]
  ports: [{number: 5432, name: tcp, protocol: TCP}]
  resolution: DNS
"""
WARNING_ONLY = BROKEN.replace("host: reviewz", "host: reviews")
CLEAN = WARNING_ONLY.replace("  resolution: DNS\n", "  addresses: [240.240.0.1]\n  resolution: DNS\n")


def write(tmp_path: Path, text: str, name: str = "mesh.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def lint(*args: str):
    return runner.invoke(app, ["lint", *args])


def test_json_is_an_array_of_findings_in_a_stable_order(tmp_path: Path) -> None:
    f = write(tmp_path, BROKEN)
    first = lint(str(f), "--format", "json")
    assert first.exit_code == 1
    records = json.loads(first.stdout)
    assert records == [
        {"code": "IST0101", "level": "error", "kind": "VirtualService", "namespace": "shop", "name": "reviews",
         "message": 'Referenced host not found: "reviewz" (http[0].route[0])', "file": str(f), "line": 6},
        {"code": "IST0134", "level": "warning", "kind": "ServiceEntry", "namespace": "shop", "name": "db",
         "message": "ServiceEntry addresses are required for this protocol (TCP port 5432).",
         "file": str(f), "line": 15},
    ]
    assert lint(str(f), "--format", "json").stdout == first.stdout


def test_exit_codes(tmp_path: Path) -> None:
    assert lint(str(write(tmp_path, BROKEN, "a.yaml"))).exit_code == 1
    warning_only = write(tmp_path, WARNING_ONLY, "b.yaml")
    assert lint(str(warning_only)).exit_code == 0
    assert lint(str(warning_only), "--strict").exit_code == 1
    clean = write(tmp_path, CLEAN, "c.yaml")
    assert lint(str(clean), "--strict").exit_code == 0


def test_table_is_readable(tmp_path: Path) -> None:
    f = write(tmp_path, BROKEN)
    out = lint(str(f)).stdout.splitlines()
    assert out[0].split() == ["LOCATION", "LEVEL", "CODE", "OBJECT", "MESSAGE"]
    assert out[1].split()[:5] == [f"{f}:6", "error", "IST0101", "VirtualService", "shop/reviews"]
    assert out[-1] == "1 error, 1 warning, 0 info in 3 objects"
    clean = write(tmp_path, CLEAN, "clean.yaml")
    assert lint(str(clean)).stdout == "no problems found in 3 objects\n"


def test_sarif_shape(tmp_path: Path) -> None:
    f = write(tmp_path, BROKEN)
    doc = json.loads(lint(str(f), "--format", "sarif").stdout)
    assert doc["version"] == "2.1.0"
    assert doc["$schema"].endswith("sarif-2.1.0.json")
    (run,) = doc["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "meshcode" and driver["version"]
    rules = driver["rules"]
    assert [r["id"] for r in rules] == sorted(CODES)
    for r in rules:
        assert r["shortDescription"]["text"] and r["helpUri"].startswith("https://")
        assert r["defaultConfiguration"]["level"] in ("error", "warning", "note")
    assert {r["id"]: r["defaultConfiguration"]["level"] for r in rules}["IST0131"] == "note"
    results = run["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == [("IST0101", "error"), ("IST0134", "warning")]
    for r in results:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
        assert r["message"]["text"]
        (loc,) = r["locations"]
        assert loc["physicalLocation"]["artifactLocation"]["uri"] == str(f)
        assert loc["physicalLocation"]["region"]["startLine"] >= 1
        assert loc["logicalLocations"][0]["kind"] == "resource"
    assert results[0]["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == "VirtualService/shop/reviews"


def test_folders_and_files_together_form_one_cluster(tmp_path: Path) -> None:
    """A VirtualService in one file sees the Service declared in another."""
    services, routes = BROKEN.split("---\n")[0], "---\n".join(BROKEN.split("---\n")[1:2])
    (tmp_path / "routes").mkdir()
    write(tmp_path / "routes", routes.replace("reviewz", "reviews"), "vs.yaml")
    svc = write(tmp_path, services, "svc.yaml")
    result = lint(str(svc), str(tmp_path / "routes"), "--format", "json")
    assert (result.exit_code, json.loads(result.stdout)) == (0, [])


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    result = lint(str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2  # a usage error, like a bad flag (issue 21: 0 ok, 1 findings, 2 usage)
    assert "no such file or folder" in result.stderr


def test_schemas_are_validated_by_default_with_the_bundled_crds(tmp_path: Path) -> None:
    f = write(tmp_path, CLEAN.replace("hosts: [reviews]\n", "hosts: [reviews]\n  htp: []\n"))
    without = lint(str(f), "--no-schemas", "--format", "json")
    assert (without.exit_code, json.loads(without.stdout)) == (0, [])
    for extra in ([], ["--crds", str(CRDS / "istio")]):  # bundled by default; --crds adds its own
        result = lint(str(f), *extra, "--format", "json")
        assert result.exit_code == 1
        (record,) = json.loads(result.stdout)
        assert (record["code"], record["name"], record["line"]) == ("IST0106", "reviews", 6)
        assert record["message"] == "Schema validation error: spec.htp: unknown field (not declared in the schema)"


def test_without_paths_lints_the_projects_generated_tree_per_cluster(make_project, monkeypatch) -> None:
    root = make_project(app="""
        from meshcode import Cluster, ExternalService, Mesh, Port, Service
        api = Service("api", namespace="shop", ports=[Port(8080)], versions=["v1", "v2"])
        db = ExternalService("db", namespace="shop", hosts=["db.example.com"], ports=[Port(5432, "TCP")])
        mesh = Mesh("m", clusters=[Cluster("east"), Cluster("west")], services=[api], external_services=[db])
    """)
    assert runner.invoke(app, ["compile", "--root", str(root)]).exit_code == 0
    monkeypatch.chdir(root)
    result = runner.invoke(app, ["lint", "--format", "json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    # one finding per cluster folder, each naming the generated file (relative to the cwd)
    assert [(r["code"], r["file"]) for r in records] == [
        ("IST0134", "generated/east/shop/serviceentry-db.yaml"),
        ("IST0134", "generated/west/shop/serviceentry-db.yaml"),
    ]
    table = runner.invoke(app, ["lint"]).stdout
    assert "[east]" in table and "[west]" in table


@pytest.mark.parametrize("fmt", ["table", "json", "sarif"])
def test_the_repository_generated_tree_has_no_errors(fmt: str) -> None:
    result = lint(str(ROOT / "generated"), "--format", fmt)
    assert result.exit_code == 0, result.output


def test_sarif_validates_against_the_sarif_2_1_0_schema(tmp_path: Path) -> None:
    """The OASIS schema ships in tests/data/sarif (no network): every finding shape, clusters included."""
    from jsonschema import Draft4Validator

    schema = json.loads((ROOT / "tests" / "data" / "sarif" / "sarif-schema-2.1.0.json").read_text())
    Draft4Validator.check_schema(schema)
    validator = Draft4Validator(schema)
    f = write(tmp_path, BROKEN + "---\nnot: an object\n")
    for args in ([str(f)], [str(ROOT / "tests" / "data" / "istio-analyzers")], [str(ROOT / "generated")]):
        doc = json.loads(lint(*args, "--format", "sarif").stdout)
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
        assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
        assert doc["runs"][0]["results"] or args[0].endswith("generated")
