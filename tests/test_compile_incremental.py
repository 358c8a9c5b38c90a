"""A recompile after any single-service edit writes exactly what a cold compile writes.

A recompile is warm: the render cache reuses the YAML of unchanged objects, the tree writer
compares with what is on disk and links unchanged files, the input record decides whether to
run at all. Any of those keyed wrongly would leave a stale file, so random one-service edits
(hypothesis) are compiled warm, on top of the previous output, and compared byte for byte with
a cold compile of the same stacks in a fresh folder.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from meshcode.cli import app
from meshcode.state.canary import CanaryState

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


# -- a richer mesh: ZeroTrust, canary, ingress, two networks, placement, and cross-service edits -------------
#
# Each service's callers get ALLOW rules from its calls (ZeroTrust), the ingress routes onto one
# service (placement and exposure follow it), services sit in one cluster or both, and edits
# include what crosses services: removing a callee, renaming a service its callers name, moving
# it to another namespace or cluster, switching ZeroTrust or the ingress target, a canary step
# recorded in state/. An edit may
# make the stack invalid (the ingress names a service that is gone): then the warm compile must
# fail with the same errors as the cold one and leave its output as it was.

M = 5
RICH = {"name": "", "timeout": "3s", "weight": 10, "versions": ["v1", "v2"], "calls": [], "namespace": "team-a",
        "cluster": None, "mirror": False, "present": True}


def rich_initial(i: int) -> dict:
    return {**RICH, "name": f"svc-{i}", "namespace": ("team-a", "team-b")[i % 2],
            "cluster": (None, None, "east")[i % 3], "calls": [(i + 1) % M, (i + 2) % M]}


def rich_stack(mesh: dict) -> str:
    services = mesh["services"]
    lines = ["from meshcode import Canary, Cluster, Ingress, Mesh, Mirror, Port, Route, Service, ZeroTrust", ""]
    names = []
    for i, s in enumerate(services):
        if not s["present"]:
            continue
        calls = ", ".join(repr(f"{services[j]['namespace']}/{services[j]['name']}") for j in s["calls"]
                          if j != i and services[j]["present"])
        canary = (f'canary=Canary(stable="v1", candidate="v2", weight={s["weight"]}), '
                  if "v2" in s["versions"] else "")
        mirror = f'mirror=Mirror({s["versions"][-1]!r}, percent=5), ' if s["mirror"] else ""
        clusters = f'clusters=[{s["cluster"]!r}], ' if s["cluster"] else ""
        lines.append(f's{i} = Service({s["name"]!r}, namespace={s["namespace"]!r}, ports=[Port(8080)], '
                     f'versions={s["versions"]!r}, timeout={s["timeout"]!r}, {canary}{mirror}{clusters}'
                     f'calls=[{calls}])')
        names.append(f"s{i}")
    target = services[mesh["ingress"]] if mesh["ingress"] is not None else None
    ingresses = ""
    if target is not None:  # a removed target stays named by its name: the compile must refuse it, warm or cold
        to = f"s{mesh['ingress']}" if target["present"] else repr(f"{target['namespace']}/{target['name']}")
        ingresses = (f", ingresses=[Ingress('web', namespace='edge', hosts=['shop.example.com'], "
                     f"routes=[Route(to={to})])]")
    zero_trust = "[ZeroTrust()]" if mesh["zero_trust"] else "[]"
    lines.append(f"mesh = Mesh('fleet', clusters=[Cluster('east', network='n1'), Cluster('west', network='n2')], "
                 f"zero_trust={zero_trust}, services=[{', '.join(names)}]{ingresses})")
    return "\n".join(lines) + "\n"


SERVICE_EDITS = st.one_of(
    st.tuples(st.just("timeout"), st.sampled_from(["2s", "3s", "4s"])),
    st.tuples(st.just("weight"), st.integers(0, 100)),
    st.tuples(st.just("versions"), st.sampled_from([["v1"], ["v1", "v2"], ["v1", "v2", "v3"]])),
    st.tuples(st.just("calls"), st.lists(st.integers(0, M - 1), max_size=3, unique=True)),
    st.tuples(st.just("namespace"), st.sampled_from(["team-a", "team-b", "team-c"])),
    st.tuples(st.just("cluster"), st.sampled_from([None, "east", "west"])),
    st.tuples(st.just("name"), st.sampled_from(["", "-renamed"])),  # a suffix to the service's own name
    st.tuples(st.just("mirror"), st.booleans()),
    st.tuples(st.just("present"), st.booleans()),
)
MESH_EDITS = st.one_of(
    st.tuples(st.just("ingress"), st.one_of(st.none(), st.integers(0, M - 1))),
    st.tuples(st.just("zero_trust"), st.booleans()),
    # a canary step recorded in state/ (what `meshcode canary` commits), or the record removed
    st.tuples(st.just("state"), st.tuples(st.integers(0, M - 1), st.one_of(st.none(), st.integers(0, 100)))),
)


def write_state(root: Path, mesh: dict, index: int, weight: int | None) -> None:
    """The canary state of svc-<index> as `meshcode canary` writes it (state/canaries/<mesh>/<ns>/<name>.json)."""
    s = mesh["services"][index]
    folder = root / "state" / "canaries" / "fleet" / s["namespace"]
    path = folder / f"{s['name']}.json"
    if weight is None:
        path.unlink(missing_ok=True)
        return
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(CanaryState(name=s["name"], stable="v1", candidate="v2", phase="progressing", step=1,
                                weight=weight).model_dump_json())
RICH_EDITS = st.one_of(st.tuples(st.integers(0, M - 1), SERVICE_EDITS), st.tuples(st.none(), MESH_EDITS))


def compile_json(root: Path) -> tuple[int, dict]:
    result = CliRunner().invoke(app, ["compile", "--json", "--root", str(root)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


def outcome(record: dict) -> object:
    """What a compile told the user, without the tree change (warm and cold start from different trees)."""
    return record["notes"] if record["ok"] else record["findings"]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(RICH_EDITS, min_size=1, max_size=3))
@example(edits=[(0, ("present", False)), (0, ("present", True))])  # the ingress target gone (refused), back
@example(edits=[(1, ("name", "-renamed")), (1, ("namespace", "team-c")), (1, ("cluster", "west"))])  # a callee
@example(edits=[(2, ("cluster", None)), (None, ("ingress", 2)), (None, ("zero_trust", False))])
@example(edits=[(None, ("state", (1, 60))), (1, ("versions", ["v1"])), (None, ("state", (1, None)))])
def test_any_edit_of_a_zero_trust_multicluster_mesh_recompiles_to_a_cold_compile(tmp_path_factory, edits) -> None:
    base = tmp_path_factory.mktemp("incremental-rich")
    mesh = {"services": [rich_initial(i) for i in range(M)], "ingress": 0, "zero_trust": True}
    warm = base / "warm"
    shutil.rmtree(warm, ignore_errors=True)
    (warm / "stacks").mkdir(parents=True)
    (warm / "pyproject.toml").write_text('[tool.meshcode]\nrepo_url = "https://example.com/mesh.git"\n')
    (warm / "stacks" / "fleet.py").write_text(rich_stack(mesh))
    code, record = compile_json(warm)
    assert code == 0 and record["ok"], record
    for index, (field, value) in edits:
        if field == "state":
            write_state(warm, mesh, *value)
        elif index is None:
            mesh = {**mesh, field: value}
        else:
            s = mesh["services"][index]
            value = f"svc-{index}{value}" if field == "name" else value
            mesh = {**mesh, "services": [*mesh["services"][:index], {**s, field: value},
                                         *mesh["services"][index + 1:]]}
        source = rich_stack(mesh)
        if field != "state" and (warm / "stacks" / "fleet.py").read_text() == source:
            continue  # nothing to compile: the input record says so, and the test above covers it
        before = tree(warm / "generated")
        (warm / "stacks" / "fleet.py").write_text(source)
        warm_code, warm_record = compile_json(warm)
        cold = base / "cold"
        shutil.rmtree(cold, ignore_errors=True)
        shutil.copytree(warm / "stacks", cold / "stacks")
        if (warm / "state").exists():
            shutil.copytree(warm / "state", cold / "state")
        shutil.copy(warm / "pyproject.toml", cold / "pyproject.toml")
        cold_code, cold_record = compile_json(cold)
        what = f"after {field}={value!r} on {'the mesh' if index is None else f'svc-{index}'}"
        if warm_record.get("up_to_date"):  # back to the inputs of the last good compile: nothing to do
            assert cold_code == 0, what
        else:
            assert (warm_code, outcome(warm_record)) == (cold_code, outcome(cold_record)), what
        if cold_code == 0:
            assert tree(warm / "generated") == tree(cold / "generated"), what
        else:  # refused: the warm output is left as the last good compile wrote it
            assert tree(warm / "generated") == before, what


# -- analysis facts kept between compiles (meshcode.analyze.facts) -----------------------------------------

FACT_CALLS: list[object] = []  # module globals, not closures: the facts below are kept


def _hosts_fact(r):  # what a check derives from one object alone
    FACT_CALLS.append(r.obj)
    return list(r.obj["spec"]["hosts"])


def _domain_fact(domain: str):
    def fact(r):
        FACT_CALLS.append(domain)
        return f"{r.name}.{domain}"
    return fact


def test_a_fact_is_reused_only_for_an_object_with_the_same_content() -> None:
    import marshal

    from meshcode.analyze.facts import FactStore
    from meshcode.plan import Resource
    from meshcode.render.tree import content_key

    calls, hosts = FACT_CALLS, _hosts_fact

    def vs(hosts: object, flag: object = True) -> Resource:
        return Resource({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                         "metadata": {"name": "a", "namespace": "n", "labels": {"x": flag}}, "spec": {"hosts": hosts}})

    first = FactStore(content_key)
    calls.clear()
    assert first("hosts", vs(["a"]), hosts) == ["a"]
    saved = first.saved()
    assert saved is not None
    warm = FactStore(content_key, marshal.loads(saved))
    calls.clear()
    assert warm("hosts", vs(["a"]), hosts) == ["a"] and calls == []  # same content: looked up
    assert warm("hosts", vs(("a",)), hosts) == ["a"] and len(calls) == 1  # a tuple is not a list
    assert warm("hosts", vs(["a"], flag=1), hosts) == ["a"] and len(calls) == 2  # 1 is not True
    assert warm("other", vs(["a"]), hosts) == ["a"] and len(calls) == 3  # another fact, another key
    again = FactStore(content_key, marshal.loads(saved))
    again("hosts", vs(["a"]), hosts)
    assert again.saved() is None  # nothing new: the store is not rewritten


def test_a_fact_from_a_function_closing_over_more_than_plain_values_is_never_kept() -> None:
    import marshal

    from meshcode.analyze.facts import FactStore
    from meshcode.plan import Resource
    from meshcode.render.tree import content_key

    r = Resource({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}})
    index = {"domain": "cluster.local"}
    calls, with_domain = FACT_CALLS, _domain_fact

    def with_index(r: Resource) -> str:  # closes over a dict: what it derives may change with it
        calls.append("index")
        return index["domain"]

    first = FactStore(content_key)
    first("a", r, with_index)
    first("b", r, with_domain("cluster.local"))
    warm = FactStore(content_key, marshal.loads(first.saved() or b""))
    calls.clear()
    index["domain"] = "example.org"
    assert warm("a", r, with_index) == "example.org"  # derived again
    assert warm("b", r, with_domain("cluster.local")) == "a.cluster.local"  # kept: the same domain
    assert warm("b", r, with_domain("example.org")) == "a.example.org"  # another domain, another fact
    assert calls == ["index", "example.org"]


def test_the_analysis_with_kept_facts_finds_what_it_finds_without_them() -> None:
    """Every repository stack, and a plan with findings, analysed with an empty store, then with
    the store that run left (as the next compile would), then without any store: the same findings."""
    import marshal

    from meshcode import Mesh, Patch, Port, Service
    from meshcode.analyze import analyze_plan
    from meshcode.analyze.facts import FactStore
    from meshcode.compile import compile_mesh
    from meshcode.loader import load_stacks
    from meshcode.render.tree import content_key
    from tests.support.paths import ROOT

    api = Service("api", namespace="shop", ports=[Port(8080)], versions=["v1", "v2"])
    patch = Patch("VirtualService", "api", namespace="shop", cluster="east",
                  ops=[{"op": "replace", "path": "/spec/http/0/route/0/destination/subset", "value": "v3"}])
    meshes = [*load_stacks(ROOT / "stacks", ROOT), Mesh("m", clusters=["east", "west"], services=[api], patches=[patch])]
    for mesh in meshes:
        first = FactStore(content_key)
        found = analyze_plan(compile_mesh(mesh, root=str(ROOT)), first)
        warm = FactStore(content_key, marshal.loads(first.saved() or marshal.dumps({})))
        assert analyze_plan(compile_mesh(mesh, root=str(ROOT)), warm) == found == analyze_plan(
            compile_mesh(mesh, root=str(ROOT))), mesh.name
        assert warm.used and set(warm.used) <= set(warm.previous), mesh.name  # everything was looked up
    assert [f.code for f in found] == ["IST0101"]
