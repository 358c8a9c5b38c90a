"""bookinfo's Deployments, Services and ServiceAccounts as a cdk8s Chart."""
from __future__ import annotations

from typing import Any

from cdk8s import ApiObject, Chart, JsonPatch
from constructs import Construct

NS = "bookinfo"
IMAGE = "docker.io/istio/examples-bookinfo-{app}-{version}:1.20.2"
VERSIONS = {"productpage": ["v1"], "details": ["v1"], "reviews": ["v1", "v2", "v3"], "ratings": ["v1"]}


def k8s(scope: Construct, api_version: str, kind: str, name: str, body: dict[str, Any],
        labels: dict[str, str] | None = None) -> ApiObject:
    """An object with the given top-level fields (cdk8s's Python props carry only metadata)."""
    obj = ApiObject(scope, f"{kind.lower()}-{name}", api_version=api_version, kind=kind,
                    metadata={"name": name, "namespace": NS, "labels": labels or {}})
    for key, value in body.items():
        obj.add_json_patch(JsonPatch.add(f"/{key}", value))
    return obj


class BookinfoWorkloads(Chart):
    """One Service per app, one Deployment per version, pods labelled app=<app>, version=<version>."""

    def __init__(self, scope: Construct, id: str, versions: dict[str, list[str]] | None = None,
                 port_name: str = "http") -> None:
        super().__init__(scope, id, disable_resource_name_hashes=True)
        for app, app_versions in (versions or VERSIONS).items():
            account = f"bookinfo-{app}"
            k8s(self, "v1", "ServiceAccount", account, {}, {"account": app})
            k8s(self, "v1", "Service", app, {"spec": {
                "ports": [{"port": 9080, "name": port_name, "targetPort": 9080}],
                "selector": {"app": app},
            }}, {"app": app, "service": app})
            for version in app_versions:
                labels = {"app": app, "version": version}
                k8s(self, "apps/v1", "Deployment", f"{app}-{version}", {"spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "serviceAccountName": account,
                            "containers": [{
                                "name": app,
                                "image": IMAGE.format(app=app, version=version),
                                "ports": [{"containerPort": 9080}],
                            }],
                        },
                    },
                }}, labels)
