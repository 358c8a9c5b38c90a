"""HTTP for the controller's edges (Prometheus, Argo CD, notifications) with httpx.

Credentials never come from the stacks or a URL: they come from the environment or from files
the environment names (Kubernetes Secrets mounted as files), per service prefix:

    <PREFIX>_TOKEN / <PREFIX>_TOKEN_FILE        bearer token
    <PREFIX>_USER + <PREFIX>_PASSWORD(_FILE)    basic auth
    <PREFIX>_HEADERS                            extra headers, "Name=value;Other=value"
                                                (e.g. X-Scope-OrgID=tenant-a for Mimir, Cortex, Thanos)
    <PREFIX>_CA_FILE                            CA bundle that signed the server's certificate
    <PREFIX>_CERT_FILE + <PREFIX>_KEY_FILE      client certificate (mutual TLS)

URLs shown in messages and records go through `meshcode.redact`.
"""
from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field
import httpx

from meshcode.errors import StateError
from meshcode.redact import redact_url


def _secret(env: dict[str, str], name: str) -> str | None:
    """NAME from the environment, or the content of the file NAME_FILE names (trailing newline dropped)."""
    if env.get(name):
        return env[name]
    path = env.get(f"{name}_FILE")
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().rstrip("\n")
    except OSError as e:
        raise StateError(f"{name}_FILE: cannot read {path}: {e.strerror}") from None


@dataclass(frozen=True)
class Auth:
    """How to authenticate to one service; built from the environment, never printed."""

    token: str | None = field(default=None, repr=False)
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    @classmethod
    def from_env(cls, prefix: str, env: dict[str, str] | None = None, token_fallback: str | None = None) -> "Auth":
        env = dict(os.environ if env is None else env)
        token = _secret(env, f"{prefix}_TOKEN") or (_secret(env, token_fallback) if token_fallback else None)
        headers = []
        for item in (env.get(f"{prefix}_HEADERS") or "").split(";"):
            if not item.strip():
                continue
            name, sep, value = item.partition("=")
            if not sep or not name.strip():
                raise StateError(f"{prefix}_HEADERS: {name.strip()!r} is not Name=value (separate headers with ';')")
            headers.append((name.strip(), value.strip()))
        cert, key = env.get(f"{prefix}_CERT_FILE"), env.get(f"{prefix}_KEY_FILE")
        if bool(cert) != bool(key):
            raise StateError(f"{prefix}_CERT_FILE and {prefix}_KEY_FILE go together (a client certificate and its key)")
        user = env.get(f"{prefix}_USER")
        password = _secret(env, f"{prefix}_PASSWORD")
        if password and not user:
            raise StateError(f"{prefix}_PASSWORD is set but {prefix}_USER is not")
        return cls(token=token, user=user, password=password, headers=tuple(headers),
                   ca_file=env.get(f"{prefix}_CA_FILE"), cert_file=cert, key_file=key)

    def client(self, timeout: float) -> httpx.Client:
        headers = dict(self.headers)
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        verify: ssl.SSLContext | bool = True
        if self.ca_file or self.cert_file:
            try:
                verify = ssl.create_default_context(cafile=self.ca_file)
                if self.cert_file:
                    verify.load_cert_chain(self.cert_file, self.key_file)
            except (OSError, ssl.SSLError) as e:
                raise StateError(f"TLS files ({self.ca_file or '-'}, {self.cert_file or '-'}): {e}") from None
        auth = httpx.BasicAuth(self.user, self.password or "") if self.user else None
        return httpx.Client(headers=headers, verify=verify, auth=auth, timeout=timeout, follow_redirects=False)


def refused(service: str, url: str, response: httpx.Response, prefix: str) -> StateError:
    """The error for a 401/403: which service, which URL (redacted), and where credentials come from."""
    what = "refused the credentials" if response.status_code == 401 else "denied access"
    return StateError(f"{service} at {redact_url(url)} {what} (HTTP {response.status_code} "
                     f"{response.reason_phrase}); set {prefix}_TOKEN(_FILE), {prefix}_USER/{prefix}_PASSWORD(_FILE) "
                     f"or {prefix}_HEADERS")
