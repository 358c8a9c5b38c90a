"""Every code the analysis reports, with its level and a one-line description.

Where a check is the same as one of `istioctl analyze`'s, it carries Istio's code, name and level
(from istio/istio `pkg/config/analysis/msg/messages.yaml`) so users can look it up on istio.io.
meshcode's own checks use MC5xxx. SARIF output lists these as its rules.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from meshcode.plan import Resource

from meshcode.errors import Finding, Level


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    level: Level
    name: str
    description: str

    @property
    def help_uri(self) -> str:
        if self.code.startswith("IST"):
            return f"https://istio.io/latest/docs/reference/config/analysis/{self.code.lower()}/"
        return "https://github.com/meshcode-dev/meshcode#linting-existing-yaml"


CODES: dict[str, Code] = {c.code: c for c in (
    # -- istioctl analyze's codes (same check, same level) ------------------------------------
    Code("IST0002", "warning", "Deprecated", "A feature that the configuration is depending on is now deprecated."),
    Code("IST0101", "error", "ReferencedResourceNotFound", "A resource being referenced does not exist."),
    Code("IST0106", "error", "SchemaValidationError", "The resource has a schema validation error."),
    Code("IST0109", "error", "ConflictingMeshGatewayVirtualServiceHosts",
         "Conflicting hosts on VirtualServices associated with mesh gateway"),
    Code("IST0111", "error", "MultipleSidecarsWithoutWorkloadSelectors",
         "More than one sidecar resource in a namespace has no workload selector"),
    Code("IST0112", "error", "VirtualServiceDestinationPortSelectorRequired",
         "A VirtualService routes to a service with more than one port exposed, "
         "but does not specify which to use."),
    Code("IST0118", "info", "PortNameIsNotUnderNamingConvention",
         "Port name is not under naming convention. Protocol detection is applied to the port."),
    Code("IST0128", "warning", "NoServerCertificateVerificationDestinationLevel",
         "No caCertificates are set in DestinationRule, this results in no verification of "
         "presented server certificate."),
    Code("IST0129", "warning", "NoServerCertificateVerificationPortLevel",
         "No caCertificates are set in DestinationRule, this results in no verification of "
         "presented server certificate for traffic to a given port."),
    Code("IST0130", "warning", "VirtualServiceUnreachableRule",
         "A VirtualService rule will never be used because a previous rule uses the same match."),
    Code("IST0131", "info", "VirtualServiceIneffectiveMatch",
         "A VirtualService rule match duplicates a match in a previous rule."),
    Code("IST0132", "warning", "VirtualServiceHostNotFoundInGateway",
         "Host defined in VirtualService not found in Gateway."),
    Code("IST0138", "warning", "GatewayDuplicateCertificate",
         "Duplicate certificate in multiple gateways may cause 404s if clients re-use HTTP2 connections."),
    Code("IST0140", "warning", "IngressRouteRulesNotAffected",
         "Route rules have no effect on ingress gateway requests"),
    Code("IST0134", "warning", "ServiceEntryAddressesRequired",
         "Virtual IP addresses are required for ports serving TCP (or unset) protocol"),
    Code("IST0150", "warning", "ExternalNameServiceTypeInvalidPortName",
         "Port name for ExternalName service is invalid. Proxy may prevent tcp named ports and unmatched "
         "traffic for ports serving TCP protocol from being forwarded correctly"),
    Code("IST0157", "warning", "InvalidTelemetryProvider",
         "The Telemetry with empty providers will be ignored"),
    Code("IST0165", "warning", "ReferencedInternalGateway",
         "VirtualServices should not reference internal Gateways."),
    Code("IST0167", "warning", "IneffectivePolicy", "The policy has no impact."),
    Code("IST0145", "error", "ConflictingGateways",
         "Gateway should not have the same selector, port and matched hosts of server"),
    Code("IST0160", "error", "MultipleTelemetriesWithoutWorkloadSelectors",
         "More than one telemetry resource in a namespace has no workload selector"),
    Code("IST0173", "error", "DestinationRuleSubsetNotSelectPods",
         "A DestinationRule subset's labels select no pods, which may lead to 503 UH (NoHealthyUpstream)."),
    Code("IST0174", "warning", "UnknownDestinationRuleHost",
         "The host of a DestinationRule does not match any service in the mesh."),
    Code("IST0177", "warning", "ConflictingServiceEntryProtocol",
         "ServiceEntries visible in one namespace define the same host and port with different protocols."),
    # -- meshcode's own -------------------------------------------------------------------------
    Code("MC5001", "error", "InvalidYaml", "A file given to lint is not valid YAML."),
    Code("MC5002", "warning", "NotAKubernetesObject",
         "A YAML document has no apiVersion, kind or metadata.name, so it was not checked."),
    Code("MC5003", "info", "CelNotEvaluated",
         "CEL validation rules were not evaluated (cel-python is not installed: pip install 'meshcode[lint]')."),
    Code("MC5004", "error", "CheckFailed",
         "A check stopped on an input it did not expect (a meshcode bug: please report it); the other checks ran."),
    Code("MC5101", "error", "RouteWeightsDoNotSum",
         "The weights of a route with more than one destination do not sum to 100."),
    Code("MC5102", "warning", "SingleDestinationWeightIgnored",
         "A route with one destination sends it all traffic whatever its weight says."),
    Code("MC5111", "error", "MtlsModeConflict",
         "A DestinationRule's TLS mode and the PeerAuthentication of its host's namespace disagree, "
         "so requests fail."),
    Code("MC5112", "warning", "TlsOriginationToStrictMtls",
         "A DestinationRule originates plain TLS to a mesh service whose PeerAuthentication is STRICT."),
    Code("MC5121", "warning", "LocalityFailoverWithoutOutlierDetection",
         "Locality failover never happens without outlierDetection in the same traffic policy."),
    Code("MC5201", "error", "GatewayApiReferenceNotFound",
         "A Gateway API route names a parent or backend (Service and port, Gateway and listener) that does not exist."),
    Code("MC5202", "error", "GatewayApiReferenceNotGranted",
         "A Gateway API route names a backend in another namespace that no ReferenceGrant there allows."),
    Code("MC5203", "warning", "GatewayApiListenerUnused",
         "A Gateway listener has no route attached, or a route hostname matches no listener it attaches to."),
    Code("MC5204", "error", "WaypointNotFound",
         "An istio.io/use-waypoint label names a waypoint Gateway that does not exist in the namespace."),
    Code("MC5205", "warning", "ZtunnelPolicyWithL7Attributes",
         "In an ambient namespace, a policy ztunnel enforces (no targetRefs) has L7 attributes ztunnel cannot see."),
    Code("MC5206", "error", "VirtualServiceAndGatewayApiRoute",
         "A service host is routed both by a VirtualService and by a Gateway API route."),
    Code("MC5131", "error", "GatewayRouteProtocolMismatch",
         "A gateway-bound VirtualService has http, tcp or tls routes that no server of its gateways hands "
         "connections to (e.g. http routes behind a TCP server), so they never apply."),
    Code("MC5132", "error", "RouteProtocolMismatch",
         "A VirtualService's http rule sends to a TCP port: sidecars never apply it, gateways speak "
         "the wrong protocol to it."),
    Code("MC5141", "error", "UnknownIstioChartValue",
         "An Argo CD Application sets a Helm value that Istio's chart does not define; Helm ignores it."),
    # -- workload checks (meshcode/analyze/workloads.py; need workload manifests) ---------------
    Code("MC6001", "warning", "ServiceSelectsNoWorkload",
         "A Service's selector matches no workload in its namespace, so it has no endpoints."),
    Code("MC6002", "error", "ServiceNotDeployed",
         "The mesh declares or routes to a service that has no Kubernetes Service in the workloads."),
)}


def level_of(code: str) -> Level:
    return CODES[code].level


def check_failed(check: str, error: Exception, cluster: str = "", r: "Resource | None" = None) -> Finding:
    """MC5004: a check met input it did not expect. Reported like any finding (the run goes on)."""
    where = (r.kind, r.namespace, r.name, r.origin) if r is not None else ("", "", "", None)
    return Finding("MC5004", level_of("MC5004"), f"{check} stopped on this input ({type(error).__name__}: "
                   f"{str(error)[:200]}); please report it. The other checks ran.", *where, cluster)
