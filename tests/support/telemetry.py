"""Helpers for the observability tests: Telemetry objects, mesh config providers, findings."""
from __future__ import annotations

from typing import Any

import pytest

from meshcode import Cluster, IstioInstall, CompileError, Mesh, Port, Service, compile_mesh
from meshcode.errors import Finding
from meshcode.plan import Plan

OTEL_HOST = "opentelemetry-collector.observability.svc.cluster.local"


def service(name: str, namespace: str = "shop", **kwargs: Any) -> Service:
    return Service(name, namespace=namespace, ports=[Port(8080)], versions=["v1"], **kwargs)


def mesh_with(*telemetry: Any, services: tuple[Service, ...] = (), **kwargs: Any) -> Mesh:
    kwargs.setdefault("clusters", [Cluster("prod")])
    kwargs.setdefault("install", IstioInstall(method="istioctl"))  # the tests read meshConfig in the IstioOperator
    return Mesh("obs", services=services, telemetry=list(telemetry), **kwargs)


def telemetries(plan: Plan, folder: str | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """(namespace, name) → spec of every Telemetry in one cluster folder (the only one when not named)."""
    if folder is None:
        (folder,) = [f for f in plan.folders if f != "argocd"]
    return {(r.namespace, r.name): r.spec for r in plan.folders[folder] if r.kind == "Telemetry"}


def mesh_config_of(plan: Plan, folder: str) -> dict[str, Any] | None:
    """spec.meshConfig of the cluster's main IstioOperator (None for a remote)."""
    operators = [r for r in plan.folders[folder] if r.kind == "IstioOperator"]
    main = min(operators, key=lambda r: len(r.name))
    return main.spec.get("meshConfig")


def extension_providers(plan: Plan, folder: str) -> dict[str, dict[str, Any]]:
    config = mesh_config_of(plan, folder) or {}
    return {p["name"]: p for p in config.get("extensionProviders", [])}


def compile_errors(mesh: Mesh) -> list[Finding]:
    with pytest.raises(CompileError) as info:
        compile_mesh(mesh)
    return info.value.findings


def only_error(mesh: Mesh, code: str) -> Finding:
    errors = compile_errors(mesh)
    assert [f.code for f in errors] == [code], [f.describe() for f in errors]
    return errors[0]
