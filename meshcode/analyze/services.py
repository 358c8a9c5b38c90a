"""Kubernetes Service checks: port names Istio can read a protocol from (IST0118, IST0150).

Runs on every Service among the linted objects (no --workloads needed) and on the workload
manifests; one place for Istio's protocol selection (pkg/config/kube ConvertProtocol).
"""
from __future__ import annotations

from typing import Iterator

from meshcode.analyze.index import MeshIndex, as_dict, as_list, namespace_of, spec_of
from meshcode.errors import Finding
from meshcode.plan import Resource

# Istio's protocol selection: the port name's prefix before the first '-', or the whole
# `appProtocol`, names one of these (case-insensitive).
ISTIO_PROTOCOLS = frozenset({"tcp", "udp", "grpc", "grpc-web", "http", "http_proxy", "http2", "https", "tls",
                             "mongo", "redis", "mysql"})
# Kubernetes' standard appProtocol names Istio maps (ConvertProtocol)
KUBERNETES_APP_PROTOCOLS = {"kubernetes.io/h2c": "http2", "kubernetes.io/ws": "http", "kubernetes.io/wss": "https"}
WELL_KNOWN_TCP_PORTS = frozenset({25, 53, 3306, 27017})  # Istio treats these as TCP whatever the name
# namespaces istioctl analyze skips, and the labels of the control plane's own Services
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "local-path-storage", "istio-system"})
GATEWAY_MANAGED_LABEL = "gateway.istio.io/managed"

IST0118_TEXT = ("Port name {name} (port: {port}, targetPort: {target}) doesn't follow the naming convention "
                "of Istio port.")
IST0150_TEXT = ("Port name for ExternalName service is invalid. Proxy may prevent tcp named ports and unmatched "
                "traffic for ports serving TCP protocol from being forwarded correctly (port {name}: {port})")


def istio_protocol(name: str, port: int) -> str | None:
    """The protocol Istio selects for a Service port from its name or appProtocol, or None."""
    if name in KUBERNETES_APP_PROTOCOLS:
        return KUBERNETES_APP_PROTOCOLS[name]
    lowered = name.lower()
    if lowered.startswith("grpc-web"):
        return "grpc-web"
    prefix = lowered.split("-", 1)[0]
    if prefix in ISTIO_PROTOCOLS:
        return prefix
    return "tcp" if port in WELL_KNOWN_TCP_PORTS else None


def _control_plane(r: Resource) -> bool:
    """Istio's own Services (labelled `istio` or release=istio) and the ones istiod manages for
    Gateway API gateways: not the user's to rename (istioctl skips them too)."""
    labels = as_dict(r.metadata.get("labels"))
    return "istio" in labels or labels.get("release") == "istio" or GATEWAY_MANAGED_LABEL in labels \
        or labels.get("app") == "istiod"


def port_problems(r: Resource) -> list[tuple[str, str]]:
    """(code, message) for each port of a Service Istio cannot read a usable protocol from.

    IST0118 (info): no protocol in the name or appProtocol, so Istio sniffs it. IST0150 (warning)
    instead on an ExternalName Service, where an unnamed or `tcp` port makes the proxy forward
    the host's traffic as opaque TCP (or not at all).
    """
    if namespace_of(r) in SYSTEM_NAMESPACES or _control_plane(r):
        return []
    spec = spec_of(r)
    external = spec.get("type") == "ExternalName"
    out: list[tuple[str, str]] = []
    for p in map(as_dict, as_list(spec.get("ports"))):
        if str(p.get("protocol", "TCP")).upper() == "UDP":
            continue
        name = str(p.get("name") or "")
        app_protocol = p.get("appProtocol")
        number = p.get("port") if isinstance(p.get("port"), int) else 0
        unreadable = istio_protocol(str(app_protocol) if app_protocol else name, number) is None
        if external and (unreadable or name == "tcp"):
            out.append(("IST0150", IST0150_TEXT.format(name=name or "(unnamed)", port=p.get("port"))))
        elif unreadable:
            target = p.get("targetPort", p.get("port"))
            out.append(("IST0118", IST0118_TEXT.format(name=name, port=p.get("port"), target=target)))
    return out


def check_service_ports(ix: MeshIndex) -> Iterator[Finding]:
    """IST0118 / IST0150 on every Service among the linted objects."""
    for r in ix.of("Service"):
        for code, message in ix.cached("service-ports", r, port_problems):
            yield ix.finding(code, r, message)


