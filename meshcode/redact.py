"""Credentials never leave the process: one place that finds and hides them in URLs.

Every sink meshcode writes or prints — canary state (samples), commit messages, error and
progress messages — passes URLs through `redact`; intent and settings that would put a URL
into generated objects or pyproject.toml refuse one that carries credentials
(`credential_problem`). Credentials come from the environment or a file instead (see
`meshcode.delivery.prometheus.auth_headers` and `Webhook(url_env=...)`).
"""
from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>`]+")
# Query parameters that carry credentials in the wild (Prometheus proxies, signed URLs, hooks).
_SECRET_KEYS = re.compile(r"(token|key|secret|password|passwd|pwd|auth|sig|signature|credential|session|code)",
                          re.IGNORECASE)


def redact_url(url: str, keep_path: bool = True) -> str:
    """`url` without user info, with every query value masked and no fragment.

    keep_path=False also masks the path: webhook services (Slack, Teams, Discord…) put the
    secret in it, so a hook is recorded as its scheme and host only.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return MASK
    if not parts.scheme or not parts.netloc:
        return url if "@" not in url and "?" not in url else MASK
    user = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else None
    if user is not None and credential_problem(url) is None:  # ssh://git@…: a login, kept
        netloc = f"{user}@"
    else:
        netloc = f"{MASK}@" if user is not None else ""
    netloc += f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    path = parts.path if keep_path or parts.path in ("", "/") else f"/{MASK}"
    query = urlencode([(k, MASK) for k, _ in parse_qsl(parts.query, keep_blank_values=True)], safe="*")
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def redact(text: str) -> str:
    """Free text with every URL in it redacted (user info and query values masked)."""
    if "://" not in text:
        return text
    return _URL.sub(lambda m: redact_url(m.group(0)), text)


def credential_problem(url: str) -> str | None:
    """Why `url` must not be written anywhere (it carries credentials), or None."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if "@" in parts.netloc:
        user = parts.netloc.rpartition("@")[0]
        # ssh://git@host/… names a login, not a secret; over HTTP a lone user name is often a token
        if ":" in user or parts.scheme.lower() not in ("ssh", "git+ssh"):
            return "carries user info (user:password@)"
    secret = [k for k, _ in parse_qsl(parts.query, keep_blank_values=True) if _SECRET_KEYS.search(k)]
    if secret:
        return f"carries a credential in its query ({', '.join(secret)}=…)"
    if parts.fragment and "=" in parts.fragment:
        return "carries parameters in its fragment"
    return None
