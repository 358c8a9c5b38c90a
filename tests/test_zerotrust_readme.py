"""The README's authorization chapter is true: its Python is stacks/storefront.py and runs, and
each YAML block it shows is what that stack compiles to (and what generated/edge/ holds)."""
from __future__ import annotations

import ast
import re
from typing import Any

import pytest
import yaml

from meshcode import Mesh
from tests.support.meshes import compiled, load_yaml_dir
from tests.support.paths import ROOT

SECTION = ROOT.joinpath("README.md").read_text().split("#### Authorization as teams write it", 1)[1].split("\n### ")[0]
PYTHON = re.findall(r"```python\n(.*?)```", SECTION, re.S)
YAMLS = re.findall(r"```yaml\n(.*?)```", SECTION, re.S)


def stack_code() -> str:
    source = ROOT.joinpath("stacks", "storefront.py").read_text()
    body = ast.parse(source).body
    first = body[1].lineno if isinstance(body[0], ast.Expr) else body[0].lineno  # after the docstring
    return "\n".join(source.splitlines()[first - 1:]) + "\n"


def test_the_python_is_the_stack_and_runs() -> None:
    (code,) = PYTHON
    assert code == stack_code()
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README's own example
    assert isinstance(namespace["mesh"], Mesh)


@pytest.mark.parametrize("block", YAMLS, ids=[b.splitlines()[0] for b in YAMLS])
def test_each_yaml_block_is_what_the_stack_compiles_to(block: str) -> None:
    kind, ref = block.splitlines()[0].lstrip("# ").split()
    namespace, name = ref.split("/")
    namespace_: dict[str, Any] = {}
    exec(compile(PYTHON[0], "README.md", "exec"), namespace_)  # noqa: S102
    ours = compiled(namespace_["mesh"])[(kind, namespace, name)]
    on_disk = next(d for d in load_yaml_dir(ROOT / "generated" / "edge")
                   if d["kind"] == kind and d["metadata"]["name"] == name and d["metadata"]["namespace"] == namespace)
    shown = yaml.safe_load(block)
    assert shown == {"spec": ours["spec"]} == {"spec": on_disk["spec"]}


def test_the_chapter_shows_every_form() -> None:
    assert len(YAMLS) >= 8
    for form in ("authenticated=True", "anyone=True", "namespaces=", "request_principals=", "remote_ip_blocks=",
                 "ip_blocks=", "not_values=", "version=", "not_request_principals=", "IngressGateway(", "strict=True"):
        assert form in SECTION, form
