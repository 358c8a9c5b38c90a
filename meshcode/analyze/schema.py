"""Validate objects against CRD schemas the way a Kubernetes API server does.

The structural OpenAPI v3 schema of the object's (group, version, kind) is compiled once into a
tree of `Node`s. Validating an object then: prunes nulls of non-nullable fields, applies
`default`s (copy-on-write: the loaded object is never changed), rejects fields the schema does not
declare (strict field validation), checks types (`x-kubernetes-int-or-string`,
`x-kubernetes-preserve-unknown-fields`), value constraints, `oneOf`/`anyOf`/`allOf`/`not`,
list-type uniqueness, and finally evaluates the CEL `x-kubernetes-validations` rules.

Used by `meshcode lint` (the bundled CRDs by default, plus any `--crds` the user gives).
"""
from __future__ import annotations

import copy
import hashlib
from functools import lru_cache
import json
import marshal
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from meshcode.analyze.cel import CelRules
from meshcode.analyze.cel import available as cel_available
from meshcode.codes import check_failed, level_of
from meshcode.analyze.loader import load_paths
from meshcode.analyze.usercache import cache_dir, save_json
from meshcode.errors import Finding
from meshcode.plan import Resource
from meshcode.regex import RegexError, compile_re2

try:  # libyaml's parser: the CRDs are large
    _CRD_LOADER: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _CRD_LOADER = yaml.SafeLoader

_TYPE_NAMES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}


# Integer formats of the CRD schemas: Istio's types are protobuf messages, and decoding one
# refuses a number outside its field's type (the API server does not check `format` itself).
INTEGER_FORMATS: dict[str, tuple[int, int, str]] = {
    "int32": (-2**31, 2**31 - 1, "int32"), "uint32": (0, 2**32 - 1, "uint32"),
    "int64": (-2**63, 2**63 - 1, "int64"), "uint64": (0, 2**64 - 1, "uint64"),
}


def _type_error(errors: list[str], since: int) -> bool:
    """Whether a value of the wrong type was found below this node since `since`.

    As the Kubernetes API server (a type error blocks CEL validation): a rule is written for
    values of its schema's types, and cel-python's error for a macro failing on many wrongly typed
    items nests the previous errors' texts, growing exponentially (hostile YAML in lint).
    """
    return any(": must be of type " in e or ": must be an integer or a string, got " in e for e in errors[since:])


def _json_type(value: Any) -> str:
    return "null" if value is None else _TYPE_NAMES.get(type(value), type(value).__name__)


def _is_type(value: Any, t: str) -> bool:
    if t == "object":
        return isinstance(value, dict)
    if t == "array":
        return isinstance(value, list)
    if t == "string":
        return isinstance(value, str)
    if t == "boolean":
        return isinstance(value, bool)
    if t == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return True


def _same(a: Any, b: Any) -> bool:
    """JSON equality: 1 and True differ, 1 and 1.0 do not."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _as_json(value: Any) -> Any:
    """The value as the API server sees it: JSON, where every mapping key is a string."""
    if isinstance(value, dict):
        return {str(k): _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    return value


def _json(value: Any) -> str:
    """Canonical JSON text of any loaded value (keys sorted, whatever their YAML type)."""
    return json.dumps(_as_json(value), sort_keys=True, default=str)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _schema_pattern(pattern: Any) -> Any:
    """A CRD `pattern` as the API server runs it: Go's regexp, i.e. RE2 syntax, unanchored search.

    (RE2's `$` is the end of the text, never before a final newline as in Python's `re`.)
    A pattern RE2 rejects could not be in a CRD the API server accepted: it checks nothing.
    """
    if not isinstance(pattern, str):
        return None
    try:
        return compile_re2(pattern)
    except RegexError:
        return None


_ACCEPTS: dict[str, frozenset[type]] = {
    "object": frozenset({dict}), "array": frozenset({list}), "string": frozenset({str}),
    "boolean": frozenset({bool}), "integer": frozenset({int}), "number": frozenset({int, float}),
}
_NO_CHILDREN: dict[str, Any] = {}
NODE_MEMO = True  # False: schema nodes built from now on validate every value afresh (tests compare)
_NODE_MEMO_ENTRIES = 20_000  # per schema node
_MEMO_TRIAL = 64  # looks after which a node whose values repeat less than half the time stops


class Children:
    """A node's properties, each compiled into a Node when first needed: a 1.4 MB CRD has
    thousands of nodes, and validating one object touches a few of them."""

    __slots__ = ("raw", "built", "structural")

    def __init__(self, raw: dict[str, Any], structural: bool):
        self.raw, self.structural = raw, structural
        self.built: dict[str, Node] = {}

    def __contains__(self, key: object) -> bool:
        return key in self.built or key in self.raw

    def __getitem__(self, key: str) -> "Node":
        node = self.built.get(key)
        if node is None:
            node = self.built[key] = Node(self.raw[key], self.structural)
        return node

    def with_nodes(self, nodes: dict[str, "Node"]) -> "Children":
        out = Children(self.raw, self.structural)
        out.built = {**self.built, **nodes}
        return out


class Node:
    """One compiled schema node. `structural` nodes default and prune; value-validation nodes
    (inside oneOf/anyOf/allOf/not) only test."""

    __slots__ = ("type", "nullable", "props", "required", "additional", "items", "enum", "pattern", "pattern_text",
                 "min_length", "max_length", "minimum", "maximum", "exclusive_min", "exclusive_max",
                 "min_items", "max_items", "min_props", "max_props", "one_of", "any_of", "all_of", "not_",
                 "int_or_string", "preserve", "defaults", "rules", "list_type", "map_keys", "structural",
                 "int_range", "accepts", "scalar_checks", "combinators", "strict", "leaf_types", "walk_keys", "object_extras", "memo", "memo_looks", "memo_hits")

    def __init__(self, schema: dict[str, Any], structural: bool = True):
        s = schema if isinstance(schema, dict) else {}
        self.structural = structural
        self.type: str | None = s.get("type")
        self.nullable = bool(s.get("nullable"))
        self.int_or_string = bool(s.get("x-kubernetes-int-or-string"))
        self.preserve = bool(s.get("x-kubernetes-preserve-unknown-fields"))
        props = s.get("properties")
        self.props: Children | None = Children(props, structural) if isinstance(props, dict) else None
        self.defaults = {k: v["default"] for k, v in (props or {}).items()
                         if structural and isinstance(v, dict) and "default" in v}
        self.required: tuple[str, ...] = tuple(s.get("required") or ())
        add = s.get("additionalProperties")
        self.additional: Node | bool | None = Node(add, structural) if isinstance(add, dict) else add
        self.items = Node(s["items"], structural) if isinstance(s.get("items"), dict) else None
        self.enum: list[Any] | None = s.get("enum")
        self.pattern_text = s.get("pattern")
        self.pattern = _schema_pattern(s.get("pattern"))
        self.int_range = INTEGER_FORMATS.get(s.get("format")) if s.get("type") == "integer" else None
        self.min_length, self.max_length = s.get("minLength"), s.get("maxLength")
        self.minimum, self.maximum = s.get("minimum"), s.get("maximum")
        self.exclusive_min, self.exclusive_max = bool(s.get("exclusiveMinimum")), bool(s.get("exclusiveMaximum"))
        self.min_items, self.max_items = s.get("minItems"), s.get("maxItems")
        self.min_props, self.max_props = s.get("minProperties"), s.get("maxProperties")
        self.one_of = [Node(x, False) for x in s.get("oneOf") or ()]
        self.any_of = [Node(x, False) for x in s.get("anyOf") or ()]
        self.all_of = [Node(x, False) for x in s.get("allOf") or ()]
        self.not_ = Node(s["not"], False) if isinstance(s.get("not"), dict) else None
        self.rules = [(r["rule"], r.get("message") or f"failed rule: {r['rule']}", r.get("fieldPath") or "")
                      for r in s.get("x-kubernetes-validations") or () if structural and isinstance(r, dict)
                      and isinstance(r.get("rule"), str)]
        self.list_type: str | None = s.get("x-kubernetes-list-type")
        self.map_keys: tuple[str, ...] = tuple(s.get("x-kubernetes-list-map-keys") or ())
        # What a value of this node needs, decided once here rather than on every value:
        # the Python types that pass the type check at a glance (others take the exact test),
        # whether scalar constraints or combinators apply at all, whether unknown fields are errors.
        self.accepts = _ACCEPTS.get(self.type or "", frozenset())
        self.scalar_checks = any(x is not None for x in (
            self.enum, self.pattern, self.min_length, self.max_length, self.minimum, self.maximum, self.int_range))
        self.combinators = bool(self.one_of or self.any_of or self.all_of or self.not_ is not None)
        # The types of value for which check() does nothing at all (a string with no constraint,
        # say): its parent skips the call. Floats always have their finiteness checked.
        trivial = self.type in ("string", "boolean", "integer", "number") and not (
            self.scalar_checks or self.combinators or self.rules or self.int_or_string)
        self.leaf_types = self.accepts - {float} if trivial else frozenset()
        self.strict = self.walk_keys = False
        self.set_props(self.props)
        self.object_extras = bool(self.defaults or self.required or self.min_props is not None
                                  or self.max_props is not None)
        # Valid containers seen here, by content (see check); only structural nodes keep them.
        self.memo: dict[bytes, tuple[int, int]] | None = {} \
            if NODE_MEMO and structural and self.type in ("object", "array") else None
        self.memo_looks = self.memo_hits = 0

    def set_props(self, props: Children | None) -> None:
        """Its properties (the root's gain the envelope's), and so whether unknown fields are errors."""
        self.props = props
        self.strict = self.structural and not self.preserve and self.additional is not True \
            and (props is not None or self.additional is False)
        # No properties, no schema for others, unknown ones allowed: nothing to look at per key.
        self.walk_keys = props is not None or isinstance(self.additional, Node) or self.strict

    # -- validation ------------------------------------------------------------------------------
    def check(self, value: Any, path: str, errors: list[str], cel: CelRules | None) -> Any:
        """Validate `value`; returns it with defaults applied (a new container only where changed)."""
        if value is None:
            if not self.nullable and self.type is not None:
                errors.append(f"{path or '<root>'}: must be of type {self.type}, got null")
            return value
        kind = type(value)
        if self.int_or_string:
            if not (isinstance(value, (int, str)) and not isinstance(value, bool)):
                errors.append(f"{path}: must be an integer or a string, got {_json_type(value)}")
                return value
        elif self.type is not None and kind not in self.accepts and not _is_type(value, self.type):
            errors.append(f"{path or '<root>'}: must be of type {self.type}, got {_json_type(value)}")
            return value
        if self.memo is not None and cel is not None and (kind is dict or kind is list):
            return self._check_memoised(value, path, errors, cel)
        return self._check_value(value, kind, path, errors, cel)

    def _check_memoised(self, value: Any, path: str, errors: list[str], cel: CelRules) -> Any:
        """check(), remembering the containers found valid here by their content: a fleet's objects
        repeat the same sub-structures (a traffic policy, a subset list, a port rule) thousands
        of times. Only what validated cleanly and unchanged (no default applied) is kept; a hit
        counts the CEL rules it stands for. Validation is a pure function of (schema node, value),
        and marshal's bytes tell apart what JSON does (key order, 1 vs 1.0 vs true). A node whose
        values rarely repeat (a spec holding a service's name) stops keying them."""
        memo = self.memo
        try:
            key = marshal.dumps(value, 2)  # version 2: no back-references, same value same bytes
        except ValueError:  # a type marshal does not take: validated as it is
            return self._check_value(value, type(value), path, errors, cel)
        self.memo_looks += 1
        hit = memo.get(key)  # type: ignore[union-attr]
        if hit is not None:
            self.memo_hits += 1
            cel.run += hit[0]
            cel.skipped += hit[1]
            return value
        found, run, skipped = len(errors), cel.run, cel.skipped
        checked = self._check_value(value, type(value), path, errors, cel)
        if len(errors) == found and checked is value:
            if len(memo) >= _NODE_MEMO_ENTRIES:  # type: ignore[arg-type]
                memo.clear()  # type: ignore[union-attr]
            memo[key] = (cel.run - run, cel.skipped - skipped)  # type: ignore[index]
        if self.memo_looks >= _MEMO_TRIAL and 2 * self.memo_hits < self.memo_looks:
            self.memo = None
        return checked

    def _check_value(self, value: Any, kind: type, path: str, errors: list[str], cel: CelRules | None) -> Any:
        found = len(errors)
        if kind is dict or (kind is not list and isinstance(value, dict)):
            value = self._check_object(value, path, errors, cel)
        elif kind is list or isinstance(value, list):
            value = self._check_array(value, path, errors, cel)
        if self.scalar_checks or kind is float:
            self._check_scalar(value, path, errors)
        if self.combinators:
            self._check_combinators(value, path, errors)
        if cel is not None and self.rules and not _type_error(errors, found):
            for rule, message, field_path in self.rules:
                why = cel.check(rule, value)
                if why is not None:
                    where = path + field_path if field_path else path
                    errors.append(f"{where or '<root>'}: Invalid value: {message}"
                                  + (f" ({why})" if why != "rule failed" else ""))
        return value

    def _child(self, key: str) -> "Node | None":
        if self.props is not None and key in self.props:
            return self.props[key]
        return self.additional if isinstance(self.additional, Node) else None

    def _check_object(self, value: dict[str, Any], path: str, errors: list[str], cel: CelRules | None
                      ) -> dict[str, Any]:
        out: dict[str, Any] | None = None
        built = self.props.built if self.props is not None else _NO_CHILDREN
        structural = self.structural
        for key, child_value in value.items() if self.walk_keys else ():
            child = built.get(key)
            if child is None:
                child = self._child(key)
                if child is None:
                    if self.strict:
                        errors.append(f"{path}.{key}: unknown field (not declared in the schema)" if path
                                      else f"{key}: unknown field (not declared in the schema)")
                    continue
            if child_value is None and structural and not child.nullable:
                out = dict(value) if out is None else out  # the API server prunes it, then defaults
                del out[key]
                continue
            if type(child_value) in child.leaf_types:
                continue
            checked = child.check(child_value, f"{path}.{key}" if path else key, errors, cel)
            if checked is not child_value:
                out = dict(value) if out is None else out
                out[key] = checked
        current = value if out is None else out
        if not self.object_extras:
            return current
        if self.defaults:
            for key, default in self.defaults.items():
                if key not in current:
                    out = dict(value) if out is None else out
                    out[key] = self.props[key].check(copy.deepcopy(default), _join(path, key), errors, cel)  # type: ignore[index]
                    current = out
        for key in self.required:
            if key not in current:
                errors.append(f"{_join(path, key)}: Required value")
        if self.min_props is not None and len(current) < self.min_props:
            errors.append(f"{path}: must have at least {self.min_props} properties")
        if self.max_props is not None and len(current) > self.max_props:
            errors.append(f"{path}: must have at most {self.max_props} properties")
        return current

    def _check_array(self, value: list[Any], path: str, errors: list[str], cel: CelRules | None) -> list[Any]:
        out: list[Any] | None = None
        if self.items is not None:
            items, leaf_types = self.items, self.items.leaf_types
            for i, item in enumerate(value):
                if type(item) in leaf_types:
                    continue
                checked = items.check(item, f"{path}[{i}]", errors, cel)
                if checked is not item:
                    out = list(value) if out is None else out
                    out[i] = checked
        current = value if out is None else out
        if self.min_items is not None and len(current) < self.min_items:
            errors.append(f"{path}: must have at least {self.min_items} items")
        if self.max_items is not None and len(current) > self.max_items:
            errors.append(f"{path}: must have at most {self.max_items} items")
        if self.list_type in ("set", "map"):
            seen: set[str] = set()
            for i, item in enumerate(current):
                key = item if self.list_type == "set" else {k: item.get(k) for k in self.map_keys} \
                    if isinstance(item, dict) else item
                text = _json(key)
                if text in seen:
                    errors.append(f"{path}[{i}]: Duplicate value: {text}")
                seen.add(text)
        return current

    def _check_scalar(self, value: Any, path: str, errors: list[str]) -> None:
        if self.enum is not None and not any(_same(value, e) for e in self.enum):
            shown = ", ".join(json.dumps(e) for e in self.enum)
            errors.append(f"{path}: Unsupported value: {_json(value)[:200]}: supported values: {shown}")
        if isinstance(value, str):
            if self.pattern is not None and not self.pattern.search(value):
                errors.append(f"{path}: must match the pattern {self.pattern_text!r}")
            if self.min_length is not None and len(value) < self.min_length:
                errors.append(f"{path}: must be at least {self.min_length} characters long")
            if self.max_length is not None and len(value) > self.max_length:
                errors.append(f"{path}: may not be longer than {self.max_length} characters")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if self.minimum is not None and (value < self.minimum or (self.exclusive_min and value == self.minimum)):
                errors.append(f"{path}: should be greater than {'' if self.exclusive_min else 'or equal to '}"
                              f"{self.minimum}")
            if self.maximum is not None and (value > self.maximum or (self.exclusive_max and value == self.maximum)):
                errors.append(f"{path}: should be less than {'' if self.exclusive_max else 'or equal to '}"
                              f"{self.maximum}")
            if isinstance(value, float) and not math.isfinite(value):
                errors.append(f"{path}: must be a finite number")
            elif self.int_range is not None and not self.int_range[0] <= value <= self.int_range[1]:
                errors.append(f"{path}: {value} is out of range for its format ({self.int_range[2]}: "
                              f"{self.int_range[0]} to {self.int_range[1]})")

    def _passes(self, value: Any) -> bool:
        errors: list[str] = []
        self.check(value, "", errors, None)
        return not errors

    def _check_combinators(self, value: Any, path: str, errors: list[str]) -> None:
        where = path or "<root>"
        if self.one_of:
            passing = sum(1 for n in self.one_of if n._passes(value))
            if passing != 1:
                errors.append(f"{where}: must match exactly one schema in oneOf (matches {passing})")
        if self.any_of and not any(n._passes(value) for n in self.any_of):
            errors.append(f"{where}: must match at least one schema in anyOf")
        for n in self.all_of:
            if not n._passes(value):
                errors.append(f"{where}: must match every schema in allOf")
                break
        if self.not_ is not None and self.not_._passes(value):
            errors.append(f"{where}: must not match the schema in not")


ENVELOPE = {"apiVersion": Node({"type": "string"}), "kind": Node({"type": "string"}),
            "metadata": Node({"type": "object", "x-kubernetes-preserve-unknown-fields": True})}


@dataclass
class CrdSchemas:
    """The schemas of every loaded CRD version, and their compiled validators (built on first use)."""

    schemas: dict[tuple[str, str, str], tuple[dict[str, Any], bool]] = field(default_factory=dict)
    groups: set[str] = field(default_factory=set)
    cel: CelRules = field(default_factory=CelRules)
    _compiled: dict[tuple[str, str, str], Node] = field(default_factory=dict)
    _pending: dict[tuple[str, str], Callable[[], Any]] = field(default_factory=dict)
    checked: int = 0

    def add_lazy(self, group: str, kind: str, load: Callable[[], Any]) -> None:
        """A CRD read only when an object of its kind is first validated (`load` gives it)."""
        self.groups.add(group)
        self._pending[(group, kind)] = load

    def add_crd(self, crd: dict[str, Any]) -> None:
        spec = crd.get("spec") or {}
        group, kind = spec.get("group"), (spec.get("names") or {}).get("kind")
        if not isinstance(group, str) or not isinstance(kind, str):
            return
        self.groups.add(group)
        self._pending.pop((group, kind), None)  # a CRD given explicitly replaces the bundled one
        for v in spec.get("versions") or ():
            schema = ((v.get("schema") or {}).get("openAPIV3Schema"))
            if isinstance(schema, dict) and isinstance(v.get("name"), str):
                self.schemas[(group, v["name"], kind)] = (schema, v.get("served", True) is not False)

    def validator(self, key: tuple[str, str, str]) -> Node:
        node = self._compiled.get(key)
        if node is None:
            node = self._compiled[key] = Node(self.schemas[key][0])
            # The envelope is the API server's own business (ObjectMeta is validated by it, not
            # by the CRD schema), so the root always accepts it, whatever the schema declares.
            node.set_props((node.props or Children({}, True)).with_nodes(ENVELOPE))
        return node

    def validate(self, obj: dict[str, Any]) -> list[str] | None:
        """Problems with `obj`, or None when no loaded CRD governs its API group."""
        api, kind = obj.get("apiVersion", ""), obj.get("kind", "")
        group, _, version = str(api).rpartition("/")
        key = (group, version, kind)
        if self._pending and isinstance(kind, str) and (group, kind) in self._pending:
            crd = self._pending.pop((group, kind))()
            if isinstance(crd, dict):
                self.add_crd(crd)
        if key not in self.schemas:
            return [f"no CRD serves {api} {kind}"] if group in self.groups else None
        self.checked += 1
        schema, served = self.schemas[key]
        errors: list[str] = [] if served else [f"{api} {kind} is not served by this CRD version"]
        metadata = obj.get("metadata")
        if not isinstance(metadata, dict) or not (metadata.get("name") or metadata.get("generateName")):
            errors.append("metadata.name: Required value")
        self.validator(key).check(obj, "", errors, self.cel)
        return errors


def load_crds(paths: Iterable[Path | str]) -> CrdSchemas:
    """Every CustomResourceDefinition in the given files or folders (e.g. `kubectl get crd -o yaml`)."""
    crds = CrdSchemas()
    resources, _ = load_paths(paths)
    for r in resources:
        if r.kind == "CustomResourceDefinition":
            crds.add_crd(r.obj)
    return crds


BUNDLED_CRDS = Path(__file__).resolve().parents[1] / "_crds"


_DOCUMENT_START = re.compile(r"^---[ \t]*(?=\n|\Z)", re.M)
_CRD_GROUP = re.compile(r"^  group: *['\"]?([A-Za-z0-9.-]+)", re.M)
_CRD_KIND = re.compile(r"^  names:\n(?:    .*\n)*?    kind: *['\"]?([A-Za-z0-9]+)", re.M)


def _lazy_document(text: str) -> Callable[[], Any]:
    return lambda: _parse_crd(text)


def _parse_crd(text: str) -> Any:
    """One CRD document. Its JSON form is kept in the user's cache folder, keyed by the YAML's
    digest: JSON parses some fifty times faster than YAML (a 1.4 MB CRD: 5 ms, not 0.3 s).
    The cache is only a speed-up: unreadable or unwritable, the YAML is parsed as before."""
    path = cache_dir() / f"{hashlib.sha256(text.encode()).hexdigest()[:32]}.json"
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        pass
    crd = yaml.load(text, Loader=_CRD_LOADER)
    save_json(path, crd)
    return crd


def lazy_crds(folder: Path) -> CrdSchemas:
    """The CRDs under `folder`, each parsed only when an object of its kind is first validated.

    Finding which document is which takes a text scan of milliseconds; parsing all 3.6 MB of
    bundled CRD YAML would cost seconds on every compile, for kinds most compiles never emit.
    Every file must be kubectl/upstream-style: documents split by `---` lines, `spec.group` and
    `spec.names.kind` in block style (the bundled ones are; a test checks the scan against a
    full parse).
    """
    crds = CrdSchemas()
    for path in sorted(folder.rglob("*.yaml")):
        for text in _DOCUMENT_START.split(path.read_text(encoding="utf-8")):
            spec = text[text.find("\nspec:\n"):]
            group, kind = _CRD_GROUP.search(spec), _CRD_KIND.search(spec)
            if "kind: CustomResourceDefinition" in text and group and kind:
                crds.add_lazy(group.group(1), kind.group(1), _lazy_document(text))
    return crds


@lru_cache(maxsize=1)
def bundled_crds() -> CrdSchemas:
    """The Istio, Gateway API and Argo CD CRDs meshcode ships (see `meshcode/_crds/README.md`),
    read lazily, once per process."""
    return lazy_crds(BUNDLED_CRDS)


def check_schemas(resources: Iterable[Resource], crds: CrdSchemas, cluster: str = "") -> list[Finding]:
    """IST0106 for every problem a loaded CRD finds in an object."""
    findings: list[Finding] = []
    for r in resources:
        try:
            problems = crds.validate(r.obj) or ()
        except Exception as e:  # noqa: BLE001 - any input gives findings, never a traceback
            findings.append(check_failed("schema validation", e, cluster, r))
            continue
        for problem in problems:
            findings.append(Finding("IST0106", level_of("IST0106"), f"Schema validation error: {problem}",
                                    r.kind, r.namespace, r.name, r.origin, cluster))
    return findings


def schema_notes(crds: CrdSchemas) -> list[Finding]:
    """MC5003 once, when CEL rules applied but could not run (cel-python missing)."""
    if crds.cel.skipped and not cel_available():
        return [Finding("MC5003", level_of("MC5003"), f"{crds.cel.skipped} CEL validation rules were not "
                        "evaluated: install cel-python (pip install 'meshcode[lint]')")]
    return []
