"""`meshcode diff`: per-cluster summary, RFC 6902 patches, YAML diffs, JSON; working tree or a git ref."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonpatch
import yaml

from meshcode.gitops.diff import diff_json, diff_trees
from meshcode.gitops.tree import read_manifest
from tests.support.gitops import cli, init_repo, shop_stack, write_stack

VS = "prod/shop/virtualservice-cart.yaml"


def doc(kind: str, name: str, ns: str = "shop", **spec) -> bytes:
    return yaml.safe_dump({"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": ns},
                           "spec": spec}).encode()


# ---- the pure comparison --------------------------------------------------------------------------
def test_objects_are_matched_by_cluster_kind_namespace_and_name() -> None:
    old = {"prod/shop/a.yaml": doc("VirtualService", "a", w=1), "prod/shop/b.yaml": doc("Gateway", "b"),
           "prod/shop/same.yaml": b"{not: [valid yaml", "prod/kustomization.yaml": b"resources: [a]\n",
           "dev/shop/a.yaml": doc("VirtualService", "a", w=1)}
    new = {"prod/shop/a.yaml": doc("VirtualService", "a", w=2), "prod/shop/c.yaml": doc("Sidecar", "c"),
           "prod/shop/same.yaml": b"{not: [valid yaml", "prod/kustomization.yaml": b"resources: [a, c]\n",
           "dev/shop/a.yaml": doc("VirtualService", "a", w=1)}
    d = diff_trees(old, new)  # identical bytes are never parsed: the invalid file does not matter
    assert [(c.key.folder, c.change, c.key.kind, c.key.name) for c in d.changes] == [
        ("prod", "changed", "VirtualService", "a"), ("prod", "removed", "Gateway", "b"),
        ("prod", "added", "Sidecar", "c")]
    assert [(s.folder, s.added, s.changed, s.removed, s.unchanged) for s in d.summary()] == [
        ("dev", 0, 0, 0, 1), ("prod", 1, 1, 1, 1)]
    (changed,) = [c for c in d.changes if c.change == "changed"]
    assert changed.patch() == [{"op": "replace", "path": "/spec/w", "value": 2}]
    assert jsonpatch.apply_patch(changed.old, changed.patch()) == changed.new


def test_same_object_in_other_bytes_is_unchanged() -> None:
    text = doc("Gateway", "g")
    d = diff_trees({"prod/shop/g.yaml": text}, {"prod/shop/g.yaml": b"# a comment\n" + text})
    assert d.empty and d.summary()[0].unchanged == 1
    assert diff_json(d, "x") == {"against": "x", "changed": False, "objects": [],
                                 "clusters": [{"cluster": "prod", "added": 0, "changed": 0, "removed": 0,
                                               "unchanged": 1}]}


# ---- the command --------------------------------------------------------------------------------
def compiled_project(make_project, weight: int = 10, **kw) -> Path:
    root = make_project(shop=shop_stack(weight, **kw))
    result = cli("compile", root=root)
    assert result.exit_code == 0, result.output
    return root


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_diff_against_the_working_tree_shows_summary_and_patches_and_writes_nothing(make_project) -> None:
    root = compiled_project(make_project)
    assert "no changes" in cli("diff", root=root).output
    write_stack(root, "shop", shop_stack(25))
    before = snapshot(root / "generated")
    result = cli("diff", root=root)
    assert result.exit_code == 0, result.output
    out = result.stdout
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()
            if line.split() and line.split()[0] in ("prod", "staging", "argocd")}
    assert rows["prod"] == ["0", "1", "0", "3"] and rows["staging"] == ["0", "1", "0", "3"]
    assert rows["argocd"] == ["0", "0", "0", "2"]
    assert "~ prod: VirtualService shop/cart  (generated/prod/shop/virtualservice-cart.yaml)" in out
    ops = [json.loads(line) for line in out.splitlines() if line.startswith("    {")]
    assert {"op": "replace", "path": "/spec/http/0/route/1/weight", "value": 25} in ops
    assert "\x1b[" not in out  # no colour when stdout is not a terminal
    assert snapshot(root / "generated") == before


def test_json_patches_turn_the_disk_into_what_compile_writes(make_project) -> None:
    root = compiled_project(make_project, with_catalog=True)
    write_stack(root, "shop", shop_stack(40))  # weight changes, catalog goes away
    result = cli("diff", "--format", "json", root=root)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["against"] == "working tree" and data["changed"] is True
    prod = next(c for c in data["clusters"] if c["cluster"] == "prod")
    assert (prod["added"], prod["changed"], prod["removed"]) == (0, 1, 2)
    removed = sorted((o["kind"], o["name"]) for o in data["objects"]
                     if o["cluster"] == "prod" and o["change"] == "removed")
    assert removed == [("DestinationRule", "catalog"), ("VirtualService", "catalog")]
    old = {o["path"]: yaml.safe_load((root / "generated" / o["path"]).read_text())
           for o in data["objects"] if o["change"] == "changed"}
    assert cli("compile", root=root).exit_code == 0
    for o in data["objects"]:
        if o["change"] == "changed":
            new = yaml.safe_load((root / "generated" / o["path"]).read_text())
            assert jsonpatch.apply_patch(old[o["path"]], o["patch"]) == new
        if o["change"] == "removed":
            assert not (root / "generated" / o["path"]).exists()


def test_yaml_format_is_a_unified_diff_coloured_only_on_request(make_project) -> None:
    root = compiled_project(make_project)
    write_stack(root, "shop", shop_stack(30))
    plain = cli("diff", "--format", "yaml", root=root).stdout
    assert f"--- a/generated/{VS}" in plain and f"+++ b/generated/{VS}" in plain
    assert "-      weight: 90" in plain and "+      weight: 70" in plain
    assert "\x1b[" not in plain
    coloured = cli("diff", "--format", "yaml", root=root, color=True).stdout
    assert "\x1b[32m+      weight: 70" in coloured and "\x1b[31m-      weight: 90" in coloured


def test_diff_against_a_ref_reads_git_objects_not_the_checkout(make_project) -> None:
    root = compiled_project(make_project)
    repo = init_repo(root)
    write_stack(root, "shop", shop_stack(50, with_catalog=True))
    assert cli("compile", root=root).exit_code == 0  # the working tree is now up to date
    assert "no changes" in cli("diff", root=root).stdout
    shutil.rmtree(root / "generated")  # the checkout is gone; HEAD still has the old tree
    result = cli("diff", "--against", "HEAD", "--format", "json", root=root)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["against"] == f"HEAD ({repo.head.commit.hexsha[:12]})"
    prod = next(c for c in data["clusters"] if c["cluster"] == "prod")
    assert (prod["added"], prod["changed"], prod["removed"], prod["unchanged"]) == (2, 1, 0, 3)
    (vs,) = [o for o in data["objects"] if o["path"] == VS]
    assert {"op": "replace", "path": "/spec/http/0/route/1/weight", "value": 50} in vs["patch"]


def test_diff_against_a_ref_before_any_compile_shows_everything_added(make_project) -> None:
    root = make_project(shop=shop_stack())
    init_repo(root)
    data = json.loads(cli("diff", "--against", "HEAD", "--format", "json", root=root).stdout)
    assert {c["cluster"]: c["added"] for c in data["clusters"]} == {"argocd": 2, "prod": 4, "staging": 4}
    assert not (root / "generated").exists()


def test_unknown_ref_and_no_repository_are_clear_errors(make_project) -> None:
    root = compiled_project(make_project)
    result = cli("diff", "--against", "HEAD", root=root)
    assert result.exit_code == 1 and "not inside a git repository" in result.output
    init_repo(root)
    result = cli("diff", "--against", "no-such-branch", root=root)
    assert result.exit_code == 1 and "'no-such-branch' is not a commit" in result.output


def test_diff_only_counts_owned_files(make_project) -> None:
    root = compiled_project(make_project)
    (root / "generated" / "prod" / "shop" / "handmade.yaml").write_bytes(doc("ConfigMap", "mine"))
    assert "handmade" not in json.dumps(read_manifest(root / "generated"))
    assert "no changes" in cli("diff", root=root).stdout
