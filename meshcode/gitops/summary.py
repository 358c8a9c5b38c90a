"""What a change means, in a reviewer's words: the semantic summary of a `TreeDiff`.

A pull request that only shows YAML churn hides what matters: "reviews: canary 10% → 25%",
"namespace payments: mTLS PERMISSIVE → STRICT", "new allow: cart → payments POST". This reads
the old and new objects of each change and says that, plus the warnings that need a human: a
Namespace leaving the output, an ALLOW rule that admits anyone, a large weight jump. Pure.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meshcode.gitops.diff import ObjectChange, TreeDiff, namespace_warnings

WEIGHT_JUMP = 50  # percentage points moved in one change that deserve a second look


@dataclass
class Summary:
    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _split(vs: dict[str, Any] | None) -> dict[str, int]:
    """subset (or host) → weight of a VirtualService's default (last match-less) HTTP or TCP rule."""
    spec = _dict((vs or {}).get("spec"))
    for section in ("http", "tcp", "tls"):
        for rule in reversed(_list(spec.get(section))):
            if isinstance(rule, dict) and not rule.get("match"):
                out: dict[str, int] = {}
                for dest in _list(rule.get("route")):
                    d = _dict(_dict(dest).get("destination"))
                    key = str(d.get("subset") or d.get("host") or "?")
                    out[key] = int(_dict(dest).get("weight", 100)) if isinstance(_dict(dest).get("weight", 100), int) \
                        else 100
                return out
    return {}


def _backend_split(route: dict[str, Any] | None) -> dict[str, int]:
    """backend Service → weight of an HTTPRoute's/TCPRoute's last match-less rule."""
    for rule in reversed(_list(_dict((route or {}).get("spec")).get("rules"))):
        if isinstance(rule, dict) and not rule.get("matches"):
            return {str(_dict(b).get("name")): int(_dict(b).get("weight", 1)) if isinstance(_dict(b).get("weight", 1), int)
                    else 1 for b in _list(rule.get("backendRefs"))}
    return {}


def _fmt(split: dict[str, int]) -> str:
    return " / ".join(f"{k} {v}%" for k, v in sorted(split.items())) or "none"


def _mtls(pa: dict[str, Any] | None) -> str | None:
    mode = _dict(_dict(_dict((pa or {}).get("spec")).get("mtls"))).get("mode")
    return mode if isinstance(mode, str) else None


def _rule_text(rule: dict[str, Any]) -> str:
    sources = []
    for f in _list(rule.get("from")):
        src = _dict(_dict(f).get("source"))
        for key in ("principals", "namespaces", "requestPrincipals", "ipBlocks", "remoteIpBlocks"):
            sources += [f"{key}={v}" for v in _list(src.get(key))]
    ops = []
    for t in _list(rule.get("to")):
        op = _dict(_dict(t).get("operation"))
        ops += [*map(str, _list(op.get("methods"))), *map(str, _list(op.get("paths"))),
                *(f"port {p}" for p in _list(op.get("ports")))]
    who = ", ".join(s.split("/")[-1] if s.startswith("principals=") else s for s in sources) or "anyone"
    return f"{who}" + (f" {' '.join(ops)}" if ops else "")


def _allows_anyone(rule: dict[str, Any]) -> bool:
    """An ALLOW rule with no `from` (or a source that names no one in particular) admits any caller."""
    froms = _list(rule.get("from"))
    if not froms:
        return True
    return any(v in ("*",) for f in froms for key in ("principals", "namespaces")
               for v in _list(_dict(_dict(f).get("source")).get(key)))


def _rules(policy: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [r for r in _list(_dict((policy or {}).get("spec")).get("rules")) if isinstance(r, dict)]


def _describe(c: ObjectChange, summary: Summary) -> None:
    k = c.key
    where = f"{k.namespace}/{k.name}" if k.namespace else k.name
    if k.kind == "VirtualService":
        old, new = _split(c.old), _split(c.new)
        if old != new and (old or new):
            summary.lines.append(f"{where}: traffic {_fmt(old)} → {_fmt(new)}")
            moved = max((abs(new.get(s, 0) - old.get(s, 0)) for s in set(old) | set(new)), default=0)
            if old and new and moved >= WEIGHT_JUMP:
                summary.warnings.append(f"{where} [{k.folder}]: weight jump of {moved} points in one change")
    elif k.kind in ("HTTPRoute", "TCPRoute", "GRPCRoute"):
        old, new = _backend_split(c.old), _backend_split(c.new)
        if old != new and (old or new):
            summary.lines.append(f"{where}: traffic {_fmt(old)} → {_fmt(new)}")
    elif k.kind == "PeerAuthentication":
        before, after = _mtls(c.old), _mtls(c.new)
        if before != after:
            scope = f"namespace {k.namespace}" if k.name == "default" else where
            summary.lines.append(f"{scope}: mTLS {before or 'none'} → {after or 'none'}")
    elif k.kind == "AuthorizationPolicy":
        action = str(_dict((c.new or c.old or {}).get("spec")).get("action", "ALLOW"))
        old_rules = [_rule_text(r) for r in _rules(c.old)]
        for rule in _rules(c.new):
            text = _rule_text(rule)
            if text not in old_rules:
                summary.lines.append(f"new {action.lower()}: {text} → {where}")
                if action == "ALLOW" and _allows_anyone(rule):
                    summary.warnings.append(f"{where} [{k.folder}]: an ALLOW rule admits any caller ({text})")
        new_rules = [_rule_text(r) for r in _rules(c.new)]
        for text in old_rules:
            if text not in new_rules:
                summary.lines.append(f"removed {action.lower()}: {text} → {where}")
    elif k.kind == "Application":
        source = _dict(_dict((c.new or c.old or {}).get("spec")).get("source"))
        if source.get("chart"):
            summary.lines.append(f"Istio {source['chart']} {where}: {c.change} (chart {source.get('targetRevision')})")


def summarize(diff: TreeDiff, out: str = "generated") -> Summary:
    """Reviewer-level lines and warnings for every change in `diff`, in a stable order (a Namespace
    leaving the output is warned about in `namespace_warnings`' words)."""
    summary = Summary(warnings=namespace_warnings(diff, out))
    for change in sorted(diff.changes, key=lambda c: (c.key.folder, c.key.kind, c.key.namespace, c.key.name)):
        _describe(change, summary)
    summary.lines = list(dict.fromkeys(summary.lines))  # a shared object changes in several clusters
    summary.warnings = list(dict.fromkeys(summary.warnings))
    return summary
