"""Security intent: declared calls between services, and the ZeroTrust posture compiled from them.

The call graph is the user's statement of who may talk to whom. `ZeroTrust` turns it into
least privilege: mTLS, ALLOW rules for exactly the declared calls, explicit DENY rules,
end-user JWT checks and per-workload egress lock-down.
"""
from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import Field, field_validator, model_validator

from meshcode.intent.base import DNSLabel, IntentModel, Many, one_or_many

MtlsMode = Literal["DISABLE", "PERMISSIVE", "STRICT"]
#: the order workloads move through, one step at a time, in either direction
MTLS_LADDER: tuple[str, ...] = ("DISABLE", "PERMISSIVE", "STRICT")
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})
_CLAIM = re.compile(r"^[A-Za-z0-9_.:/-]+\Z")


def check_path_pattern(path: str) -> str:
    """Istio authorization paths: exact, `prefix*`, `*suffix` or `*` (no other wildcards)."""
    if not isinstance(path, str) or not path:
        raise ValueError(f"a path must be a non-empty string, got {path!r}")
    if path == "*":
        return path
    body = path[1:] if path.startswith("*") else path[:-1] if path.endswith("*") else path
    if "*" in body:
        raise ValueError(f"path {path!r}: '*' is allowed only at the start or the end")
    if not path.startswith(("/", "*")):
        raise ValueError(f"path {path!r} must start with '/' (or '*' for a suffix match)")
    return path


def _methods(v: Any) -> Any:
    v = (v,) if isinstance(v, str) else v
    out = []
    for m in v:
        if not isinstance(m, str) or m.upper() not in HTTP_METHODS:
            raise ValueError(f"{m!r} is not an HTTP method ({', '.join(sorted(HTTP_METHODS))})")
        out.append(m.upper())
    return tuple(out)


_tuple = one_or_many  # one item where a list is expected (validators that also check items)


class Call(IntentModel):
    """`this service calls target`, optionally only on some ports, methods and paths.

    Ports are the target's service ports; paths use Istio's forms (`/exact`, `/prefix*`,
    `*suffix`). Anything not given is not restricted (all the target's ports, any method/path).
    """

    positional = ("target",)
    target: Any  # Service | ExternalService | "name" | "namespace/name"
    ports: Many[int] = ()
    methods: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()

    @field_validator("target")
    @classmethod
    def _target(cls, v: Any) -> Any:
        from meshcode.intent.edge import ExternalService
        from meshcode.intent.service import Service

        if isinstance(v, (Service, ExternalService)) or (isinstance(v, str) and v):
            return v
        raise ValueError(f"a call target must be a Service, an ExternalService or a name, got {v!r}")

    @field_validator("methods", mode="before")
    @classmethod
    def _methods(cls, v: Any) -> Any:
        return _methods(v)

    @field_validator("paths", mode="before")
    @classmethod
    def _paths(cls, v: Any) -> Any:
        return tuple(check_path_pattern(p) for p in _tuple(v))

    @property
    def target_name(self) -> str:
        return self.target if isinstance(self.target, str) else self.target.name

    @property
    def is_http_only(self) -> bool:
        """Methods or paths given: the call is HTTP requests, not any connection."""
        return bool(self.methods or self.paths)


class MtlsMigration(IntentModel):
    """One step of a staged mTLS move: `from_mode` is what the workloads run today, `to` the next mode.

    Steps go DISABLE → PERMISSIVE → STRICT (or back) one at a time; a jump is a compile error.
    Once meshcode has written a PeerAuthentication, the mode in `generated/` (what Argo CD
    applies) is the authority on "today", so a plain `mtls="STRICT"` is checked against it too.
    """

    positional = ("from_mode", "to")
    from_mode: MtlsMode
    to: MtlsMode

    @field_validator("from_mode", "to", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v


class Jwt(IntentModel):
    """End-user authentication: tokens from `issuer` (keys at `jwks_uri`) are required, and
    `required_claims` must hold (claim → accepted values), on every HTTP request a covered
    workload accepts."""

    positional = ("issuer", "jwks_uri")
    issuer: str = Field(min_length=1)
    jwks_uri: str
    audiences: Many[str] = ()
    required_claims: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    forward_original_token: bool = False

    @field_validator("jwks_uri")
    @classmethod
    def _uri(cls, v: str) -> str:
        if urlparse(v).scheme not in ("http", "https") or not urlparse(v).netloc:
            raise ValueError(f"jwks_uri {v!r} must be an http:// or https:// URL")
        return v

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, v: str) -> str:
        if "*" in v:
            raise ValueError(f"issuer {v!r} must be a concrete issuer, not a pattern")
        return v

    @field_validator("required_claims", mode="before")
    @classmethod
    def _claims(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            raise ValueError("required_claims is a dict: claim name → value or list of values")
        out = {}
        for k, vals in v.items():
            if not isinstance(k, str) or not _CLAIM.match(k):
                raise ValueError(f"claim name {k!r} must be letters, digits and '_.:/-'")
            vals = _tuple(vals)
            if not vals or not all(isinstance(x, str) and x for x in vals):
                raise ValueError(f"claim {k!r} needs one or more non-empty string values")
            out[k] = tuple(vals)
        return out

    @property
    def request_principal(self) -> str:
        """Istio's request principal is `<iss>/<sub>`: any subject of this issuer."""
        return f"{self.issuer}/*"


class DenyRule(IntentModel):
    """Requests to refuse even where a declared call would allow them (DENY wins over ALLOW).

    Every condition given must hold; `not_namespaces=["bookinfo", "istio-system"]` refuses all
    traffic from anywhere else. `principals` take Services (their identities) or principal
    strings; `ports` are the ports the workload listens on.
    """

    namespaces: Many[DNSLabel] = ()
    not_namespaces: Many[DNSLabel] = ()
    principals: tuple[Any, ...] = ()
    not_principals: tuple[Any, ...] = ()
    ports: Many[int] = ()
    methods: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    not_paths: tuple[str, ...] = ()

    @field_validator("principals", "not_principals", mode="before")
    @classmethod
    def _principals(cls, v: Any) -> Any:
        from meshcode.intent.service import Service

        v = (v,) if isinstance(v, (str, Service)) else v
        for p in v:
            if not (isinstance(p, Service) or (isinstance(p, str) and p)):
                raise ValueError(f"a principal is a Service or a principal string, got {p!r}")
        return tuple(v)

    @field_validator("methods", mode="before")
    @classmethod
    def _methods(cls, v: Any) -> Any:
        return _methods(v)

    @field_validator("paths", "not_paths", mode="before")
    @classmethod
    def _paths(cls, v: Any) -> Any:
        return tuple(check_path_pattern(p) for p in _tuple(v))

    @model_validator(mode="after")
    def _some_condition(self) -> DenyRule:
        if not (self.namespaces or self.not_namespaces or self.principals or self.not_principals
                or self.ports or self.methods or self.paths or self.not_paths):
            raise ValueError("a DenyRule needs at least one condition (default_deny already refuses "
                             "everything no declared call allows)")
        for p in self.ports:
            if not 1 <= p <= 65535:
                raise ValueError(f"port {p} is not in 1..65535")
        return self

    @property
    def has_http_conditions(self) -> bool:
        return bool(self.methods or self.paths or self.not_paths)


class IngressGateway(IntentModel):
    """Who an ingress gateway's pods are: `Ingress(selector=…)` names the pods, this their identity.

    The default is Istio's standard `istio-ingressgateway` in istio-system.
    """

    selector: dict[str, str] = Field(default_factory=lambda: {"istio": "ingressgateway"})
    namespace: DNSLabel = "istio-system"
    service_account: DNSLabel = "istio-ingressgateway-service-account"


class ZeroTrust(IntentModel):
    """Least privilege for the mesh (no scope), a `namespace`, or one `service`.

    - `mtls`: STRICT, PERMISSIVE, DISABLE, or an `MtlsMigration` step;
    - `default_deny`: covered workloads refuse what no declared call (or ingress route) allows;
    - `deny`: explicit DENY rules;
    - `jwt`: end-user tokens required on HTTP requests (RequestAuthentication + ALLOW conditions);
    - `egress_lockdown`: a Sidecar per workload that sees only its declared dependencies
      (plus istio-system), with outbound REGISTRY_ONLY;
    - `gateways`: identities of the ingress gateways, for the ALLOW rules of exposed services.

    Scopes layer like Istio's own: a service's settings are the mesh's, overridden by the
    namespace's, overridden by the service's, field by field (only fields written count);
    DENY rules of every scope apply.
    """

    namespace: DNSLabel | None = None
    service: Any = None  # Service | "name" | "namespace/name"
    mtls: MtlsMode | MtlsMigration = "STRICT"
    default_deny: bool = True
    deny: Many[DenyRule] = ()
    jwt: Jwt | None = None
    egress_lockdown: bool = True
    gateways: Many[IngressGateway] = Field(default_factory=lambda: (IngressGateway(),))

    @field_validator("mtls", mode="before")
    @classmethod
    def _mtls(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @model_validator(mode="after")
    def _scope(self) -> ZeroTrust:
        from meshcode.intent.service import Service

        if self.service is not None:
            if not (isinstance(self.service, Service) or (isinstance(self.service, str) and self.service)):
                raise ValueError(f"service must be a Service or a name, got {self.service!r}")
            if isinstance(self.service, Service) and self.namespace and self.namespace != self.service.namespace:
                raise ValueError(f"service {self.service.name} is in namespace {self.service.namespace}, "
                                 f"not {self.namespace}")
        return self

    @property
    def scope(self) -> Literal["mesh", "namespace", "service"]:
        return "service" if self.service is not None else "namespace" if self.namespace else "mesh"

    @property
    def mtls_mode(self) -> str:
        """The mode the PeerAuthentication carries (a migration's `to`)."""
        return self.mtls.to if isinstance(self.mtls, MtlsMigration) else self.mtls

    @property
    def scope_text(self) -> str:
        if self.service is not None:
            return f"service {self.service if isinstance(self.service, str) else self.service.name}"
        return f"namespace {self.namespace}" if self.namespace else "the mesh"
