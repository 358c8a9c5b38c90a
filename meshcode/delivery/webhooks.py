"""Webhooks (I/O edge): POST the canary's situation as JSON; the answer becomes a `Sample`.

Non-2xx is a failed check; no answer within the hook's timeout is one too ("unreachable").
"""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from meshcode.state.plan import HookType
from meshcode.state.canary import CanaryState, Sample
from meshcode.delivery.tickplan import HookView, TickTarget

if TYPE_CHECKING:
    from meshcode.delivery.targets import CanaryTarget
from meshcode.redact import redact


def payload(target: TickTarget, state: CanaryState, hook: HookView) -> dict[str, Any]:
    """What the hook is told: like Flagger's webhook body, plus meshcode's step and weight."""
    return {
        "name": target.name, "namespace": target.namespace, "mesh": target.mesh, "type": hook.type,
        "phase": state.phase, "metadata": {
            "stable": target.stable, "candidate": target.candidate, "step": str(state.step),
            "weight": str(state.weight), "clusters": ",".join(target.plan.clusters),
        },
    }


def call(hook: HookView, body: dict[str, Any], environ: Mapping[str, str] | None = None) -> Sample:
    """POST to the hook. The sample names it by `hook.label`: its URL (often a secret) is never recorded."""
    base = {"check": f"webhook:{hook.name}", "query": hook.label, "window": ""}
    url = hook.url if hook.url is not None else (os.environ if environ is None else environ).get(
        hook.url_env or "")
    if not url:
        return Sample(**base, status="unreachable", detail=f"environment variable {hook.url_env} is not set")

    def hide(text: str) -> str:
        return redact(text.replace(url, hook.label))

    try:
        request = urllib.request.Request(url, data=json.dumps(body, sort_keys=True).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=hook.timeout) as resp:
            return Sample(**base, value=float(resp.status))
    except urllib.error.HTTPError as e:
        return Sample(**base, value=float(e.code), detail=hide(e.reason) if isinstance(e.reason, str) else "")
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as e:
        return Sample(**base, status="unreachable", detail=hide(str(getattr(e, "reason", e))))


def call_hooks(target: TickTarget | CanaryTarget, state: CanaryState,
               hook_types: tuple[HookType, ...]) -> list[Sample]:
    t = target if isinstance(target, TickTarget) else target.tick
    return [call(h, payload(t, state, h)) for h in t.hooks if h.type in hook_types]
