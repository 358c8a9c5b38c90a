"""The SDK's intent models. Importing any of them imports this package first, which resolves the
forward references between modules (a Route's `to` names a Service, a Service's `calls` are
Calls, a Canary's `rollout` is a Rollout) once every model exists, so the modules import one
way — base ← resilience ← traffic ← rollout, service ← edge ← security, telemetry ← topology —
and every field is typed precisely (editor completion, mypy, `model_json_schema()`).
"""
from __future__ import annotations

import importlib
import pkgutil

from pydantic import BaseModel


def _rebuild() -> None:
    """Every intent model, rebuilt with every intent name in scope (the forward references)."""
    modules = [importlib.import_module(f"{__name__}.{m.name}") for m in pkgutil.iter_modules(__path__)]
    names: dict[str, object] = {}
    for m in modules:
        names.update({k: v for k, v in vars(m).items() if not k.startswith("__")})
    for model in [v for v in names.values() if isinstance(v, type) and issubclass(v, BaseModel)
                  and v.__module__.startswith(f"{__name__}.")]:
        model.model_rebuild(force=True, _types_namespace=names)


_rebuild()
