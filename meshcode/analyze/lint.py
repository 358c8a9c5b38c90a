"""`meshcode lint`: load YAML, check it like a compile would, optionally against CRD schemas.

Files and folders given together form one cluster's worth of objects (so a VirtualService in one
file sees the Services in another). A meshcode output folder (it holds `.meshcode-manifest`) is a
folder per cluster: each is checked on its own and its findings carry the cluster's name. Clusters
are loaded, checked and freed one after another, so memory follows the largest cluster, not the
fleet (unless --workloads compares every cluster with the workloads). A file whose bytes an earlier
cluster had (a fleet repeats nearly every object once per cluster) is not parsed again, and what
the checks derive from one manifest alone is computed once for all clusters holding it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable

from meshcode.analyze import analyze_resources
from meshcode.codes import check_failed
from meshcode.analyze.loader import ParseCache, load_paths
from meshcode.analyze.meshconfig import MeshConfig, from_resources, load_mesh_config
from meshcode.analyze.schema import BUNDLED_CRDS, CrdSchemas, bundled_crds, check_schemas, load_crds, schema_notes
from meshcode.analyze.workloads import check_clusters
from meshcode.errors import Finding
from meshcode.gcpause import gc_paused
from meshcode.plan import Resource

MANIFEST = ".meshcode-manifest"


@dataclass(frozen=True)
class LintResult:
    findings: list[Finding]
    objects: int
    files: int


def cluster_groups(paths: Iterable[Path]) -> dict[str, list[Path]]:
    """cluster name ('' for plain YAML) → the paths whose objects form that cluster."""
    groups: dict[str, list[Path]] = {}
    for path in paths:
        if path.is_dir() and (path / MANIFEST).is_file():
            for child in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
                groups.setdefault(child.name, []).append(child)
        else:
            groups.setdefault("", []).append(path)
    return groups


def lint(paths: Iterable[Path | str], crds: Iterable[Path | str] = (), *,
         schemas: CrdSchemas | None = None, validate_schemas: bool = True,
         workloads: list[Resource] | None = None, mesh_config: MeshConfig | Path | str | None = None) -> LintResult:
    """Every check over the objects under `paths`: schema validation against the bundled CRDs
    (plus `crds`, which take precedence) unless `validate_schemas` is off, and with workloads,
    the workload checks. The mesh config is `mesh_config` (a MeshConfig or a file), else the
    `istio` ConfigMap or IstioOperator among each cluster's objects, else Istio's defaults."""
    if mesh_config is not None and not isinstance(mesh_config, MeshConfig):
        mesh_config = load_mesh_config(mesh_config)
    crds = list(crds)
    if schemas is None and validate_schemas:
        schemas = load_crds([BUNDLED_CRDS, *crds]) if crds else bundled_crds()
    findings: list[Finding] = []
    objects = files = 0
    clusters: dict[str, list[Resource]] = {}
    cache = ParseCache()  # clusters share most files: each distinct text is parsed once
    memo: dict[tuple[str, int], tuple[Any, Any]] = {}  # per-manifest facts, shared by the clusters
    validated: dict[int, _Validated] = {}  # per-manifest schema findings, shared by the clusters
    for cluster, group in cluster_groups([Path(p) for p in paths]).items():
        with gc_paused():  # a cluster's objects live until its checks end: the collector has nothing to find
            resources, notes = load_paths(group, cache)
            live = {id(r.obj) for r in resources}  # facts of manifests no longer loaded are dropped
            memo = {key: value for key, value in memo.items() if key[1] in live}
            validated = {key: value for key, value in validated.items() if key in live}
            if workloads is not None:  # the workload checks compare clusters; otherwise one cluster at a time
                clusters[cluster] = resources
            findings += notes
            objects += len(resources)
            files += len({r.origin.file for r in resources if r.origin})
            services = [w for w in workloads or () if w.kind == "Service"]  # part of the cluster: hosts resolve
            mesh = mesh_config or from_resources(resources)
            findings += analyze_resources(resources, cluster, context=services, mesh=mesh, memo=memo)
            if schemas is not None:
                findings += _check_schemas_once(resources, schemas, cluster, validated)
            del resources  # peak memory: one cluster's objects, not the fleet's
    if schemas is not None:
        findings += schema_notes(schemas)
    if workloads is not None:
        try:
            findings += check_clusters(clusters, workloads)
        except Exception as e:  # noqa: BLE001 - any input gives findings, never a traceback
            findings.append(check_failed("the workload checks", e))
    return LintResult(sorted(findings, key=Finding.sort_key), objects, files)


_Validated = tuple[Any, list[Finding], int]
"""(manifest, its schema findings, CEL rules it skipped): the manifest is held so its id stays its own."""


def _check_schemas_once(resources: list[Resource], schemas: CrdSchemas, cluster: str,
                        validated: dict[int, _Validated]) -> list[Finding]:
    """check_schemas, with each manifest validated once per run: a manifest that several clusters
    (or files) share gets the findings of its first validation at its own file and cluster (schema
    findings read nothing but the manifest), and counts its skipped CEL rules again (MC5003 says
    how many were skipped in all)."""
    findings: list[Finding] = []
    for r in resources:
        done = validated.get(id(r.obj))
        if done is None:
            skipped = schemas.cel.skipped
            found = check_schemas([r], schemas, cluster)
            validated[id(r.obj)] = (r.obj, found, schemas.cel.skipped - skipped)
            findings += found
        else:
            _, found, skipped = done
            schemas.cel.skipped += skipped
            findings += [replace(f, location=r.origin, cluster=cluster) for f in found]
    return findings
