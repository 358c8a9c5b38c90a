"""The lint loader: every object with its file and line; lists, bad YAML and non-objects."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from meshcode.analyze.loader import load_paths, parse_text
from meshcode.safeyaml import documents as _documents

MULTI = """\
# a comment first
apiVersion: v1
kind: Service
metadata: {name: a, namespace: shop}
---
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: b, namespace: shop}
-   apiVersion: v1
    kind: Service
    metadata:
      name: c
- just a string
---
apiVersion: networking.istio.io/v1
kind: ServiceList
items:
- apiVersion: networking.istio.io/v1
  kind: ServiceEntry
  metadata: {name: d}
---
kind: ConfigMap
data: {a: b}
"""


def test_every_object_keeps_its_file_and_line() -> None:
    resources, notes = parse_text(MULTI, "multi.yaml")
    assert [(r.name, r.origin.file, r.origin.line) for r in resources] == [
        ("a", "multi.yaml", 2), ("b", "multi.yaml", 10), ("c", "multi.yaml", 13), ("d", "multi.yaml", 22)]
    assert [(n.code, n.level, n.location.line) for n in notes] == [("MC5002", "warning", 17),
                                                                     ("MC5002", "warning", 26)]
    assert "item 2 of List" in notes[0].message


def test_invalid_yaml_is_an_error_at_its_line() -> None:
    resources, notes = parse_text("apiVersion: v1\nkind: Service\nmetadata: {name: a\nspec: {}\n", "bad.yaml")
    assert resources == []
    (note,) = notes
    assert (note.code, note.level, note.location.file) == ("MC5001", "error", "bad.yaml")
    assert note.location.line == 4
    assert note.message.startswith("not valid YAML")


def test_folders_are_read_recursively_in_order_skipping_hidden_and_kustomization(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / ".git").mkdir()
    obj = "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {}}}\n"
    (tmp_path / "b" / "two.yml").write_text(obj.format("two"))
    (tmp_path / "a.yaml").write_text(obj.format("one"))
    (tmp_path / "c.json").write_text('{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "three"}}')
    (tmp_path / ".git" / "x.yaml").write_text(obj.format("hidden"))
    (tmp_path / "kustomization.yaml").write_text("resources: [a.yaml]\n")
    (tmp_path / "notes.txt").write_text("not yaml: [")
    resources, notes = load_paths([tmp_path])
    assert [r.name for r in resources] == ["one", "two", "three"]
    assert notes == []


@pytest.mark.parametrize("text", [
    "a: 1\nb: yes\nc: ~\nd: 1.5\ne: 0x1F\nf: 2001-12-14\ng: '010'\nh: 010\ni: .inf\nj: [1, {k: v}]\n",
    "base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n",
    "a: &x [1, 2]\nb: *x\n",
    "!!set {a, b}\n",
    "x: !!binary aGVsbG8=\n",
    "---\n...\n---\nk: v\n",
    "a: 1_000\nb: 1:30\nc: True\nd: off\ne: ''\nf: -.5e3\ng: 2001-12-14t21:59:43.10-05:00\n",
])
def test_documents_equal_what_safe_load_gives(text: str) -> None:
    assert repr([d for _, d in _documents(text)]) == repr(list(yaml.safe_load_all(text)))


def test_recursive_anchors_are_refused_not_built() -> None:
    """safe_load builds a list that contains itself; nothing downstream could walk it (issue 13)."""
    with pytest.raises(yaml.YAMLError, match="recursive"):
        list(_documents("a: &a [*a]\n"))


def test_unknown_tags_are_still_errors() -> None:
    with pytest.raises(yaml.YAMLError):
        list(_documents("a: !Ref thing\n"))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_any_dumped_document_loads_back_the_same(value: object) -> None:
    text = yaml.safe_dump(value)
    assert [d for _, d in _documents(text)] == list(yaml.safe_load_all(text))


def test_a_loaded_stream_leaves_no_loader_alive_without_the_cycle_collector() -> None:
    """The converter must not be a reference cycle: lint pauses the collector while it loads, and a
    cycle kept every loader (with libyaml's buffers) alive until then (issue 22: 542 MiB at N=2000)."""
    import gc
    import weakref

    import meshcode.safeyaml as safeyaml

    loaders: list[weakref.ref] = []
    real = safeyaml._Resolver

    class Watched(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, **kwargs)
            loaders.append(weakref.ref(self))

    safeyaml._Resolver = Watched  # type: ignore[misc]
    enabled = gc.isenabled()
    gc.disable()
    try:
        for i in range(20):
            assert safeyaml.load_all(f"a: {i}\nb: [1, 2]\n---\nc: {{d: e}}\n") == [{"a": i, "b": [1, 2]}, {"c": {"d": "e"}}]
        assert len(loaders) == 20 and all(ref() is None for ref in loaders)
    finally:
        safeyaml._Resolver = real  # type: ignore[misc]
        if enabled:
            gc.enable()


@pytest.mark.parametrize("text", ["a: !!set x\n", "a: !!seq x\n", "a: !!map x\n", "a: !!omap x\n"])
def test_a_collection_tag_on_a_scalar_is_refused_as_safe_load_refuses_it(text: str) -> None:
    with pytest.raises(yaml.YAMLError) as ours:
        list(_documents(text))
    with pytest.raises(yaml.YAMLError) as theirs:
        yaml.safe_load(text)
    assert ours.value.problem == theirs.value.problem  # type: ignore[attr-defined]


def test_shared_scalar_values_are_the_values_safe_load_gives() -> None:
    memo: dict = {}
    text = "a: 1\nb: 0x10\nc: yes\nd: ~\ne: 1.5\nf: 2001-12-14\ng: !!binary aGVsbG8=\n"
    first = [d for _, d in _documents(text, memo)]
    again = [d for _, d in _documents(text, memo)]
    assert repr(first) == repr(again) == repr(list(yaml.safe_load_all(text)))
