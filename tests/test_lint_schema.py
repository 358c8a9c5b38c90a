"""meshcode's own CRD schema validator (meshcode/analyze/schema.py).

It must agree with the independent checker (tests/support/crdcheck.py, a copy of the team's reference tool) on valid and invalid
objects; where an API server is stricter or more lenient than crdcheck (unknown fields at the
root, pruned nulls, duplicate list-map keys), meshcode follows the API server, tested below.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

import meshcode.analyze.cel as cel_module
from meshcode.analyze.loader import load_paths
from meshcode.analyze.schema import CrdSchemas, check_schemas, load_crds, schema_notes
from tests.support.lint import shared_crds
from tests.support.meshes import crdcheck
from tests.support.paths import CRDS, ROOT

CASES = ROOT / "tests" / "data" / "lint" / "schema-cases.yaml"


def _errors(obj: dict, crds: CrdSchemas | None = None) -> list[str]:
    return (crds or shared_crds()).validate(obj) or []


def _crdcheck_rejected(report: str) -> set[str]:
    """Names of the objects crdcheck printed a problem for ('file: Kind/ns/name: problem')."""
    names = set()
    for line in report.splitlines():
        m = re.match(r"^.+?: \w+/[^/]+/([^:]+): ", line)
        if m and not line.startswith("crdcheck:"):
            names.add(m.group(1))
    return names


CLEAN = [ROOT / "generated", ROOT / "tests" / "data" / "istio-samples"]


@pytest.fixture(scope="module")
def crdcheck_report() -> str:
    """One run of the independent checker over the cases and two clean trees (it takes seconds)."""
    code, report = crdcheck(CASES, *CLEAN)
    assert code == 1  # the invalid cases
    return report


def test_agrees_with_crdcheck_on_valid_and_invalid_objects(crdcheck_report: str) -> None:
    theirs = _crdcheck_rejected(crdcheck_report)
    resources, _ = load_paths([CASES])
    ours = {r.name for r in resources if _errors(r.obj)}
    names = {r.name for r in resources}
    assert len(names) >= 25
    assert ours == theirs
    assert ours == {n for n in names if n.startswith("invalid-")}


def test_agrees_with_crdcheck_on_the_generated_tree_and_the_samples(crdcheck_report: str) -> None:
    assert all(str(CASES) in line for line in crdcheck_report.splitlines()[:-1]), crdcheck_report
    resources, _ = load_paths(CLEAN)
    assert len(resources) > 100
    assert [(r.name, _errors(r.obj)) for r in resources if _errors(r.obj)] == []


def test_problems_name_the_field() -> None:
    resources, _ = load_paths([CASES])
    by_name = {r.name: r.obj for r in resources}
    assert _errors(by_name["invalid-unknown-field"]) == [
        "spec.http[0].route[0].wieght: unknown field (not declared in the schema)"]
    assert _errors(by_name["invalid-timeout-too-short"]) == [
        "spec.http[0].timeout: Invalid value: must be a valid duration greater than 1ms"]
    assert _errors(by_name["invalid-subset-without-name"]) == ["spec.subsets[0].name: Required value"]


def test_defaults_are_applied_without_touching_the_object() -> None:
    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
             "metadata": {"name": "r", "namespace": "shop"},
             "spec": {"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": [{"name": "cart", "port": 80}]}]}}
    before = copy.deepcopy(route)
    crds = shared_crds()
    errors: list[str] = []
    defaulted = crds.validator(("gateway.networking.k8s.io", "v1", "HTTPRoute")).check(route, "", errors, crds.cel)
    assert errors == []
    assert route == before  # copy-on-write: the loaded object is never changed
    assert defaulted["spec"]["rules"][0]["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    assert defaulted["spec"]["parentRefs"][0]["group"] == "gateway.networking.k8s.io"
    assert defaulted["metadata"] is route["metadata"]  # untouched subtrees are shared, not copied


def test_validators_are_compiled_once_per_group_version_kind() -> None:
    crds = shared_crds()
    key = ("networking.istio.io", "v1", "VirtualService")
    assert crds.validator(key) is crds.validator(key)


@pytest.mark.parametrize("value,ok", [(3, True), ("3", True), (3.5, False), (True, False)])
def test_int_or_string(value: object, ok: bool) -> None:
    obj = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "a"},
           "spec": {"hosts": ["a"]}, "status": {"observedGeneration": value, "anything": {"goes": [1]}}}
    assert (_errors(obj) == []) is ok


def test_root_unknown_fields_are_rejected_like_strict_field_validation() -> None:
    obj = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "a"},
           "spc": {"hosts": ["a"]}}
    assert _errors(obj) == ["spc: unknown field (not declared in the schema)"]


def test_null_fields_are_pruned_like_the_api_server_does() -> None:
    obj = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "a"},
           "spec": {"hosts": ["a"], "http": None, "gateways": None}}
    assert _errors(obj) == []


def test_duplicate_list_map_keys_are_rejected() -> None:
    obj = {"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry", "metadata": {"name": "a"},
           "spec": {"hosts": ["a.example.com"], "resolution": "DNS",
                    "ports": [{"number": 80, "name": "http"}, {"number": 8080, "name": "http"}]}}
    assert _errors(obj) == ['spec.ports[1]: Duplicate value: {"name": "http"}']


def test_metadata_name_is_required() -> None:
    obj = {"apiVersion": "networking.istio.io/v1", "kind": "Sidecar", "metadata": {}, "spec": {}}
    assert _errors(obj) == ["metadata.name: Required value"]


def test_kinds_of_other_groups_are_not_checked() -> None:
    assert shared_crds().validate({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"},
                                   "spec": {"anything": 1}}) is None


def test_findings_carry_the_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "vs.yaml"
    f.write_text("# header\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"
                 "metadata: {name: a, namespace: shop}\nspec: {hosts: [a], htp: []}\n")
    resources, _ = load_paths([f])
    (finding,) = check_schemas(resources, shared_crds(), "prod")
    assert (finding.code, finding.level, finding.cluster) == ("IST0106", "error", "prod")
    assert (finding.location.file, finding.location.line) == (str(f), 2)
    assert finding.message == "Schema validation error: spec.htp: unknown field (not declared in the schema)"


def test_without_cel_python_rules_are_skipped_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cel_module, "celpy", None)
    crds = load_crds([CRDS / "istio"])
    resources, _ = load_paths([CASES])
    only_cel = [r for r in resources if r.name in ("invalid-timeout-too-short", "invalid-none-with-endpoints")]
    assert check_schemas(only_cel, crds) == []  # without CEL, nothing else is wrong with them
    (note,) = schema_notes(crds)
    assert (note.code, note.level) == ("MC5003", "info")
    assert "pip install 'meshcode[lint]'" in note.message
    assert crds.cel.run == 0 and crds.cel.skipped > 0


def test_kubernetes_cel_extensions_are_evaluated() -> None:
    """url()/isURL()/substring() exist in Kubernetes CEL, not in cel-python: meshcode adds them."""
    crds = CrdSchemas()
    crds.add_crd(yaml.safe_load("""
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: probes.example.com}
spec:
  group: example.com
  names: {kind: Probe, plural: probes}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              url:
                type: string
                x-kubernetes-validations:
                - rule: isURL(self) && url(self).getScheme() in ["http", "https"]
                  message: must be an http(s) URL
              socket:
                type: string
                x-kubernetes-validations:
                - rule: 'self.startsWith("unix://") ? self.substring(7, 8) == "/" : true'
                  message: absolute unix socket path
"""))

    def probe(**spec: str) -> dict:
        return {"apiVersion": "example.com/v1", "kind": "Probe", "metadata": {"name": "p"}, "spec": spec}

    assert crds.validate(probe(url="https://example.com/x", socket="unix:///run/s")) == []
    assert crds.validate(probe(url="ftp://example.com")) == ["spec.url: Invalid value: must be an http(s) URL"]
    assert crds.validate(probe(socket="unix://run/s")) == ["spec.socket: Invalid value: absolute unix socket path"]
    assert crds.cel.skipped == 0


def test_wrongly_typed_items_block_the_rules_of_their_list_as_the_api_server_does() -> None:
    """A type error blocks CEL validation (as kube-apiserver's hasBlockingErr): a rule is written
    for values of its schema's types. cel-python builds the error of `self.all(h, …)` failing on
    many wrongly typed items by nesting the previous errors' texts (24 items: gigabytes)."""
    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "TLSRoute",
             "metadata": {"name": "r", "namespace": "ns"},
             "spec": {"hostnames": list(range(24)), "parentRefs": [{"name": "gw"}],
                      "rules": [{"backendRefs": [{"name": "b", "port": 443}]}]}}
    crds = shared_crds()
    skipped = crds.cel.skipped
    errors = _errors(route, crds)
    assert any("spec.hostnames[0]: must be of type string, got integer" in e for e in errors)
    assert not any("Hostnames" in e for e in errors)
    assert crds.cel.skipped == skipped  # the list's rules were not run into errors on it
    route["spec"]["hostnames"] = ["*.example.com", "a*.example.com", "10.0.0.1"]
    errors = _errors(route)  # well typed: the rules run and judge each hostname
    assert any("Wildcards on hostnames must be the first label" in e for e in errors)
    assert any("Hostnames cannot contain an IP" in e for e in errors)
