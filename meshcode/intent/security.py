"""Security intent: declared calls between services, and the ZeroTrust posture compiled from them.

The call graph is the user's statement of who may talk to whom. `ZeroTrust` turns it into
least privilege: mTLS, ALLOW rules for exactly the declared calls, explicit DENY rules,
end-user JWT checks and per-workload egress lock-down.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal, Union
from urllib.parse import urlparse

from pydantic import Field, field_validator, model_validator

from meshcode.errors import IntentError, caller_location
from meshcode.intent.base import DNSLabel, IntentModel, Many, PublicUrl, one_or_many
from meshcode.intent.edge import ExternalService
from meshcode.intent.service import Service, Version

MtlsMode = Literal["DISABLE", "PERMISSIVE", "STRICT"]
#: the order workloads move through, one step at a time, in either direction
MTLS_LADDER: tuple[str, ...] = ("DISABLE", "PERMISSIVE", "STRICT")
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})
_CLAIM = re.compile(r"^[A-Za-z0-9_.:/-]+\Z")
_HEADER_KEY = re.compile(r"^request\.headers\[[A-Za-z0-9!#$%&'*+.^_`|~-]+\]\Z")
_CLAIM_KEY = re.compile(r"^request\.auth\.claims(\[[A-Za-z0-9_.:/-]+\])+\Z")
#: Istio's documented `when` keys besides headers and claims (authorization conditions reference)
CONDITION_KEYS = frozenset({
    "request.auth.principal", "request.auth.audiences", "request.auth.presenter", "source.ip", "remote.ip",
    "source.namespace", "source.principal", "destination.ip", "destination.port", "connection.sni",
})


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
    target: CallTarget  # Service | ExternalService | "name" | "namespace/name"
    ports: Many[int] = ()
    methods: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()

    @field_validator("target", mode="before")
    @classmethod
    def _target(cls, v: Any) -> Any:
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
    issuer: PublicUrl = Field(min_length=1)
    jwks_uri: PublicUrl
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


def _cidrs(v: Any) -> tuple[str, ...]:
    out = []
    for b in _tuple(v):
        try:
            ipaddress.ip_network(b, strict=False)
        except (TypeError, ValueError):
            raise ValueError(f"{b!r} is not an IP address or CIDR block (e.g. 1.2.3.4, 5.6.7.0/24)") from None
        out.append(b)
    return tuple(out)


def _values(v: Any, what: str) -> tuple[str, ...]:
    vals = _tuple(v)
    if not all(isinstance(x, str) and x for x in vals):
        raise ValueError(f"{what} are non-empty strings, got {list(vals)!r}")
    return tuple(vals)


class Condition(IntentModel):
    """One `when` entry: an Istio attribute (`key`) that must take one of `values` and none of
    `not_values`. `Header` and `Claim` build the common keys; any documented key may be written
    (`source.ip`, `remote.ip`, `request.auth.audiences`, `request.auth.presenter`, …)."""

    positional = ("key",)
    key: str
    values: Many[str] = ()
    not_values: Many[str] = ()

    @field_validator("key")
    @classmethod
    def _key(cls, v: str) -> str:
        if not (v in CONDITION_KEYS or _HEADER_KEY.match(v) or _CLAIM_KEY.match(v)):
            raise ValueError(f"{v!r} is not an Istio condition key ({', '.join(sorted(CONDITION_KEYS))}, "
                             "request.headers[<name>], request.auth.claims[<claim>])")
        return v

    @field_validator("values", "not_values", mode="before")
    @classmethod
    def _strings(cls, v: Any) -> Any:
        return _values(v, "condition values")

    @model_validator(mode="after")
    def _some_values(self) -> Condition:
        if not (self.values or self.not_values):
            raise ValueError(f"condition {self.key!r} needs values= or not_values=")
        if self.key in ("source.ip", "remote.ip", "destination.ip"):
            _cidrs(self.values + self.not_values)
        return self

    @property
    def is_http(self) -> bool:
        """Request attributes exist only for HTTP (Istio drops them from DENY rules on TCP)."""
        return self.key.startswith("request.")

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key}
        if self.values:
            out["values"] = list(self.values)
        if self.not_values:
            out["notValues"] = list(self.not_values)
        return out


def Header(name: str, values: str | list[str] | tuple[str, ...] = (),  # noqa: N802 - reads as a type
           not_values: str | list[str] | tuple[str, ...] = ()) -> Condition:
    """`request.headers[<name>]` must be one of `values` and none of `not_values`."""
    return Condition(f"request.headers[{name}]", values=values, not_values=not_values)


def Claim(name: str, values: str | list[str] | tuple[str, ...] = (),  # noqa: N802 - reads as a type
          not_values: str | list[str] | tuple[str, ...] = ()) -> Condition:
    """JWT claim `name` (nested: `"a.b"` → `[a][b]`) must be one of `values` and none of `not_values`."""
    if not isinstance(name, str) or not name or not all(_CLAIM.match(p) for p in name.split(".")):
        raise IntentError(f"claim name {name!r} must be letters, digits and '_:/-' (nested with '.')",
                          caller_location())
    key = "request.auth.claims" + "".join(f"[{p}]" for p in name.split("."))
    return Condition(key, values=values, not_values=not_values)


Principal = Union[Service, str]
CallTarget = Union[Service, ExternalService, str]


class _Rule(IntentModel):
    """What ALLOW and DENY rules share: who (source), what (operation) and `when` conditions.

    Every field given must hold (Istio ANDs them); values within one field are alternatives.
    `principals` take Services (their identities) or principal strings; `request_principals`
    are JWT subjects `<iss>/<sub>` (`*` any token); `ip_blocks` match the peer's address,
    `remote_ip_blocks` the client's as the gateway sees it (X-Forwarded-For / PROXY protocol);
    `ports` are the service's ports (compiled to the port its pods listen on).
    """

    anyone: bool = False
    namespaces: Many[DNSLabel] = ()
    not_namespaces: Many[DNSLabel] = ()
    principals: Many[Principal] = ()
    not_principals: Many[Principal] = ()
    request_principals: Many[str] = ()
    not_request_principals: Many[str] = ()
    ip_blocks: Many[str] = ()
    not_ip_blocks: Many[str] = ()
    remote_ip_blocks: Many[str] = ()
    not_remote_ip_blocks: Many[str] = ()
    ports: Many[int] = ()
    methods: tuple[str, ...] = ()
    not_methods: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    not_paths: tuple[str, ...] = ()
    when: Many[Condition] = ()

    @field_validator("principals", "not_principals", mode="before")
    @classmethod
    def _principals(cls, v: Any) -> Any:
        v = _tuple(v)
        for p in v:
            if not (isinstance(p, Service) or (isinstance(p, str) and p)):
                raise ValueError(f"a principal is a Service or a principal string, got {p!r}")
        return v

    @field_validator("request_principals", "not_request_principals", mode="before")
    @classmethod
    def _request_principals(cls, v: Any) -> Any:
        vals = _values(v, "request principals")
        for p in vals:
            if p != "*" and "/" not in p:
                raise ValueError(f"request principal {p!r} is '<issuer>/<subject>' (or '*' for any token)")
        return vals

    @field_validator("ip_blocks", "not_ip_blocks", "remote_ip_blocks", "not_remote_ip_blocks", mode="before")
    @classmethod
    def _ips(cls, v: Any) -> Any:
        return _cidrs(v)

    @field_validator("methods", "not_methods", mode="before")
    @classmethod
    def _methods(cls, v: Any) -> Any:
        return _methods(v)

    @field_validator("paths", "not_paths", mode="before")
    @classmethod
    def _paths(cls, v: Any) -> Any:
        return tuple(check_path_pattern(p) for p in _tuple(v))

    @model_validator(mode="after")
    def _ports_valid(self) -> _Rule:
        for p in self.ports:
            if not 1 <= p <= 65535:
                raise ValueError(f"port {p} is not in 1..65535")
        if self.anyone and self.has_source:
            raise ValueError("anyone=True means every source; drop the source conditions or anyone")
        return self

    @property
    def has_source(self) -> bool:
        return bool(self.namespaces or self.not_namespaces or self.principals or self.not_principals
                    or self.request_principals or self.not_request_principals or self.ip_blocks
                    or self.not_ip_blocks or self.remote_ip_blocks or self.not_remote_ip_blocks)

    @property
    def has_operation(self) -> bool:
        return bool(self.ports or self.methods or self.not_methods or self.paths or self.not_paths)

    @property
    def has_http_conditions(self) -> bool:
        """Fields that exist only for HTTP requests (tokens, methods, paths, request attributes)."""
        return bool(self.methods or self.not_methods or self.paths or self.not_paths or self.request_principals
                    or self.not_request_principals or any(c.is_http for c in self.when))


class DenyRule(_Rule):
    """Requests to refuse even where a declared call would allow them (DENY wins over ALLOW).

    Every condition given must hold; `not_namespaces=["bookinfo", "istio-system"]` refuses all
    traffic from anywhere else, `not_request_principals=["*"]` refuses requests without a valid
    token, `anyone=True` (with no other condition) refuses everything.
    """

    @model_validator(mode="after")
    def _some_condition(self) -> DenyRule:
        if not (self.anyone or self.has_source or self.has_operation or self.when):
            raise ValueError("a DenyRule needs at least one condition, or anyone=True to refuse everything "
                             "(default_deny already refuses what no declared call allows)")
        return self


class AllowRule(_Rule):
    """Requests to accept besides the declared calls (ALLOW rules are OR-ed with them).

    Say who, always: `namespaces=[…]` (a tenant), `authenticated=True` (any mTLS peer),
    `principals=[…]`, `request_principals=["<iss>/<sub>"]` (a JWT subject, with no caller
    identity required), IP blocks — or, for a public endpoint, `anyone=True`. ZeroTrust never
    writes an allow-any of its own; this is the only way to get one, and it is visible in review.
    """

    authenticated: bool = False

    @model_validator(mode="after")
    def _who(self) -> AllowRule:
        if self.authenticated and (self.anyone or self.principals):
            raise ValueError("authenticated=True is any mTLS identity; drop anyone/principals or authenticated")
        if not (self.anyone or self.authenticated or self.has_source):
            raise ValueError("an AllowRule says who may call: namespaces=, principals=, authenticated=True, "
                             "request_principals=, ip_blocks=, remote_ip_blocks= — or anyone=True for a public "
                             "endpoint")
        return self


class IngressGateway(IntentModel):
    """Who an ingress gateway's pods are, and the policies enforced at the edge.

    `Ingress(selector=…)` names the pods, this their identity (default: Istio's standard
    `istio-ingressgateway` in istio-system). Policies here select the gateway pods themselves:
    `allow`/`deny` (IP allow and deny lists with `remote_ip_blocks`/`ip_blocks`, paths, …)
    and `jwt` (a RequestAuthentication, and — unless `require_jwt=False`, where your own rules
    say which paths need one — a DENY for requests without a valid token of that issuer, or
    whose claims do not hold). `ports` in these rules are the gateway pod's ports
    (Istio's chart listens on 8080/8443 behind service ports 80/443).
    """

    selector: dict[str, str] = Field(default_factory=lambda: {"istio": "ingressgateway"})
    namespace: DNSLabel = "istio-system"
    service_account: DNSLabel = "istio-ingressgateway-service-account"
    name: DNSLabel | None = None
    allow: Many[AllowRule] = ()
    deny: Many[DenyRule] = ()
    jwt: Jwt | None = None
    require_jwt: bool = True

    @property
    def policy_name(self) -> str:
        """Prefix of the gateway's own policy names: `name`, else its selector's values."""
        if self.name:
            return self.name
        text = "-".join(v for _, v in sorted(self.selector.items())).lower()
        return re.sub(r"[^a-z0-9-]+", "-", text).strip("-")[:50] or "gateway"

    @property
    def has_policies(self) -> bool:
        return bool(self.allow or self.deny or self.jwt)


class ZeroTrust(IntentModel):
    """Least privilege for the mesh (no scope), a `namespace`, or one `service`.

    - `mtls`: STRICT, PERMISSIVE, DISABLE, or an `MtlsMigration` step;
    - `default_deny`: covered workloads refuse what no declared call (or ingress route) allows;
    - `deny`: explicit DENY rules;
    - `jwt`: end-user tokens required on HTTP requests (RequestAuthentication + ALLOW conditions);
    - `egress_lockdown`: a Sidecar per workload that sees only its declared dependencies
      (plus istio-system), with outbound REGISTRY_ONLY;
    - `allow`: ALLOW rules besides the declared calls (namespaces, any authenticated peer, JWT
      subjects, IP blocks, conditions — or, explicitly, anyone);
    - `gateways`: identities of the ingress gateways, for the ALLOW rules of exposed services, and
      the policies enforced on the gateway pods themselves;
    - `version`: with `service`, settings for that version's pods only (`mtls`, `allow`, `deny`);
    - `strict`: (namespace) only named identities may be allowed: an `AllowRule(anyone=True)`
      under this namespace's default deny is a compile error.

    Scopes layer like Istio's own: a service's settings are the mesh's, overridden by the
    namespace's, overridden by the service's, field by field (only fields written count);
    DENY rules of every scope apply.
    """

    namespace: DNSLabel | None = None
    service: Service | str | None = None  # Service | "name" | "namespace/name"
    version: DNSLabel | None = None
    mtls: MtlsMode | MtlsMigration = "STRICT"
    default_deny: bool = True
    deny: Many[DenyRule] = ()
    allow: Many[AllowRule] = ()
    strict: bool = False
    jwt: Jwt | None = None
    egress_lockdown: bool = True
    gateways: Many[IngressGateway] = Field(default_factory=lambda: (IngressGateway(),))

    @field_validator("mtls", mode="before")
    @classmethod
    def _mtls(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @field_validator("service", mode="before")
    @classmethod
    def _service(cls, v: Any) -> Any:
        if v is None or isinstance(v, Service) or (isinstance(v, str) and v):
            return v
        raise ValueError(f"service must be a Service or a name, got {v!r}")

    @model_validator(mode="after")
    def _scope(self) -> ZeroTrust:
        if self.version is not None:
            if self.service is None:
                raise ValueError("version= needs service= (the version's pods are `app: <service>` + its labels)")
            extra = sorted(self.model_fields_set - VERSION_FIELDS)
            if extra:
                raise ValueError(f"a version scope sets only {', '.join(sorted(VERSION_FIELDS - SCOPE_FIELDS))}; "
                                 f"{', '.join(extra)} apply to the whole service")
            if isinstance(self.service, Service) and self.service.version(self.version) is None:
                raise ValueError(f"service {self.service.name} has no version {self.version!r}")
        if self.strict and (self.service is not None or not self.namespace):
            raise ValueError("strict= marks a namespace: use it with namespace= only")
        if self.service is not None:
            if not (isinstance(self.service, Service) or (isinstance(self.service, str) and self.service)):
                raise ValueError(f"service must be a Service or a name, got {self.service!r}")
            if isinstance(self.service, Service) and self.namespace and self.namespace != self.service.namespace:
                raise ValueError(f"service {self.service.name} is in namespace {self.service.namespace}, "
                                 f"not {self.namespace}")
        return self

    @property
    def scope(self) -> Literal["mesh", "namespace", "service", "version"]:
        if self.version is not None:
            return "version"
        return "service" if self.service is not None else "namespace" if self.namespace else "mesh"

    @property
    def mtls_mode(self) -> str:
        """The mode the PeerAuthentication carries (a migration's `to`)."""
        return self.mtls.to if isinstance(self.mtls, MtlsMigration) else self.mtls

    @property
    def scope_text(self) -> str:
        if self.version is not None:
            return f"version {self.version} of service {self.service_name}"
        if self.service is not None:
            return f"service {self.service if isinstance(self.service, str) else self.service.name}"
        return f"namespace {self.namespace}" if self.namespace else "the mesh"

    @property
    def service_name(self) -> str:
        return "" if self.service is None else self.service if isinstance(self.service, str) else self.service.name


SCOPE_FIELDS = frozenset({"namespace", "service", "version"})
#: what a version scope may set: settings that a selector on the version's pods can carry
VERSION_FIELDS = SCOPE_FIELDS | {"mtls", "allow", "deny"}
