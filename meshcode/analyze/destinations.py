"""DestinationRule checks: the host exists, TLS verifies the server, locality failover can fire."""
from __future__ import annotations

from typing import Any, Iterator

from meshcode.analyze.index import MeshIndex, as_dict, as_list, namespace_of, spec_of
from meshcode.errors import Finding
from meshcode.plan import Resource

VERIFYING_MODES = ("SIMPLE", "MUTUAL")


def traffic_policies(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], bool]]:
    """(where, policy, has outlier detection in an enclosing policy) for every traffic policy of a
    DestinationRule: top level, its port levels, each subset and the subset's port levels."""
    top = as_dict(spec.get("trafficPolicy"))
    top_od = "outlierDetection" in top
    yield "trafficPolicy", top, False
    for i, p in enumerate(as_list(top.get("portLevelSettings"))):
        yield f"trafficPolicy.portLevelSettings[{i}]", as_dict(p), top_od
    for s in as_list(spec.get("subsets")):
        s = as_dict(s)
        policy = as_dict(s.get("trafficPolicy"))
        name = s.get("name", "?")
        sub_od = top_od or "outlierDetection" in policy
        yield f"subsets[{name}].trafficPolicy", policy, top_od
        for i, p in enumerate(as_list(policy.get("portLevelSettings"))):
            yield f"subsets[{name}].trafficPolicy.portLevelSettings[{i}]", as_dict(p), sub_od


def check_host_exists(ix: MeshIndex) -> Iterator[Finding]:
    """IST0174: the DestinationRule's host matches no Service or ServiceEntry visible to it."""
    for r in ix.of("DestinationRule"):
        spec = spec_of(r)
        host = spec.get("host")
        if not isinstance(host, str) or not host:
            continue
        export_to = [e for e in as_list(spec.get("exportTo")) if isinstance(e, str)]
        if ix.resolve(host, namespace_of(r), export_to, referrer=r) is None:
            yield ix.finding("IST0174", r, f"The host {host} defined in the DestinationRule does not match any "
                             "services in the mesh.")


def _unverified(tls: dict[str, Any], selected: bool) -> str | None:
    """The TLS mode when it originates TLS without a CA to verify the server, else None.

    Like istioctl: SIMPLE/MUTUAL without caCertificates. A credentialName counts only on a
    DestinationRule with a workloadSelector (only then do the selected sidecars read the secret,
    whose ca.crt verifies the server); an explicit insecureSkipVerify is a deliberate choice.
    """
    mode = tls.get("mode")
    if mode not in VERIFYING_MODES or tls.get("caCertificates") or (tls.get("credentialName") and selected) \
            or tls.get("insecureSkipVerify") is True:
        return None
    return str(mode)


def _ca_problems(r: Resource) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    spec = spec_of(r)
    host = spec.get("host", "")
    ns = namespace_of(r)
    top = as_dict(spec.get("trafficPolicy"))
    selected = bool(as_dict(spec.get("workloadSelector")))
    mode = _unverified(as_dict(top.get("tls")), selected)
    if mode:
        out.append(("IST0128", f"DestinationRule {ns}/{r.name} in namespace {ns} has TLS mode set to {mode} but no "
                    f"caCertificates are set to validate server identity for host: {host}"))
    for p in as_list(top.get("portLevelSettings")):
        p = as_dict(p)
        mode = _unverified(as_dict(p.get("tls")), selected)
        if mode:
            port = as_dict(p.get("port")).get("number", "?")
            out.append(("IST0129", f"DestinationRule {ns}/{r.name} in namespace {ns} has TLS mode set to {mode} but "
                        "no caCertificates are set to validate server identity for host: "
                        f"{host} at port number:{port}"))
    return out


def check_ca_certificates(ix: MeshIndex) -> Iterator[Finding]:
    """IST0128 / IST0129: TLS origination that does not verify the server's certificate."""
    for r in ix.of("DestinationRule"):
        for code, message in ix.cached("ca-certificates", r, _ca_problems):
            yield ix.finding(code, r, message)


def _needs_outlier_detection(lb: dict[str, Any]) -> bool:
    """Locality failover (explicit or by priority) is on; `distribute` alone needs no health signal."""
    locality = as_dict(lb.get("localityLbSetting"))
    if not locality or locality.get("enabled") is False:
        return False
    return bool(locality.get("failover") or locality.get("failoverPriority")) or not locality.get("distribute")


def _locality_problems(r: Resource) -> list[tuple[str, str]]:
    return [("MC5121", f"{where}.loadBalancer.localityLbSetting fails over between localities but no "
             "outlierDetection is set, so unhealthy endpoints are never ejected and failover never happens; "
             "add outlierDetection")
            for where, policy, inherited_od in traffic_policies(spec_of(r))
            if _needs_outlier_detection(as_dict(policy.get("loadBalancer")))
            and not inherited_od and "outlierDetection" not in policy]


def check_locality_failover(ix: MeshIndex) -> Iterator[Finding]:
    """MC5121: locality failover only moves traffic when outlier detection ejects endpoints."""
    for r in ix.of("DestinationRule"):
        for code, message in ix.cached("locality", r, _locality_problems):
            yield ix.finding(code, r, message)
