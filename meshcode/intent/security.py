"""Security intent: declared calls between services (the basis of least privilege)."""
from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from meshcode.intent.base import IntentModel


class Call(IntentModel):
    """`this service calls target`, optionally only on some ports, methods and paths."""

    positional = ("target",)
    target: Any  # Service | ExternalService | "name" | "namespace/name"
    ports: tuple[int, ...] = ()
    methods: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()

    @field_validator("target")
    @classmethod
    def _target(cls, v: Any) -> Any:
        from meshcode.intent.edge import ExternalService
        from meshcode.intent.service import Service

        if isinstance(v, (Service, ExternalService)) or (isinstance(v, str) and v):
            return v
        raise ValueError(f"a call target must be a Service, an ExternalService or a name, got {v!r}")

    @property
    def target_name(self) -> str:
        return self.target if isinstance(self.target, str) else self.target.name
