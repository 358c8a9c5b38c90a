"""`meshcode init`: a project that compiles at once, never overwriting; workflows and action.yml are valid."""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml
from git import Repo

from meshcode.app.init import plan_init
from tests.support.gitops import cli
from tests.support.paths import ROOT


def _vendored(name: str) -> dict:
    return json.loads((resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / name).read_text())


def _on(data: dict) -> dict:
    if True in data:  # YAML 1.1 reads the bare key `on` as true
        data["on"] = data.pop(True)
    return data


def test_init_in_an_empty_folder_then_compile_and_lint(tmp_path: Path) -> None:
    root = tmp_path / "payments-mesh"
    result = _init(root)
    assert result.exit_code == 0, result.output
    for path in ("pyproject.toml", "stacks/payments-mesh.py", ".github/workflows/meshcode.yml",
                 ".github/workflows/meshcode-canary.yml", ".gitignore"):
        assert (root / path).is_file(), path
    compiled = cli("compile", root=root)
    assert compiled.exit_code == 0, compiled.output
    assert (root / "generated" / "prod" / "apps").is_dir()
    linted = cli("lint", root=root)
    assert linted.exit_code == 0, linted.output


def _init(root: Path, *extra: str):
    from typer.testing import CliRunner

    from meshcode.cli import app
    return CliRunner().invoke(app, ["init", str(root), *extra])


def test_init_never_overwrites_and_appends_only_what_is_missing(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "stacks").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "ours"\n')
    (root / ".gitignore").write_text("node_modules/\n.venv/\n")
    (root / "stacks" / "mine.py").write_text("# my stack\n")
    repo = Repo.init(root)
    repo.create_remote("origin", "https://user:s3cret@git.example.com/mesh.git")
    assert _init(root, "--mesh", "shop").exit_code == 0
    pyproject = (root / "pyproject.toml").read_text()
    assert pyproject.startswith('[project]\nname = "ours"\n') and "[tool.meshcode]" in pyproject
    assert "s3cret" not in pyproject and "# repo_url" in pyproject  # a URL with credentials is never written
    assert (root / ".gitignore").read_text().startswith("node_modules/\n.venv/\n")
    assert (root / ".gitignore").read_text().count(".venv/") == 1
    assert (root / "stacks" / "mine.py").read_text() == "# my stack\n"
    assert not (root / "stacks" / "shop.py").exists()  # stacks/ already had stacks
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and ".git" not in p.parts}
    again = _init(root, "--mesh", "shop")
    assert again.exit_code == 0 and "created" not in again.output and "appended" not in again.output
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and ".git" not in p.parts} == before


def test_plan_is_pure_and_takes_the_https_origin() -> None:
    plan = {f.path: f for f in plan_init({}, "m", "https://git.example.com/m.git")}
    assert 'repo_url = "https://git.example.com/m.git"' in plan["pyproject.toml"].text
    assert plan["stacks/m.py"].action == "create"
    compile(plan["stacks/m.py"].text, "stacks/m.py", "exec")


@pytest.mark.parametrize("name", ["meshcode.yml", "meshcode-canary.yml"])
def test_init_workflows_pass_the_github_workflow_schema(name: str) -> None:
    text = (resources.files("meshcode") / "_templates" / "init" / name).read_text()
    jsonschema.validate(_on(yaml.safe_load(text)), _vendored("github-workflows.json"))


def test_action_passes_the_github_action_schema() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    jsonschema.validate(action, _vendored("github-actions.json"))
    commands = {step.get("if", "") for step in action["runs"]["steps"]}
    assert {"inputs.command == 'check'", "inputs.command == 'lint'", "inputs.command == 'review'"} <= commands
