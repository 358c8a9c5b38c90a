"""Resilience intent: connection pools, outlier detection, load balancing, client TLS."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from meshcode.intent.base import Duration, Int32, IntentModel, UInt32


class CircuitBreaker(IntentModel):
    """Connection-pool limits; requests past them fail fast with 503 instead of queueing."""

    max_connections: Int32 | None = Field(default=None, ge=1)
    max_pending_requests: Int32 | None = Field(default=None, ge=1)
    max_requests: Int32 | None = Field(default=None, ge=1)
    max_requests_per_connection: Int32 | None = Field(default=None, ge=1)
    max_retries: Int32 | None = Field(default=None, ge=0)
    connect_timeout: Duration | None = None


class OutlierDetection(IntentModel):
    """Eject hosts that keep failing: required for locality failover to do anything."""

    consecutive_5xx_errors: UInt32 | None = None
    consecutive_gateway_errors: UInt32 | None = None
    interval: Duration | None = None
    base_ejection_time: Duration | None = None
    max_ejection_percent: int | None = Field(default=None, ge=0, le=100)

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "consecutive_errors" in data:
            raise ValueError("Istio's deprecated consecutiveErrors counted 502, 503 and 504 only: write "
                             "consecutive_gateway_errors= (or consecutive_5xx_errors= for every 5xx)")
        return data


class LocalityFailover(IntentModel):
    positional = ("from_", "to")
    from_: str
    to: str


class LocalityDistribute(IntentModel):
    positional = ("from_", "to")
    from_: str
    to: dict[str, int]

    @model_validator(mode="after")
    def _sum(self) -> "LocalityDistribute":
        if sum(self.to.values()) != 100:
            raise ValueError(f"locality weights from {self.from_!r} must sum to 100, got {sum(self.to.values())}")
        return self


class Locality(IntentModel):
    """Locality-aware load balancing: failover order, weighted distribution, or priority labels."""

    failover: tuple[LocalityFailover, ...] = ()
    distribute: tuple[LocalityDistribute, ...] = ()
    failover_priority: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _exclusive(self) -> "Locality":
        if self.failover and self.distribute:
            raise ValueError("use failover or distribute, not both (Istio allows only one)")
        return self


class LoadBalancer(IntentModel):
    """Either a simple policy or consistent hashing on one key."""

    positional = ("policy",)
    policy: Literal["ROUND_ROBIN", "RANDOM", "LEAST_REQUEST", "PASSTHROUGH"] | None = None
    hash_header: str | None = None
    hash_cookie: str | None = None
    hash_cookie_ttl: Duration | None = None
    hash_source_ip: bool = False
    hash_query_param: str | None = None
    locality: Locality | None = None

    @field_validator("policy", mode="before")
    @classmethod
    def _renamed(cls, v: Any) -> Any:
        if v == "LEAST_CONN":
            raise ValueError("Istio replaced LEAST_CONN with LEAST_REQUEST (same algorithm): write LEAST_REQUEST")
        return v

    @model_validator(mode="after")
    def _one_kind(self) -> "LoadBalancer":
        hashes = [self.hash_header, self.hash_cookie, self.hash_source_ip or None, self.hash_query_param]
        n_hash = sum(1 for h in hashes if h)
        if n_hash > 1:
            raise ValueError("choose one consistent-hash key (header, cookie, source IP or query param)")
        if n_hash and self.policy:
            raise ValueError("a load balancer is either a simple policy or consistent hashing, not both")
        if self.hash_cookie_ttl and not self.hash_cookie:
            raise ValueError("hash_cookie_ttl needs hash_cookie")
        return self


def check_client_certificate(mode: str, credential_name: str | None, client_certificate: str | None,
                             private_key: str | None) -> None:
    """MUTUAL needs the client's certificate: a secret (credential_name) or files in the proxy."""
    files = client_certificate or private_key
    if files and not (client_certificate and private_key):
        raise ValueError("client_certificate and private_key go together (the certificate and its key)")
    if files and credential_name:
        raise ValueError("give credential_name (a secret) or client_certificate/private_key (files), not both")
    if files and mode != "MUTUAL":
        raise ValueError(f"a client certificate is sent only in MUTUAL mode, not {mode}")
    if mode == "MUTUAL" and not (credential_name or files):
        raise ValueError("MUTUAL TLS needs the client certificate: credential_name (a secret in the proxy's "
                         "namespace) or client_certificate and private_key (file paths in the proxy)")


class ClientTLS(IntentModel):
    """TLS a client sidecar uses toward a destination (DestinationRule trafficPolicy.tls)."""

    positional = ("mode",)
    mode: Literal["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"]
    sni: str | None = None
    credential_name: str | None = None
    ca_certificates: str | None = None
    subject_alt_names: tuple[str, ...] = ()
    insecure_skip_verify: bool = False
    client_certificate: str | None = None  # file paths in the proxy (mounted), instead of credential_name
    private_key: str | None = None

    @model_validator(mode="after")
    def _client_certificate(self) -> "ClientTLS":
        check_client_certificate(self.mode, self.credential_name, self.client_certificate, self.private_key)
        return self


class LocalRateLimit(IntentModel):
    """Envoy's local rate limit on a service's pods (Istio's documented EnvoyFilter): a token
    bucket of `tokens` refilled by `tokens_per_fill` (default: all) every `fill_interval`; requests
    past it get 429. With `port`, only requests to that service port are limited."""

    positional = ("tokens", "fill_interval")
    tokens: int = Field(ge=1)
    fill_interval: Duration
    tokens_per_fill: int | None = Field(default=None, ge=1)
    port: int | None = Field(default=None, ge=1, le=65535)

    @model_validator(mode="after")
    def _fill(self) -> "LocalRateLimit":
        if self.tokens_per_fill is not None and self.tokens_per_fill > self.tokens:
            raise ValueError(f"tokens_per_fill {self.tokens_per_fill} is more than the bucket holds ({self.tokens})")
        return self
