"""Every code meshcode reports — compile, analysis, lint, errors — with its level and a one-line description.

The one registry: `tests/test_codes.py` fails when a code appears anywhere in meshcode without
an entry here (add one: code, level, a CamelCase name, what it means).

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
    # -- errors (meshcode/errors.py: what stopped a command) -------------------------------------
    Code("MC0000", "error", "MeshcodeError", "meshcode refused to go on; the message says why."),
    Code("MC1000", "error", "InvalidIntent", "An intent object was built with invalid values."),
    Code("MC1001", "error", "StackNotLoaded", "A stack file could not be run (syntax error, exception, nothing defined)."),
    Code("MC2000", "error", "CompileFailed", "The intent is well-formed but inconsistent; every error finding is listed."),
    Code("MC3001", "error", "PrometheusCredentials", "Prometheus credentials are given in a way meshcode refuses (see the message)."),
    # -- compile: data planes (sidecar/ambient, Istio API/Gateway API) ------------------------------
    Code("MC2901", "error", "DataPlaneConflict", "A namespace's data plane is declared twice, or cannot run ambient."),
    Code("MC2902", "error", "NotInGatewayApi",
         "The intent cannot be said in the Gateway API's standard channel (retries, fault, some matches, …)."),
    Code("MC2903", "error", "GatewayApiPrecedence",
         "Gateway API's specificity ranking would route some requests to a later rule than first-match order."),
    Code("MC2904", "error", "SidecarInAmbient", "A Sidecar object (or egress lock-down) for a namespace on ambient."),
    Code("MC2905", "error", "NeedsWaypoint",
         "L7 intent (routing, DestinationRule policy, L7 authorization) in ambient without a waypoint."),
    Code("MC2906", "error", "AmbientTopologyUnsupported",
         "An ambient multi-cluster topology Istio 1.30 does not support (remote/config clusters, one network)."),
    Code("MC3000", "error", "CanaryStateError", "Canary state or the working tree is not in a state this command can act on."),
    Code("MC4001", "error", "OwnershipError", "The output folder holds files meshcode does not own where it would write."),
    Code("MC4002", "error", "Locked", "Another meshcode command holds the project lock."),
    Code("MC4003", "error", "HandEdited", "A generated file was edited by hand since meshcode wrote it."),
    Code("MC4004", "error", "GitError", "The project is not in a git repository, or git refused an operation."),
    Code("MC4005", "error", "UnsafePath", "A path would leave the output folder or pass through a link or mount point."),
    Code("MC4006", "error", "WriteFailed", "The disk refused the write; the previous tree is kept."),
    Code("MC4008", "error", "MachinePathInOutput", "Generated output would name a folder of this machine."),
    Code("MC4007", "error", "UncommittedInput",
         "compile --commit: a file the stacks read, outside the stacks folder, has uncommitted changes."),
    Code("MC5000", "error", "NoSuchPath", "A file or folder given on the command line does not exist."),
    Code("MC6000", "error", "WorkloadsNotLoaded", "Workload manifests could not be read."),
    # -- compile: notes ---------------------------------------------------------------------------
    Code("MC0101", "info", "OutlierDetectionAdded",
         "Locality load balancing needs outlier detection to fail over; the default was added."),
    Code("MC0701", "info", "TracingWithoutProvider",
         "Tracing names no provider and no wider scope does: spans go to the mesh's default provider."),
    Code("MC0901", "info", "ServiceNeedsWaypointLabel",
         "A service with its own waypoint: its Kubernetes Service needs the istio.io/use-waypoint label."),
    Code("MC0902", "info", "AmbientServiceNeedsGlobalLabel",
         "An ambient service in several clusters: its Kubernetes Service needs istio.io/global to be reached across them."),
    # -- compile: names, patches ------------------------------------------------------------------
    Code("MC2001", "error", "DeclaredTwice", "A service or external service is declared twice."),
    Code("MC2002", "error", "HostClaimedTwice", "Two external services claim the same host."),
    Code("MC2003", "error", "ClusterDeclaredTwice", "A cluster is declared twice in a mesh."),
    Code("MC2004", "error", "GeneratedTwice", "Two intents generate the same object (kind, namespace, name)."),
    Code("MC2201", "error", "PatchDoesNotApply", "A Patch's JSON patch does not apply to its target."),
    Code("MC2202", "error", "PatchTargetNotGenerated", "A Patch names an object the compile does not generate."),
    Code("MC2203", "error", "PatchChangesIdentity", "A Patch changes an object's identity or drops its metadata."),
    # -- compile: routing -------------------------------------------------------------------------
    Code("MC2101", "error", "InvalidDestination", "A route's destination is unknown or its weights are invalid."),
    Code("MC2102", "error", "CanaryAndDefaultRoute", "A service has both a canary and a route without match."),
    Code("MC2103", "error", "HttpMatchOnTcpService",
         "HTTP-only intent (matches, timeouts, retries, faults, mirrors, rewrites, testers) on a service with no HTTP port."),
    Code("MC2104", "error", "IngressRouteWithoutTarget",
         "An ingress route has no to= service, or a matched route has neither a destination nor anything to do."),
    Code("MC2107", "error", "EgressGatewayPorts", "An external service cannot go through its egress gateway as written (ports or protocol)."),
    Code("MC2106", "error", "IngressProtocolMismatch", "An ingress route's protocol does not match the service port it sends to."),
    Code("MC2105", "error", "RouteNeverReached", "A route comes after one that matches every request it would."),
    Code("MC2108", "error", "VirtualHostUnresolvable",
         "A mesh-internal virtual host has no way to be resolved (addresses or DNS auto-allocation), or cannot be "
         "expressed on the namespace's routing API."),
    Code("MC2109", "error", "NamespaceIntentConflict",
         "A declared namespace contradicts other intent (kept out of the mesh but holds services or is ambient; "
         "the root namespace)."),
    Code("MC2111", "error", "TrustDomainAliasRepeated",
         "A trust domain alias repeats the mesh's own trust domain or another alias."),
    Code("MC2112", "error", "SidecarRoutingInAmbient",
         "Routing intent that only sidecars apply (an external service's VirtualService, its egress gateway) "
         "in an ambient namespace."),
    Code("MC2110", "error", "LocalRateLimitInvalid",
         "A local rate limit cannot apply: no HTTP port, a port the service does not have, or an ambient namespace."),
    # -- compile: multi-cluster -------------------------------------------------------------------
    Code("MC2301", "error", "UnknownPrimary", "A remote cluster names a primary the mesh does not have."),
    Code("MC2302", "error", "PrimaryIsNotPrimary", "A remote cluster's primary is not a primary (or config) cluster."),
    Code("MC2303", "error", "UnknownCluster", "An object is placed in a cluster the mesh does not have."),
    Code("MC2304", "error", "ZonesWithoutRegion", "A cluster lists zones but no region."),
    Code("MC2305", "error", "FailoverToItself", "A locality failover goes from a region to itself."),
    Code("MC2306", "error", "RemoteWithoutPilotAddress", "A remote cluster on another network needs remote_pilot_address."),
    Code("MC2307", "error", "InvalidRevision", "A revision name is not a valid Istio revision."),
    Code("MC2308", "error", "RevisionMismatch", "A remote cluster runs a revision its control plane does not."),
    Code("MC2310", "error", "RevisionStillInUse", "A revision is removed while namespaces or tags in generated/ still use it."),
    Code("MC2309", "error", "ClusterLocalCallAcrossClusters",
         "A service calls a cluster-local service that does not run in the caller's clusters."),
    # -- compile: GitOps (Argo CD) ----------------------------------------------------------------
    Code("MC2401", "error", "ReservedClusterName", "A cluster is named after the Argo CD output folder."),
    Code("MC2402", "error", "UnknownArgoCluster", "ArgoCD cluster_names maps a cluster the mesh does not have."),
    Code("MC2403", "info", "NoArgoOutput", "No Argo CD output: repo_url is not set under [tool.meshcode]."),
    Code("MC2404", "error", "GeneratedByTwoMeshes", "Two meshes generate the same object into one cluster folder."),
    # -- compile: zero trust ----------------------------------------------------------------------
    Code("MC2501", "error", "UnknownCallTarget", "A declared call names no service or external service of the mesh."),
    Code("MC2502", "error", "DenyBlocksDeclaredCall", "A DENY rule blocks a call the intent declares."),
    Code("MC2503", "error", "TlsDisableToStrict", "TLS DISABLE toward workloads that accept only mTLS."),
    Code("MC2504", "error", "SidecarHidesCallTarget", "A Sidecar hides a host a declared call needs."),
    Code("MC2505", "error", "JwtOnTcpService", "A JWT rule on a service with only TCP ports."),
    Code("MC2506", "error", "IngressBlockedByDefaultDeny", "A service exposed through an ingress is blocked by default deny."),
    Code("MC2507", "error", "MtlsStepSkipped", "An mTLS migration skips a stage (DISABLE → PERMISSIVE → STRICT)."),
    Code("MC2508", "error", "SharedServiceAccountCalls",
         "A version with its own calls shares a service account with versions that do not make them."),
    Code("MC2509", "error", "ZeroTrustDeclaredTwice", "ZeroTrust for one scope is declared twice."),
    Code("MC2510", "error", "AnyoneIntoDefaultDeny", "AllowRule(anyone=True) opens a namespace that default-denies."),
    Code("MC2511", "warning", "UnknownPodPort", "A port has no known pod port; the rule assumes the service port."),
    Code("MC2512", "error", "RequestPrincipalWithoutJwt", "A rule needs request principals where no RequestAuthentication validates tokens."),
    Code("MC2513", "error", "GatewayJwtRemovedBeforeRule", "A gateway removes the JWT a later rule needs."),
    Code("MC2514", "error", "GatewayAllowAdmitsNoRoute", "Gateway ALLOW rules admit none of an ingress route's requests."),
    # -- compile: telemetry -----------------------------------------------------------------------
    Code("MC2701", "error", "UnknownTelemetryProvider", "Telemetry names a provider no mesh config defines."),
    Code("MC2702", "error", "ProviderDefinedTwice", "An extension provider is defined twice with different settings."),
    Code("MC2703", "error", "TelemetryConflict", "Two telemetry intents of one scope disagree."),
    Code("MC2704", "error", "UnknownTelemetryService", "Telemetry for a service the mesh does not declare."),
    Code("MC2705", "error", "TelemetrySelectorsOverlap", "Telemetry for two workload selectors that select the same pods."),
    Code("MC2801", "error", "DataPlaneDeclaredTwice", "The data plane of the mesh or of one namespace is declared twice."),
    Code("MC2802", "error", "AmbientControlPlaneNamespace", "The control plane's namespace cannot join ambient capture."),
    Code("MC2706", "error", "WrongProviderKind", "Telemetry names a provider of another kind (access log, tracing, metrics)."),
    # -- lint: meshcode's own ---------------------------------------------------------------------
    Code("MC5001", "error", "InvalidYaml", "A file given to lint is not valid YAML."),
    Code("MC5002", "warning", "NotAKubernetesObject",
         "A YAML document has no apiVersion, kind or metadata.name, so it was not checked."),
    Code("MC5003", "info", "CelNotEvaluated",
         "CEL validation rules were not evaluated (cel-python is not installed: pip install 'meshcode[lint]')."),
    Code("MC5004", "error", "CheckFailed",
         "A check stopped on an input it did not expect (a meshcode bug: please report it); the other checks ran."),
    Code("MC5005", "error", "InvalidMeshConfig", "A --mesh-config file holds no mesh config."),
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
