"""Run where Prometheus is (issue 20): `canary step --all` and the generated CronJob, image and
workflow. The job script is run for real against a local repository."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from git import Repo
from typer.testing import CliRunner

from filelock import FileLock

from meshcode.app.canary import _lock_path
from meshcode.app.project import Project
from meshcode.cli import app
from meshcode.delivery.deploy import ControllerSpec, controller_files, job_script
from meshcode.delivery.store import state_path
from tests.support.canary import git_project

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
runner = CliRunner()

TWO = '''\
from meshcode import Canary, Cluster, Mesh, Port, Rollout, Service

def svc(name):
    return Service(name, namespace="shop", ports=[Port(8080)], versions=["v1", "v2"],
                   canary=Canary(stable="v1", candidate="v2", rollout=Rollout(steps=[20, 60], interval="1m")))

mesh = Mesh("shop", clusters=[Cluster("prod")], services=[svc("cart"), svc("pay")])
'''


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def test_step_all_steps_every_canary_and_one_error_does_not_stop_the_others(tmp_path):
    root = git_project(tmp_path / "repo", TWO)
    r = runner.invoke(app, ["canary", "step", "--all", "--now", at(0), "--root", str(root)])
    assert r.exit_code == 0, r.output
    assert "shop/shop/cart: start 0% → 20%" in r.output and "shop/shop/pay: start 0% → 20%" in r.output
    with FileLock(_lock_path(Project.open(root), "shop/shop/cart", "tick")):  # another job holds cart
        r = runner.invoke(app, ["canary", "step", "--all", "--now", at(1), "--root", str(root)])
    assert r.exit_code == 1  # the worst outcome: an error (cart is busy) …
    assert "shop/shop/cart: error" in r.output and "another job" in r.output
    assert "shop/shop/pay: advance 20% → 60%" in r.output  # … and pay still moved
    # A state that cannot be read stops every canary: generated/ is rendered from all of them.
    path = state_path(root / "state", "shop/shop/cart")
    data = json.loads(path.read_text())
    data["weight"] = 35
    path.write_text(json.dumps(data))
    with Repo(root) as repo:
        repo.git.add("-A")
        repo.index.commit("a bad hand edit, committed")
    r = runner.invoke(app, ["canary", "step", "--all", "--now", at(2), "--root", str(root)])
    assert r.exit_code == 1 and r.output.count("state/canaries/shop/shop/cart.json is not valid") == 2
    assert runner.invoke(app, ["canary", "step", "--root", str(root)]).exit_code == 1  # neither a name nor --all
    r = runner.invoke(app, ["canary", "step", "--all", "--mesh", "other", "--now", at(2), "--root", str(root)])
    assert r.exit_code == 0 and r.output == ""


def spec(**kw) -> ControllerSpec:
    return ControllerSpec(**{"mesh": "shop", "repo_url": "https://git.example.com/org/mesh.git",
                             "image": "registry.example.com/meshcode-canary:0.1.0", **kw})


def test_cronjob_serviceaccount_and_dockerfile(tmp_path):
    files = controller_files([spec(prometheus="http://prometheus.monitoring:9090", prometheus_token=True,
                                   argocd="https://argocd-server.argocd")])
    assert set(files) == {"Dockerfile", "shop/serviceaccount.yaml", "shop/cronjob.yaml", "shop/kustomization.yaml"}
    assert controller_files([spec(prometheus="http://prometheus.monitoring:9090", prometheus_token=True,
                                  argocd="https://argocd-server.argocd")]) == files  # deterministic
    account = yaml.safe_load(files["shop/serviceaccount.yaml"])
    cron = yaml.safe_load(files["shop/cronjob.yaml"])
    assert account["automountServiceAccountToken"] is False and account["kind"] == "ServiceAccount"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid" and cron["spec"]["schedule"] == "*/5 * * * *"
    job = cron["spec"]["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0 and job["activeDeadlineSeconds"] > 0
    pod = job["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"] == "meshcode-canary-shop"
    assert pod["volumes"][0]["secret"]["secretName"] == "meshcode-canary-shop"
    (container,) = pod["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["MESHCODE_PROMETHEUS_TOKEN_FILE"] == "/var/run/secrets/meshcode/prometheus-token"
    assert env["MESHCODE_ARGOCD_TOKEN_FILE"] == "/var/run/secrets/meshcode/argocd-token"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    script = container["command"][2]
    assert 'meshcode canary step --all --mesh "shop" --push' in script
    assert b"&id" not in files["shop/cronjob.yaml"]
    docker = files["Dockerfile"].decode()
    assert docker.startswith("# The meshcode canary controller") and "FROM python:3.12-slim" in docker
    assert "USER 10001" in docker and 'ENTRYPOINT ["meshcode"]' in docker
    if shutil.which("kubectl"):
        out = tmp_path / "out"
        for path, data in files.items():
            (out / path).parent.mkdir(parents=True, exist_ok=True)
            (out / path).write_bytes(data)
        built = subprocess.run(["kubectl", "kustomize", str(out / "shop")], capture_output=True, text=True)
        assert built.returncode == 0, built.stderr
        assert [d["kind"] for d in yaml.safe_load_all(built.stdout)] == ["ServiceAccount", "CronJob"]


@pytest.mark.parametrize("kw, why", [
    ({"repo_url": "https://bot:ghp_x@git.example.com/org/mesh.git"}, "carries user info"),
    ({"prometheus": "http://prom:9090/?token=abc"}, "carries a credential"),
    ({"schedule": "every 5 minutes"}, "not a 5-field cron"),
    ({"git_auth": "ssh"}, "needs an SSH repository URL"),
])
def test_bad_controller_specs_are_refused(kw, why):
    from meshcode.errors import StateError
    with pytest.raises(StateError, match=why):
        controller_files([spec(**kw)])


def test_the_job_script_clones_steps_every_canary_and_pushes(tmp_path):
    root = git_project(tmp_path / "repo", TWO)
    origin = tmp_path / "origin.git"
    Repo.init(origin, bare=True, initial_branch="main").close()
    with Repo(root) as repo:
        repo.create_remote("origin", str(origin)).push("main:main")
    work = tmp_path / "work"
    script = job_script(spec()).replace("/work/repo", str(work / "repo"))
    env = {**os.environ, "HOME": str(tmp_path / "home"), "MESHCODE_REPO": str(origin), "MESHCODE_BRANCH": "main",
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    (tmp_path / "home").mkdir()
    done = subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    with Repo(origin) as o:
        subjects = [c.summary for c in o.iter_commits("main")]
    assert {s.split(":")[0] for s in subjects[:2]} == {"canary cart", "canary pay"}


def test_deploy_command_writes_the_files(tmp_path):
    root = git_project(tmp_path / "repo", TWO)
    r = runner.invoke(app, ["canary", "deploy", "--image", "registry.example.com/meshcode-canary:0.1.0",
                            "--prometheus", "http://prometheus.monitoring:9090", "--root", str(root)])
    assert r.exit_code == 0, r.output
    out = root / "deploy" / "canary"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "Dockerfile", "shop/cronjob.yaml", "shop/kustomization.yaml", "shop/serviceaccount.yaml"]
    cron = yaml.safe_load((out / "shop" / "cronjob.yaml").read_text())
    env = {e["name"]: e["value"] for e in cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["MESHCODE_REPO"] == "https://example.com/mesh.git"  # [tool.meshcode] repo_url
