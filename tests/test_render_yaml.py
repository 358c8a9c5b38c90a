"""meshcode's fast YAML path must give exactly the bytes PyYAML's safe dumper gives."""
from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from meshcode.render.tree import _BaseDumper, dump_yaml
from tests.support.meshes import load_yaml_dir
from tests.support.paths import ROOT


class _Reference(_BaseDumper):  # PyYAML's own representer, aliases off, as meshcode configures it
    def ignore_aliases(self, data: Any) -> bool:
        return True


def reference(obj: Any) -> bytes:
    return yaml.dump(obj, Dumper=_Reference, sort_keys=False, default_flow_style=False,
                     allow_unicode=True, width=4096).encode()


TRICKY = ["", " ", "true", "True", "no", "yes", "null", "~", "1", "-1", "0x1F", "1e3", "0.5s", "1.0",
          ".inf", "*.local", "&a", "!tag", "- x", "x: y", "# c", "multi\nline", "  lead", "trail ",
          "é", "istio-system/*", "2001:db8::1", "10.0.0.0/8", "'q'", '"q"', "a\tb", "%x", "@x", "`x`"]

scalars = st.one_of(st.sampled_from(TRICKY), st.text(max_size=12), st.integers(-10**6, 10**6), st.booleans(),
                    st.floats(allow_nan=False), st.none())
keys = st.one_of(st.sampled_from(TRICKY), st.text(min_size=1, max_size=8))
documents = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)), max_leaves=25)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(keys, documents, max_size=6))
def test_fast_path_matches_pyyaml_byte_for_byte(doc: dict) -> None:
    assert dump_yaml(doc) == reference(doc)
    assert yaml.safe_load(dump_yaml(doc)) == (doc or {})


def test_every_generated_object_renders_as_pyyaml_would() -> None:
    docs = load_yaml_dir(ROOT / "generated")
    assert len(docs) > 50
    for d in docs:
        assert dump_yaml(d) == reference(d)
