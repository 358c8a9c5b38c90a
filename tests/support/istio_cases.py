"""Istio's own analyzer test grid (istio/istio 1.30.3, pkg/config/analysis/analyzers/analyzers_test.go),
restricted to the config-level analyzers: the ones that read Istio config, Services, Namespaces and
mesh config, not a running cluster (webhooks, injection, pods' images, secrets' contents, CRD
versions, status conditions). The input files are copied in tests/data/istio-analyzers (see its README).

Each case names its analyzer, input files, optional mesh config and the expected findings as
Istio's test states them: (code, "Kind namespace/name") or (code, "Kind name") when the input
file gives no namespace. `evaluate` runs `meshcode lint` over a case's inputs and matches its
findings of the analyzer's codes against the expected ones (as a multiset, like Istio's ConsistOf).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from meshcode.analyze.lint import lint
from tests.support.paths import ROOT

DATA = ROOT / "tests" / "data" / "istio-analyzers"


@dataclass(frozen=True)
class Case:
    name: str
    analyzer: str
    inputs: list[str]
    mesh_config: str | None
    expected: list[tuple[str, str]]


#: what each analyzer reports (istio/istio pkg/config/analysis/analyzers/*/*.go): a code, or a code
#: and the start of its message where several analyzers share a code (IST0101 names what is missing);
#: findings of other analyzers in a case's inputs are not this case's business
ANALYZER_CODES: dict[str, frozenset[str]] = {
    "annotations.K8sAnalyzer": frozenset({"IST0107", "IST0108", "IST0125", "IST0135"}),
    "deprecation.FieldAnalyzer": frozenset({"IST0002"}),
    "gateway.ConflictingGatewayAnalyzer": frozenset({"IST0145"}),
    "gateway.CertificateAnalyzer": frozenset({"IST0138"}),
    "service.PortNameAnalyzer": frozenset({"IST0118", "IST0150"}),
    "sidecar.SelectorAnalyzer": frozenset({"IST0111", "IST0167"}),
    "virtualservice.ConflictingMeshGatewayHostsAnalyzer": frozenset({"IST0109"}),
    "virtualservice.DestinationHostAnalyzer": frozenset({"IST0101:Referenced host not found",
                                                        "IST0101:Referenced mirror host not found",
                                                        "IST0101:Referenced host:port not found",
                                                        "IST0112", "IST0140"}),
    "virtualservice.DestinationRuleAnalyzer": frozenset({"IST0101:Referenced host+subset"}),
    "virtualservice.GatewayAnalyzer": frozenset({"IST0101:Referenced gateway", "IST0132", "IST0165"}),
    "destinationrule.CaCertificateAnalyzer": frozenset({"IST0128", "IST0129"}),
    "schema.ValidationAnalyzer.VirtualService": frozenset({"IST0130", "IST0131"}),
    "serviceentry.ProtocolAddressesAnalyzer": frozenset({"IST0134"}),
    "telemetry.ProviderAnalyzer": frozenset({"IST0157"}),
    "telemetry.DefaultSelectorAnalyzer": frozenset({"IST0160"}),
    "telemetry.LightstepAnalyzer": frozenset({"IST0002"}),
    "envoyfilter.EnvoyPatchAnalyzer": frozenset({"IST0151", "IST0152", "IST0153", "IST0154", "IST0155"}),
    "authz.AuthorizationPoliciesAnalyzer": frozenset({"IST0101:Referenced namespace", "IST0127"}),
    "destinationrule.PodNotSelectedAnalyzer": frozenset({"IST0173", "IST0174"}),
}

CASES: list[Case] = [
    Case('misannoted', 'annotations.K8sAnalyzer', ['misannotated.yaml'], None, [
        ('IST0108', 'Service httpbin'),
        ('IST0125', 'Pod invalid-annotations'),
        ('IST0107', 'Pod grafana-test'),
        ('IST0107', 'Deployment fortio-deploy'),
        ('IST0107', 'Namespace staging'),
        ('IST0135', 'Deployment fortio-deploy'),
    ]),
    Case('deprecation', 'deprecation.FieldAnalyzer', ['deprecation.yaml'], None, [
        ('IST0002', 'VirtualService foo/productpage'),
        ('IST0002', 'Sidecar default/no-selector'),
    ]),
    Case('conflicting gateways detect', 'gateway.ConflictingGatewayAnalyzer', ['conflicting-gateways.yaml'], None, [
        ('IST0145', 'Gateway alpha'),
        ('IST0145', 'Gateway beta'),
    ]),
    Case('gateways with different port are non-conflicting', 'gateway.ConflictingGatewayAnalyzer', ['gateway-different-port.yaml'], None, [
    ]),
    Case('conflicting gateways with multiple port declarations', 'gateway.ConflictingGatewayAnalyzer', ['conflicting-gateways-multiple-ports.yaml'], None, [
        ('IST0145', 'Gateway alpha'),
        ('IST0145', 'Gateway beta'),
    ]),
    Case('conflicting gateways detect by sub selector', 'gateway.ConflictingGatewayAnalyzer', ['conflicting-gateways-subSelector.yaml'], None, [
        ('IST0145', 'Gateway alpha'),
        ('IST0145', 'Gateway beta'),
    ]),
    Case('conflicting gateways detect: no port', 'gateway.ConflictingGatewayAnalyzer', ['conflicting-gateways-invalid-port.yaml'], None, [
    ]),
    Case('portNameNotFollowConvention', 'service.PortNameAnalyzer', ['service-no-port-name.yaml'], None, [
        ('IST0118', 'Service my-namespace1/my-service1'),
        ('IST0118', 'Service my-namespace1/my-service1'),
        ('IST0118', 'Service my-namespace2/my-service2'),
    ]),
    Case('namedPort', 'service.PortNameAnalyzer', ['service-port-name.yaml'], None, [
    ]),
    Case('unnamedPortInSystemNamespace', 'service.PortNameAnalyzer', ['service-no-port-name-system-namespace.yaml'], None, [
    ]),
    Case('sidecarDefaultSelector', 'sidecar.SelectorAnalyzer', ['sidecar-default-selector.yaml'], None, [
        ('IST0111', 'Sidecar ns2/has-conflict-2'),
        ('IST0111', 'Sidecar ns2/has-conflict-1'),
        ('IST0167', 'Sidecar ns-ambient/namespace-scoped'),
        ('IST0167', 'Sidecar ns-ambient/pod-scoped'),
    ]),
    Case('virtualServiceConflictingMeshGatewayHosts', 'virtualservice.ConflictingMeshGatewayHostsAnalyzer', ['virtualservice_conflictingmeshgatewayhosts.yaml'], None, [
        ('IST0109', 'VirtualService team3/ratings'),
        ('IST0109', 'VirtualService team4/ratings'),
        ('IST0109', 'VirtualService foo/ratings'),
        ('IST0109', 'VirtualService bar/ratings'),
        ('IST0109', 'VirtualService foo/productpage'),
        ('IST0109', 'VirtualService foo/bogus-productpage'),
        ('IST0109', 'VirtualService team2/ratings'),
    ]),
    Case('virtualServiceConflictingMeshGatewayHostsWithExportTo', 'virtualservice.ConflictingMeshGatewayHostsAnalyzer', ['virtualservice_conflictingmeshgatewayhosts_with_exportto.yaml'], None, [
        ('IST0109', 'VirtualService foo/productpage'),
        ('IST0109', 'VirtualService bar/productpage'),
        ('IST0109', 'VirtualService foo/productpage-c'),
        ('IST0109', 'VirtualService bar/productpage-c'),
        ('IST0109', 'VirtualService foo/productpage-d'),
        ('IST0109', 'VirtualService bar/productpage-d'),
    ]),
    Case('virtualServiceDestinationHosts', 'virtualservice.DestinationHostAnalyzer', ['virtualservice_destinationhosts.yaml'], None, [
        ('IST0101', 'VirtualService default/reviews-bogushost'),
        ('IST0101', 'VirtualService default/reviews-bogushost'),
        ('IST0101', 'VirtualService default/reviews-bookinfo-other'),
        ('IST0101', 'VirtualService default/reviews-mirror-bogushost'),
        ('IST0101', 'VirtualService default/reviews-bogusport'),
        ('IST0112', 'VirtualService default/reviews-2port-missing'),
        ('IST0101', 'VirtualService istio-system/cross-namespace-details'),
        ('IST0101', 'VirtualService hello/hello-export-to-bogus'),
    ]),
    Case('virtualServiceDestinationRules', 'virtualservice.DestinationRuleAnalyzer', ['virtualservice_destinationrules.yaml'], None, [
        ('IST0101', 'VirtualService default/reviews-bogussubset'),
        ('IST0101', 'VirtualService default/reviews-mirror-bogussubset'),
    ]),
    Case('virtualServiceGateways', 'virtualservice.GatewayAnalyzer', ['virtualservice_gateways.yaml'], None, [
        ('IST0101', 'VirtualService httpbin-bogus'),
        ('IST0132', 'VirtualService default/cross-test'),
        ('IST0132', 'VirtualService httpbin-bogus'),
        ('IST0132', 'VirtualService httpbin'),
    ]),
    Case('virtualServiceInternalGatewayRef', 'virtualservice.GatewayAnalyzer', ['virtualservice_internal_gateway_ref.yaml'], None, [
        ('IST0165', 'VirtualService httpbin'),
    ]),
    Case('authorizationpolicies', 'authz.AuthorizationPoliciesAnalyzer', ['authorizationpolicies.yaml'], None, [
        ('IST0127', 'AuthorizationPolicy istio-system/meshwide-httpbin-v1'),
        ('IST0127', 'AuthorizationPolicy httpbin-empty/httpbin-empty-namespace-wide'),
        ('IST0127', 'AuthorizationPolicy httpbin/httpbin-nopods'),
        ('IST0101', 'AuthorizationPolicy httpbin/httpbin-bogus-ns'),
        ('IST0101', 'AuthorizationPolicy httpbin/httpbin-bogus-ns'),
        ('IST0101', 'AuthorizationPolicy httpbin/httpbin-bogus-not-ns'),
        ('IST0101', 'AuthorizationPolicy httpbin/httpbin-bogus-not-ns'),
        ('IST0127', 'AuthorizationPolicy test-ambient/no-workload'),
    ]),
    Case('destinationrule with no cacert, simple at destinationlevel', 'destinationrule.CaCertificateAnalyzer', ['destinationrule-simple-destination.yaml'], None, [
        ('IST0128', 'DestinationRule db-tls'),
    ]),
    Case('destinationrule with no cacert, mutual at destinationlevel', 'destinationrule.CaCertificateAnalyzer', ['destinationrule-mutual-destination.yaml'], None, [
        ('IST0128', 'DestinationRule db-mtls'),
    ]),
    Case('destinationrule with no cacert, simple at portlevel', 'destinationrule.CaCertificateAnalyzer', ['destinationrule-simple-port.yaml'], None, [
        ('IST0129', 'DestinationRule db-tls'),
    ]),
    Case('destinationrule with credentialname, simple at destinationlevel, no workloadSelector', 'destinationrule.CaCertificateAnalyzer', ['destinationrule-simple-destination-credentialname.yaml'], None, [
        ('IST0128', 'DestinationRule db-tls'),
    ]),
    Case('destinationrule with credentialname, simple at destinationlevel, workloadSelector', 'destinationrule.CaCertificateAnalyzer', ['destinationrule-simple-destination-credentialname-selector.yaml'], None, [
    ]),
    Case('destinationrule with credentialname, simple at portlevel, no workloadSelector', 'destinationrule.CaCertificateAnalyzer', ['destinationrule-simple-port-credentialname.yaml'], None, [
        ('IST0129', 'DestinationRule db-tls'),
    ]),
    Case('destinationrule with credentialname, simple at portlevel, workloadSelector', 'destinationrule.CaCertificateAnalyzer', ['destinationrule-simple-port-credentialname-selector.yaml'], None, [
    ]),
    Case('destinationrule with no cacert, mutual at portlevel', 'destinationrule.CaCertificateAnalyzer', ['destinationrule-mutual-port.yaml'], None, [
        ('IST0129', 'DestinationRule db-mtls'),
    ]),
    Case('destinationrule with no cacert, mutual at destinationlevel and simple at port level', 'destinationrule.CaCertificateAnalyzer', ['destinationrule-compound-simple-mutual.yaml'], None, [
        ('IST0128', 'DestinationRule db-mtls'),
        ('IST0129', 'DestinationRule db-mtls'),
    ]),
    Case('destinationrule with no cacert, simple at destinationlevel and mutual at port level', 'destinationrule.CaCertificateAnalyzer', ['destinationrule-compound-mutual-simple.yaml'], None, [
        ('IST0129', 'DestinationRule db-mtls'),
        ('IST0128', 'DestinationRule db-mtls'),
    ]),
    Case('destinationrule with both cacerts', 'destinationrule.CaCertificateAnalyzer', ['destinationrule-with-ca.yaml'], None, [
    ]),
    Case('dupmatches', 'schema.ValidationAnalyzer.VirtualService', ['virtualservice_dupmatches.yaml', 'virtualservice_overlappingmatches.yaml'], None, [
        ('IST0130', 'VirtualService duplicate-match'),
        ('IST0130', 'VirtualService foo/sample-foo-cluster01'),
        ('IST0131', 'VirtualService almost-duplicate-match'),
        ('IST0131', 'VirtualService duplicate-match'),
        ('IST0130', 'VirtualService duplicate-tcp-match'),
        ('IST0130', 'VirtualService duplicate-empty-tcp'),
        ('IST0131', 'VirtualService almost-duplicate-tcp-match'),
        ('IST0131', 'VirtualService duplicate-tcp-match'),
        ('IST0130', 'VirtualService none/tls-routing'),
        ('IST0131', 'VirtualService none/tls-routing-almostmatch'),
        ('IST0131', 'VirtualService none/tls-routing'),
        ('IST0131', 'VirtualService non-method-get'),
        ('IST0131', 'VirtualService overlapping-in-single-match'),
        ('IST0131', 'VirtualService overlapping-in-two-matches'),
        ('IST0131', 'VirtualService overlapping-mathes-with-different-methods'),
    ]),
    Case('host defined in virtualservice not found in the gateway', 'virtualservice.GatewayAnalyzer', ['virtualservice_host_not_found_gateway.yaml'], None, [
        ('IST0132', 'VirtualService default/testing-service-02-test-01'),
        ('IST0132', 'VirtualService default/testing-service-02-test-02'),
        ('IST0132', 'VirtualService default/testing-service-02-test-03'),
        ('IST0132', 'VirtualService default/testing-service-03-test-04'),
    ]),
    Case('host defined in virtualservice not found in the gateway(beta version)', 'virtualservice.GatewayAnalyzer', ['virtualservice_host_not_found_gateway_beta.yaml'], None, [
        ('IST0132', 'VirtualService default/testing-service-02-test-01'),
        ('IST0132', 'VirtualService default/testing-service-02-test-02'),
        ('IST0132', 'VirtualService default/testing-service-02-test-03'),
        ('IST0132', 'VirtualService default/testing-service-03-test-04'),
    ]),
    Case('host defined in virtualservice not found in the gateway with ns', 'virtualservice.GatewayAnalyzer', ['virtualservice_host_not_found_gateway_with_ns_prefix.yaml'], None, [
        ('IST0132', 'VirtualService default/testing-service-01-test-01'),
    ]),
    Case('host defined in virtualservice not found in the gateway with ns(beta version)', 'virtualservice.GatewayAnalyzer', ['virtualservice_host_not_found_gateway_with_ns_prefix_beta.yaml'], None, [
        ('IST0132', 'VirtualService default/testing-service-01-test-01'),
    ]),
    Case('missing Addresses and Protocol in Service Entry', 'serviceentry.ProtocolAddressesAnalyzer', ['serviceentry-missing-addresses-protocol.yaml'], None, [
        ('IST0134', 'ServiceEntry default/service-entry-test-03'),
        ('IST0134', 'ServiceEntry default/service-entry-test-04'),
        ('IST0134', 'ServiceEntry default/service-entry-test-07'),
    ]),
    Case('missing Addresses and Protocol in Service Entry with ISTIO_META_DNS_AUTO_ALLOCATE enabled', 'serviceentry.ProtocolAddressesAnalyzer', ['serviceentry-missing-addresses-protocol.yaml'], 'serviceentry-missing-addresses-protocol-mesh-cfg.yaml', [
    ]),
    Case('certificate duplication in Gateway', 'gateway.CertificateAnalyzer', ['gateway-duplicate-certificate.yaml'], None, [
        ('IST0138', 'Gateway istio-system/gateway-01-test-01'),
        ('IST0138', 'Gateway istio-system/gateway-02-test-01'),
        ('IST0138', 'Gateway istio-system/gateway-01-test-02'),
        ('IST0138', 'Gateway default/gateway-01-test-03'),
    ]),
    Case('Route Rule no effect on Ingress', 'virtualservice.DestinationHostAnalyzer', ['virtualservice_route_rule_no_effects_ingress.yaml'], None, [
        ('IST0140', 'VirtualService default/testing-service-01-test-01'),
    ]),
    Case('ExternalNameServiceTypeInvalidPortName', 'service.PortNameAnalyzer', ['incorrect-port-name-external-name-service-type.yaml'], None, [
        ('IST0150', 'Service nginx-ns/nginx'),
        ('IST0150', 'Service nginx-ns2/nginx-svc2'),
        ('IST0150', 'Service nginx-ns3/nginx-svc3'),
    ]),
    Case('ExternalNameServiceTypeValidPortName', 'service.PortNameAnalyzer', ['correct-port-name-external-name-service-type.yaml'], None, [
    ]),
    Case('EnvoyFilterUsesRelativeOperation', 'envoyfilter.EnvoyPatchAnalyzer', ['relative-envoy-filter-operation.yaml'], None, [
        ('IST0151', 'EnvoyFilter bookinfo/test-relative-1'),
        ('IST0151', 'EnvoyFilter bookinfo/test-relative-2'),
        ('IST0151', 'EnvoyFilter bookinfo/test-relative-3'),
        ('IST0155', 'EnvoyFilter bookinfo/test-relative-3'),
    ]),
    Case('EnvoyFilterFilterChainMatch', 'envoyfilter.EnvoyPatchAnalyzer', ['envoy-filter-filterchain.yaml'], None, [
    ]),
    Case('EnvoyFilterUsesAbsoluteOperation', 'envoyfilter.EnvoyPatchAnalyzer', ['absolute-envoy-filter-operation.yaml'], None, [
    ]),
    Case('EnvoyFilterUsesReplaceOperation', 'envoyfilter.EnvoyPatchAnalyzer', ['envoy-filter-replace-operation.yaml'], None, [
        ('IST0152', 'EnvoyFilter bookinfo/test-replace-1'),
        ('IST0155', 'EnvoyFilter bookinfo/test-replace-3'),
        ('IST0151', 'EnvoyFilter bookinfo/test-replace-3'),
    ]),
    Case('EnvoyFilterUsesAddOperation', 'envoyfilter.EnvoyPatchAnalyzer', ['envoy-filter-add-operation.yaml'], None, [
        ('IST0153', 'EnvoyFilter bookinfo/test-auth-2'),
        ('IST0153', 'EnvoyFilter bookinfo/test-auth-3'),
    ]),
    Case('EnvoyFilterUsesRemoveOperation', 'envoyfilter.EnvoyPatchAnalyzer', ['envoy-filter-remove-operation.yaml'], None, [
        ('IST0151', 'EnvoyFilter bookinfo/test-remove-1'),
        ('IST0154', 'EnvoyFilter bookinfo/test-remove-2'),
        ('IST0154', 'EnvoyFilter bookinfo/test-remove-3'),
        ('IST0151', 'EnvoyFilter bookinfo/test-remove-5'),
    ]),
    Case('Analyze conflicting gateway with list type', 'gateway.ConflictingGatewayAnalyzer', ['analyze-list-type.yaml'], None, [
        ('IST0145', 'Gateway alpha'),
        ('IST0145', 'Gateway alpha-l'),
        ('IST0145', 'Gateway beta-l'),
    ]),
    Case('Analyze invalid telemetry', 'telemetry.ProviderAnalyzer', ['telemetry-invalid-provider.yaml'], None, [
        ('IST0157', 'Telemetry istio-system/mesh-default'),
    ]),
    Case('Analyze invalid telemetry', 'telemetry.ProviderAnalyzer', ['telemetry-disable-provider.yaml'], None, [
    ]),
    Case('telemetryDefaultSelector', 'telemetry.DefaultSelectorAnalyzer', ['telemetry-default-selector.yaml'], None, [
        ('IST0160', 'Telemetry ns2/has-conflict-2'),
        ('IST0160', 'Telemetry ns2/has-conflict-1'),
    ]),
    Case('Telemetry Lightstep', 'telemetry.LightstepAnalyzer', ['telemetry-lightstep.yaml'], 'telemetry-lightstep-meshconfig.yaml', [
        ('IST0002', 'Telemetry istio-system/mesh-default'),
    ]),
    Case('ServiceEntry Addresses Required Lowercase Protocol', 'serviceentry.ProtocolAddressesAnalyzer', ['serviceentry-address-required-lowercase.yaml'], None, [
        ('IST0134', 'ServiceEntry address-missing-lowercase'),
    ]),
    Case('ServiceEntry Addresses Required Uppercase Protocol', 'serviceentry.ProtocolAddressesAnalyzer', ['serviceentry-address-required-uppercase.yaml'], None, [
        ('IST0134', 'ServiceEntry address-missing-uppercase'),
    ]),
    Case('DestinationRuleWithFakeHost', 'destinationrule.PodNotSelectedAnalyzer', ['destinationrule-with-fake-host.yaml'], None, [
        ('IST0174', 'DestinationRule default/fake-host'),
    ]),
    Case('ServiceEntry Addresses Allocated', 'serviceentry.ProtocolAddressesAnalyzer', ['serviceentry-address-allocated.yaml'], 'serviceentry-address-allocated-mesh-cfg.yaml', [
    ]),
]


@dataclass
class Outcome:
    case: Case
    found: list[tuple[str, str]] = field(default_factory=list)
    missed: list[tuple[str, str]] = field(default_factory=list)
    extra: list[tuple[str, str]] = field(default_factory=list)


def origin(kind: str, namespace: str, name: str, expected_has_namespace: bool) -> str:
    return f"{kind} {namespace}/{name}" if expected_has_namespace else f"{kind} {name}"


def evaluate(case: Case) -> Outcome:
    """meshcode lint over the case's inputs, matched against Istio's expected findings."""
    mesh_config = DATA / case.mesh_config if case.mesh_config else None
    result = lint([DATA / f for f in case.inputs], validate_schemas=False, mesh_config=mesh_config)
    reports = ANALYZER_CODES[case.analyzer]
    # Istio names an object without namespace in its file as "Kind name"; meshcode puts it in "default"
    bare = {o.split(" ", 1)[1] for _, o in case.expected if "/" not in o}
    ours = Counter()
    for f in result.findings:
        if f.kind and (f.code in reports or any(
                r.startswith(f.code + ":") and f.message.startswith(r[8:]) for r in reports)):
            plain = f.namespace == "default" and f.name in bare
            ours[(f.code, origin(f.kind, f.namespace, f.name, not plain))] += 1
    want = Counter(case.expected)
    out = Outcome(case)
    out.found = sorted((want & ours).elements())
    out.missed = sorted((want - ours).elements())
    out.extra = sorted((ours - want).elements())
    return out


def coverage(outcomes: list[Outcome]) -> tuple[int, int]:
    """(expected findings found, expected findings in all)."""
    return sum(len(o.found) for o in outcomes), sum(len(o.case.expected) for o in outcomes)
