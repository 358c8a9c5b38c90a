"""A recompile after any single-service edit writes exactly what a cold compile writes.

A recompile is warm: the render cache reuses the YAML of unchanged objects, the tree writer
compares with what is on disk and links unchanged files, the input record decides whether to
run at all. Any of those keyed wrongly would leave a stale file, so random one-service edits
(hypothesis) are compiled warm, on top of the previous output, and compared byte for byte with
a cold compile of the same stacks in a fresh folder.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from meshcode.cli import app

N = 6
BASE = {"timeout": "3s", "attempts": 3, "weight": 10, "versions": ["v1", "v2", "v3"], "calls": [1, 2],
        "namespace": "team-a", "mirror": False, "fault": False, "present": True}


def service_source(i: int, s: dict, services: list[dict]) -> str:
    if not s["present"]:
        return ""
    calls = ", ".join(repr(f"{services[j]['namespace']}/svc-{j}") for j in s["calls"]
                      if j != i and services[j]["present"])  # a call names a service that exists, where it is
    extra = ""
    if s["mirror"]:
        extra += f', mirror=Mirror({s["versions"][-1]!r}, percent=10)'
    if s["fault"]:
        extra += (', routes=[Route(match=Match(headers={"x-chaos": "on"}), to="v1", '
                  'fault=Fault(abort=Abort(503, percent=10)))]')
    canary = (f'canary=Canary(stable="v1", candidate="v2", weight={s["weight"]}), '
              if "v2" in s["versions"] else "")
    return (f'    Service("svc-{i}", namespace={s["namespace"]!r}, ports=[Port(8080)], '
            f'versions={s["versions"]!r}, timeout={s["timeout"]!r}, '
            f'retries=Retries({s["attempts"]}, per_try_timeout="1s"), {canary}calls=[{calls}]{extra}),\n')


def stack(services: list[dict]) -> str:
    body = "".join(service_source(i, s, services) for i, s in enumerate(services))
    return ("from meshcode import Abort, Canary, Cluster, Fault, Match, Mesh, Mirror, Port, Retries, Route, "
            "Service, ZeroTrust\n\n"
            "mesh = Mesh('fleet', clusters=[Cluster('east', network='n1'), Cluster('west', network='n2')],\n"
            "            zero_trust=[ZeroTrust()], services=[\n" + body + "])\n")


def initial(i: int) -> dict:
    return {**BASE, "namespace": "team-a" if i % 2 == 0 else "team-b", "calls": [(i + 1) % N, (i + 2) % N]}


EDITS = st.one_of(
    st.tuples(st.just("timeout"), st.sampled_from(["2s", "3s", "4s", "10s"])),
    st.tuples(st.just("attempts"), st.integers(1, 5)),
    st.tuples(st.just("weight"), st.integers(0, 100)),
    st.tuples(st.just("versions"), st.sampled_from([["v1", "v2"], ["v1", "v2", "v3"], ["v1", "v2", "v3", "v4"]])),
    st.tuples(st.just("calls"), st.lists(st.integers(0, N - 1), max_size=3, unique=True)),
    st.tuples(st.just("namespace"), st.sampled_from(["team-a", "team-b", "team-c"])),
    st.tuples(st.just("mirror"), st.booleans()),
    st.tuples(st.just("fault"), st.booleans()),
    st.tuples(st.just("present"), st.booleans()),
)


def compile_into(root: Path) -> None:
    result = CliRunner().invoke(app, ["compile", "--root", str(root)])
    assert result.exit_code == 0, result.output


def tree(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def project(root: Path, services: list[dict]) -> Path:
    shutil.rmtree(root, ignore_errors=True)
    (root / "stacks").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[tool.meshcode]\nrepo_url = "https://example.com/mesh.git"\n')
    (root / "stacks" / "fleet.py").write_text(stack(services))
    return root


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(0, N - 1), EDITS), min_size=1, max_size=2))
def test_any_single_service_edit_recompiles_to_the_bytes_of_a_cold_compile(tmp_path_factory, edits) -> None:
    base = tmp_path_factory.mktemp("incremental")
    services = [initial(i) for i in range(N)]
    warm = project(base / "warm", services)
    compile_into(warm)
    for index, (field, value) in edits:  # one service at a time, each edit compiled warm on the last output
        services[index] = {**services[index], field: value}
        (warm / "stacks" / "fleet.py").write_text(stack(services))
        compile_into(warm)
        cold = project(base / "cold", services)
        compile_into(cold)
        assert tree(warm / "generated") == tree(cold / "generated"), f"after editing svc-{index}.{field}={value!r}"
