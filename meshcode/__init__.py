"""meshcode: service-mesh configuration as code.

The public surface, kept small and explicit (`__all__`): the intent models users write in stacks,
their errors, and `compile_mesh`/`compile_meshes`. Other public APIs live in their own modules:
the plan a compile returns (`meshcode.plan`), rendering (`meshcode.render`), lint
(`meshcode.analyze.lint`), progressive delivery (`meshcode.app.canary`, `meshcode.state`), the
workflows the CLI runs (`meshcode.app`). Modules and names starting with `_` are private.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from meshcode._version import __version__

# Each public name and the module that defines it, loaded on first use (PEP 562): a command that
# needs none of them (`meshcode compile` with nothing to do, `--help`) starts without pydantic,
# the intent models or the compiler. `from meshcode import Service` works as before.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(['compile_mesh', 'compile_meshes'], 'meshcode.compile'),
    **dict.fromkeys([
        'CompileError', 'Finding', 'IntentError', 'MeshcodeError', 'SourceLocation', 'StackError',
    ], 'meshcode.errors'),
    **dict.fromkeys(['DataPlane'], 'meshcode.intent.dataplane'),
    **dict.fromkeys([
        'EgressGateway', 'ExternalService', 'ImportedService', 'Ingress', 'OriginateTLS', 'ServerTLS',
        'SidecarScope', 'VirtualHost',
    ], 'meshcode.intent.edge'),
    **dict.fromkeys([
        'CircuitBreaker', 'ClientTLS', 'LoadBalancer', 'Locality', 'LocalityDistribute', 'LocalityFailover',
        'LocalRateLimit', 'OutlierDetection',
    ], 'meshcode.intent.resilience'),
    **dict.fromkeys([
        'Baseline', 'LatencyP99', 'PromQL', 'Rollout', 'SuccessRate', 'Webhook',
    ], 'meshcode.intent.rollout'),
    **dict.fromkeys([
        'AllowRule', 'Call', 'Claim', 'Condition', 'DenyRule', 'Header', 'IngressGateway', 'Jwt',
        'MtlsMigration', 'ZeroTrust',
    ], 'meshcode.intent.security'),
    **dict.fromkeys(['ALL_PODS', 'Port', 'Service', 'Version'], 'meshcode.intent.service'),
    **dict.fromkeys([
        'AccessLog', 'EnvoyLog', 'EnvTag', 'HeaderTag', 'Jaeger', 'Metrics', 'OpenTelemetry', 'OtelLog',
        'Tracing', 'Zipkin',
    ], 'meshcode.intent.telemetry'),
    **dict.fromkeys([
        'ApiVersions', 'ArgoCD', 'Cluster', 'IstioInstall', 'Mesh', 'Namespace', 'Patch', 'ProxyOptions',
    ], 'meshcode.intent.topology'),
    **dict.fromkeys([
        'Abort', 'Canary', 'Delay', 'Dest', 'Exact', 'Fault', 'Match', 'Mirror', 'PathPrefix', 'Prefix',
        'Regex', 'Retries', 'Route',
    ], 'meshcode.intent.traffic'),
    **dict.fromkeys(['Verbatim'], 'meshcode.intent.verbatim'),
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'meshcode' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:  # type checkers and editors see the real names
    from meshcode.compile import compile_mesh, compile_meshes
    from meshcode.errors import CompileError, Finding, IntentError, MeshcodeError, SourceLocation, StackError
    from meshcode.intent.dataplane import DataPlane
    from meshcode.intent.edge import (
        EgressGateway, ExternalService, ImportedService, Ingress, OriginateTLS, ServerTLS, SidecarScope, VirtualHost,
    )
    from meshcode.intent.resilience import (
        CircuitBreaker,
        ClientTLS,
        LoadBalancer,
        Locality,
        LocalityDistribute,
        LocalityFailover,
        LocalRateLimit,
        OutlierDetection,
    )
    from meshcode.intent.rollout import Baseline, LatencyP99, PromQL, Rollout, SuccessRate, Webhook
    from meshcode.intent.security import (
        AllowRule, Call, Claim, Condition, DenyRule, Header, IngressGateway, Jwt, MtlsMigration, ZeroTrust,
    )
    from meshcode.intent.service import ALL_PODS, Port, Service, Version
    from meshcode.intent.telemetry import (
        AccessLog, EnvoyLog, EnvTag, HeaderTag, Jaeger, Metrics, OpenTelemetry, OtelLog, Tracing, Zipkin,
    )
    from meshcode.intent.topology import ApiVersions, ArgoCD, Cluster, IstioInstall, Mesh, Namespace, Patch, ProxyOptions
    from meshcode.intent.traffic import (
        Abort, Canary, Delay, Dest, Exact, Fault, Match, Mirror, PathPrefix, Prefix, Regex, Retries,
        Route,
    )
    from meshcode.intent.verbatim import Verbatim


__all__ = [
    "ALL_PODS", "Abort", "ApiVersions", "ArgoCD", "Baseline", "Call", "Canary", "CircuitBreaker", "ClientTLS",
    "Cluster", "CompileError", "Delay", "Dest", "EgressGateway", "Exact", "ExternalService", "Fault", "Finding", "Ingress",
    "IntentError", "LatencyP99", "LoadBalancer", "Locality", "LocalityDistribute", "LocalityFailover", "Match",
    "Mesh", "MeshcodeError", "Mirror", "OriginateTLS", "OutlierDetection", "Patch", "Port", "Prefix",
    "PromQL", "Regex", "Retries", "Rollout", "Route", "ServerTLS", "Service", "SidecarScope",
    "SourceLocation", "StackError", "SuccessRate", "Version", "Webhook", "compile_mesh", "compile_meshes",
]
__all__ += ["AllowRule", "Claim", "Condition", "DenyRule", "Header", "IngressGateway", "Jwt", "MtlsMigration",
            "ZeroTrust"]  # zero trust
__all__ += ["DataPlane", "PathPrefix"]  # data planes (sidecar/ambient, Istio API/Gateway API)
__all__ += ["IstioInstall", "ProxyOptions"]  # installing Istio itself
__all__ += ["Verbatim"]  # objects kept as written (meshcode import)
__all__ += ["ImportedService", "LocalRateLimit", "Namespace", "VirtualHost"]  # rate limits, namespaces, mesh-internal hosts
__all__ += [  # observability
    "AccessLog", "EnvTag", "EnvoyLog", "HeaderTag", "Jaeger", "Metrics", "OpenTelemetry", "OtelLog",
    "Tracing", "Zipkin",
]
