"""A service in the mesh: its ports, versions, and the traffic and resilience intent on it."""
from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BeforeValidator, Field, field_validator, model_validator

from meshcode.intent.base import DNSLabel, Duration, IntentModel, Many, field_types
from meshcode.intent.resilience import CircuitBreaker, ClientTLS, LoadBalancer, LocalRateLimit, OutlierDetection
from meshcode.intent.traffic import Canary, Fault, Mirror, Protocol, Retries, Route

if TYPE_CHECKING:
    from meshcode.intent.security import Call  # resolved by model_rebuild in meshcode/intent/__init__.py

HTTP_PROTOCOLS = frozenset({"HTTP", "HTTP2", "GRPC"})
ALL_PODS = "all"
"""`Service(default_to=ALL_PODS)`: default traffic goes to every pod of the service (no subset)."""


# Port-name prefixes Istio's protocol selection reads (pkg/config/kube ConvertProtocol).
_NAMED_PROTOCOLS = frozenset({"tcp", "udp", "grpc", "http", "http2", "https", "tls", "mongo", "redis", "mysql"})


class Port(IntentModel):
    """A service port. The name defaults to '<protocol>-<number>' so Istio detects the protocol."""

    positional = ("number", "protocol")
    number: int = Field(ge=1, le=65535)
    protocol: Protocol = "HTTP"
    name: DNSLabel | None = None
    target_port: int | None = Field(default=None, ge=1, le=65535)

    @field_validator("protocol", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @model_validator(mode="after")
    def _name_agrees(self) -> "Port":
        """Istio reads a port's protocol from its name's prefix: the two must not disagree."""
        prefix = (self.name or "").split("-", 1)[0]
        if prefix in _NAMED_PROTOCOLS and prefix != self.protocol.lower():
            raise ValueError(f"port name {self.name!r} tells Istio the protocol is {prefix.upper()}, "
                             f"but protocol is {self.protocol}")
        return self

    @property
    def port_name(self) -> str:
        return self.name or f"{self.protocol.lower()}-{self.number}"

    @property
    def is_http(self) -> bool:
        return self.protocol in HTTP_PROTOCOLS


def _to_calls(model: type[IntentModel], v: Any) -> tuple[Call, ...]:
    """A Service, ExternalService or name stands for a `Call` to it without restrictions.

    `Call` is the item type of the model's `calls` field (a forward reference resolved by
    meshcode/intent/__init__.py), so this module does not import meshcode.intent.security.
    """
    call = field_types(model, "calls")[0]
    if not isinstance(v, (list, tuple)):
        v = (v,)
    return tuple(x if isinstance(x, call) else call(x) for x in v)



def as_ports(value: Any) -> Any:
    """One port or a list; a bare number is `Port(number)` (the one rule every `ports=` field follows)."""
    if isinstance(value, (Port, int)):
        value = (value,)
    return tuple(Port(p) if isinstance(p, int) else p for p in value)


Ports = Annotated[tuple[Port, ...], BeforeValidator(as_ports)]

class Version(IntentModel):
    """A subset: pods carrying `labels` (default version=<name>), with optional own policy."""

    positional = ("name",)
    name: DNSLabel
    labels: dict[str, str] = Field(default_factory=dict)
    load_balancer: LoadBalancer | None = None
    circuit_breaker: CircuitBreaker | None = None
    outlier_detection: OutlierDetection | None = None
    service_account: DNSLabel | None = None  # this version's own identity (default: the service's)
    calls: tuple[Call, ...] = ()  # dependencies of this version only (needs its own service_account)

    @field_validator("calls", mode="before")
    @classmethod
    def _calls(cls, v: Any) -> Any:
        return _to_calls(cls, v)

    @property
    def pod_labels(self) -> dict[str, str]:
        return self.labels or {"version": self.name}


class Service(IntentModel):
    """A Kubernetes service in the mesh and everything about how traffic reaches it.

    Routing is ordered: explicit `routes` first, then canary testers, then the default
    split: the canary's, the `to=` of a route without match, `default_to` (a version, or
    ALL_PODS for every pod), else the first version, else (no versions) the service's host.
    """

    positional = ("name",)
    name: DNSLabel
    namespace: DNSLabel = "default"
    ports: Ports = Field(min_length=1)
    versions: tuple[Version, ...] = ()
    service_account: DNSLabel | None = None
    routes: Many[Route] = ()
    default_to: DNSLabel | None = None  # catch-all target: a version, or ALL_PODS; see default_split
    canary: Canary | None = None
    mirror: Mirror | None = None
    timeout: Duration | None = None
    retries: Retries | None = None
    fault: Fault | None = None
    circuit_breaker: CircuitBreaker | None = None
    outlier_detection: OutlierDetection | None = None
    load_balancer: LoadBalancer | None = None
    tls: ClientTLS | None = None
    rate_limit: LocalRateLimit | None = None  # Envoy's local (per pod) rate limit on inbound requests
    clusters: tuple[DNSLabel, ...] | None = None
    cluster_local: bool = False
    calls: tuple[Call, ...] = ()  # declared dependencies (see meshcode.intent.security.Call)

    @field_validator("versions", mode="before")
    @classmethod
    def _versions(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return tuple(Version(name=k, labels=labels or {}) for k, labels in v.items())
        return tuple(Version(x) if isinstance(x, str) else x for x in v)

    @field_validator("calls", mode="before")
    @classmethod
    def _calls(cls, v: Any) -> Any:
        return _to_calls(cls, v)

    @model_validator(mode="after")
    def _consistent(self) -> "Service":
        names = [p.port_name for p in self.ports]
        if len(set(names)) != len(names):
            raise ValueError(f"port names must be unique, got {names}")
        numbers = [p.number for p in self.ports]
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"port numbers must be unique, got {numbers}")
        vnames = [v.name for v in self.versions]
        if len(set(vnames)) != len(vnames):
            raise ValueError(f"version names must be unique, got {vnames}")
        if self.default_to == ALL_PODS and ALL_PODS in vnames:
            raise ValueError(f"default_to={ALL_PODS!r} is ambiguous: a version is named {ALL_PODS!r}")
        if self.default_to is not None and self.default_to != ALL_PODS and self.default_to not in vnames:
            raise ValueError(f"default_to={self.default_to!r} is neither a version of {self.name} "
                             f"(versions: {', '.join(vnames) or 'none'}) nor ALL_PODS ({ALL_PODS!r})")
        if self.default_to is not None and any(not r.match and r.to is not None for r in self.routes):
            raise ValueError("default_to and a route without match both choose where default traffic "
                             "goes; keep one")
        if self.default_to is not None and self.canary is not None:
            raise ValueError("default_to and canary both choose where default traffic goes; the canary "
                             "owns the default split")
        return self

    @property
    def host(self) -> str:
        return f"{self.name}.{self.namespace}.svc.cluster.local"

    @property
    def account(self) -> str:
        return self.service_account or self.name

    def version_account(self, version: Version) -> str:
        """The service account a version's pods run as (its own, else the service's)."""
        return version.service_account or self.account

    @property
    def http_ports(self) -> tuple[Port, ...]:
        return tuple(p for p in self.ports if p.is_http)

    @property
    def tcp_ports(self) -> tuple[Port, ...]:
        return tuple(p for p in self.ports if not p.is_http)

    def version(self, name: str) -> Version | None:
        return next((v for v in self.versions if v.name == name), None)
