"""Edge intent: ingress gateways into the mesh, external services out of it, sidecar scope."""
from __future__ import annotations

import ipaddress
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from meshcode.intent.base import DNSLabel, Duration, Hostname, IntentModel, Many
from meshcode.intent.resilience import ClientTLS, check_client_certificate
from meshcode.intent.service import Port, Ports
from meshcode.intent.traffic import Fault, Retries, Route


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _unique_hosts(hosts: tuple[str, ...]) -> None:
    seen: set[str] = set()
    for h in hosts:
        if h in seen:
            raise ValueError(f"host {h!r} is listed twice")
        seen.add(h)


class ServerTLS(IntentModel):
    """TLS the gateway terminates: SIMPLE (server cert) or MUTUAL (also verifies clients)."""

    positional = ("credential_name",)
    credential_name: str
    mode: Literal["SIMPLE", "MUTUAL"] = "SIMPLE"
    min_protocol_version: Literal["TLSV1_2", "TLSV1_3"] | None = None


class Ingress(IntentModel):
    """Expose services on hosts through an ingress gateway (Gateway + bound VirtualService).

    `protocol` is what the gateway serves: "HTTP" (HTTPS with `tls=`), "TCP" (opaque bytes on
    `port`, one route: the service's split) or "TLS" (passthrough: the gateway routes on SNI
    without terminating, the service holds the certificate).
    """

    positional = ("name",)
    name: DNSLabel
    namespace: DNSLabel = "default"
    hosts: Many[Hostname] = Field(min_length=1)
    routes: Many[Route] = Field(min_length=1)
    selector: dict[str, str] = Field(default_factory=lambda: {"istio": "ingressgateway"})
    tls: ServerTLS | None = None
    http_redirect: bool = False
    port: int | None = Field(default=None, ge=1, le=65535)
    gateway_namespace: DNSLabel | None = None  # where the gateway workload's namespace is
    clusters: tuple[DNSLabel, ...] | None = None
    protocol: Literal["HTTP", "TCP", "TLS"] = "HTTP"

    @field_validator("protocol", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @model_validator(mode="after")
    def _redirect_needs_tls(self) -> "Ingress":
        if self.http_redirect and self.tls is None:
            raise ValueError("http_redirect needs tls (it redirects HTTP to HTTPS)")
        if any(h == "*" for h in self.hosts) and (self.tls or self.protocol == "TLS"):
            raise ValueError("a TLS ingress needs concrete hosts, not '*' (they are matched as SNI)")
        if self.protocol != "HTTP" and self.tls:
            raise ValueError(f"tls= terminates TLS and serves HTTPS; a {self.protocol} ingress forwards the "
                             "connection as it is (protocol='TLS' is passthrough: the service holds the certificate)")
        if self.protocol == "TCP" and self.port is None:
            raise ValueError("a TCP ingress needs port= (the gateway port it listens on, e.g. 31400)")
        _unique_hosts(self.hosts)
        return self

    @property
    def listen_port(self) -> int:
        return self.port or (443 if self.tls or self.protocol == "TLS" else 80)

    @property
    def server_protocol(self) -> str:
        """The Gateway server's protocol: HTTP, HTTPS (tls=), TCP, or TLS (passthrough)."""
        return "HTTPS" if self.tls else self.protocol


class EgressGateway(IntentModel):
    """Send an external service's traffic out through an egress gateway (Istio's egress-gateway task).

    Sidecars route the external host to the gateway's Service (`service` in `namespace`); the
    gateway (pods matching `selector`) sends it on to the external host. With the external
    service's `originate_tls`, the gateway opens the TLS connection; a TLS/HTTPS port without it
    passes through the gateway on SNI. `mtls=True` protects the hop from the sidecars to the
    gateway with Istio mTLS (HTTP traffic only).
    """

    selector: dict[str, str] = Field(default_factory=lambda: {"istio": "egressgateway"})
    service: DNSLabel = "istio-egressgateway"
    namespace: DNSLabel = "istio-system"
    port: int | None = Field(default=None, ge=1, le=65535)  # the gateway Service port; default 80 / 443
    mtls: bool = False  # sidecars reach the gateway over Istio mTLS (HTTPS server, ISTIO_MUTUAL) on 443

    @property
    def host(self) -> str:
        return f"{self.service}.{self.namespace}.svc.cluster.local"


class OriginateTLS(IntentModel):
    """Let apps call plain HTTP on `port` while the sidecar opens TLS to `target_port`."""

    port: int = Field(default=80, ge=1, le=65535)
    target_port: int = Field(default=443, ge=1, le=65535)
    mode: Literal["SIMPLE", "MUTUAL"] = "SIMPLE"
    credential_name: str | None = None
    ca_certificates: str | None = None  # CA bundle path in the sidecar that verifies the server
    sni: str | None = None
    client_certificate: str | None = None  # file paths in the proxy, instead of credential_name
    private_key: str | None = None

    @model_validator(mode="after")
    def _mutual(self) -> "OriginateTLS":
        check_client_certificate(self.mode, self.credential_name, self.client_certificate, self.private_key)
        return self


class ExternalService(IntentModel):
    """A service outside the mesh (ServiceEntry), optionally with TLS originated by the sidecar."""

    positional = ("name",)
    name: DNSLabel
    namespace: DNSLabel = "default"
    hosts: Many[Hostname] = Field(min_length=1, max_length=256)
    ports: Ports = Field(min_length=1, max_length=256)
    resolution: Literal["DNS", "STATIC", "NONE", "DNS_ROUND_ROBIN"] = "DNS"
    location: Literal["MESH_EXTERNAL", "MESH_INTERNAL"] = "MESH_EXTERNAL"
    addresses: Many[str] = Field(default=(), max_length=256)
    endpoints: Many[str] = Field(default=(), max_length=4096)
    originate_tls: OriginateTLS | None = None
    tls: ClientTLS | None = None
    export_to: tuple[str, ...] = ()
    clusters: tuple[DNSLabel, ...] | None = None
    # routing of the external host itself (a VirtualService for it), as on a Service
    routes: Many[Route] = ()
    timeout: Duration | None = None
    retries: Retries | None = None
    fault: Fault | None = None
    egress_gateway: EgressGateway | None = None

    # no versions and no canary: the routing code treats an ExternalService like a Service without them
    versions: ClassVar[tuple[()]] = ()
    canary: ClassVar[None] = None
    mirror: ClassVar[None] = None
    default_to: ClassVar[None] = None

    @field_validator("addresses")
    @classmethod
    def _addresses(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for a in v:
            try:
                ipaddress.ip_network(a, strict=False) if "/" in a else ipaddress.ip_address(a)
            except ValueError:
                raise ValueError(f"address {a!r} is not an IP address or CIDR range") from None
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "ExternalService":
        # The ServiceEntry rules of Istio's CRD (its CEL validations), said at the intent's line.
        if self.resolution == "STATIC" and not self.endpoints:
            raise ValueError("resolution STATIC needs endpoints (IP addresses)")
        if self.resolution == "STATIC":
            for e in self.endpoints:
                if not _is_ip(e) and not e.startswith("unix://"):
                    raise ValueError(f"resolution STATIC needs IP addresses as endpoints, got {e!r}")
        if self.resolution == "NONE" and self.endpoints:
            raise ValueError("resolution NONE cannot have endpoints (traffic goes to the address the app "
                             "dialled); use resolution='STATIC' or 'DNS' with endpoints")
        if self.resolution == "DNS_ROUND_ROBIN" and len(self.endpoints) > 1:
            raise ValueError("resolution DNS_ROUND_ROBIN takes at most one endpoint")
        cidrs = [a for a in self.addresses if "/" in a]
        if cidrs and self.resolution not in ("NONE", "STATIC"):
            raise ValueError(f"CIDR addresses ({', '.join(cidrs)}) need resolution 'NONE' or 'STATIC', "
                             f"not {self.resolution!r}")
        if "*" in self.hosts:
            raise ValueError("host '*' is not allowed: name the external hosts (wildcards like '*.example.com' are)")
        numbers = [p.number for p in self.ports]
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"port numbers must be unique, got {numbers}")
        _unique_hosts(self.hosts)
        if self.resolution.startswith("DNS") and not self.endpoints and any("*" in h for h in self.hosts):
            raise ValueError("DNS resolution without endpoints resolves the hosts themselves: "
                             "wildcard hosts need resolution='NONE' (or endpoints)")
        if self.originate_tls and self.tls:
            raise ValueError("use originate_tls or tls, not both")
        if self.originate_tls and self.originate_tls.target_port not in {p.number for p in self.ports}:
            raise ValueError(
                f"originate_tls.target_port {self.originate_tls.target_port} must be one of the ports")
        routed = self.routes or self.timeout or self.retries or self.fault or self.egress_gateway
        if routed and (len(self.hosts) > 1 or "*" in self.host):
            raise ValueError("routes, timeout, retries, fault and egress_gateway route one concrete host: "
                             f"split {', '.join(self.hosts)} into one ExternalService per host")
        if self.egress_gateway and self.routes:
            raise ValueError("with egress_gateway, every request goes to the gateway: routes= cannot choose "
                             "other destinations (timeout, retries and fault still apply)")
        if self.egress_gateway and self.tls:
            raise ValueError("with egress_gateway, use originate_tls (the gateway originates TLS), not tls=")
        return self

    @property
    def host(self) -> str:
        return self.hosts[0]

    @property
    def http_ports(self) -> tuple[Port, ...]:
        """Ports HTTP rules apply to (with TLS origination: the plain-HTTP port apps call)."""
        http = tuple(p for p in self.ports if p.is_http)
        if self.originate_tls and self.originate_tls.port not in {p.number for p in http}:
            http = (Port(self.originate_tls.port),) + http
        return http

    @property
    def tcp_ports(self) -> tuple[Port, ...]:
        return tuple(p for p in self.ports if not p.is_http and p.number not in {h.number for h in self.http_ports})

    def version(self, name: str) -> None:
        return None


class SidecarScope(IntentModel):
    """A namespace-wide Sidecar: which hosts the namespace's proxies know about."""

    positional = ("namespace",)
    namespace: DNSLabel
    egress_hosts: tuple[str, ...] = ("./*", "istio-system/*")
    outbound: Literal["REGISTRY_ONLY", "ALLOW_ANY"] | None = None

    @model_validator(mode="after")
    def _hosts(self) -> "SidecarScope":
        for h in self.egress_hosts:
            ns, sep, host = h.partition("/")
            if not sep or not ns or not host:
                raise ValueError(f"egress host {h!r} must be 'namespace/host' (e.g. './*', 'istio-system/*')")
        return self


class VirtualHost(IntentModel):
    """A host that is not a service, routed by the sidecars (no gateway): e.g. `bookinfo.com` with
    `/reviews` → reviews and `/ratings` → ratings, for callers inside the mesh.

    Written as a ServiceEntry (MESH_INTERNAL, so the proxies know the host on `port`) and a
    VirtualService bound to the mesh. Callers resolve the host through the proxies' DNS
    (ProxyOptions(dns_capture=True, dns_auto_allocate=True)) or through `addresses`.
    """

    positional = ("name",)
    name: DNSLabel
    namespace: DNSLabel = "default"
    hosts: Many[Hostname] = Field(min_length=1)
    routes: Many[Route] = Field(min_length=1)
    port: int = Field(default=80, ge=1, le=65535)
    addresses: tuple[str, ...] = ()  # virtual IPs the hosts resolve to (without DNS auto-allocation)
    clusters: tuple[DNSLabel, ...] | None = None

    protocol: ClassVar[str] = "HTTP"  # the routing code treats it like an HTTP ingress on `port`
    server_protocol: ClassVar[str] = "HTTP"

    @model_validator(mode="after")
    def _concrete(self) -> "VirtualHost":
        if any("*" in h for h in self.hosts):
            raise ValueError("a virtual host needs concrete host names (callers resolve and send them)")
        _unique_hosts(self.hosts)
        return self

    @property
    def listen_port(self) -> int:
        return self.port


class ImportedService(IntentModel):
    """A service of another mesh (Istio's multi-mesh model), reached through that mesh's east-west
    gateway: a ServiceEntry here (`host`, MESH_INTERNAL) whose endpoint is the gateway, and Istio
    mTLS with the SNI the gateway's AUTO_PASSTHROUGH server routes on (`remote_host`).

    `trust_domain` is the other mesh's; `service_account` (in `remote_namespace`) pins the identity
    the server must present (the other mesh must also accept this mesh's trust domain).
    """

    positional = ("name",)
    name: DNSLabel
    namespace: DNSLabel = "default"
    host: Hostname  # the name callers in this mesh use, e.g. "httpbin.bar.global"
    remote_host: Hostname  # the service's FQDN in its own mesh, e.g. "httpbin.bar.svc.cluster.local"
    ports: Ports = Field(min_length=1)
    gateway: str = Field(min_length=1)  # address or DNS name of the other mesh's east-west gateway
    gateway_port: int = Field(default=15443, ge=1, le=65535)
    trust_domain: str = Field(min_length=1)
    service_account: DNSLabel | None = None
    address: str | None = None  # a virtual IP for the host (TCP ports, or without DNS auto-allocation)
    clusters: tuple[DNSLabel, ...] | None = None

    @model_validator(mode="after")
    def _concrete(self) -> "ImportedService":
        if "*" in self.host or "*" in self.remote_host:
            raise ValueError("an imported service has one concrete host here and one in its mesh")
        if self.host == self.remote_host and self.host.endswith(".svc.cluster.local"):
            raise ValueError(f"host {self.host!r} would shadow a local Kubernetes service name; give it a "
                             "name of its own here (e.g. '<service>.<namespace>.global')")
        return self

    @property
    def principal(self) -> str | None:
        return f"spiffe://{self.trust_domain}/ns/{self.remote_namespace}/sa/{self.service_account}" \
            if self.service_account else None

    @property
    def remote_namespace(self) -> str:
        parts = self.remote_host.split(".")
        return parts[1] if len(parts) > 2 else self.namespace
