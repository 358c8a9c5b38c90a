"""meshcode: service-mesh configuration as code.

The public surface: intent models users write in stacks, and the compile entry points.
Everything else is internal and may change.
"""
from meshcode._version import __version__
from meshcode._version import __version__
from meshcode.compile import compile_mesh, compile_meshes
from meshcode.state.canary import CanaryState
from meshcode.errors import CompileError, Finding, IntentError, MeshcodeError, SourceLocation, StackError
from meshcode.intent.dataplane import DataPlane
from meshcode.intent.edge import (
    EgressGateway, ExternalService, Ingress, OriginateTLS, ServerTLS, SidecarScope, VirtualHost,
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
from meshcode.plan import Plan, Resource
from meshcode.render import render_tree


__all__ = [
    "ALL_PODS", "Abort", "ApiVersions", "ArgoCD", "Baseline", "Call", "Canary", "CanaryState", "CircuitBreaker", "ClientTLS",
    "Cluster", "CompileError", "Delay", "Dest", "EgressGateway", "Exact", "ExternalService", "Fault", "Finding", "Ingress",
    "IntentError", "LatencyP99", "LoadBalancer", "Locality", "LocalityDistribute", "LocalityFailover", "Match",
    "Mesh", "MeshcodeError", "Mirror", "OriginateTLS", "OutlierDetection", "Patch", "Plan", "Port", "Prefix",
    "PromQL", "Regex", "Resource", "Retries", "Rollout", "Route", "ServerTLS", "Service", "SidecarScope",
    "SourceLocation", "StackError", "SuccessRate", "Version", "Webhook", "compile_mesh", "compile_meshes",
    "render_tree",
]
__all__ += ["AllowRule", "Claim", "Condition", "DenyRule", "Header", "IngressGateway", "Jwt", "MtlsMigration",
            "ZeroTrust"]  # zero trust
__all__ += ["DataPlane", "PathPrefix"]  # data planes (sidecar/ambient, Istio API/Gateway API)
__all__ += ["IstioInstall", "ProxyOptions"]  # installing Istio itself
__all__ += ["Verbatim"]  # objects kept as written (meshcode import)
__all__ += ["LocalRateLimit", "Namespace", "VirtualHost"]  # rate limits, namespaces, mesh-internal hosts
__all__ += [  # observability
    "AccessLog", "EnvTag", "EnvoyLog", "HeaderTag", "Jaeger", "Metrics", "OpenTelemetry", "OtelLog",
    "Tracing", "Zipkin",
]
