"""A tick whose stacks did not change decides from the plan kept by the last run of the stacks (issue 22).

The kept plan (.meshcode/canary-plans.json) must be exactly what running the stacks gives, a tick
through it must decide and record exactly what a tick through the stacks does (real Prometheus,
real git), and anything the stacks read changing must send the tick back to the stacks.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from git import Repo

from meshcode.app import plancache
from meshcode.app.canary import Job, load_project, step
from meshcode.app.project import Project
from tests.support.canary import git_project, stack_source
from tests.support.prometheus import PROMETHEUS, IstioExporter, PrometheusServer, Traffic

WEBHOOK = 'Webhook("gate", url_env="CART_GATE_URL", type="confirm-promotion", timeout="3s")'
VARIANTS = {
    "gates": stack_source('steps=[10, 50], interval="2m", threshold=3, gates=[SuccessRate(99.5, min_requests=5), '
                          'LatencyP99(250), PromQL("errors", "sum(rate(errors_total[{window}]))", max=1.0, '
                          'min_requests=3, requests_query="sum(rate(requests_total[{window}]))"), '
                          'Baseline(alpha=0.01, max_latency_ratio=1.5)], ' + f"webhooks=[{WEBHOOK}]",
                          imports="SuccessRate, LatencyP99, PromQL, Baseline, Webhook"),
    "clusters": stack_source('step_weight=20, max_weight=60, mirror_intervals=1, workload="{service}-{version}-app", '
                             'on_stall="pause", progress_deadline="30m"', clusters=("east", "west")),
    "ambient": stack_source('steps=[50]', imports="DataPlane").replace(
        'services=[svc])', 'services=[svc], data_plane=[DataPlane("ambient", namespace="shop")])'),
}


def _project(root: Path, **stacks: str) -> Project:
    (root / "stacks").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[tool.meshcode]\nrepo_url = "https://example.com/mesh.git"\n')
    for name, source in stacks.items():
        (root / "stacks" / f"{name}.py").write_text(source)
    return Project.open(root)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_kept_plan_is_the_plan_the_stacks_give(tmp_path, variant):
    project = _project(tmp_path / variant, shop=VARIANTS[variant])
    loaded = load_project(project)
    kept = plancache.load(project)
    assert kept is not None and loaded.ticks and kept.ticks == loaded.ticks
    assert kept.files == loaded.files and kept.reads == loaded.reads


def test_the_kept_plan_of_the_repositorys_stacks_is_the_plan_they_give(make_project):
    project = Project.open(make_project(copy_repo_stacks=True))
    loaded = load_project(project)
    kept = plancache.load(project)
    assert kept is not None and "bookinfo/bookinfo/reviews" in kept.ticks and kept.ticks == loaded.ticks
    reviews = kept.ticks["bookinfo/bookinfo/reviews"]
    assert [g.kind for g in reviews.gates] == ["success-rate", "latency-p99"]
    assert reviews.plan == loaded.targets["bookinfo/bookinfo/reviews"].plan


def test_a_webhook_url_written_in_a_stack_is_never_kept(tmp_path, monkeypatch):
    """A literal URL often carries a token in its path: nothing is kept, the tick runs the stacks."""
    source = stack_source('steps=[50], webhooks=[Webhook("gate", "https://hooks.example.com/T0/s3cr3t")]',
                          imports="Webhook")
    project = _project(tmp_path / "p", shop=source)
    load_project(project)
    assert plancache.load(project) is None
    assert not (project.root / ".meshcode" / plancache.CACHE_FILE).exists()
    monkeypatch.setenv("CART_GATE_URL", "https://hooks.example.com/T0/other")
    project = _project(tmp_path / "q", shop=VARIANTS["gates"])
    load_project(project)
    text = (project.root / ".meshcode" / plancache.CACHE_FILE).read_text()
    assert "hooks.example.com" not in text and "CART_GATE_URL" in text  # the variable's name, read at use


def test_any_doubt_is_the_stacks(tmp_path, monkeypatch):
    project = _project(tmp_path / "p", shop=VARIANTS["gates"])
    load_project(project)
    cache = project.root / ".meshcode" / plancache.CACHE_FILE
    assert plancache.load(project) is not None
    data = json.loads(cache.read_text())
    odd = json.loads(cache.read_text())
    odd["targets"]["shop/shop/cart"]["gates"][0]["kind"] = "anything"
    for broken in (json.dumps(odd), "{", json.dumps({**data, "code": "another meshcode"}), json.dumps({**data, "format": 0}),
                   json.dumps({**data, "targets": {"x": {"key": "x"}}}), json.dumps({**data, "reads": "0"})):
        cache.write_text(broken)
        assert plancache.load(project) is None
    cache.write_text(json.dumps(data))
    assert plancache.load(project) is not None
    monkeypatch.setenv("SOME_VARIABLE_THE_STACK_READS", "1")  # not read: still kept
    assert plancache.load(project) is not None
    (project.root / "stacks" / "other.py").write_text("")  # a new stack file
    assert plancache.load(project) is None
    (project.root / "stacks" / "other.py").unlink()
    assert plancache.load(project) is not None
    (project.root / "stacks" / "shop.py").write_text(VARIANTS["gates"].replace("threshold=3", "threshold=4"))
    assert plancache.load(project) is None


# ---- ticks through the kept plan, against a real Prometheus -----------------------------------
pytestmark_prometheus = pytest.mark.skipif(not Path(PROMETHEUS).exists(),
                                           reason="prometheus is not installed (./dev test installs it)")
PLAN = 'steps=[20, 50], interval="2s", threshold=3, gates=[SuccessRate(99, min_requests=20)]'


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    exporter = IstioExporter()
    exporter.set("quiet", "cart-v2", Traffic(rps=0))
    exporter.set("erroring", "cart-v2", Traffic(rps=50, error_rate=0.3))
    server = PrometheusServer(tmp_path_factory.mktemp("prometheus"), [exporter.target])
    server.start()
    server.wait_for('istio_requests_total{destination_workload_namespace="erroring"}')
    time.sleep(10)  # traffic over a whole window before the first tick judged below
    yield server
    server.stop()
    exporter.close()


def _runs(runs: Path, name: str) -> str:
    p = runs / name
    return p.read_text() if p.exists() else ""


def _history(root: Path) -> list[tuple[str, str]]:
    """(message, state file) of every commit: what the controller recorded."""
    with Repo(root) as repo:
        out = []
        for c in reversed(list(repo.iter_commits("HEAD"))):
            blobs = [b for b in c.tree.traverse() if b.type == "blob" and b.path.startswith("state/canaries/")]
            out.append((c.message, "".join(b.data_stream.read().decode() for b in blobs)))
        return out


@pytestmark_prometheus
@pytest.mark.parametrize("namespace, kinds", [("quiet", ["start", "hold", "hold", "hold"]),
                                              ("erroring", ["start", "fail-check", "fail-check", "rollback"])])
def test_a_tick_through_the_kept_plan_decides_and_records_as_through_the_stacks(
        tmp_path, monkeypatch, prometheus, namespace, kinds):
    runs = tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setenv("STACK_RUNS", str(runs))
    roots = {}
    for how in ("kept", "stacks"):
        source = (f"import os\nopen(os.path.join(os.environ['STACK_RUNS'], {how!r}), 'a').write('x')\n"
                  + stack_source(PLAN, namespace=namespace))
        roots[how] = git_project(tmp_path / how, source)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    times = [now - timedelta(seconds=s) for s in (9, 6.5, 4, 1.5)]  # judged on traffic already scraped
    outcomes: dict[str, list] = {"kept": [], "stacks": []}
    for i, at in enumerate(times):
        for how, root in roots.items():
            if how == "stacks":
                (root / ".meshcode" / plancache.CACHE_FILE).unlink(missing_ok=True)
            before = _runs(runs, how)
            outcomes[how].append(step(Job(Project.open(root), "cart", (prometheus.url,)), at))
            ran = len(_runs(runs, how)) - len(before)
            changed = outcomes[how][-1].action.changed
            if how == "stacks" or i == 0:
                assert ran == 1  # the stacks, once (and the compile of a move of traffic runs no second time)
            else:
                assert ran == int(changed and outcomes[how][-1].action.weight_from != outcomes[how][-1].action.weight_to)
    kept, stacks = outcomes["kept"], outcomes["stacks"]
    assert [o.action.kind for o in kept] == kinds
    assert [(o.action, o.state, o.commit is not None) for o in kept] == \
        [(o.action, o.state, o.commit is not None) for o in stacks]
    assert [o.target for o in kept] == [o.target for o in stacks]
    if namespace == "quiet":
        assert [o.action.changed for o in kept] == [True, True, False, False]  # a repeated hold: no commit
    else:
        assert [o.state.failed_checks for o in kept][:3] == [0, 1, 2] and kept[-1].state.phase == "failed"
    assert _history(roots["kept"]) == _history(roots["stacks"])
    for root in roots.values():
        with Repo(root) as repo:
            assert not repo.is_dirty(untracked_files=True)


@pytestmark_prometheus
def test_a_changed_stack_file_sends_the_tick_back_to_the_stacks(tmp_path, monkeypatch, prometheus):
    runs = tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setenv("STACK_RUNS", str(runs))
    prefix = "import os\nopen(os.path.join(os.environ['STACK_RUNS'], 'p'), 'a').write('x')\n"
    root = git_project(tmp_path / "repo", prefix + stack_source(PLAN, namespace="quiet"))
    now = datetime.now(timezone.utc).replace(microsecond=0)
    job = Job(Project.open(root), "cart", (prometheus.url,))
    assert step(job, now - timedelta(seconds=5)).action.kind == "start"
    assert step(job, now - timedelta(seconds=3)).action.kind == "hold"
    assert _runs(runs, "p") == "x"
    stack = root / "stacks" / "shop.py"
    stack.write_text(stack.read_text().replace("threshold=3", "threshold=5"))
    with Repo(root) as repo:
        repo.git.add("-A")
        repo.index.commit("threshold 5")
    o = step(replace(job, project=Project.open(root)), now - timedelta(seconds=1))
    assert _runs(runs, "p") == "xx" and o.target is not None and o.target.plan.threshold == 5
    kept = plancache.load(Project.open(root))
    assert kept is not None and kept.ticks["shop/quiet/cart"].plan.threshold == 5
