"""Verbatim objects: passed through as written, owned and placed like any other intent.

The object keeps its own fields; meshcode adds its ownership label, the stack annotation (the
line that wrote it) and `meshcode.dev/verbatim`, which tells a reviewer (and the compile's
schema check) that this object was not derived from intent.
"""
from __future__ import annotations

import copy
from typing import Any

from meshcode.compile.context import CompileContext, placed, served_clusters
from meshcode.intent.topology import Cluster
from meshcode.intent.verbatim import Verbatim
from meshcode.plan import MANAGED_BY, STACK_ANNOTATION, VERBATIM_ANNOTATION, Resource


def verbatim_resource(ctx: CompileContext, v: Verbatim) -> Resource:
    obj: dict[str, Any] = copy.deepcopy(v.obj)
    meta = obj["metadata"]
    metadata: dict[str, Any] = {"name": meta["name"]}
    if "namespace" in meta:
        metadata["namespace"] = meta["namespace"]
    metadata["labels"] = {**(meta.get("labels") or {}), MANAGED_BY: "meshcode"}
    notes = {**(meta.get("annotations") or {}), VERBATIM_ANNOTATION: "true"}
    stack = ctx.rel(v.origin) if v.origin else None
    if stack:
        notes[STACK_ANNOTATION] = stack
    metadata["annotations"] = notes
    head = {"apiVersion": obj.pop("apiVersion"), "kind": obj.pop("kind"), "metadata": metadata}
    obj.pop("metadata")
    return Resource({**head, **obj}, v.origin)


def compile_verbatim(ctx: CompileContext, cluster: Cluster) -> list[Resource]:
    """The verbatim objects placed in this cluster (a remote's config lives in its primary)."""
    served = served_clusters(ctx.mesh, cluster)
    return [r for v in ctx.mesh.verbatim if placed(v.clusters, served)
            for r in ctx.once(("verbatim", id(v)), lambda v=v: [verbatim_resource(ctx, v)])]
