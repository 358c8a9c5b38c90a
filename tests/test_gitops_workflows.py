"""The GitHub Actions workflows in .github/workflows/: valid YAML, valid workflows, the right jobs.

Validated against the GitHub workflow JSON schema (SchemaStore's, as vendored by
check-jsonschema), then checked for what they must do, against the real CLI's options.
"""
from __future__ import annotations

import json
import re
import shlex
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from meshcode.cli import app
from tests.support.paths import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    # YAML 1.1 (PyYAML) reads the bare key `on` as the boolean true
    if True in data:
        data["on"] = data.pop(True)
    return data


def workflow_schema() -> dict[str, Any]:
    vendor = resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / "github-workflows.json"
    return json.loads(vendor.read_text())


def run_lines(workflow: dict[str, Any]) -> list[str]:
    return [line.strip() for job in workflow["jobs"].values() for step in job["steps"]
            for line in step.get("run", "").splitlines() if line.strip()]


def test_there_are_the_two_workflows() -> None:
    assert {p.name for p in WORKFLOWS} == {"ci.yml", "canary.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_is_valid(path: Path) -> None:
    data = load(path)
    jsonschema.validate(data, workflow_schema())
    assert data["name"] and data["on"] and data["jobs"]
    for name, job in data["jobs"].items():
        assert job["runs-on"] and job["steps"], name
        assert isinstance(job.get("timeout-minutes"), int), f"{name}: jobs have a timeout"
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), f"{name}: a step either uses an action or runs"
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", step["uses"]), step["uses"]
        assert job["steps"][0]["uses"].startswith("actions/checkout@")


def test_ci_runs_the_tests_and_the_generated_check() -> None:
    ci = load(ROOT / ".github/workflows/ci.yml")
    assert {"push", "pull_request"} <= set(ci["on"])
    assert "./dev test -q" in run_lines({"jobs": {"test": ci["jobs"]["test"]}})
    generated = ci["jobs"]["generated"]
    assert generated["name"] == "generated is up to date"
    assert run_lines({"jobs": {"g": generated}}) == ["python -m pip install .", "meshcode compile --check"]
    assert ci["permissions"] == {"contents": "read"}


def test_canary_workflow_is_scheduled_serialised_and_calls_a_real_command() -> None:
    canary = load(ROOT / ".github/workflows/canary.yml")
    (schedule,) = canary["on"]["schedule"]
    assert len(schedule["cron"].split()) == 5
    assert canary["on"]["workflow_dispatch"]["inputs"]["canary"]["default"] == "reviews"
    assert canary["permissions"] == {"contents": "write"}  # it pushes commits
    assert canary["concurrency"]["cancel-in-progress"] is False  # one step at a time, never cut short
    (checkout,) = [s for s in canary["jobs"]["step"]["steps"] if s.get("uses", "").startswith("actions/checkout")]
    assert checkout["with"]["fetch-depth"] == 0
    lines = run_lines(canary)
    assert any(line.startswith("git config user.email") for line in lines)
    (step,) = [shlex.split(line) for line in lines if line.startswith("meshcode canary step")]
    # issue 20: a dispatched name steps that canary, the schedule steps every canary
    assert step[3] == "$CANARY" and canary["jobs"]["step"]["env"]["CANARY"].endswith("|| '--all' }}")
    install = [shlex.split(line) for line in lines if "pip install" in line]
    assert install == [["python", "-m", "pip", "install", "$MESHCODE_PIP_SPEC"]]  # meshcode as a package
    assert "meshcode==" in canary["jobs"]["step"]["env"]["MESHCODE_PIP_SPEC"]
    help_text = CliRunner().invoke(app, ["canary", "step", "--help"]).output
    for option in (a for a in step[4:] if a.startswith("--")):
        assert option in help_text, f"`meshcode canary step` has no {option}"
