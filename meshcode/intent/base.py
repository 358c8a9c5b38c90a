"""The base every intent model shares: frozen, strict, and aware of the line that built it.

Capturing the caller's file and line at construction is what lets every later error point at
the user's Python instead of at generated YAML.
"""
from __future__ import annotations

import difflib
import math
import re
from datetime import timedelta
from typing import Annotated, Any, ClassVar, Iterable, TypeVar, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from meshcode.errors import IntentError, SourceLocation, caller_location
from meshcode.redact import credential_problem, redact_url

# Every name pattern ends in \Z, never $: `$` also matches before a trailing newline, and a
# name like "cart\n" would break file paths, the kustomization and the manifest.
DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_HOST = re.compile(r"^(\*|(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)\Z")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def format_errors(error: ValidationError, fields: Iterable[str] = (), noun: str = "argument") -> str:
    """pydantic's errors in meshcode's words; a misspelt keyword gets the field it probably meant."""
    parts = []
    known = list(fields)
    for e in error.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "value"
        if e["type"] == "extra_forbidden" and len(e["loc"]) == 1:
            guess = difflib.get_close_matches(str(e["loc"][0]), known, n=1)
            hint = f"; did you mean {guess[0]!r}?" if guess else f" (fields: {', '.join(known)})"
            parts.append(f"unknown {noun} {loc!r}{hint}")
            continue
        msg = e["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


class IntentModel(BaseModel):
    """Frozen pydantic model that records where it was constructed (see `origin`).

    The origin is kept in pydantic's private-state slot directly (not a PrivateAttr): that
    halves construction cost, which users with thousands of services pay on every compile.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=False, defer_build=True)
    positional: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        location = caller_location()
        if args:
            if len(args) > len(self.positional):
                raise IntentError(
                    f"{type(self).__name__} takes at most {len(self.positional)} positional "
                    f"argument(s) ({', '.join(self.positional) or 'none'}), got {len(args)}",
                    location,
                )
            for name, value in zip(self.positional, args):
                if name in kwargs:
                    raise IntentError(f"{type(self).__name__}: {name} given twice", location)
                kwargs[name] = value
        try:
            super().__init__(**kwargs)
        except ValidationError as e:
            raise IntentError(f"{type(self).__name__}: {format_errors(e, type(self).model_fields)}", location) from None
        except (ValueError, TypeError) as e:
            raise IntentError(f"{type(self).__name__}: {e}", location) from None
        object.__setattr__(self, "__pydantic_private__", {"origin": location})

    @property
    def origin(self) -> SourceLocation | None:
        """File and line of the user code that constructed this object."""
        private = self.__pydantic_private__
        return private.get("origin") if private else None

    def with_origin(self, origin: SourceLocation | None) -> "IntentModel":
        """Attach an origin to an object made with `model_construct` (compiler-internal)."""
        object.__setattr__(self, "__pydantic_private__", {"origin": origin})
        return self


def field_types(model: type[BaseModel], name: str) -> tuple[type, ...]:
    """The classes a field's type admits (the members of its union, the items of its tuple).

    Validators check instances against these instead of importing the modules that define
    them: a field's forward references are resolved by meshcode/intent/__init__.py.
    """
    annotation = model.model_fields[name].annotation
    found: list[type] = []
    todo = [annotation]
    while todo:
        t = todo.pop(0)
        args = get_args(t)
        if args:
            todo.extend(a for a in args if a is not Ellipsis)
        elif isinstance(t, type) and t is not type(None):
            found.append(t)
    return tuple(found)


def _dns_label(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 63 or not DNS_LABEL_RE.match(value):
        raise ValueError(
            f"{value!r} is not a valid DNS-1123 label (lower-case letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters)"
        )
    return value


def _dns_subdomain(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 253 or not _DNS_SUBDOMAIN.match(value):
        raise ValueError(f"{value!r} is not a valid DNS-1123 subdomain")
    return value


def _hostname(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 253 or not _HOST.match(value):
        raise ValueError(f"{value!r} is not a valid host name (wildcards only as a leading '*.')")
    return value


_DURATIONS: dict[str, str] = {}  # text → its duration: a fleet writes the same few thousands of times


def parse_duration(value: Any) -> str:
    """Accept '500ms', '2s', '3m', '1h30m', seconds as a number, or a timedelta; emit '<n>s'.

    Istio's CRDs take protobuf durations: seconds with an 's' suffix, fractions allowed.
    """
    if type(value) is str:
        known = _DURATIONS.get(value)
        if known is None:
            known = _parse_duration(value)
            if len(_DURATIONS) < 4096:
                _DURATIONS[value] = known
        return known
    return _parse_duration(value)


def _parse_duration(value: Any) -> str:
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    elif isinstance(value, (int, float)):
        try:
            seconds = float(value)
        except OverflowError:
            raise ValueError(f"duration {value!r} is far too long") from None
    elif isinstance(value, str):
        text = value.strip()
        pos, seconds = 0, 0.0
        for m in _DURATION_PART.finditer(text):
            if m.start() != pos:
                break
            seconds += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
            pos = m.end()
        if pos != len(text) or not text:
            raise ValueError(f"{value!r} is not a duration (use e.g. '500ms', '2s', '3m', '1h')")
    else:
        raise ValueError(f"{value!r} is not a duration")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"duration must be positive and finite, got {value!r}")
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"duration must be at most {MAX_DURATION_SECONDS}s (about 292 years, the longest "
                         f"Kubernetes accepts), got {value!r}")
    if seconds < 0.001:
        raise ValueError(f"duration must be at least 1ms, got {value!r}")
    return format_seconds(seconds)


MAX_DURATION_SECONDS = 9_223_372_036
"""Go's time.Duration (2**63 - 1 ns), which the API server's CEL rules parse durations with."""
INT32_MAX = 2**31 - 1
UINT32_MAX = 2**32 - 1


def format_seconds(seconds: float) -> str:
    millis = round(seconds * 1000)
    whole, frac = divmod(millis, 1000)
    return f"{whole}s" if frac == 0 else f"{whole}.{frac:03d}".rstrip("0") + "s"


def duration_seconds(duration: str) -> float:
    """Seconds in a duration string this module produced."""
    return float(duration.removesuffix("s"))


def no_credentials(value: Any) -> Any:
    """Refuse a URL carrying credentials: intent is committed and rendered into objects.

    The message shows the URL redacted: the secret must not reach a terminal log either.
    """
    problem = credential_problem(str(value)) if value is not None else None
    if problem:
        raise ValueError(f"the URL {redact_url(str(value))} {problem}; credentials never go into intent, which is "
                         "committed and rendered into generated objects: give the URL without them (Argo CD takes "
                         "repository credentials from its own secrets; a webhook URL can come from the environment "
                         "with Webhook(url_env=...))")
    return value


PublicUrl = Annotated[str, AfterValidator(no_credentials)]


# Integers the CRDs type as protobuf int32/uint32 (Istio's decoding refuses anything larger).
Int32 = Annotated[int, Field(le=INT32_MAX)]
UInt32 = Annotated[int, Field(ge=0, le=UINT32_MAX)]
DNSLabel = Annotated[str, BeforeValidator(_dns_label)]
DNSSubdomain = Annotated[str, BeforeValidator(_dns_subdomain)]
Hostname = Annotated[str, BeforeValidator(_hostname)]
Duration = Annotated[str, BeforeValidator(parse_duration)]


def one_or_many(value: Any) -> Any:
    """Let users write one item where a list is expected: `hosts="a.com"`, `match=Match(...)`."""
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return (value,)


T = TypeVar("T")
Many = Annotated[tuple[T, ...], BeforeValidator(one_or_many)]
