"""Helm values of Istio's charts, checked against the keys the chart itself defines.

Helm ignores a values key no template reads, so a typo (`global.meshId`) installs a control
plane without the setting and says nothing. Istio's charts declare every value they read in
`values.yaml` (under `_internal_defaults_do_not_set`, merged by the chart's `zzz_profile.yaml`),
so a key is known when the chart's defaults have it. Below a key whose default is not a
non-empty mapping (`env: {}`, lists, scalars), and below the maps listed in OPEN_MAPS (labels,
annotations, resources, the MeshConfig passed through), the chart takes any content.

meshcode ships the values files of the Istio release it targets (`meshcode/_charts/`); an
Application naming another release's chart is checked against the nearest shipped one of the
same minor version, and not at all for another minor (a note says so).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from meshcode.codes import level_of
from meshcode.errors import Finding
from meshcode.plan import Resource

CHARTS = Path(__file__).resolve().parents[1] / "_charts"
ISTIO_CHARTS = frozenset({"base", "istiod", "cni", "ztunnel", "gateway"})
# Values whose content is the user's (labels, annotations, resources, Istio's MeshConfig passed
# through as YAML): their defaults hold examples, not the list of allowed keys.
OPEN_MAPS = frozenset({"meshConfig", "resources", "defaultResources", "labels", "annotations", "podAnnotations",
                       "podLabels", "nodeSelector", "affinity", "selectorLabels", "networkGatewayPorts"})
# Top-level values the charts' zzz_profile.yaml reads besides the defaults.
PROFILE_KEYS = frozenset({"profile", "platform", "compatibilityVersion", "global"})
ISTIO_REPOS = ("https://istio-release.storage.googleapis.com/charts", "oci://gcr.io/istio-release/charts")


def shipped_release(version: str) -> str | None:
    """The shipped chart release to check `version` against: same minor version, else None."""
    minor = ".".join(version.split(".")[:2])
    shipped = sorted(p.name.removeprefix("istio-") for p in CHARTS.glob("istio-*"))
    same = [v for v in shipped if ".".join(v.split(".")[:2]) == minor]
    return same[-1] if same else None


@lru_cache(maxsize=16)
def chart_defaults(release: str, chart: str) -> dict[str, Any]:
    """The chart's value defaults (what `_internal_defaults_do_not_set` holds)."""
    with open(CHARTS / f"istio-{release}" / chart / "values.yaml", encoding="utf-8") as f:
        values = yaml.load(f, Loader=yaml.CSafeLoader) or {}
    return values.get("_internal_defaults_do_not_set", values)


@lru_cache(maxsize=16)
def chart_profiles(release: str, chart: str) -> frozenset[str]:
    """The `profile` values the chart accepts (its files/profile-<name>.yaml)."""
    folder = CHARTS / f"istio-{release}" / chart / "files"
    names = (p.name.removeprefix("profile-").removesuffix(".yaml") for p in folder.glob("profile-*.yaml"))
    return frozenset(n for n in names if not n.startswith(("compatibility-version-", "platform-")))


def unknown_keys(values: Any, defaults: Any, path: str = "") -> Iterator[str]:
    """Dotted paths of keys in `values` that the chart's defaults do not define."""
    if not isinstance(values, dict) or not isinstance(defaults, dict) or not defaults:
        return
    for key, value in values.items():
        here = f"{path}.{key}" if path else str(key)
        if key not in defaults:
            if not path and key in PROFILE_KEYS:
                continue
            yield here
        elif key not in OPEN_MAPS:
            yield from unknown_keys(value, defaults[key], here)


def _sources(spec: dict[str, Any]) -> list[dict[str, Any]]:
    sources = spec.get("sources")
    found = [s for s in sources if isinstance(s, dict)] if isinstance(sources, list) else []
    source = spec.get("source")
    if isinstance(source, dict):
        found.append(source)
    return found


def check_istio_charts(resources: Iterable[Resource], cluster: str = "",
                       locate: Any = lambda r: r.origin) -> list[Finding]:
    """MC5141 for every values key an Istio chart does not define, in every Argo CD Application."""
    findings: list[Finding] = []
    for r in resources:
        if r.kind != "Application" or not r.api_version.startswith("argoproj.io/"):
            continue
        spec = r.obj.get("spec")
        for source in _sources(spec if isinstance(spec, dict) else {}):
            chart, repo, version = source.get("chart"), source.get("repoURL"), source.get("targetRevision")
            if not isinstance(chart, str) or chart not in ISTIO_CHARTS or not isinstance(repo, str) \
                    or repo.rstrip("/") not in ISTIO_REPOS:
                continue
            helm = source.get("helm")
            values = helm.get("valuesObject") if isinstance(helm, dict) else None
            release = shipped_release(version) if isinstance(version, str) else None
            if not isinstance(values, dict) or release is None:
                continue
            profile = values.get("profile")
            if profile is not None and (not isinstance(profile, str) or profile not in chart_profiles(release, chart)):
                findings.append(Finding(
                    "MC5141", level_of("MC5141"),
                    f"Helm value profile={profile!r} is not a profile of Istio's {chart} chart ({release}; profiles: "
                    f"{', '.join(sorted(chart_profiles(release, chart)))})", r.kind, r.namespace, r.name, locate(r), cluster))
            for key in unknown_keys(values, chart_defaults(release, chart)):
                findings.append(Finding(
                    "MC5141", level_of("MC5141"),
                    f"Helm value {key!r} is not a value of Istio's {chart} chart ({release}): Helm would "
                    "ignore it", r.kind, r.namespace, r.name, locate(r), cluster))
    return findings

