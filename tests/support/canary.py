"""Canary test helpers: a project in a real temporary git repository, and reading its history."""
from __future__ import annotations

import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

import yaml
from git import Repo

from meshcode.app.canary import Job, Outcome, load, next_wake, step
from meshcode.app.project import Project

STACK = '''\
from meshcode import Canary, Cluster, Mesh, Port, Rollout, Service, {imports}

svc = Service(
    "{service}", namespace="{namespace}", ports=[Port(8080)], versions=["v1", "v2"],
    canary=Canary(stable="v1", candidate="v2", rollout=Rollout({rollout})),
)
mesh = Mesh("shop", clusters=[{clusters}], services=[svc])
'''


def stack_source(rollout: str, namespace: str = "shop", service: str = "cart",
                 clusters: tuple[str, ...] = ("prod",), imports: str = "SuccessRate, LatencyP99") -> str:
    return STACK.format(rollout=rollout, namespace=namespace, service=service, imports=imports,
                        clusters=", ".join(f"Cluster({c!r})" for c in clusters))


def git_project(root: Path, source: str) -> Path:
    """A project folder with one stack, committed as the first commit of a fresh repository."""
    (root / "stacks").mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text('[tool.meshcode]\nrepo_url = "https://example.com/mesh.git"\n')
    (root / "stacks" / "shop.py").write_text(textwrap.dedent(source))
    (root / ".gitignore").write_text(".meshcode/\n__pycache__/\n")
    repo = Repo.init(root, initial_branch="main")
    with repo.config_writer() as c:
        c.set_value("user", "name", "test").set_value("user", "email", "test@example.com")
    repo.git.add("-A")
    repo.index.commit("stacks")
    repo.close()
    return root


def job(root: Path, *prometheus: str, **kw) -> Job:
    return Job(Project.open(root), "cart", tuple(prometheus), **kw)


def utc() -> datetime:
    return datetime.now(timezone.utc)


def tick(j: Job, limit: float = 30.0) -> Outcome:
    """Step until a decision is made (sleeping through 'not due yet'), as a scheduled job would.

    A repeated hold is a decision too, though it is not committed (issue 20: no commit per hold).
    """
    deadline = time.monotonic() + limit
    while True:
        outcome = step(j, utc())
        if outcome.action.changed or outcome.action.kind == "hold" or outcome.state.done \
                or time.monotonic() > deadline:
            return outcome
        target, state = load(j.project, j.name)
        time.sleep(max(0.05, next_wake(target, state, utc())))


def subjects(root: Path) -> list[str]:
    """Commit subjects, oldest first."""
    with Repo(root) as repo:
        return [c.summary for c in reversed(list(repo.iter_commits("HEAD")))]


def candidate_weights(root: Path, service: str = "cart", namespace: str = "shop", cluster: str = "prod",
                      version: str = "v2") -> list[int | None]:
    """The candidate's weight in the committed VirtualService at every commit (None: no file yet)."""
    path = f"generated/{cluster}/{namespace}/virtualservice-{service}.yaml"
    out: list[int | None] = []
    with Repo(root) as repo:
        for c in reversed(list(repo.iter_commits("HEAD"))):
            try:
                vs = yaml.safe_load(c.tree[path].data_stream.read())
            except KeyError:
                out.append(None)
                continue
            out.append(route_weight(vs, version))
    return out


def route_weight(vs: dict, version: str) -> int:
    """The version's weight in the default (last, match-less) HTTP route; weights must sum to 100."""
    route = vs["spec"]["http"][-1]["route"]
    total = sum(d.get("weight", 100) for d in route)
    assert total == 100, route
    return sum(d.get("weight", 100) for d in route if d["destination"].get("subset") == version)
