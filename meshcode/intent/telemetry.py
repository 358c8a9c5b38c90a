"""Observability intent: access logs, tracing and metrics for the mesh, a namespace or one service.

Providers (where logs and spans go) are values: pass the same `OtelLog(...)` object to as many
intents as you like, or refer to a provider by name. meshcode turns each provider into an
`extensionProviders` entry of the mesh config and each intent into a `Telemetry` object.
"""
from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import BeforeValidator, Field, field_validator, model_validator

from meshcode.intent.base import DNSLabel, Duration, IntentModel, UInt32, _hostname
from meshcode.intent.edge import ExternalService
from meshcode.intent.service import Service

Mode = Literal["CLIENT_AND_SERVER", "CLIENT", "SERVER"]

# The standard Istio metrics a Telemetry override can match (telemetry.istio.io MetricSelector).
STANDARD_METRICS = (
    "ALL_METRICS", "REQUEST_COUNT", "REQUEST_DURATION", "REQUEST_SIZE", "RESPONSE_SIZE",
    "TCP_OPENED_CONNECTIONS", "TCP_CLOSED_CONNECTIONS", "TCP_SENT_BYTES", "TCP_RECEIVED_BYTES",
    "GRPC_REQUEST_MESSAGES", "GRPC_RESPONSE_MESSAGES",
)
# Providers every Istio control plane defines by default (pkg/config/mesh DefaultMeshConfig).
BUILTIN_PROVIDERS = frozenset({"envoy", "prometheus", "stackdriver"})

_PROVIDER_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?\Z")
_TAG_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*\Z")
_CUSTOM_TAG = re.compile(r"^[A-Za-z0-9_.:/-]+\Z")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")


def _provider_name(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 253 or not _PROVIDER_NAME.match(value):
        raise ValueError(f"{value!r} is not a valid provider name (lower-case letters, digits, '-' and '.')")
    return value


def _provider_service(value: Any) -> str:
    """Istio's `[<namespace>/]<hostname>` form; a Service or ExternalService stands for its host."""
    if isinstance(value, (Service, ExternalService)):
        return value.host
    if not isinstance(value, str):
        raise ValueError(f"a provider service is a host name or a Service, got {value!r}")
    ns, sep, host = value.rpartition("/")
    if sep and not ns:
        raise ValueError(f"{value!r}: the namespace before '/' is empty")
    _hostname(host)
    if host.startswith("*"):
        raise ValueError(f"{value!r}: a provider service needs a concrete host, not a wildcard")
    return value


ProviderName = Annotated[str, BeforeValidator(_provider_name)]
ProviderService = Annotated[str, BeforeValidator(_provider_service)]
PortNumber = Annotated[int, Field(ge=1, le=65535)]


# -- providers --------------------------------------------------------------------------------
class EnvoyLog(IntentModel):
    """Envoy writes access logs to a file, stdout by default (Istio's `envoyFileAccessLog`).

    TEXT takes an optional Envoy format string; JSON an optional {field: command operator}
    dict (empty: Envoy's default JSON fields). The name defaults to `envoy` (TEXT, Istio's
    built-in provider) or `envoy-json`; give one when two settings would share a name.
    """

    name: ProviderName | None = None
    encoding: Literal["TEXT", "JSON"] = "TEXT"
    format: str | dict[str, str] | None = None
    path: str = "/dev/stdout"

    @field_validator("encoding", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @model_validator(mode="after")
    def _format(self) -> "EnvoyLog":
        if self.encoding == "TEXT" and isinstance(self.format, dict):
            raise ValueError("a TEXT log takes a format string; use encoding='JSON' for a dict of fields")
        if self.encoding == "JSON" and isinstance(self.format, str):
            raise ValueError("a JSON log takes a dict of field → command operator "
                             "(e.g. {'status': '%RESPONSE_CODE%'}), not a format string")
        if isinstance(self.format, str) and not self.format.strip():
            raise ValueError("format must not be empty (leave it out for Envoy's default)")
        if not self.path.startswith("/"):
            raise ValueError(f"path must be absolute (e.g. /dev/stdout), got {self.path!r}")
        return self

    @property
    def provider_name(self) -> str:
        return self.name or ("envoy-json" if self.encoding == "JSON" else "envoy")

    def extension_provider(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"path": self.path}
        if self.encoding == "JSON":
            spec["logFormat"] = {"labels": dict(sorted((self.format or {}).items()))}
        elif self.format:
            spec["logFormat"] = {"text": self.format}
        return {"name": self.provider_name, "envoyFileAccessLog": spec}


class OtelLog(IntentModel):
    """Envoy ships access logs to an OpenTelemetry collector over gRPC (Istio's `envoyOtelAls`)."""

    positional = ("service", "port")
    service: ProviderService
    port: PortNumber = 4317
    name: ProviderName = "otel"
    log_name: str | None = None
    format: str | None = None  # the log record body (Envoy format string)
    attributes: dict[str, str] = Field(default_factory=dict)  # extra attributes: name → command operator

    @property
    def provider_name(self) -> str:
        return self.name

    def extension_provider(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"service": self.service, "port": self.port}
        if self.log_name:
            spec["logName"] = self.log_name
        log_format: dict[str, Any] = {}
        if self.format:
            log_format["text"] = self.format
        if self.attributes:
            log_format["labels"] = dict(sorted(self.attributes.items()))
        if log_format:
            spec["logFormat"] = log_format
        return {"name": self.name, "envoyOtelAls": spec}


class Zipkin(IntentModel):
    """Spans sent over the Zipkin API (Istio's `zipkin` provider); Jaeger accepts it too."""

    positional = ("service", "port")
    service: ProviderService
    port: PortNumber = 9411
    name: ProviderName = "zipkin"
    max_tag_length: UInt32 | None = Field(default=None, ge=1)
    trace_id_64bit: bool = False

    @property
    def provider_name(self) -> str:
        return self.name

    def extension_provider(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"service": self.service, "port": self.port}
        if self.max_tag_length:
            spec["maxTagLength"] = self.max_tag_length
        if self.trace_id_64bit:
            spec["enable64bitTraceId"] = True
        return {"name": self.name, "zipkin": spec}


def Jaeger(service: Service | ExternalService | str, port: int = 9411, *, name: str = "jaeger", **settings: Any) -> Zipkin:  # noqa: N802
    """A Jaeger collector through its Zipkin-compatible endpoint (port 9411)."""
    return Zipkin(service, port, name=name, **settings)


class OpenTelemetry(IntentModel):
    """Spans sent as OTLP to an OpenTelemetry collector: gRPC, or HTTP when `http_path` is set."""

    positional = ("service", "port")
    service: ProviderService
    port: PortNumber = 4317
    name: ProviderName = "otel-tracing"
    max_tag_length: UInt32 | None = Field(default=None, ge=1)
    http_path: str | None = None
    http_timeout: Duration | None = None
    http_headers: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _http(self) -> "OpenTelemetry":
        if (self.http_timeout or self.http_headers) and not self.http_path:
            raise ValueError("http_timeout and http_headers need http_path (OTLP over HTTP)")
        if self.http_path is not None and not self.http_path.startswith("/"):
            raise ValueError(f"http_path must start with '/', got {self.http_path!r}")
        return self

    @property
    def provider_name(self) -> str:
        return self.name

    def extension_provider(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"service": self.service, "port": self.port}
        if self.max_tag_length:
            spec["maxTagLength"] = self.max_tag_length
        if self.http_path:
            http: dict[str, Any] = {"path": self.http_path}
            if self.http_timeout:
                http["timeout"] = self.http_timeout
            if self.http_headers:
                http["headers"] = [{"name": k, "value": v} for k, v in sorted(self.http_headers.items())]
            spec["http"] = http
        return {"name": self.name, "opentelemetry": spec}


LogProvider = Union[EnvoyLog, OtelLog]
TraceProvider = Union[Zipkin, OpenTelemetry]
Provider = Union[EnvoyLog, OtelLog, Zipkin, OpenTelemetry]
PROVIDER_TYPES = (EnvoyLog, OtelLog, Zipkin, OpenTelemetry)
LOG_PROVIDER_KEYS = frozenset({"envoyFileAccessLog", "envoyOtelAls", "envoyHttpAls", "envoyTcpAls"})
TRACE_PROVIDER_KEYS = frozenset({"zipkin", "opentelemetry", "datadog", "skywalking", "stackdriver"})


def provider_name(ref: Provider | str) -> str:
    return ref if isinstance(ref, str) else ref.provider_name


# -- custom trace tags ------------------------------------------------------------------------
class HeaderTag(IntentModel):
    """A span tag taken from a request header (with a value for when the header is absent)."""

    positional = ("header",)
    header: str = Field(min_length=1)
    default: str | None = None

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.header}
        if self.default is not None:
            out["defaultValue"] = self.default
        return {"header": out}


class EnvTag(IntentModel):
    """A span tag taken from an environment variable of the proxy (e.g. the pod's cluster)."""

    positional = ("variable",)
    variable: str
    default: str | None = None

    @field_validator("variable")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _ENV_NAME.match(v):
            raise ValueError(f"{v!r} is not an environment variable name")
        return v

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.variable}
        if self.default is not None:
            out["defaultValue"] = self.default
        return {"environment": out}


def tag_spec(value: str | HeaderTag | EnvTag) -> dict[str, Any]:
    return {"literal": {"value": value}} if isinstance(value, str) else value.spec()


# -- scoped intents ---------------------------------------------------------------------------
class TelemetryScope(IntentModel):
    """Where an intent applies: the whole mesh (default), a namespace, or one service's workloads.

    `service=` takes a Service or its name ('name' or 'namespace/name'); `selector=` takes pod
    labels in `namespace`. `clusters=` limits mesh- and namespace-wide intents to some clusters
    (a service's intent follows the service).
    """

    namespace: DNSLabel | None = None
    service: Service | str | None = None
    selector: dict[str, str] | None = None
    mode: Mode | None = None  # CLIENT (outbound), SERVER (inbound); default both
    clusters: tuple[DNSLabel, ...] | None = None

    @field_validator("service", mode="before")
    @classmethod
    def _service(cls, v: Any) -> Any:
        if v is not None and not isinstance(v, Service) and not (isinstance(v, str) and v):
            raise ValueError(f"service must be a Service or a name, got {v!r}")
        return v

    @model_validator(mode="after")
    def _scope(self) -> "TelemetryScope":
        if self.service is not None:
            if not isinstance(self.service, (Service, str)) or self.service == "":
                raise ValueError(f"service must be a Service or a name, got {self.service!r}")
            if self.selector is not None:
                raise ValueError("give service= or selector=, not both")
            if isinstance(self.service, Service) and self.namespace and self.namespace != self.service.namespace:
                raise ValueError(f"service {self.service.name} is in namespace {self.service.namespace}, "
                                 f"not {self.namespace}")
        if self.selector is not None:
            if not self.namespace:
                raise ValueError("selector= needs namespace= (a selector picks pods in one namespace)")
            if not self.selector:
                raise ValueError("selector must not be empty (leave it out for the whole namespace)")
            for k, v in self.selector.items():
                if not k or "*" in k or "*" in v or len(v) > 63:
                    raise ValueError(f"invalid selector label {k!r}: {v!r}")
        return self

    @property
    def scope_text(self) -> str:
        if self.service is not None:
            return f"service {self.service if isinstance(self.service, str) else self.service.name}"
        if self.selector is not None:
            return f"workloads {self.selector} in {self.namespace}"
        return f"namespace {self.namespace}" if self.namespace else "the mesh"


class AccessLog(TelemetryScope):
    """Envoy access logs to one or more providers, optionally filtered (e.g. failures only)."""

    positional = ("provider",)
    provider: tuple[EnvoyLog | OtelLog | str, ...] = Field(min_length=1)
    filter: str | None = None  # CEL, e.g. "response.code >= 400"
    disabled: bool = False

    @field_validator("provider", mode="before")
    @classmethod
    def _providers(cls, v: Any) -> Any:
        v = v if isinstance(v, (list, tuple)) else (v,)
        for p in v:
            if isinstance(p, str):
                _provider_name(p)
            elif not isinstance(p, (EnvoyLog, OtelLog)):
                raise ValueError(f"an access log provider is an EnvoyLog, an OtelLog or a provider name, got {p!r}")
        return tuple(v)

    @field_validator("filter")
    @classmethod
    def _filter(cls, v: str | None) -> str | None:
        return None if v is None else check_expression(v)

    @model_validator(mode="after")
    def _unique(self) -> "AccessLog":
        names = [provider_name(p) for p in self.provider]
        if len(set(names)) != len(names):
            raise ValueError(f"provider names must be unique, got {names}")
        return self

    @property
    def provider_names(self) -> tuple[str, ...]:
        return tuple(provider_name(p) for p in self.provider)


class Tracing(TelemetryScope):
    """Distributed tracing: the provider spans go to, the sampling percentage, custom span tags.

    Without a provider the scope keeps its parent's (mesh or namespace) and only changes
    sampling or tags. Istio samples 1% unless told otherwise.
    """

    positional = ("provider",)
    provider: Zipkin | OpenTelemetry | str | None = None  # None: inherit the parent scope's
    sampling: float | None = Field(default=None, ge=0, le=100)
    tags: dict[str, Union[str, HeaderTag, EnvTag]] = Field(default_factory=dict)
    disable_span_reporting: bool = False

    @field_validator("provider", mode="before")
    @classmethod
    def _provider(cls, v: Any) -> Any:
        if isinstance(v, str):
            return _provider_name(v)
        if v is None or isinstance(v, (Zipkin, OpenTelemetry)):
            return v
        raise ValueError(f"a tracing provider is a Zipkin, an OpenTelemetry or a provider name, got {v!r}")

    @field_validator("sampling", mode="before")
    @classmethod
    def _sampling(cls, v: Any) -> Any:
        if isinstance(v, bool) or (v is not None and not isinstance(v, (int, float))):
            raise ValueError(f"sampling is a percentage between 0 and 100, got {v!r}")
        return v

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: dict[str, Any]) -> dict[str, Any]:
        for name, value in v.items():
            if not _CUSTOM_TAG.match(name):
                raise ValueError(f"{name!r} is not a valid tag name")
            if isinstance(value, str) and not value:
                raise ValueError(f"tag {name!r}: a literal value must not be empty")
        return v

    @property
    def provider_names(self) -> tuple[str, ...]:
        return () if self.provider is None else (provider_name(self.provider),)


class Metrics(TelemetryScope):
    """Change the standard Istio metrics: turn some (or all) off, add, change or drop their tags.

    `tags` maps a metric label to a CEL expression for its value, or to None to drop the
    label; it applies to `tag_metrics` (default: every metric).
    """

    disable: bool | tuple[str, ...] = ()
    tags: dict[str, str | None] = Field(default_factory=dict)
    tag_metrics: tuple[str, ...] = ("ALL_METRICS",)
    provider: ProviderName | None = None  # default: the mesh's metrics provider (prometheus)
    reporting_interval: Duration | None = None

    @field_validator("disable", "tag_metrics", mode="before")
    @classmethod
    def _metrics(cls, v: Any) -> Any:
        if isinstance(v, bool):
            return v
        v = (v,) if isinstance(v, str) else tuple(v)
        out = []
        for m in v:
            name = m.upper() if isinstance(m, str) else m
            if name not in STANDARD_METRICS:
                raise ValueError(f"{m!r} is not a standard Istio metric (one of {', '.join(STANDARD_METRICS)})")
            out.append(name)
        if len(set(out)) != len(out):
            raise ValueError(f"metrics must be unique, got {list(v)}")
        return tuple(out)

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: dict[str, str | None]) -> dict[str, str | None]:
        for name, value in v.items():
            if not _TAG_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid metric label name")
            if value is not None:
                check_expression(value)
        return v

    @model_validator(mode="after")
    def _something(self) -> "Metrics":
        if not self.disable and not self.tags and not self.reporting_interval:
            raise ValueError("say what to change: disable=, tags= or reporting_interval=")
        if self.tags and not self.tag_metrics:
            raise ValueError("tag_metrics must name at least one metric")
        return self

    @property
    def provider_names(self) -> tuple[str, ...]:
        return () if self.provider is None else (self.provider,)


TelemetryIntent = Union[AccessLog, Tracing, Metrics]
TELEMETRY_TYPES = (AccessLog, Tracing, Metrics)


def check_expression(text: str) -> str:
    """A cheap sanity check of a CEL expression: non-empty, balanced brackets and quotes.

    Envoy evaluates the full expression; this catches the typos that would otherwise only
    show up as a rejected config in istiod's logs.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("an expression must not be empty")
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    quote: str | None = None
    escaped = False
    for ch in text:
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack.pop() != pairs[ch]:
                raise ValueError(f"unbalanced {ch!r} in expression {text!r}")
    if quote or stack:
        raise ValueError(f"unbalanced {'quote' if quote else repr(stack[-1])} in expression {text!r}")
    return text


def _telemetry_item(value: Any) -> Any:
    if isinstance(value, TELEMETRY_TYPES + PROVIDER_TYPES):
        return value
    raise ValueError(f"telemetry takes AccessLog, Tracing, Metrics or a provider "
                     f"(EnvoyLog, OtelLog, Zipkin, OpenTelemetry), got {value!r}")


TelemetryItem = Annotated[Union[AccessLog, Tracing, Metrics, EnvoyLog, OtelLog, Zipkin, OpenTelemetry],
                          BeforeValidator(_telemetry_item)]
