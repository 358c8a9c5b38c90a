"""The mesh config (istiod's MeshConfig) some checks depend on: telemetry providers, proxy metadata.

istioctl analyze reads it from the cluster's `istio` ConfigMap or a `--meshConfigFile`. meshcode
lint takes it the same ways, from files: `--mesh-config FILE` (a bare MeshConfig, an `istio`
ConfigMap or an IstioOperator), or an `istio`/`istio-<rev>` ConfigMap or an IstioOperator among
the linted objects. Without one, Istio's defaults apply (`DEFAULT`). Pure, apart from `load_mesh_config`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from meshcode import safeyaml

from meshcode.errors import MeshConfigError
from meshcode.plan import Resource

# Istio's default mesh config defines these extension providers (pkg/config/mesh DefaultMeshConfig)
BUILTIN_PROVIDERS = frozenset({"envoy", "prometheus", "stackdriver"})


@dataclass(frozen=True)
class MeshConfig:
    """The fields of a MeshConfig the checks read; `source` says where it came from."""

    raw: dict[str, Any] = field(default_factory=dict)
    source: str = "Istio's defaults"

    def _dict(self, *path: str) -> dict[str, Any]:
        node: Any = self.raw
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        return node if isinstance(node, dict) else {}

    @property
    def extension_providers(self) -> dict[str, str]:
        """provider name → provider type (the one key beside `name`, e.g. 'lightstep', 'opentelemetry')."""
        out: dict[str, str] = {}
        for p in self.raw.get("extensionProviders") or ():
            if isinstance(p, dict) and isinstance(p.get("name"), str):
                kinds = [k for k in p if k != "name"]
                out[p["name"]] = kinds[0] if kinds else ""
        return out

    def default_providers(self, section: str) -> list[str]:
        """defaultProviders.<section> ('accessLogging', 'tracing', 'metrics')."""
        value = self._dict("defaultProviders").get(section)
        return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []

    def proxy_metadata(self, key: str) -> str | None:
        value = self._dict("defaultConfig", "proxyMetadata").get(key)
        return str(value) if value is not None else None

    @property
    def auto_allocates_addresses(self) -> bool:
        """Sidecars capture DNS and auto-allocate ServiceEntry addresses (Istio's IST0134 exemption)."""
        if self.proxy_metadata("ISTIO_META_DNS_CAPTURE") != "true":
            return False
        return "true" in (self.proxy_metadata("ISTIO_META_DNS_AUTO_ALLOCATE"),
                          self.proxy_metadata("PILOT_ENABLE_IP_AUTOALLOCATE"))

    def knows_provider(self, name: str) -> bool:
        return name in BUILTIN_PROVIDERS or name in self.extension_providers


DEFAULT = MeshConfig()


def _from_object(doc: Any) -> dict[str, Any] | None:
    """The MeshConfig inside an `istio` ConfigMap (data.mesh, a YAML string) or an IstioOperator
    (spec.meshConfig); None for other objects."""
    if not isinstance(doc, dict):
        return None
    kind = doc.get("kind")
    if kind == "ConfigMap":
        name = (doc.get("metadata") or {}).get("name") if isinstance(doc.get("metadata"), dict) else None
        mesh = (doc.get("data") or {}).get("mesh") if isinstance(doc.get("data"), dict) else None
        if isinstance(name, str) and (name == "istio" or name.startswith("istio-")) and isinstance(mesh, str):
            try:
                parsed = safeyaml.load(mesh)
            except yaml.YAMLError:
                return None
            return parsed if isinstance(parsed, dict) else {}
        return None
    if kind == "IstioOperator":
        spec = doc.get("spec")
        mesh = spec.get("meshConfig") if isinstance(spec, dict) else None
        return mesh if isinstance(mesh, dict) else {}
    return None


def from_resources(resources: Iterable[Resource]) -> MeshConfig | None:
    """The mesh config an `istio` ConfigMap or IstioOperator among the objects carries (the first)."""
    for r in resources:
        if r.kind in ("ConfigMap", "IstioOperator"):
            raw = _from_object(r.obj)
            if raw is not None:
                where = f"{r.origin.file}:{r.origin.line}" if r.origin else f"{r.kind} {r.name}"
                return MeshConfig(raw, where)
    return None


def load_mesh_config(path: Path | str) -> MeshConfig:
    """A --mesh-config file: a MeshConfig document, an `istio` ConfigMap or an IstioOperator."""
    path = Path(path)
    try:
        docs = [d for d in safeyaml.load_all(path.read_text(encoding="utf-8")) if d is not None]
    except (OSError, UnicodeDecodeError) as e:
        raise MeshConfigError(f"cannot read mesh config {path}: {e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise MeshConfigError(f"mesh config {path} is not valid YAML"
                              + (f" (line {mark.line + 1})" if mark else "")
                              + (f": {e.problem}" if isinstance(e, safeyaml.YamlLimitError) else "")) from None
    for doc in docs:
        raw = _from_object(doc)
        if raw is not None:
            return MeshConfig(raw, str(path))
    if len(docs) == 1 and isinstance(docs[0], dict) and "kind" not in docs[0]:
        return MeshConfig(docs[0], str(path))
    if not docs:
        return MeshConfig({}, str(path))
    raise MeshConfigError(f"{path} holds no mesh config: give a MeshConfig document, the `istio` ConfigMap "
                          "(data.mesh) or an IstioOperator (spec.meshConfig)")
