"""Traffic intent: how requests are matched, split, mirrored, delayed and retried."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal, Union

from pydantic import Field, field_validator, model_validator

from meshcode.intent.base import DNSLabel, Duration, IntentModel, Many, field_types
from meshcode.regex import re2_error

if TYPE_CHECKING:  # forward references, resolved by model_rebuild in meshcode/intent/__init__.py
    from meshcode.intent.edge import ExternalService
    from meshcode.intent.rollout import Rollout
    from meshcode.intent.service import Service


class Exact(IntentModel):
    """Match a string exactly (a plain str in a match means the same)."""

    positional = ("value",)
    value: str


class Prefix(IntentModel):
    positional = ("value",)
    value: str


class PathPrefix(IntentModel):
    """Whole path segments: '/static' matches /static and /static/x, not /staticx.

    Gateway API's PathPrefix; on the Istio API it compiles to exact '/static' OR prefix '/static/',
    so it means the same on both. (`Prefix` is a plain string prefix, Istio's own.)
    """

    positional = ("value",)
    value: str

    @field_validator("value")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError(f"a path prefix starts with '/', got {v!r}")
        if "//" in v or "/./" in v or "/../" in v or v.endswith(("/.", "/..")):
            raise ValueError(f"path prefix {v!r} must be a normalised path")
        return v

    @property
    def segments(self) -> str:
        """The prefix without its trailing '/' ('/' stays '/')."""
        return self.value if self.value == "/" else self.value.rstrip("/") or "/"


class Regex(IntentModel):
    """RE2 regular expression, as Envoy evaluates it."""

    positional = ("value",)
    value: str

    @field_validator("value")
    @classmethod
    def _re2(cls, v: str) -> str:
        if not v:
            raise ValueError("a regex match must not be empty")
        why = re2_error(v)
        if why is not None:
            raise ValueError(f"{v!r} is not a valid regular expression for RE2 (the engine Envoy matches with): {why}")
        return v


_HEADER_NAME = re.compile(r"^:?[a-z0-9!#$%&'*+\-.^_`|~]+\Z")


StringMatch = Union[Exact, Prefix, Regex, str]
PathMatch = Union[Exact, Prefix, PathPrefix, Regex, str]


class Match(IntentModel):
    """One HTTP request condition; every field given must hold (AND)."""

    uri: PathMatch | None = None
    headers: dict[str, StringMatch] = Field(default_factory=dict)
    query: dict[str, StringMatch] = Field(default_factory=dict)
    method: StringMatch | None = None
    source_labels: dict[str, str] = Field(default_factory=dict)
    source_namespace: DNSLabel | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    ignore_uri_case: bool = False

    @field_validator("headers")
    @classmethod
    def _header_names(cls, v: dict[str, Any]) -> dict[str, Any]:
        for name in v:
            if not _HEADER_NAME.match(name):
                raise ValueError(f"header name {name!r} must be lower-case (Istio matches header keys "
                                 "in lower case, e.g. 'end-user')")
        return v

    @field_validator("method")
    @classmethod
    def _method_case(cls, v: Any) -> Any:
        text = v if isinstance(v, str) else v.value if isinstance(v, (Exact, Prefix)) else None
        if text is not None and text != text.upper():
            raise ValueError(f"HTTP methods are case-sensitive and upper-case: use {text.upper()!r}")
        return v

    @model_validator(mode="after")
    def _not_empty(self) -> "Match":
        if not (self.uri or self.headers or self.query or self.method or self.source_labels
                or self.source_namespace or self.port):
            raise ValueError("a Match needs at least one condition (omit match= for a default route)")
        return self


class Dest(IntentModel):
    """A destination: a version of this service, or another service (by object or name)."""

    positional = ("service",)
    service: Service | ExternalService | str | None = None  # None: the service that owns the route
    version: DNSLabel | None = None
    namespace: DNSLabel | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    weight: int | None = Field(default=None, ge=0, le=100)

    @field_validator("service", mode="before")
    @classmethod
    def _service_ref(cls, v: Any) -> Any:
        if v is None or (isinstance(v, str) and v) or isinstance(v, field_types(cls, "service")) and not isinstance(v, str):
            return v
        raise ValueError(f"service must be a Service, an ExternalService or a name, got {v!r}")

    @property
    def service_name(self) -> str | None:
        if self.service is None or isinstance(self.service, str):
            return self.service
        return self.service.name


# One destination: a version or service name, a Dest, a Service or an ExternalService.
SingleTarget = Union[str, Dest, "Service", "ExternalService"]
# What a route may point at: "v2"; {"v1": 90, "v2": 10}; Dest(...); a Service; a list of those
# (weights and lists first: a dict or a list is never validated as one of the models).
Target = Union[None, str, dict[str, int], tuple[SingleTarget, ...], Dest, "Service", "ExternalService"]


class Delay(IntentModel):
    positional = ("fixed",)
    fixed: Duration
    percent: float = Field(default=100.0, ge=0, le=100)


class Abort(IntentModel):
    positional = ("status",)
    status: int = Field(ge=200, le=599)
    percent: float = Field(default=100.0, ge=0, le=100)


class Fault(IntentModel):
    """Fault injection; combine with a Route's match to hit only some users."""

    delay: Delay | None = None
    abort: Abort | None = None

    @model_validator(mode="after")
    def _some(self) -> "Fault":
        if self.delay is None and self.abort is None:
            raise ValueError("a Fault needs a delay, an abort, or both")
        return self


class Retries(IntentModel):
    positional = ("attempts",)
    attempts: int = Field(ge=0, le=100)
    per_try_timeout: Duration | None = None
    retry_on: tuple[str, ...] = ()

    @field_validator("retry_on")
    @classmethod
    def _known_conditions(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        known = {
            "5xx", "gateway-error", "reset", "reset-before-request", "connect-failure", "envoy-ratelimited",
            "retriable-4xx", "refused-stream", "retriable-status-codes", "retriable-headers",
            "http3-post-connect-failure", "cancelled", "deadline-exceeded", "internal",
            "resource-exhausted", "unavailable",
        }
        for cond in v:
            if cond not in known and not cond.isdigit():
                raise ValueError(f"unknown retry_on condition {cond!r}; known: {', '.join(sorted(known))}")
        return v


def _is_single_target(v: Any) -> bool:
    """A name, a Dest, a Service or an ExternalService (the types of `Mirror.to`)."""
    return (isinstance(v, str) and bool(v)) or isinstance(v, field_types(Mirror, "to"))


def check_target(v: Any) -> Any:
    """A route's `to`: a name, a Dest/Service, {version or name: weight}, or a list of those."""
    if v is None or _is_single_target(v):
        return v
    if isinstance(v, dict):
        if not v:
            raise ValueError("to={} names no destination")
        for key, weight in v.items():
            if not isinstance(key, str) or not key:
                raise ValueError(f"weight keys must be version (or service) names, got {key!r}")
            if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
                raise ValueError(f"weights must be whole numbers 0..100, got {key}: {weight!r}")
        return dict(v)
    if isinstance(v, (list, tuple)) and v and all(_is_single_target(x) for x in v):
        return tuple(v)
    raise ValueError(f"to= must be a version or service name, a Dest, a Service, a dict of weights "
                     f"or a list of Dest, got {v!r}")


class Mirror(IntentModel):
    """Shadow a share of live traffic to another version or service; responses are dropped."""

    positional = ("to",)
    to: SingleTarget
    percent: float = Field(default=100.0, gt=0, le=100)

    @field_validator("to", mode="before")
    @classmethod
    def _single(cls, v: Any) -> Any:
        if not _is_single_target(v):
            raise ValueError(f"a mirror goes to one version name, Dest or Service, got {v!r}")
        return v


class Route(IntentModel):
    """An ordered HTTP (or, without a match, TCP) rule: match → destinations, with extras."""

    match: Many[Match] = ()
    to: Target = Field(default=None, union_mode="left_to_right")
    name: DNSLabel | None = None
    timeout: Duration | None = None
    retries: Retries | None = None
    fault: Fault | None = None
    mirror: Mirror | None = None
    rewrite_uri: str | None = None

    @field_validator("to", mode="before")
    @classmethod
    def _target(cls, v: Any) -> Any:
        return check_target(v)


class Canary(IntentModel):
    """Split traffic between a stable and a candidate version.

    `weight` is the candidate's share when no rollout state exists yet; with a `rollout`
    plan the progressive-delivery controller moves it, and the committed state decides.
    `testers` are requests that always reach the candidate (e.g. header end-user: jason).
    """

    stable: DNSLabel
    candidate: DNSLabel
    weight: int = Field(default=0, ge=0, le=100)
    testers: Many[Match] = ()
    name: DNSLabel | None = None
    rollout: Rollout | None = None

    @field_validator("rollout", mode="before")
    @classmethod
    def _rollout(cls, v: Any) -> Any:
        if v is not None and not isinstance(v, field_types(cls, "rollout")):
            raise ValueError("rollout must be a Rollout")
        return v

    @model_validator(mode="after")
    def _distinct(self) -> "Canary":
        if self.stable == self.candidate:
            raise ValueError("stable and candidate must be different versions")
        return self


Protocol = Literal["HTTP", "HTTP2", "GRPC", "TCP", "TLS", "HTTPS", "MONGO", "REDIS", "MYSQL"]
