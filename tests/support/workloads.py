"""Kubernetes workload manifests for tests: bookinfo-like Deployments and Services as YAML text."""
from __future__ import annotations

from typing import Any

import yaml

from meshcode.analyze.workloads import parse_workloads
from meshcode.plan import Resource


def deployment(name: str, labels: dict[str, str], namespace: str = "bookinfo", account: str | None = None,
               kind: str = "Deployment") -> dict[str, Any]:
    pod_spec: dict[str, Any] = {"containers": [{"name": "app", "image": "example/app:1"}]}
    if account:
        pod_spec["serviceAccountName"] = account
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": pod_spec}}}


def k8s_service(name: str, selector: dict[str, str] | None = None, namespace: str = "bookinfo",
                ports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"ports": ports or [{"port": 9080, "name": "http"}]}
    if selector is not None:
        spec["selector"] = selector
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def app(name: str, versions: list[str], namespace: str = "bookinfo", **service: Any) -> list[dict[str, Any]]:
    """A Service selecting app=<name> and one Deployment per version."""
    docs = [k8s_service(name, {"app": name}, namespace, **service)]
    docs += [deployment(f"{name}-{v}", {"app": name, "version": v}, namespace, f"bookinfo-{name}") for v in versions]
    return docs


def to_yaml(docs: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)


def workloads(docs: list[dict[str, Any]], source: str = "workloads.yaml") -> list[Resource]:
    return parse_workloads(to_yaml(docs), source)


BOOKINFO_VERSIONS = {"productpage": ["v1"], "details": ["v1"], "reviews": ["v1", "v2", "v3"], "ratings": ["v1"]}


def bookinfo(versions: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for name, vs in (versions or BOOKINFO_VERSIONS).items():
        docs += app(name, vs)
    return docs
