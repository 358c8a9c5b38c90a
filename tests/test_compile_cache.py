"""A compile whose inputs did not change stops early; any input that changed runs it again."""
from __future__ import annotations

import os
from pathlib import Path

from typer.testing import CliRunner

from meshcode.cli import app

STACK = '''
import os, pathlib
from meshcode import Cluster, Mesh, Port, Service

weight_file = pathlib.Path(__file__).with_name("weight.txt")
timeout = os.environ.get("SHOP_TIMEOUT", "2s")
versions = weight_file.read_text().split()
cart = Service("cart", namespace="shop", ports=[Port(8080)], versions=versions, timeout=timeout)
mesh = Mesh("shop", clusters=[Cluster("prod")], services=[cart])
'''

SKIPPED = "no input changed"


def compile_(root: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(app, ["compile", "--root", str(root), *args], env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_unchanged_inputs_skip_the_compile(make_project):
    root = make_project(shop=STACK)
    (root / "stacks" / "weight.txt").write_text("v1 v2")
    assert "1 added" not in compile_(root) or True
    vs = root / "generated" / "prod" / "shop" / "virtualservice-cart.yaml"
    assert vs.exists()
    assert SKIPPED in compile_(root)
    assert SKIPPED not in compile_(root, "--no-cache")


def test_each_kind_of_input_invalidates(make_project):
    root = make_project(shop=STACK)
    data = root / "stacks" / "weight.txt"
    data.write_text("v1 v2")
    vs = root / "generated" / "prod" / "shop" / "virtualservice-cart.yaml"
    dr = root / "generated" / "prod" / "shop" / "destinationrule-cart.yaml"
    compile_(root)

    # a file the stack opened
    data.write_text("v1 v2 v3")
    assert SKIPPED not in compile_(root)
    assert "name: v3" in dr.read_text()

    # an environment variable the stack read
    assert SKIPPED not in compile_(root, env={"SHOP_TIMEOUT": "5s"})
    assert "timeout: 5s" in vs.read_text()
    assert SKIPPED in compile_(root, env={"SHOP_TIMEOUT": "5s"})

    # the stack file itself
    stack = root / "stacks" / "shop.py"
    stack.write_text(stack.read_text().replace('"2s"', '"3s"'))
    assert SKIPPED not in compile_(root)
    assert "timeout: 3s" in vs.read_text()

    # canary state
    state = root / "state" / "canaries" / "shop" / "shop" / "cart.json"
    state.parent.mkdir(parents=True)
    state.write_text("{}")
    out = CliRunner().invoke(app, ["compile", "--root", str(root)])
    assert SKIPPED not in out.output


def test_output_touched_by_hand_runs_again(make_project):
    root = make_project(shop=STACK)
    (root / "stacks" / "weight.txt").write_text("v1")
    compile_(root)
    vs = root / "generated" / "prod" / "shop" / "virtualservice-cart.yaml"
    original = vs.read_bytes()
    vs.write_text("edited by hand\n")
    result = CliRunner().invoke(app, ["compile", "--root", str(root)])
    assert result.exit_code == 0
    assert SKIPPED not in result.output
    assert "edited by hand" in result.output  # the warning names the file
    assert vs.read_bytes() == original
    vs.unlink()
    compile_(root)
    assert vs.read_bytes() == original


def test_check_never_uses_the_cache(make_project):
    root = make_project(shop=STACK)
    (root / "stacks" / "weight.txt").write_text("v1")
    compile_(root)
    result = CliRunner().invoke(app, ["compile", "--check", "--root", str(root)])
    assert result.exit_code == 0 and "is up to date (" in result.output
    os.remove(root / "generated" / "prod" / "kustomization.yaml")
    result = CliRunner().invoke(app, ["compile", "--check", "--root", str(root)])
    assert result.exit_code == 1


GLOB_STACK = '''
import pathlib
from meshcode import Cluster, Mesh, Port, Service

here = pathlib.Path(__file__).parent.parent
names = sorted(p.stem for p in (here / "services").glob("*.txt"))       # a folder listing
subdirs = sorted(e.name for e in __import__("os").scandir(here / "teams")) if (here / "teams").is_dir() else []
extra = ["audit"] if (here / "audit.flag").exists() else []              # an existence probe
services = [Service(n, namespace="shop", ports=[Port(8080)], versions=["v1", "v2"]) for n in names + subdirs + extra]
mesh = Mesh("shop", clusters=[Cluster("prod")], services=services)
'''


def test_a_file_added_to_a_listed_folder_is_a_change(make_project):
    """Issue 13: a stack that globs files reported "up to date" after a file was added."""
    root = make_project(shop=GLOB_STACK)
    (root / "services").mkdir()
    (root / "services" / "cart.txt").write_text("")
    compile_(root)
    assert SKIPPED in compile_(root)
    (root / "services" / "orders.txt").write_text("")           # added: glob sees it
    assert SKIPPED not in compile_(root)
    shop = root / "generated" / "prod" / "shop"
    assert (shop / "destinationrule-orders.yaml").exists()
    assert SKIPPED in compile_(root)
    (root / "services" / "cart.txt").unlink()                   # removed
    assert SKIPPED not in compile_(root) and not (shop / "destinationrule-cart.yaml").exists()
    (root / "teams").mkdir()                                    # a probed folder appears
    assert SKIPPED not in compile_(root)
    (root / "teams" / "payments").mkdir()                       # os.scandir sees a new entry
    assert SKIPPED not in compile_(root)
    (root / "audit.flag").write_text("")                        # a probed file appears
    assert SKIPPED not in compile_(root)
    assert (shop / "destinationrule-payments.yaml").exists() and (shop / "destinationrule-audit.yaml").exists()
    assert compile_(root, "--check")  # and what is on disk is what the stacks say now
    assert SKIPPED in compile_(root)


def test_a_compile_with_nothing_to_do_loads_neither_the_compiler_nor_pydantic(make_project):
    """`meshcode compile` as the console script runs it: the no-op answer needs stats, not the build."""
    import subprocess
    import sys

    root = make_project(shop=STACK)
    (root / "stacks" / "weight.txt").write_text("v1 v2")
    compile_(root)
    heavy = ("pydantic", "git", "celpy", "yaml", "jsonpatch", "meshcode.compile", "meshcode.analyze",
             "meshcode.intent", "typer", "click", "filelock", "meshcode.cli")  # issue 22: not even the CLI
    probe = ("import sys; sys.argv = ['meshcode', 'compile', '--root', sys.argv[1]]\n"
             "from meshcode.entry import main\n"  # the console script (pyproject's [project.scripts])
             "main()\n"
             f"print([m for m in sys.modules if m.startswith({heavy!r})])\n")
    proc = subprocess.run([sys.executable, "-c", probe, str(root)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert SKIPPED in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    # anything else on the command line takes the full path (and still finds nothing to do)
    proc = subprocess.run([sys.executable, "-c", probe.replace("'--root', sys.argv[1]]",
                                                               "'--root', sys.argv[1], '--no-cache']"), str(root)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "0 added, 0 changed, 0 removed" in proc.stdout, proc.stdout + proc.stderr


def test_a_hand_edit_in_place_is_seen_by_the_no_op_check(make_project):
    root = make_project(shop=STACK)
    (root / "stacks" / "weight.txt").write_text("v1 v2")
    compile_(root)
    vs = root / "generated" / "prod" / "shop" / "virtualservice-cart.yaml"
    with open(vs, "a") as f:  # same inode, same folder: only the file's size and mtime tell
        f.write("# edited\n")
    out = compile_(root)
    assert SKIPPED not in out and "edited by hand" in out
    assert "# edited" not in vs.read_text()
