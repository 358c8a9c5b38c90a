"""Misspelt keyword arguments and settings get meshcode's words and a 'did you mean', at the line."""
from __future__ import annotations

from tests.support.gitops import cli


def test_a_misspelt_keyword_names_the_field_it_probably_meant(make_project) -> None:
    root = make_project(shop='''
        from meshcode import Cluster, Mesh, Port, Service
        cart = Service("cart", namespace="shop", ports=[Port(80)], versoins=["v1"])
        mesh = Mesh("shop", clusters=[Cluster("prod")], services=[cart])
    ''')
    result = cli("compile", root=root)
    assert result.exit_code == 1
    assert "stacks/shop.py:3" in result.output
    assert "unknown argument 'versoins'; did you mean 'versions'?" in result.output
    assert "Extra inputs are not permitted" not in result.output


def test_a_misspelt_setting_says_which_setting(make_project) -> None:
    root = make_project(shop='''
        from meshcode import Cluster, Mesh
        mesh = Mesh("shop", clusters=[Cluster("prod")])
    ''')
    (root / "pyproject.toml").write_text('[tool.meshcode]\noutptu = "out"\n')
    result = cli("compile", root=root)
    assert result.exit_code == 1
    assert "[tool.meshcode] in pyproject.toml: unknown setting 'outptu'; did you mean 'output'?" in result.output
