"""Memory stays bounded by the input (issue 13).

An alias bomb of under a kilobyte expands to hundreds of millions of nodes; thousands of
VirtualServices for one host made every IST0109 message list every one of them (quadratic).
The end-to-end cases run meshcode in a child process whose address space is capped, so a
regression fails here instead of exhausting the machine.
"""
from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from meshcode.analyze.lint import lint
from meshcode.errors import MAX_LISTED, MeshcodeError
from meshcode.gitops.diff import diff_trees
from meshcode.safeyaml import MAX_ALIAS_EXPANSION, MAX_DEPTH, YamlLimitError, load_all
from tests.support.paths import ROOT

ADDRESS_SPACE = 1024 * 1024 * 1024  # 1 GiB for the whole child: meshcode itself needs about a quarter of it


def bomb(levels: int = 9, width: int = 9) -> str:
    """A Service whose labels hold the classic "billion laughs": width**levels strings."""
    lines = ["apiVersion: v1", "kind: Service", "metadata:", "  name: bomb", "  namespace: shop", "  labels:",
             "    l0: &l0 [" + ", ".join(['"lol"'] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"    l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    lines += ["spec:", "  selector: {app: bomb}", "  ports: [{name: http, port: 80}]"]
    return "\n".join(lines) + "\n"


def run_bounded(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))

    return subprocess.run([sys.executable, "-m", "meshcode", *args], cwd=cwd, capture_output=True, text=True,
                          preexec_fn=cap, timeout=300)


# ---- YAML aliases ------------------------------------------------------------------------------
def test_the_bomb_is_small_and_refused_at_once() -> None:
    text = bomb()
    assert len(text.encode()) < 1000 and 9 ** 9 > 100 * MAX_ALIAS_EXPANSION
    start = time.perf_counter()
    with pytest.raises(YamlLimitError, match="aliases expand to more than"):
        load_all(text)
    assert time.perf_counter() - start < 1.0  # linear in the distinct nodes, not in the expansion


def test_modest_aliases_still_load_as_yaml_says() -> None:
    text = "base: &b {x: [1, 2, 3]}\none: *b\ntwo: *b\nmerged:\n  <<: *b\n  y: 4\n"
    assert load_all(text) == list(yaml.safe_load_all(text))
    small = bomb(levels=3, width=9)  # 729 strings: an anchor used as anchors are meant to be
    assert load_all(small) == list(yaml.safe_load_all(small))


def test_the_budget_is_per_stream_not_per_document() -> None:
    one = bomb(levels=6, width=9)  # 9**6 = 531441 expanded: fits once, not twice
    assert load_all(one)
    with pytest.raises(YamlLimitError):
        load_all(one + "---\n" + one)


def test_nesting_past_the_limit_is_refused() -> None:
    deep = "a: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n"
    with pytest.raises(YamlLimitError, match="levels deep"):
        load_all(deep)
    with pytest.raises(YamlLimitError, match="levels deep"):  # also through an anchor
        load_all("x: &x " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\ny: *x\n")
    assert load_all("a: " + "[" * 50 + "]" * 50 + "\n")


def test_lint_with_a_bomb_of_workloads_is_a_clean_error(tmp_path: Path) -> None:
    (tmp_path / "workloads.yaml").write_text(bomb())
    mesh = ROOT / "tests" / "data" / "istio-samples" / "bookinfo" / "networking"
    done = run_bounded("lint", "--no-schemas", "--workloads", "workloads.yaml", str(mesh), cwd=tmp_path)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "MemoryError" not in done.stderr
    assert "workloads.yaml:" in done.stderr and "aliases expand to more than" in done.stderr


def test_lint_of_a_bomb_is_a_finding(tmp_path: Path) -> None:
    (tmp_path / "bomb.yaml").write_text(bomb())
    done = run_bounded("lint", "bomb.yaml", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "MC5001" in done.stdout and "aliases expand to more than" in done.stdout


STACK = """\
from meshcode import *

web = Service("web", namespace="shop", ports=[Port(8080)])
mesh = Mesh("m", clusters=[Cluster("c1")], services=[web])
"""


def test_compile_with_a_bomb_of_workloads_is_a_clean_error_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.meshcode]\nstacks = "stacks"\noutput = "generated"\n')
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "web.py").write_text(STACK)
    (tmp_path / "workloads.yaml").write_text(bomb())
    done = run_bounded("compile", "--workloads", "workloads.yaml", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "aliases expand to more than" in done.stderr
    assert not (tmp_path / "generated").exists()


def test_diff_reads_a_bombed_generated_file_as_a_clean_error() -> None:
    good = b"apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n"
    with pytest.raises(MeshcodeError, match="aliases expand to more than"):
        diff_trees({"c1/_cluster/namespace-shop.yaml": bomb().encode()}, {"c1/_cluster/namespace-shop.yaml": good})


# ---- messages that name many objects ----------------------------------------------------------------
def virtual_services(n: int) -> str:
    head = "apiVersion: v1\nkind: Service\nmetadata: {name: reviews, namespace: shop}\n" \
           "spec: {ports: [{name: http, port: 9080}]}\n"
    return head + "".join(
        f"---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: vs-{i:05d}, "
        "namespace: shop}\nspec:\n  hosts: [reviews]\n  http: [{route: [{destination: {host: reviews}}]}]\n"
        for i in range(n))


def test_ist0109_names_a_few_conflicting_objects_and_counts_the_rest(tmp_path: Path) -> None:
    (tmp_path / "vs.yaml").write_text(virtual_services(300))
    found = [f for f in lint([tmp_path / "vs.yaml"], validate_schemas=False).findings if f.code == "IST0109"]
    assert len(found) == 300  # every conflicting object is still reported
    for f in found:
        assert f"and {300 - MAX_LISTED} more" in f.message and len(f.message) < 600
        assert "shop/vs-00000,shop/vs-00001" in f.message and "shop/vs-00299" not in f.message


def test_thousands_of_conflicting_virtual_services_lint_in_bounded_memory(tmp_path: Path) -> None:
    """3000 objects (~540 kB): listing every name in every message took over 1 GiB."""
    (tmp_path / "vs.yaml").write_text(virtual_services(3000))
    done = run_bounded("lint", "--no-schemas", "--format", "json", "vs.yaml", cwd=tmp_path)
    assert done.returncode == 1, done.stderr[-2000:]
    assert done.stdout.count('"IST0109"') == 3000
    assert len(done.stdout) < 3000 * 1000
