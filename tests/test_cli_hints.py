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


def test_exit_codes_and_json_for_scripts(make_project) -> None:
    import json

    root = make_project(shop='''
        from meshcode import Cluster, Mesh, Port, Service
        mesh = Mesh("shop", clusters=[Cluster("prod")], services=[Service("cart", namespace="shop", ports=[Port(80)])])
    ''')
    first = cli("compile", "--json", root=root)
    assert first.exit_code == 0
    record = json.loads(first.stdout)
    assert record["ok"] and record["clusters"] == ["argocd", "prod"] and record["added"]
    assert cli("diff", "--exit-code", root=root).exit_code == 0  # nothing would change
    stack = (root / "stacks" / "shop.py").read_text()
    (root / "stacks" / "shop.py").write_text(stack.replace("ports=[Port(80)])", 'ports=[Port(80)], versions=["v1"])'))
    assert cli("diff", "--exit-code", root=root).exit_code == 1
    assert json.loads(cli("diff", "--json", root=root).stdout)["changed"] is True
    stale = cli("compile", "--check", "--json", root=root)
    assert stale.exit_code == 1 and json.loads(stale.stdout)["ok"] is False
    (root / "stacks" / "shop.py").write_text('from meshcode import Mesh\nmesh = Mesh("shop", clusters=[])\n')
    broken = cli("compile", "--json", root=root)
    assert broken.exit_code == 1
    failure = json.loads(broken.stdout)  # JSON on stdout even when failing
    assert failure["ok"] is False and failure["findings"][0]["file"] == "stacks/shop.py"
    assert cli("compile", "--bogus", root=root).exit_code == 2
    assert cli("lint", str(root / "missing"), root=root).exit_code == 2


def test_help_shows_settings_and_flags_plainly() -> None:
    from typer.testing import CliRunner

    from meshcode.cli import app
    text = CliRunner().invoke(app, ["compile", "--help"]).stdout
    assert "default: [tool.meshcode]" in text  # not swallowed as markup
    assert "--check  " in text and "<bool>" not in text


def test_stacks_import_helper_modules_from_the_project_root(make_project) -> None:
    root = make_project(shop='''
        from teams import NAMESPACE
        from meshcode import Cluster, Mesh, Port, Service
        mesh = Mesh("shop", clusters=[Cluster("prod")],
                    services=[Service("cart", namespace=NAMESPACE, ports=[Port(80)], versions=["v1"])])
    ''')
    (root / "teams.py").write_text('NAMESPACE = "checkout"\n')
    result = cli("compile", root=root)
    assert result.exit_code == 0, result.output
    assert (root / "generated" / "prod" / "checkout").is_dir()
    (root / "teams.py").write_text('NAMESPACE = "orders"\n')  # a changed helper is an input: no stale skip
    assert cli("compile", root=root).exit_code == 0
    assert (root / "generated" / "prod" / "orders").is_dir()


def test_findings_on_a_terminal_are_a_wrapped_coloured_table() -> None:
    import io

    from rich.console import Console

    from meshcode.cli.terminal import findings_table
    from meshcode.errors import Finding, SourceLocation

    long = "Referenced host not found: " + "reviews.shop.svc.cluster.local " * 6
    findings = [Finding("IST0101", "error", long, "VirtualService", "shop", "r", SourceLocation("a.yaml", 3)),
                Finding("IST0118", "info", "Port name web is not under naming convention", "Service", "shop", "s")]
    out = io.StringIO()
    findings_table(findings, 7, Console(file=out, force_terminal=True, width=100, color_system="standard"))
    text = out.getvalue()
    assert "\x1b[1;31merror" in text  # errors in bold red
    from rich.text import Text

    plain = Text.from_ansi(text).plain
    assert all(len(line) <= 100 for line in plain.splitlines())  # the message column wraps
    assert "IST0101" in plain and "1 error, 0 warnings, 1 info in 7 objects" in plain
