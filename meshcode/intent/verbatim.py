"""Verbatim: one Kubernetes object passed through as written, for config no other intent expresses.

`meshcode import` keeps every object it cannot turn into intent this way, so importing loses
nothing; users may write one by hand too. The object stays owned by meshcode (ownership label,
stack annotation, `meshcode.dev/verbatim`), is placed per cluster like any intent, and is
checked like every generated object (its CRD schema at the compile, then the shared analysis).
"""
from __future__ import annotations

import re
from typing import Any

from pydantic import JsonValue, field_validator

from meshcode.intent.base import DNS_LABEL_RE, DNSLabel, IntentModel
from meshcode.plan import CLUSTER_SCOPED, MANAGED_BY, STACK_ANNOTATION, VERBATIM_ANNOTATION

_KIND = re.compile(r"[A-Z][A-Za-z0-9]*\Z")
_API_VERSION = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?v[0-9]+((alpha|beta)[0-9]+)?\Z")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?\Z")
#: written by the API server or kubectl, never by the author of an object
SERVER_FIELDS = frozenset({"uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink",
                           "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences", "finalizers"})
KUBECTL_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
#: kinds meshcode writes itself, or that must never reach git
REFUSED_KINDS = {
    "Namespace": "meshcode writes every Namespace itself (injection labels, never-delete annotation)",
    "Secret": "secrets never go to git: create them out of band (External Secrets, kubectl)",
}
_OWN_METADATA = {"name", "namespace", "labels", "annotations"}


class Verbatim(IntentModel):
    """A Kubernetes object kept as written (`Mesh(verbatim=[...])`), in every cluster or `clusters`."""

    positional = ("obj",)
    obj: dict[str, JsonValue]
    clusters: tuple[DNSLabel, ...] | None = None

    @field_validator("obj")
    @classmethod
    def _object(cls, v: dict[str, Any]) -> dict[str, Any]:
        api, kind, meta = v.get("apiVersion"), v.get("kind"), v.get("metadata")
        if not isinstance(api, str) or not _API_VERSION.match(api):
            raise ValueError(f"apiVersion {api!r} is not a Kubernetes API version (e.g. 'networking.istio.io/v1')")
        if not isinstance(kind, str) or not _KIND.match(kind):
            raise ValueError(f"kind {kind!r} is not a Kubernetes kind (e.g. 'EnvoyFilter')")
        if kind in REFUSED_KINDS or kind.endswith("List"):
            raise ValueError(f"a {kind} cannot be verbatim: "
                             + REFUSED_KINDS.get(kind, "give its items one by one"))
        if not isinstance(meta, dict):
            raise ValueError("metadata must be a mapping with a name")
        name, namespace = meta.get("name"), meta.get("namespace")
        if not isinstance(name, str) or len(name) > 253 or not _NAME.match(name):
            raise ValueError(f"metadata.name {name!r} is not a valid object name (DNS-1123 subdomain)")
        if kind in CLUSTER_SCOPED:
            if namespace is not None:
                raise ValueError(f"a {kind} is cluster-scoped: drop metadata.namespace")
        elif not isinstance(namespace, str) or len(namespace) > 63 or not DNS_LABEL_RE.match(namespace):
            raise ValueError(f"metadata.namespace {namespace!r} must be a namespace name (a namespaced object is "
                             "applied where its namespace says, never where kubectl happens to point)")
        server = sorted((set(meta) & SERVER_FIELDS) | ({"status"} & set(v)))
        if server:
            raise ValueError(f"{', '.join(server)} {'is' if len(server) == 1 else 'are'} written by the API server, "
                             f"not by the object's author: remove {'it' if len(server) == 1 else 'them'}")
        for key in ("labels", "annotations"):
            value = meta.get(key, {})
            if not isinstance(value, dict) or not all(isinstance(x, str) for x in value.values()):
                raise ValueError(f"metadata.{key} must be a map of strings")
        labels, notes = meta.get("labels") or {}, meta.get("annotations") or {}
        if MANAGED_BY in labels:
            raise ValueError(f"label {MANAGED_BY} is meshcode's to set (the object is owned by meshcode)")
        mine = sorted({STACK_ANNOTATION, VERBATIM_ANNOTATION, KUBECTL_ANNOTATION} & set(notes))
        if mine:
            raise ValueError(f"annotation {mine[0]} is written by {'kubectl' if mine[0] == KUBECTL_ANNOTATION else 'meshcode'}"
                             ": remove it")
        other = sorted(set(meta) - _OWN_METADATA)
        if other:
            raise ValueError(f"metadata.{other[0]} is not kept by a verbatim object (name, namespace, labels and "
                             "annotations are)")
        return v

    @property
    def kind(self) -> str:
        return str(self.obj["kind"])

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])  # type: ignore[index]

    @property
    def namespace(self) -> str:
        return str(self.obj["metadata"].get("namespace") or "")  # type: ignore[union-attr]
