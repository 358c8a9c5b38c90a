"""`meshcode import` through the CLI: what it writes, what it refuses, and that names cannot inject code."""
from __future__ import annotations

import ast
from pathlib import Path

from meshcode.loader import load_stacks
from tests.support.core import fingerprint, run_cli
from tests.support.paths import ROOT

SAMPLES = ROOT / "tests" / "data" / "istio-samples"


def test_writes_a_stack_and_reports_each_object_with_its_line(tmp_path: Path) -> None:
    out = tmp_path / "stacks" / "imported.py"
    result = run_cli("import", str(SAMPLES / "bookinfo" / "platform" / "kube" / "bookinfo.yaml"),
                     str(SAMPLES / "bookinfo" / "networking" / "destination-rule-all.yaml"),
                     str(SAMPLES / "bookinfo" / "networking" / "virtual-service-reviews-jason-v2-v3.yaml"),
                     str(SAMPLES / "bookinfo" / "networking" / "fault-injection-details-v1.yaml"),
                     "--output", str(out), "--mesh", "shop", "--cluster", "prod")
    assert result.exit_code == 0, result.output
    assert "virtual-service-reviews-jason-v2-v3.yaml:1: imported VirtualService default/reviews" in result.output
    assert ("fault-injection-details-v1.yaml:1: verbatim VirtualService default/details: http[1] is never reached"
            in result.output)
    text = out.read_text()
    assert 'mesh = Mesh("shop",' in text and 'Cluster("prod")' in text
    (mesh,) = load_stacks(out.parent, tmp_path)
    reviews = next(s for s in mesh.services if s.name == "reviews")
    assert [v.name for v in reviews.versions] == ["v1", "v2", "v3"] and len(reviews.routes) == 2
    assert [v.kind for v in mesh.verbatim] == ["VirtualService"]


def test_never_overwrites_and_bad_paths_are_clean_errors(tmp_path: Path) -> None:
    out = tmp_path / "imported.py"
    out.write_text("# mine\n")
    before = fingerprint(tmp_path)
    result = run_cli("import", str(SAMPLES / "httpbin"), "--output", str(out))
    assert result.exit_code == 1 and "never overwrites" in result.output
    result = run_cli("import", str(tmp_path / "missing.yaml"), "--output", str(tmp_path / "new.py"))
    assert result.exit_code == 1 and "no such file" in result.output
    assert fingerprint(tmp_path) == before


HOSTILE = r'''
apiVersion: networking.istio.io/v1
kind: EnvoyFilter
metadata:
  name: x
  namespace: default
  annotations:
    note: "\"); import os; os.system('touch PWNED') #"
    "\n__import__('os').system('touch PWNED2')": "\u2028x = 1"
spec:
  configPatches:
  - patch: {value: {"TQ\"\"\"": "\r\nimport os"}}
---
apiVersion: v1
kind: Service
metadata: {name: "svc\"); import os #", namespace: default}
spec: {ports: [{port: 80, name: http}], selector: {app: x}}
'''


def test_hostile_names_and_values_stay_data(tmp_path: Path) -> None:
    src = tmp_path / "in.yaml"
    src.write_text(HOSTILE)
    out = tmp_path / "stacks" / "imported.py"
    result = run_cli("import", str(src), "--output", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    tree = ast.parse(text)
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert calls <= {"Mesh", "Cluster", "Verbatim", "Service", "Port", "ExternalService"}, calls
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.Attribute))
                and not (isinstance(n, ast.ImportFrom))], "only `from meshcode import ...`"
    (mesh,) = load_stacks(out.parent, tmp_path)
    assert not list(tmp_path.glob("PWNED*"))
    (ef,) = [v for v in mesh.verbatim if v.kind == "EnvoyFilter"]
    assert ef.obj["metadata"]["annotations"]["note"] == "\"); import os; os.system('touch PWNED') #"
    assert "\n__import__('os').system('touch PWNED2')" in ef.obj["metadata"]["annotations"]
    assert 'not imported as a Service' in result.output  # a Service name no intent accepts


def test_an_object_no_cluster_would_accept_stops_the_import(tmp_path: Path) -> None:
    src = tmp_path / "in.yaml"
    src.write_text('apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n'
                   'metadata: {name: "evil\\nimport os", namespace: default}\nspec: {hosts: [a.example.com]}\n')
    result = run_cli("import", str(src), "--output", str(tmp_path / "stacks" / "imported.py"))
    assert result.exit_code == 1
    assert "REFUSED  ServiceEntry default/evil\\nimport os: cannot be kept" in result.output
    assert not (tmp_path / "stacks").exists()


def test_malformed_specs_are_kept_as_written_never_a_traceback() -> None:
    """Fields of unexpected types anywhere in a spec: the import reports and keeps, and its stack runs."""
    import copy
    import random

    from meshcode.analyze.loader import load_paths
    from meshcode.compile import compile_mesh
    from meshcode.importer import import_resources
    from meshcode.plan import Resource

    resources, _ = load_paths([SAMPLES, ROOT / "tests" / "data" / "istio-security-tasks"])
    rng = random.Random(7)
    odd = [None, 1, "x", [], {}, [1, "a"], {"a": [None]}, True, 1.5, {"exact": 3}]

    def mutate(obj: dict) -> dict:
        obj = copy.deepcopy(obj)
        node, depth = obj.get("spec"), 0
        while isinstance(node, (dict, list)) and node:
            key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
            if rng.random() < 0.4 or depth > 6:
                node[key] = rng.choice(odd)
                break
            node, depth = node[key], depth + 1
        return obj

    for _ in range(20):
        batch = [Resource(mutate(r.obj) if rng.random() < 0.4 else r.obj, r.origin) for r in rng.sample(resources, 10)]
        result = import_resources(batch, [])
        if result.ok:
            scope: dict = {}
            exec(compile(result.source, "imported.py", "exec"), scope)  # the importer's own escaped output
            compile_mesh(scope["mesh"])
