"""YAML from users, loaded with bounds: memory stays proportional to the input.

Every YAML file meshcode reads that a person may have written (`meshcode lint`, `--workloads`,
generated files read back by `diff` and the mTLS step check) goes through here. libyaml composes
each document into nodes (which carry line marks); a small converter turns the nodes into plain
dicts and lists. It gives what `yaml.safe_load` gives (scalars other than strings go through
PyYAML's own safe constructors) at about twice the speed of PyYAML's generator-based
constructor; documents it does not handle (merge keys, !!set/!!omap, custom tags) fall back to
that constructor.

Refused, as a `YamlLimitError` (a `yaml.YAMLError`, so callers report it like any bad YAML):
- aliases that expand a stream past `MAX_ALIAS_EXPANSION` units (a "billion laughs" file of a
  few hundred bytes would otherwise take gigabytes once anything walks the data);
- an alias inside the node it names (a recursive structure no manifest can be);
- nesting deeper than `MAX_DEPTH` (every consumer walks the data recursively).
"""
from __future__ import annotations

from types import GeneratorType
from typing import Any, Iterator

import yaml

try:  # libyaml's parser: several times faster than the pure-Python one
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader

MAX_DEPTH = 100
"""Containers nested deeper than this are refused (Kubernetes manifests stay far below)."""
MAX_ALIAS_EXPANSION = 1_000_000
"""What aliases may add to one stream: a node counts 1, a scalar also 1 per 64 characters."""

_STR, _MAP, _SEQ = "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"


class YamlLimitError(yaml.YAMLError):
    """A document past one of this module's bounds; carries the mark of where it starts."""

    def __init__(self, problem: str, mark: Any = None):
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


class _Resolver(_Loader):  # type: ignore[misc, valid-type]
    """Implicit tag resolution memoised per (kind, value, implicit): manifests repeat most scalars."""

    def __init__(self, stream: str, memo: dict[tuple, Any]):
        super().__init__(stream)
        self._memo = memo

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        key = (kind, value, implicit)
        try:
            return self._memo[key]
        except KeyError:
            tag = self._memo[key] = super().resolve(kind, value, implicit)
            return tag
        except TypeError:  # an unhashable value: resolve without the memo
            return super().resolve(kind, value, implicit)


class _Fallback(Exception):
    """The document needs PyYAML's full constructor."""


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _unreadable(node: yaml.Node, error: Exception) -> yaml.YAMLError:
    """A scalar PyYAML's constructors cannot turn into a value (a date with month 13, …)."""
    what = repr(node.value[:80]) if isinstance(node, yaml.ScalarNode) else "a value of this document"
    return yaml.constructor.ConstructorError(None, None, f"cannot read {what}: {error}", node.start_mark)


def _own_weight(node: yaml.Node) -> int:
    return 1 + len(node.value) // 64 if isinstance(node, yaml.ScalarNode) else 1


class _Budget:
    """The alias expansion left for one stream."""

    def __init__(self) -> None:
        self.left = MAX_ALIAS_EXPANSION

    def check(self, root: yaml.Node) -> None:
        """Walk one document's node graph once, iteratively: refuse recursive aliases, nesting past
        MAX_DEPTH and alias expansion past the budget. Linear in the distinct nodes, whatever the
        aliases would expand to."""
        weight: dict[int, int] = {}  # expanded weight of each finished node
        height: dict[int, int] = {}
        active: set[int] = set()  # the nodes on the current path
        stack: list[tuple[yaml.Node, bool]] = [(root, False)]
        while stack:
            node, finished = stack.pop()
            key = id(node)
            if finished:
                active.discard(key)
                kids = _children(node)
                weight[key] = _own_weight(node) + sum(weight[id(k)] for k in kids)
                height[key] = 1 + max((height[id(k)] for k in kids), default=0) if kids else 0
                if height[key] > MAX_DEPTH:
                    raise YamlLimitError(f"nested more than {MAX_DEPTH} levels deep", node.start_mark)
            elif key in active:
                raise YamlLimitError("an alias refers to a node that contains it (a recursive structure)",
                                     node.start_mark)
            elif key in weight:  # a second reference: an alias expands to the node's whole weight
                self.left -= weight[key]
                if self.left < 0:
                    raise YamlLimitError(f"aliases expand to more than {MAX_ALIAS_EXPANSION} nodes "
                                         "(an alias bomb?)", node.start_mark)
            else:
                active.add(key)
                stack.append((node, True))
                stack.extend((child, False) for child in reversed(_children(node)))


class _Converter:
    """Nodes → plain data. A class, not a recursive closure: a closure that calls itself is a
    reference cycle, which kept every loader (and libyaml's buffers) alive until the cycle
    collector ran, and lint pauses that collector while it loads.

    Plain strings (most scalars) are read inline, without a call; other scalars (numbers,
    booleans, null) are constructed once per (tag, text) in `values`, which a caller may share
    across streams: they are immutable, so sharing them is what PyYAML's values would be."""

    __slots__ = ("loader", "scalars", "values")

    def __init__(self, loader: Any, values: dict[tuple[str, str], Any]) -> None:
        self.loader = loader
        self.scalars = loader.yaml_constructors
        self.values = values

    def scalar(self, node: yaml.ScalarNode) -> Any:
        key = (node.tag, node.value)
        try:
            return self.values[key]
        except KeyError:
            pass
        construct = self.scalars.get(node.tag)
        if construct is None:
            raise _Fallback
        try:
            value = construct(self.loader, node)
        except (ValueError, OverflowError) as e:  # e.g. the timestamp 2001-13-45
            raise _unreadable(node, e) from None
        if value is None or value.__class__ in _IMMUTABLE:
            self.values[key] = value
        elif isinstance(value, GeneratorType):  # a collection tag on a scalar (`!!set x`): PyYAML refuses it
            raise _Fallback
        return value

    def convert(self, node: yaml.Node, shared: dict[int, Any], depth: int) -> Any:
        cls = node.__class__
        if cls is _SCALAR_NODE:
            return node.value if node.tag == _STR else self.scalar(node)
        if depth > MAX_DEPTH:
            raise YamlLimitError(f"nested more than {MAX_DEPTH} levels deep", node.start_mark)
        done = shared.get(id(node))  # an alias: the same object, as PyYAML gives
        if done is not None:
            return done
        convert = self.convert
        scalar = self.scalar
        depth += 1
        if cls is _MAPPING_NODE:
            if node.tag != _MAP:
                raise _Fallback
            mapping: dict[Any, Any] = {}
            shared[id(node)] = mapping
            for k, v in node.value:
                if k.tag == _MERGE:
                    raise _Fallback
                # the value before the key, as `mapping[convert(k)] = convert(v)` would
                if v.__class__ is _SCALAR_NODE:
                    value = v.value if v.tag == _STR else scalar(v)
                else:
                    value = convert(v, shared, depth)
                if k.__class__ is _SCALAR_NODE:
                    mapping[k.value if k.tag == _STR else scalar(k)] = value
                else:
                    mapping[convert(k, shared, depth)] = value
            return mapping
        if node.tag != _SEQ:
            raise _Fallback
        sequence: list[Any] = []
        shared[id(node)] = sequence
        for x in node.value:
            if x.__class__ is _SCALAR_NODE:
                sequence.append(x.value if x.tag == _STR else scalar(x))
            else:
                sequence.append(convert(x, shared, depth))
        return sequence


_IMMUTABLE = frozenset({int, float, bool, str, bytes})
_SCALAR_NODE, _MAPPING_NODE = yaml.ScalarNode, yaml.MappingNode


def documents(text: str, memo: dict[tuple, Any] | None = None) -> Iterator[tuple[yaml.Node, Any]]:
    """(node, document) for each document of a stream; the node only serves line lookups.

    `memo` (implicit tags and immutable scalar values) may be shared by the streams of one run.

    Raises yaml.YAMLError (YamlLimitError past the bounds) where the stream stops making sense.
    """
    memo = {} if memo is None else memo
    loader = _Resolver(text, memo)
    convert = _Converter(loader, memo).convert
    anchors = "&" in text  # no anchor, no alias: the graph is a tree and only depth can be too much
    budget = _Budget()
    try:
        while loader.check_node():
            node = loader.get_node()
            if anchors:
                budget.check(node)
            try:
                doc = convert(node, {}, 0)
            except (_Fallback, TypeError):  # merge keys, custom tags, unhashable keys
                if not anchors:
                    budget.check(node)
                try:
                    doc = loader.construct_document(node)
                except (ValueError, OverflowError) as e:
                    raise _unreadable(node, e) from None
            yield node, doc
    finally:
        loader.dispose()


def load_all(text: str) -> list[Any]:
    """Every document of a stream as plain data (what `yaml.safe_load_all` gives), within bounds."""
    return [doc for _, doc in documents(text)]


def load(text: str) -> Any:
    """The one document of a stream (None when empty), within bounds."""
    docs = load_all(text)
    if len(docs) > 1:
        raise YamlLimitError("expected one YAML document, found several")
    return docs[0] if docs else None
