"""Observability intent → `Telemetry` objects, plus the extension providers their mesh config needs.

Scopes follow Istio's hierarchy: a selector-less Telemetry in the root namespace is mesh-wide,
a selector-less one in a namespace covers the namespace, one with `selector.matchLabels` covers
a workload. Every intent that lands in one scope is merged into one object, so the output never
has two selector-less Telemetry objects in a namespace (IST0160) nor two selecting the same
workload (IST0159); settings that cannot be merged are compile errors at the intent's line.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from itertools import combinations, product
from typing import Any

from meshcode.compile.context import CompileContext, placed, served_clusters
from meshcode.errors import SourceLocation
from meshcode.intent.edge import ExternalService
from meshcode.intent.service import Service
from meshcode.intent.telemetry import (
    BUILTIN_PROVIDERS, LOG_PROVIDER_KEYS, PROVIDER_TYPES, TRACE_PROVIDER_KEYS, AccessLog, Metrics,
    TelemetryIntent, Tracing, tag_spec,
)
from meshcode.intent.topology import Cluster
from meshcode.intent.base import DNS_LABEL_RE
from meshcode.plan import Resource

MESH_TELEMETRY = "mesh-default"
NAMESPACE_TELEMETRY = "namespace-default"
# Istio's own providers, by kind (pkg/config/mesh DefaultMeshConfig); usable without a definition.
BUILTIN_KINDS = {"envoy": "log", "prometheus": "metrics", "stackdriver": "any"}

Selector = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Scope:
    """One Telemetry object's place: namespace, workload selector (None: the whole namespace)."""

    namespace: str
    selector: Selector | None
    name: str


@dataclass(slots=True)
class Entry:
    intent: TelemetryIntent
    scope: Scope
    placement: tuple[str, ...] | None  # clusters it applies to; None: every cluster


@dataclass(slots=True)
class TelemetryIndex:
    """Everything resolved once per compile: providers by name, each intent's scope and placement."""

    providers: dict[str, tuple[dict[str, Any], SourceLocation | None]] = field(default_factory=dict)
    declared: list[str] = field(default_factory=list)  # providers listed in Mesh(telemetry=[…]) itself
    entries: list[Entry] = field(default_factory=list)
    reported: set[tuple] = field(default_factory=set)


# -- index ------------------------------------------------------------------------------------
def telemetry_index(ctx: CompileContext) -> TelemetryIndex:
    """Built on first use and kept on the context: the concern and mesh_config() both read it."""
    return ctx.once("telemetry_index", lambda: _build_index(ctx))


def _build_index(ctx: CompileContext) -> TelemetryIndex:
    index = TelemetryIndex()
    mesh = ctx.mesh
    known_clusters = {c.name for c in mesh.clusters}
    intents: list[TelemetryIntent] = []
    for item in mesh.telemetry:
        if isinstance(item, PROVIDER_TYPES):
            _define(ctx, index, item)
            if item.provider_name not in index.declared:
                index.declared.append(item.provider_name)
        else:
            intents.append(item)
    for intent in intents:  # providers given as objects define themselves
        refs = intent.provider if isinstance(intent, AccessLog) else (intent.provider,)
        for ref in refs:
            if isinstance(ref, PROVIDER_TYPES):
                _define(ctx, index, ref)
    for intent in intents:
        for name in intent.provider_names:
            _check_reference(ctx, index, intent, name)
        for c in intent.clusters or ():
            if c not in known_clusters:
                ctx.error("MC2303", f"telemetry for {intent.scope_text} is placed in cluster {c!r}, which mesh "
                          f"{mesh.name!r} does not declare (clusters: {', '.join(sorted(known_clusters))})",
                          intent.origin, "Telemetry")
        resolved = _resolve_scope(ctx, intent)
        if resolved is not None:
            index.entries.append(Entry(intent, *resolved))
    _check_overlapping_selectors(ctx, index)
    _note_tracing_without_provider(ctx, index)
    return index


def _note_tracing_without_provider(ctx: CompileContext, index: TelemetryIndex) -> None:
    """Tracing without a provider inherits one from the namespace or mesh scope; with none there,
    Istio falls back to meshConfig.defaultProviders.tracing, which meshcode does not set."""
    with_provider = {(e.scope.namespace, e.scope.selector) for e in index.entries
                     if isinstance(e.intent, Tracing) and e.intent.provider is not None}
    root = ctx.mesh.root_namespace
    for e in index.entries:
        t = e.intent
        if isinstance(t, Tracing) and t.provider is None and (root, None) not in with_provider \
                and (e.scope.namespace, None) not in with_provider:
            ctx.note("MC0701", f"tracing for {t.scope_text} names no provider and no wider scope does: "
                     "spans go to meshConfig.defaultProviders.tracing if the install sets one, else nowhere",
                     t.origin, "Telemetry", e.scope.namespace, e.scope.name)


def _define(ctx: CompileContext, index: TelemetryIndex, provider: Any) -> None:
    name, spec = provider.provider_name, provider.extension_provider()
    first = index.providers.get(name)
    if first is None:
        index.providers[name] = (spec, provider.origin)
    elif first[0] != spec:
        ctx.error("MC2702", f"extension provider {name!r} is defined twice with different settings (first at "
                  f"{ctx.where(first[1])}); give one of them another name=", provider.origin, "Telemetry")


def _kind(index: TelemetryIndex, name: str) -> str | None:
    """'log', 'trace', 'metrics' or 'any' for a known provider name; None for an unknown one."""
    if name in index.providers:
        spec = index.providers[name][0]
        key = next(k for k in spec if k != "name")
        return "log" if key in LOG_PROVIDER_KEYS else "trace" if key in TRACE_PROVIDER_KEYS else "metrics"
    return BUILTIN_KINDS.get(name)


def _check_reference(ctx: CompileContext, index: TelemetryIndex, intent: TelemetryIntent, name: str) -> None:
    kind = _kind(index, name)
    want = "log" if isinstance(intent, AccessLog) else "trace" if isinstance(intent, Tracing) else "metrics"
    if kind is None:
        defined = sorted(set(index.providers) | BUILTIN_PROVIDERS)
        ctx.error("MC2701", f"telemetry for {intent.scope_text} names provider {name!r}, which no mesh config "
                  f"defines (defined: {', '.join(defined)}); pass the provider object (e.g. OtelLog(…)) once "
                  "or list it in Mesh(telemetry=[…])", intent.origin, "Telemetry")
    elif kind not in (want, "any"):
        ctx.error("MC2706", f"{type(intent).__name__} for {intent.scope_text} names provider {name!r}, "
                  f"which is a {kind} provider, not a {want} provider", intent.origin, "Telemetry")


def _resolve_scope(ctx: CompileContext, intent: TelemetryIntent) -> tuple[Scope, tuple[str, ...] | None] | None:
    root = ctx.mesh.root_namespace
    if intent.service is not None:
        svc = ctx.find_service(intent.service, intent.namespace or "")
        if isinstance(svc, Service) and ctx.services.get((svc.namespace, svc.name)) is not svc:
            svc = None  # a Service object that was never added to Mesh(services=[…])
        if svc is None or isinstance(svc, ExternalService):
            what = "an external service, which has no workloads in the mesh" if svc else "not a service of the mesh"
            ref = intent.service if isinstance(intent.service, str) else intent.service.name
            ctx.error("MC2704", f"telemetry for service {ref!r}: {what}", intent.origin, "Telemetry",
                      intent.namespace or "", ref)
            return None
        assert isinstance(svc, Service)
        selector = (("app", svc.name),)
        placement = intent.clusters if intent.clusters is not None else svc.clusters
        return Scope(svc.namespace, selector, workload_name(selector)), placement
    if intent.selector is not None:
        assert intent.namespace is not None
        selector = tuple(sorted(intent.selector.items()))
        return Scope(intent.namespace, selector, workload_name(selector)), intent.clusters
    if intent.namespace and intent.namespace != root:
        return Scope(intent.namespace, None, NAMESPACE_TELEMETRY), intent.clusters
    return Scope(root, None, MESH_TELEMETRY), intent.clusters


def workload_name(selector: Selector) -> str:
    """`app: reviews` → `reviews`; any other selector → its values and a short hash of it, so two
    selectors never share a name (`app: a-b` and `app: a, x: b` would)."""
    if len(selector) == 1 and selector[0][0] == "app" and DNS_LABEL_RE.match(selector[0][1]) \
            and selector[0][1] not in (MESH_TELEMETRY, NAMESPACE_TELEMETRY):
        return selector[0][1]
    digest = hashlib.sha256(repr(selector).encode()).hexdigest()[:6]
    stem = re.sub(r"[^a-z0-9-]+", "-", "-".join(v for _, v in selector).lower()).strip("-")[:52].rstrip("-")
    return f"{stem}-{digest}" if stem else f"workload-{digest}"


def _check_overlapping_selectors(ctx: CompileContext, index: TelemetryIndex) -> None:
    """Two different selectors that can pick the same pod would make Istio choose one (IST0159).

    Selectors with different `app` values never overlap, so a selector is compared only with
    those sharing its `app` value and with those that have no `app`: linear for the usual
    one-service-one-selector mesh. The later intent gets the error.
    """
    order = {id(e): i for i, e in enumerate(index.entries)}
    buckets: dict[tuple[str, str | None], dict[Selector, Entry]] = {}
    for e in index.entries:
        if e.scope.selector is not None:
            app = dict(e.scope.selector).get("app")
            buckets.setdefault((e.scope.namespace, app), {}).setdefault(e.scope.selector, e)
    for (ns, app), by_selector in buckets.items():
        own = list(by_selector.items())
        pairs = list(combinations(own, 2))
        if app is not None:
            pairs += list(product(own, buckets.get((ns, None), {}).items()))
        for (a, ea), (b, eb) in pairs:
            if _overlap(a, b):
                first, later = sorted((ea, eb), key=lambda e: order[id(e)])
                _once(ctx, index, "MC2705", f"telemetry for {later.intent.scope_text} and for "
                      f"{first.intent.scope_text} (at {ctx.where(first.intent.origin)}) can select the same "
                      "pods; Istio would apply only one of them (IST0159): use one selector",
                      later.intent.origin, ns, later.scope.name)


def _overlap(a: Selector, b: Selector) -> bool:
    """Some pod matches both: no label both name with different values."""
    da = dict(a)
    return all(da.get(k, v) == v for k, v in b)


# -- Telemetry objects ------------------------------------------------------------------------
def compile_telemetry(ctx: CompileContext, cluster: Cluster) -> list[Resource]:
    """The Telemetry objects this cluster's control plane serves."""
    index = telemetry_index(ctx)
    served = served_clusters(ctx.mesh, cluster)
    if not served:
        return []
    groups: dict[Scope, list[Entry]] = {}
    for e in index.entries:
        if placed(e.placement, served):
            groups.setdefault(e.scope, []).append(e)
    out: list[Resource] = []
    for scope, entries in groups.items():
        key = ("telemetry", scope, tuple(id(e.intent) for e in entries))
        out += ctx.once(key, lambda scope=scope, entries=entries: [build_telemetry(ctx, index, scope, entries)])
    return out


def build_telemetry(ctx: CompileContext, index: TelemetryIndex, scope: Scope,
                    entries: list[Entry]) -> Resource:
    """Merge every intent of one scope into one Telemetry; report what cannot be merged."""
    intents = [e.intent for e in entries]
    spec: dict[str, Any] = {}
    if scope.selector is not None:
        spec["selector"] = {"matchLabels": dict(scope.selector)}
    logs = [i for i in intents if isinstance(i, AccessLog)]
    traces = [i for i in intents if isinstance(i, Tracing)]
    metrics = [i for i in intents if isinstance(i, Metrics)]
    if logs:
        spec["accessLogging"] = _access_logging(ctx, index, scope, logs)
    if traces:
        spec["tracing"] = _tracing(ctx, index, scope, traces)
    if metrics:
        spec["metrics"] = _metrics(ctx, index, scope, metrics)
    return ctx.resource("telemetry", "Telemetry", scope.name, scope.namespace, spec, intents[0].origin)


def _match(mode: str | None) -> dict[str, Any]:
    return {"match": {"mode": mode}} if mode else {}


def _modes_overlap(a: str | None, b: str | None) -> bool:
    return a is None or b is None or a == b or "CLIENT_AND_SERVER" in (a, b)


def _access_logging(ctx: CompileContext, index: TelemetryIndex, scope: Scope,
                    logs: list[AccessLog]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: list[tuple[str, str | None, AccessLog]] = []
    for log in logs:
        for name in log.provider_names:
            for other_name, other_mode, other in seen:
                if other_name == name and _modes_overlap(other_mode, log.mode):
                    _conflict(ctx, index, scope, log, other, f"two access-log settings for provider {name!r}")
            seen.append((name, log.mode, log))
        item: dict[str, Any] = {"providers": [{"name": n} for n in log.provider_names]}
        item.update(_match(log.mode))
        if log.filter:
            item["filter"] = {"expression": log.filter}
        if log.disabled:
            item["disabled"] = True
        out.append(item)
    return out


def _tracing(ctx: CompileContext, index: TelemetryIndex, scope: Scope,
             traces: list[Tracing]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, t in enumerate(traces):
        for other in traces[:i]:
            if _modes_overlap(other.mode, t.mode):
                _conflict(ctx, index, scope, t, other, "two tracing settings for the same traffic")
        item: dict[str, Any] = {}
        if t.provider_names:
            item["providers"] = [{"name": t.provider_names[0]}]
        item.update(_match(t.mode))
        if t.sampling is not None:
            item["randomSamplingPercentage"] = float(t.sampling)
        if t.tags:
            item["customTags"] = {k: tag_spec(v) for k, v in sorted(t.tags.items())}
        if t.disable_span_reporting:
            item["disableSpanReporting"] = True
        out.append(item)
    return out


def _metric_claims(m: Metrics) -> list[tuple[str, str, Any]]:
    """(metric, setting, value) pairs one Metrics intent asserts, for conflict checks."""
    claims: list[tuple[str, str, Any]] = []
    if m.disable is True:
        claims.append(("ALL_METRICS", "disabled", True))
    elif m.disable:
        claims += [(metric, "disabled", True) for metric in m.disable]
    for metric in m.tag_metrics if m.tags else ():
        claims += [(metric, f"tag {tag}", value) for tag, value in m.tags.items()]
    return claims


def _overrides(m: Metrics) -> list[dict[str, Any]]:
    mode = {"mode": m.mode} if m.mode else {}
    out: list[dict[str, Any]] = []
    disabled = ("ALL_METRICS",) if m.disable is True else (m.disable or ())
    for metric in disabled:
        out.append({"match": {"metric": metric, **mode}, "disabled": True})
    if m.tags:
        tag_overrides = {tag: ({"operation": "UPSERT", "value": value} if value is not None
                               else {"operation": "REMOVE"}) for tag, value in sorted(m.tags.items())}
        for metric in m.tag_metrics:  # a copy each: a shared dict would be dumped as a YAML alias
            out.append({"match": {"metric": metric, **mode},
                        "tagOverrides": {tag: dict(op) for tag, op in tag_overrides.items()}})
    return out


def _metrics(ctx: CompileContext, index: TelemetryIndex, scope: Scope,
             metrics: list[Metrics]) -> list[dict[str, Any]]:
    """One entry per provider; overrides of every intent in order; contradictions are errors."""
    by_provider: dict[str | None, dict[str, Any]] = {}
    claims: dict[str | None, list[tuple[str, str | None, str, Any, Metrics]]] = {}
    intervals: dict[str | None, Metrics] = {}
    for m in metrics:
        item = by_provider.get(m.provider)
        if item is None:
            item = by_provider[m.provider] = {"providers": [{"name": m.provider}]} if m.provider else {}
        for metric, setting, value in _metric_claims(m):
            for o_metric, o_mode, o_setting, o_value, other in claims.get(m.provider, []):
                if other is not m and o_setting == setting and o_value != value \
                        and (o_metric == metric or "ALL_METRICS" in (o_metric, metric)) \
                        and _modes_overlap(o_mode, m.mode):
                    _conflict(ctx, index, scope, m, other, f"{metric} {setting}: {value!r} vs {o_value!r}")
            claims.setdefault(m.provider, []).append((metric, m.mode, setting, value, m))
        if m.reporting_interval:
            other = intervals.get(m.provider)
            if other is not None and other.reporting_interval != m.reporting_interval:
                _conflict(ctx, index, scope, m, other, "two reporting intervals")
            intervals.setdefault(m.provider, m)
            item["reportingInterval"] = intervals[m.provider].reporting_interval
        overrides = _overrides(m)
        if overrides:
            item.setdefault("overrides", []).extend(overrides)
    return list(by_provider.values())


# -- findings ---------------------------------------------------------------------------------
def _once(ctx: CompileContext, index: TelemetryIndex, code: str, message: str,
          origin: SourceLocation | None, namespace: str, name: str) -> None:
    """A scope compiled for several clusters reports each problem once."""
    key = (code, message, origin)
    if key not in index.reported:
        index.reported.add(key)
        ctx.error(code, message, origin, "Telemetry", namespace, name)


def _conflict(ctx: CompileContext, index: TelemetryIndex, scope: Scope, intent: TelemetryIntent,
              first: TelemetryIntent, what: str) -> None:
    where = "the mesh" if scope.name == MESH_TELEMETRY else (
        f"namespace {scope.namespace}" if scope.selector is None else f"workloads {dict(scope.selector)}")
    _once(ctx, index, "MC2703", f"{what} for {where} (first at {ctx.where(first.origin)}); one Telemetry per "
          "scope holds them, so they must agree: merge them or give them different modes",
          intent.origin, scope.namespace, scope.name)


# -- mesh config ------------------------------------------------------------------------------
def extension_providers(ctx: CompileContext, cluster: Cluster) -> list[dict[str, Any]]:
    """The `extensionProviders` this cluster's control plane needs: those its Telemetry objects
    name, plus those declared in Mesh(telemetry=[…]); Istio's built-ins only when redefined."""
    index = telemetry_index(ctx)
    served = served_clusters(ctx.mesh, cluster)
    if not served:
        return []
    names = set(index.declared)
    for e in index.entries:
        if placed(e.placement, served):
            names.update(e.intent.provider_names)
    return [index.providers[n][0] for n in sorted(names) if n in index.providers]
