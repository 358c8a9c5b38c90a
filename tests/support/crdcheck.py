#!/usr/bin/env python3
"""Independent check (copied unmodified but for this note and DEFAULT_CRDS from the team's
shared reference tools, tools/crdcheck.py; it shares no code with meshcode): validate Kubernetes manifests against CRD schemas the way an
API server would (structural OpenAPI v3 schema with strict unknown-field checks, plus
CEL x-kubernetes-validations rules).

needs: pip install jsonschema cel-python pyyaml
usage: crdcheck.py [--crds DIR]... PATH...   (default CRDs: the crds/ folder beside tools/)   (files or folders of *.yaml / *.yml / *.json)
prints one line per problem, then a summary line:
  crdcheck: N objects, K checked against a CRD, E errors, R CEL rules run, S CEL rules skipped
exit 0 when E == 0.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from pathlib import Path

import yaml
import jsonschema

try:
    import celpy
    from celpy import celtypes
except Exception:  # pragma: no cover
    celpy = None

HERE = Path(__file__).resolve().parent
DEFAULT_CRDS = HERE.parents[1] / "meshcode" / "_crds"  # the CRDs meshcode bundles

CORE_KINDS = {  # built-in kinds: checked only for the envelope
    "Namespace", "Service", "Deployment", "ConfigMap", "Secret", "ServiceAccount",
    "Pod", "StatefulSet", "DaemonSet", "Job", "CronJob", "Role", "RoleBinding",
    "ClusterRole", "ClusterRoleBinding", "NetworkPolicy", "PodDisruptionBudget",
    "HorizontalPodAutoscaler", "Kustomization", "Endpoints", "EndpointSlice",
}


def load_crds(dirs):
    index = {}
    for d in dirs:
        for p in sorted(Path(d).rglob("*.yaml")):
            for doc in yaml.safe_load_all(p.read_text()):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                spec = doc["spec"]
                group, kind = spec["group"], spec["names"]["kind"]
                for v in spec["versions"]:
                    schema = (v.get("schema") or {}).get("openAPIV3Schema")
                    if schema is not None:
                        index[(group, v["name"], kind)] = (schema, v.get("served", True))
    return index


def to_jsonschema(node):
    """OpenAPI v3 structural schema -> JSON Schema with API-server semantics."""
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k in ("x-kubernetes-validations", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
                 "x-kubernetes-map-type", "x-kubernetes-embedded-resource", "description", "format"):
            continue
        if k == "properties":
            out[k] = {pk: to_jsonschema(pv) for pk, pv in v.items()}
        elif k in ("items", "additionalProperties", "not") and isinstance(v, dict):
            out[k] = to_jsonschema(v)
        elif k in ("oneOf", "anyOf", "allOf"):
            out[k] = [to_jsonschema(x) for x in v]
        elif k in ("x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields", "nullable"):
            continue
        else:
            out[k] = v
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out = {"anyOf": [{"type": "integer"}, {"type": "string"}], **{k: v for k, v in out.items() if k != "anyOf"}}
    if node.get("type") == "object" and "properties" in node and "additionalProperties" not in node \
            and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


class Cel:
    def __init__(self):
        self.run = 0
        self.skipped = 0
        self.env = celpy.Environment() if celpy else None
        self.cache = {}

    def check(self, rule, value, path, errors, message):
        if self.env is None or "oldSelf" in rule:
            self.skipped += 1
            return
        try:
            prog = self.cache.get(rule)
            if prog is None:
                prog = self.env.program(self.env.compile(rule))
                self.cache[rule] = prog
            res = prog.evaluate({"self": celpy.json_to_cel(value)})
        except Exception as e:
            res = e
        if isinstance(res, Exception) or res is None:
            text = str(res)
            low = text.lower()
            if res is None or "undeclared reference" in text or "no such" in low or "unsupported" in low \
                    or "no matching overload" in low:
                self.skipped += 1  # a Kubernetes CEL extension this evaluator lacks
                return
            self.run += 1  # a runtime error rejects the object in the API server too
            errors.append(f"{path}: CEL rule could not evaluate ({message or rule}): {text[:120]}")
            return
        self.run += 1
        if not bool(res):
            errors.append(f"{path}: CEL rule failed: {message or rule}")


def apply_defaults(schema, value):
    """Structural defaulting, as the API server does before validation."""
    if not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for k, sub in props.items():
            if k not in value and isinstance(sub, dict) and "default" in sub:
                value[k] = copy.deepcopy(sub["default"])
        for k, sub in value.items():
            if k in props:
                apply_defaults(props[k], sub)
            elif isinstance(schema.get("additionalProperties"), dict):
                apply_defaults(schema["additionalProperties"], sub)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for sub in value:
            apply_defaults(schema["items"], sub)


def walk_cel(schema, value, path, cel, errors):
    if not isinstance(schema, dict) or value is None:
        return
    for v in schema.get("x-kubernetes-validations", []) or []:
        cel.check(v["rule"], value, path or "<root>", errors, v.get("message"))
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for k, sub in value.items():
            if k in props:
                walk_cel(props[k], sub, f"{path}.{k}", cel, errors)
            elif isinstance(schema.get("additionalProperties"), dict):
                walk_cel(schema["additionalProperties"], sub, f"{path}.{k}", cel, errors)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, sub in enumerate(value):
            walk_cel(schema["items"], sub, f"{path}[{i}]", cel, errors)


def iter_docs(paths):
    for p in paths:
        p = Path(p)
        files = [p] if p.is_file() else sorted(x for x in p.rglob("*") if x.suffix in (".yaml", ".yml", ".json"))
        for f in files:
            try:
                docs = list(yaml.safe_load_all(f.read_text()))
            except yaml.YAMLError as e:
                yield f, None, f"not YAML: {e}"
                continue
            for d in docs:
                if d is None:
                    continue
                if isinstance(d, dict) and d.get("kind") == "List":
                    for item in d.get("items", []):
                        yield f, item, None
                else:
                    yield f, d, None


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--crds", action="append", default=[])
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("paths", nargs="+")
    a = ap.parse_args(argv)
    index = load_crds(a.crds or [DEFAULT_CRDS])
    compiled = {}
    cel = Cel()
    n = checked = 0
    errors_total = 0
    for f, doc, err in iter_docs(a.paths):
        n += 1
        errors = []
        if err:
            errors.append(err)
        elif not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
            if f.name in ("kustomization.yaml", "kustomization.yml") or (isinstance(doc, dict) and doc.get("kind") == "Kustomization"):
                continue
            errors.append("not a Kubernetes object (no apiVersion/kind)")
        else:
            api, kind = doc["apiVersion"], doc["kind"]
            group, _, version = api.rpartition("/")
            md = doc.get("metadata") or {}
            if not md.get("name"):
                errors.append("metadata.name missing")
            key = (group, version, kind)
            if key in index:
                checked += 1
                schema, served = index[key]
                if not served:
                    errors.append(f"{api} {kind} is not served by this CRD version")
                if key not in compiled:
                    js = copy.deepcopy(to_jsonschema(schema))
                    # metadata is validated by the API server itself, not the CRD schema
                    js.setdefault("properties", {})["metadata"] = {"type": "object"}
                    js["properties"].setdefault("apiVersion", {"type": "string"})
                    js["properties"].setdefault("kind", {"type": "string"})
                    js["additionalProperties"] = True
                    compiled[key] = jsonschema.Draft7Validator(js)
                doc = copy.deepcopy(doc)
                apply_defaults(schema, doc)
                for e in compiled[key].iter_errors(doc):
                    loc = ".".join(str(x) for x in e.absolute_path)
                    errors.append(f"{loc or '<root>'}: {e.message[:300]}")
                walk_cel(schema, doc, "", cel, errors)
            elif kind == "IstioOperator":
                pass  # an istioctl/Helm install input, not an object the API server serves
            elif group.endswith("istio.io") or group.endswith("argoproj.io") or group.endswith("gateway.networking.k8s.io"):
                errors.append(f"no CRD serves {api} {kind}")
            elif kind not in CORE_KINDS:
                pass
        name = f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('namespace', '-')}/{(doc.get('metadata') or {}).get('name')}" if isinstance(doc, dict) else "?"
        for e in errors:
            errors_total += 1
            if not a.quiet:
                print(f"{f}: {name}: {e}")
    print(f"crdcheck: {n} objects, {checked} checked against a CRD, {errors_total} errors, "
          f"{cel.run} CEL rules run, {cel.skipped} CEL rules skipped")
    return 0 if errors_total == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
