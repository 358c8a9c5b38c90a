"""Where the controller runs: a Kubernetes CronJob per mesh, next to Prometheus (pure: files out).

`controller_files(spec)` renders, per mesh, a ServiceAccount and a CronJob (`concurrencyPolicy:
Forbid`, one job at a time) that clones the repository, runs `meshcode canary step --all
--mesh <mesh> --push` (every due canary, each under its own lock) and exits with its code, plus a
kustomization, and one `Dockerfile` for the controller image (meshcode and git, nothing else).

No secret is written: the CronJob refers to a Secret the operator creates (`secret`), mounted
read-only at /var/run/secrets/meshcode, with the keys:

    git-token                      HTTPS token that may push to the branch      (git_auth="token")
    ssh-privatekey, known_hosts    deploy key with write access and host keys   (git_auth="ssh")
    prometheus-token               bearer token for Prometheus                  (prometheus_token=True)
    argocd-token                   Argo CD API token (read applications)        (with argocd=URL)

The pod needs no Kubernetes API access: its ServiceAccount token is not mounted.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import yaml

from meshcode._version import __version__
from meshcode.errors import StateError
from meshcode.redact import credential_problem

SECRETS = "/var/run/secrets/meshcode"
LABELS = {"app.kubernetes.io/name": "meshcode-canary", "app.kubernetes.io/managed-by": "meshcode"}


@dataclass(frozen=True)
class ControllerSpec:
    mesh: str
    repo_url: str
    image: str
    branch: str = "main"
    schedule: str = "*/5 * * * *"
    namespace: str = "meshcode"
    secret: str = ""  # default: meshcode-canary-<mesh>
    git_auth: Literal["token", "ssh"] = "token"
    prometheus: str | None = None  # URL (or CLUSTER=URL, comma-separated); default: [tool.meshcode] prometheus
    prometheus_token: bool = False
    argocd: str | None = None
    root: str = "."  # the project folder inside the repository

    @property
    def name(self) -> str:
        return f"meshcode-canary-{self.mesh}"

    @property
    def secret_name(self) -> str:
        return self.secret or self.name


def _check(spec: ControllerSpec) -> None:
    for what, url in (("repository URL", spec.repo_url), ("Prometheus URL", spec.prometheus),
                      ("Argo CD URL", spec.argocd)):
        problem = credential_problem(url) if url else None
        if problem:
            raise StateError(f"the {what} {problem}: credentials go in the Secret {spec.secret_name}, never in a "
                             "manifest")
    if len(spec.schedule.split()) != 5:
        raise StateError(f"schedule {spec.schedule!r} is not a 5-field cron expression")
    if spec.git_auth == "ssh" and spec.repo_url.startswith(("http://", "https://")):
        raise StateError("git_auth='ssh' needs an SSH repository URL (git@host:org/repo.git or ssh://…)")
    if spec.git_auth == "token" and not spec.repo_url.startswith("https://"):
        raise StateError("git_auth='token' needs an https:// repository URL")


def job_script(spec: ControllerSpec) -> str:
    """The container's shell script: identity, git credentials from the Secret, clone, step, exit code."""
    lines = ["set -eu",
             'git config --global user.name "meshcode-canary[bot]"',
             f'git config --global user.email "meshcode-canary@{spec.mesh}.invalid"']
    if spec.git_auth == "token":
        lines.append("git config --global credential.helper "
                     f"'!f() {{ echo username=x-access-token; echo \"password=$(cat {SECRETS}/git-token)\"; }}; f'")
    else:
        lines.append(f'export GIT_SSH_COMMAND="ssh -i {SECRETS}/ssh-privatekey -o IdentitiesOnly=yes '
                     f'-o UserKnownHostsFile={SECRETS}/known_hosts"')
    lines += ['git clone --quiet --branch "$MESHCODE_BRANCH" --single-branch "$MESHCODE_REPO" /work/repo',
              f'exec meshcode canary step --all --mesh "{spec.mesh}" --push --root "/work/repo/{spec.root}"']
    return "\n".join(lines) + "\n"


def _env(spec: ControllerSpec) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [{"name": "MESHCODE_REPO", "value": spec.repo_url},
                                 {"name": "MESHCODE_BRANCH", "value": spec.branch},
                                 {"name": "HOME", "value": "/tmp"}]
    if spec.prometheus:
        env.append({"name": "MESHCODE_PROMETHEUS", "value": spec.prometheus})
    if spec.prometheus_token:
        env.append({"name": "MESHCODE_PROMETHEUS_TOKEN_FILE", "value": f"{SECRETS}/prometheus-token"})
    if spec.argocd:
        env += [{"name": "MESHCODE_ARGOCD", "value": spec.argocd},
                {"name": "MESHCODE_ARGOCD_TOKEN_FILE", "value": f"{SECRETS}/argocd-token"}]
    return env


def manifests(spec: ControllerSpec) -> list[dict[str, Any]]:
    _check(spec)
    def labels() -> dict[str, str]:  # a fresh dict each time: no YAML anchors in the output
        return {**LABELS, "meshcode.dev/mesh": spec.mesh}

    def meta() -> dict[str, Any]:
        return {"name": spec.name, "namespace": spec.namespace, "labels": labels()}

    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(),
               "automountServiceAccountToken": False}
    container = {
        "name": "canary", "image": spec.image, "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/sh", "-c", job_script(spec)], "env": _env(spec),
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "secrets", "mountPath": SECRETS, "readOnly": True},
                         {"name": "work", "mountPath": "/work"}, {"name": "tmp", "mountPath": "/tmp"}],
    }
    pod = {
        "serviceAccountName": spec.name, "automountServiceAccountToken": False, "restartPolicy": "Never",
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        "volumes": [{"name": "secrets", "secret": {"secretName": spec.secret_name, "defaultMode": 0o400}},
                    {"name": "work", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
    }
    cronjob = {
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta(),
        "spec": {
            "schedule": spec.schedule, "concurrencyPolicy": "Forbid", "startingDeadlineSeconds": 300,
            "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 5,
            "jobTemplate": {"metadata": {"labels": labels()}, "spec": {
                "backoffLimit": 0, "activeDeadlineSeconds": 1800,  # a job never hangs; the next one retries
                "template": {"metadata": {"labels": labels()}, "spec": pod}}},
        },
    }
    return [account, cronjob]


def dockerfile(spec: str = f"meshcode=={__version__}") -> str:
    return f"""\
# The meshcode canary controller: meshcode and git, nothing else (the CronJob supplies the script).
# Build: docker build -t registry.example.com/meshcode-canary:{__version__} .
# MESHCODE_SPEC may be any pip requirement: a version, a wheel, or git+https://… of meshcode.
FROM python:3.12-slim
ARG MESHCODE_SPEC="{spec}"
RUN apt-get update \\
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates \\
 && rm -rf /var/lib/apt/lists/*
RUN python -m pip install --no-cache-dir "${{MESHCODE_SPEC}}"
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin meshcode
USER 10001
WORKDIR /work
ENTRYPOINT ["meshcode"]
"""


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the job script) as literal blocks, so the manifest reads like the script."""


_Dumper.add_representer(str, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", v,
                                                              style="|" if "\n" in v else None))


def _yaml(obj: dict[str, Any]) -> bytes:
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1000).encode()


def controller_files(specs: list[ControllerSpec], meshcode_spec: str | None = None) -> dict[str, bytes]:
    """{relative path: bytes}: <mesh>/{serviceaccount,cronjob,kustomization}.yaml and Dockerfile."""
    out: dict[str, bytes] = {"Dockerfile": dockerfile(meshcode_spec or f"meshcode=={__version__}").encode()}
    for spec in specs:
        account, cronjob = manifests(spec)
        out[f"{spec.mesh}/serviceaccount.yaml"] = _yaml(account)
        out[f"{spec.mesh}/cronjob.yaml"] = _yaml(cronjob)
        out[f"{spec.mesh}/kustomization.yaml"] = _yaml({"resources": ["serviceaccount.yaml", "cronjob.yaml"]})
    return out
