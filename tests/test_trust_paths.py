"""No write outside the output folder (issue 13).

A Patch could rewrite metadata to `../../…` and write anywhere; the manifest could list paths
outside the folder; `output` could be the project, `.git` or a folder elsewhere; a symlinked
folder inside generated/ led writes out of it. Each is refused with a clear error, exit 1, and
nothing written anywhere.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import pytest

from meshcode import Cluster, CompileError, Mesh, Patch, Port, Service, compile_mesh
from meshcode.errors import IntentError
from meshcode.gitops.tree import MANIFEST, UnsafePathError, read_manifest, write_tree
from tests.support.core import fingerprint
from tests.support.gitops import cli, init_repo, shop_stack, write_stack


def shop(*patches: Patch) -> Mesh:
    cart = Service("cart", namespace="shop", ports=[Port(8080)], versions=["v1", "v2"])
    return Mesh("shop", clusters=[Cluster("prod")], services=[cart], patches=list(patches))


ESCAPES = [
    ({"op": "replace", "path": "/metadata/namespace", "value": "../../../escaped"}, "metadata.namespace"),
    ({"op": "replace", "path": "/metadata/name", "value": "../../x"}, "metadata.name"),
    ({"op": "replace", "path": "/kind", "value": "../../Evil"}, "kind"),
    ({"op": "replace", "path": "/metadata/name", "value": "other"}, "metadata.name"),  # would replace another object
    ({"op": "replace", "path": "/apiVersion", "value": "v1"}, "apiVersion"),
    ({"op": "remove", "path": "/metadata"}, "no metadata"),
    ({"op": "replace", "path": "/metadata/labels", "value": ["a"]}, "metadata.labels"),
]


@pytest.mark.parametrize("op,what", ESCAPES, ids=[w for _, w in ESCAPES])
def test_a_patch_cannot_change_an_objects_identity(op: dict, what: str) -> None:
    patch = Patch("VirtualService", "cart", [op]); line = sys._getframe().f_lineno
    with pytest.raises(CompileError) as e:
        compile_mesh(shop(patch))
    [f] = e.value.findings
    assert f.code == "MC2203" and f.location is not None and f.location.line == line
    assert what in f.message


def test_a_patch_may_still_edit_labels_and_spec() -> None:
    plan = compile_mesh(shop(Patch("VirtualService", "cart", [
        {"op": "add", "path": "/metadata/labels/team", "value": "carts"},
        {"op": "add", "path": "/spec/http/0/timeout", "value": "3s"}])))
    vs = next(r for _, r in plan.resources() if r.kind == "VirtualService")
    assert vs.metadata["labels"]["team"] == "carts" and vs.spec["http"][0]["timeout"] == "3s"


def test_a_patch_kind_must_be_a_kind() -> None:
    with pytest.raises(IntentError, match="is not a Kubernetes kind"):
        Patch("../VirtualService", "cart", [])


def test_compile_with_an_escaping_patch_writes_nothing_anywhere(make_project: Callable[..., Path]) -> None:
    root = make_project(shop=shop_stack())
    assert cli("compile", root=root).exit_code == 0
    outside = root.parent
    source = shop_stack().replace(
        "mesh = Mesh(", 'from meshcode import Patch\nP = Patch("VirtualService", "cart", '
        '[{"op": "replace", "path": "/metadata/namespace", "value": "../../../../escaped"}])\nmesh = Mesh(')
    source = source.replace("services=[cart]", "services=[cart], patches=[P]")
    write_stack(root, "shop", source)
    before = fingerprint(outside)
    result = cli("compile", root=root)
    assert result.exit_code == 1 and "MC2203" in result.output and "stacks/shop.py:" in result.output
    after = fingerprint(outside)
    after.pop("project/stacks/shop.py"), before.pop("project/stacks/shop.py")
    assert {k: v for k, v in after.items() if not k.startswith("project/.meshcode")} == \
        {k: v for k, v in before.items() if not k.startswith("project/.meshcode")}
    assert all("escaped" not in p for p in read_manifest(root / "generated"))


@pytest.mark.parametrize("path", ["../escaped.yaml", "prod/../../escaped.yaml", "/tmp/escaped.yaml",
                                  "prod//x.yaml", "prod/./x.yaml", "prod/x\n.yaml", ""])
def test_the_writer_refuses_paths_that_leave_the_folder(tmp_path: Path, path: str) -> None:
    out = tmp_path / "project" / "generated"
    with pytest.raises(UnsafePathError):
        write_tree(out, {"prod/ok.yaml": b"a: 1\n", path: b"a: 2\n"})
    assert fingerprint(tmp_path) == {}


@pytest.mark.parametrize("entry", ["../../victim.txt", "/etc/hostname", "prod/../../victim.txt"])
def test_manifest_entries_leaving_the_folder_are_refused_when_read(
        make_project: Callable[..., Path], entry: str) -> None:
    root = make_project(shop=shop_stack())
    assert cli("compile", root=root).exit_code == 0
    victim = root.parent / "victim.txt"
    victim.write_text("keep me\n")
    manifest = root / "generated" / MANIFEST
    manifest.write_text(manifest.read_text() + f"{'0' * 64}  {entry}\n")
    before = fingerprint(root.parent)
    write_stack(root, "shop", shop_stack(weight=20))  # a compile that would remove the "owned" entry
    result = cli("compile", root=root)
    assert result.exit_code == 1
    assert "leaves the output folder" in result.output and f"{MANIFEST}:" in result.output
    assert victim.read_text() == "keep me\n"
    after = fingerprint(root.parent)
    for fp in (before, after):
        fp.pop("project/stacks/shop.py")
        for k in [k for k in fp if k.startswith("project/.meshcode")]:
            fp.pop(k)
    assert after == before
    assert cli("diff", root=root).exit_code == 1  # every reader of the manifest refuses it


def test_a_manifest_at_a_git_ref_is_checked_too(make_project: Callable[..., Path]) -> None:
    root = make_project(shop=shop_stack())
    assert cli("compile", root=root).exit_code == 0
    manifest = root / "generated" / MANIFEST
    manifest.write_text(manifest.read_text() + f"{'0' * 64}  ../../victim.txt\n")
    init_repo(root)
    manifest.write_text("")  # the working tree is fine; HEAD is not
    result = cli("diff", "--against", "HEAD", root=root)
    assert result.exit_code == 1 and "leaves the output folder" in result.output


@pytest.mark.parametrize("value,why", [
    (".", "project folder itself"), ("", "project folder itself"), ("..", "'..'"), ("../out", "'..'"),
    (".git", ".git"), (".git/generated", ".git"), ("/tmp/meshcode-elsewhere", "not a folder inside the project"),
    ("stacks", "overlaps the stacks folder"), ("state", "overlaps the state folder"),
    ("generated/../..", "'..'"),
])
def test_the_output_setting_must_be_a_folder_of_its_own_inside_the_project(
        make_project: Callable[..., Path], value: str, why: str) -> None:
    root = make_project(shop=shop_stack())
    (root / "pyproject.toml").write_text(f'[tool.meshcode]\noutput = "{value}"\n')
    before = fingerprint(root.parent)
    result = cli("compile", root=root)
    assert result.exit_code == 1, result.output
    assert "[tool.meshcode] output" in result.output and why in result.output
    assert "Traceback" not in result.output
    assert {k: v for k, v in fingerprint(root.parent).items() if ".meshcode" not in k} == \
        {k: v for k, v in before.items() if ".meshcode" not in k}


def test_the_output_setting_may_not_be_a_link_out_of_the_project(make_project: Callable[..., Path],
                                                                 tmp_path: Path) -> None:
    root = make_project(shop=shop_stack())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / "generated").symlink_to(elsewhere)
    result = cli("compile", root=root)
    assert result.exit_code == 1 and "not a folder inside the project" in result.output
    assert list(elsewhere.iterdir()) == []


def test_a_nested_output_folder_is_fine(make_project: Callable[..., Path]) -> None:
    root = make_project(shop=shop_stack())
    (root / "pyproject.toml").write_text('[tool.meshcode]\noutput = "deploy/generated"\n')
    assert cli("compile", root=root).exit_code == 0
    assert (root / "deploy" / "generated" / "prod" / "kustomization.yaml").is_file()


def test_a_symlinked_folder_inside_the_output_is_refused(make_project: Callable[..., Path],
                                                         tmp_path: Path) -> None:
    root = make_project(shop=shop_stack())
    assert cli("compile", root=root).exit_code == 0
    out = root / "generated"
    elsewhere = tmp_path / "elsewhere"
    (out / "prod").rename(elsewhere)
    (out / "prod").symlink_to(elsewhere)
    before, outside = fingerprint(out), fingerprint(elsewhere)
    write_stack(root, "shop", shop_stack(weight=30))
    result = cli("compile", root=root)
    assert result.exit_code == 1 and "is a symbolic link" in result.output and "Traceback" not in result.output
    assert fingerprint(out) == before and fingerprint(elsewhere) == outside
    assert not [p for p in root.iterdir() if p.name.startswith(".meshcode-staging")]
    (out / "prod").unlink()  # the link gone, the next compile writes a real folder
    assert cli("compile", root=root).exit_code == 0
    assert (out / "prod").is_dir() and not (out / "prod").is_symlink()
