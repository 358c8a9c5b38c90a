"""The runner: one tick = query → decide → write state → compile → commit (→ push).

Safety, in order of what can go wrong:
- two jobs in one checkout: a per-canary file lock; the second waits (`wait`) or exits clearly;
- two jobs in two checkouts: the second push is rejected; the runner fetches, and re-decides
  when the other job moved this canary (decide then sees the check was just made and waits),
  or re-applies its own decision on top when the other job touched something else;
- a job killed after writing state but before committing: the next job finds the state file
  differing from HEAD, compiles and commits it (the decision is kept, not re-made), then ticks.
State and generated/ are always committed together, so the repository never records a weight
the output does not have.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout

if TYPE_CHECKING:
    from git import Repo

from meshcode.delivery.decide import (
    Action,
    Command,
    apply_command,
    decide,
    due,
    fresh_state,
    judge_hook,
    window_seconds,
    with_notifications,
)
from meshcode.delivery.prometheus import Prometheus, collect
from meshcode.delivery.replay import Replayed, replay
from meshcode.state.canary import CanaryState
from meshcode.delivery.store import load_state, load_states, save_state, state_path
from meshcode.delivery.targets import CanaryTarget, find_canaries, resolve
from meshcode.delivery.webhooks import call_hooks
from meshcode.errors import StateError
from meshcode.gitops import git
from meshcode.loader import load_stacks
from meshcode.app.project import LockedError, Project
from meshcode.redact import redact

PUSH_ATTEMPTS = 5
_CLUSTER_PREFIX = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)=(.+)\Z")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Job:
    """One controller invocation on one canary (options from the CLI)."""

    project: Project
    name: str
    prometheus: tuple[str, ...] = ()  # "URL" or "CLUSTER=URL"; default: [tool.meshcode] prometheus
    push: bool = False
    wait: float = 0.0  # seconds to wait for another job's lock
    _sources: dict[str, Prometheus] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Outcome:
    key: str
    action: Action
    state: CanaryState
    commit: str | None = None
    recovered: str | None = None  # commit of a decision an earlier job wrote but did not commit
    pushed: bool = False
    note: str = ""


# ---- loading --------------------------------------------------------------------------------
def targets(project: Project) -> dict[str, CanaryTarget]:
    return find_canaries(load_stacks(project.stacks_dir))


def load(project: Project, name: str) -> tuple[CanaryTarget, CanaryState]:
    target = resolve(targets(project), name)
    state = load_state(project.state_dir, target.key) or fresh_state(target.plan, target.name)
    return target, state


def prometheus_sources(clusters: tuple[str, ...], given: tuple[str, ...],
                       setting: str | dict[str, str] | None) -> dict[str, Prometheus]:
    """Cluster → Prometheus; one object per URL, so a shared server is known to be shared."""
    default: str | None = None
    per_cluster: dict[str, str] = {}
    if isinstance(setting, dict):
        per_cluster.update(setting)
    elif setting:
        default = setting
    for item in (g.strip() for g in given):
        if not item:
            continue
        m = _CLUSTER_PREFIX.match(item)
        if m and "://" not in m.group(1):
            per_cluster[m.group(1)] = m.group(3)
        else:
            default = item
    by_url: dict[str, Prometheus] = {}
    out: dict[str, Prometheus] = {}
    for c in clusters:
        url = per_cluster.get(c, default)
        if not url:
            raise StateError(f"no Prometheus for cluster {c!r}: pass --prometheus URL (or {c}=URL), "
                             "or set prometheus in [tool.meshcode]")
        if url not in by_url:
            by_url[url] = Prometheus.connect(url)
        out[c] = by_url[url]
    return out


# ---- locking --------------------------------------------------------------------------------
def _lock_path(project: Project, key: str, what: str) -> str:
    folder = project.root / ".meshcode"
    folder.mkdir(exist_ok=True)
    return str(folder / f"canary-{key.replace('/', '.')}.{what}.lock")


@contextmanager
def canary_lock(project: Project, key: str, wait: float, what: str = "tick") -> Iterator[None]:
    """One job at a time per canary; the second waits up to `wait` seconds, then says why it stops."""
    lock = FileLock(_lock_path(project, key, what), timeout=wait)
    try:
        lock.acquire()
    except Timeout:
        doing = "run" if what == "run" else "step or change"
        raise LockedError(f"canary {key}: another job is about to {doing} it (lock {lock.lock_file}); "
                          f"not stepping it twice — try again later or pass --wait SECONDS") from None
    try:
        yield
    finally:
        lock.release()


# ---- committing -----------------------------------------------------------------------------
def commit_message(target: CanaryTarget, state: CanaryState, action: Action, note: str = "") -> str:
    """Subject with the move, body with every piece of evidence the decision was made from."""
    lines = [action.subject(target.name) + note, "", f"canary: {target.key}"]
    stages = len(target.plan.stages)
    lines.append(f"phase: {state.phase}  step: {state.step + 1}/{stages}  weight: {state.weight}%  "
                 f"failed checks: {state.failed_checks}/{target.plan.threshold}")
    entry = state.history[-1] if state.history else None
    if entry is not None:
        lines.append(f"time: {entry.time.isoformat()}")
        for e in (*entry.evidence, *entry.notifications):
            where = f" [{e.cluster}]" if e.cluster else ""
            value = "-" if e.value is None else f"{e.value:.6g}"
            reqs = "-" if e.requests is None else f"{e.requests:.0f}"
            lines.append(f"- {e.verdict}: {e.check}{where}: {e.why}")
            lines.append(f"  value={value} requests={reqs} window={e.window or '-'} status={e.status}")
            if e.query:
                lines.append(f"  query: {e.query}")
    return redact("\n".join(lines) + "\n")  # a commit is pushed: no URL in it keeps its credentials


def _paths(project: Project, repo: Repo, key: str) -> tuple[str, list[str]]:
    state_file = git.repo_path(repo, state_path(project.state_dir, key))
    return state_file, [state_file, git.repo_path(repo, project.output_dir)]


def commit_state(project: Project, repo: Repo, target: CanaryTarget, state: CanaryState, message: str) -> str:
    """Compile with the new state first (a compile error writes nothing), then write both and commit."""
    states = load_states(project.state_dir)
    states[target.key] = state
    build = project.build(states=states)
    with project.locked(wait=120):
        save_state(project.state_dir, target.key, state)
        project.write(build)
        _, paths = _paths(project, repo, target.key)
        return git.commit_paths(repo, paths, message)


def recover(project: Project, repo: Repo, target: CanaryTarget) -> str | None:
    """Commit a state file an earlier job wrote but never committed; its decision stands."""
    state_file, _ = _paths(project, repo, target.key)
    if not git.dirty(repo, [state_file]):
        return None
    state = load_state(project.state_dir, target.key)
    if state is None:
        raise StateError(f"{state_file} was deleted but not committed; restore it (git checkout) or commit "
                         "the deletion")
    entry = state.history[-1] if state.history else None
    action = Action(entry.action, entry.reason, entry.weight, entry.weight) if entry else \
        Action("recover", "state written but not committed", state.weight, state.weight)
    if entry is not None and len(state.history) > 1:
        action = Action(entry.action, entry.reason, state.history[-2].weight, entry.weight)
    message = commit_message(target, state, action, " [recovered: written by a job that stopped before committing]")
    return commit_state(project, repo, target, state, message)


# ---- the tick -------------------------------------------------------------------------------
def _notify(target: CanaryTarget, state: CanaryState, action: Action) -> CanaryState:
    """post-rollout hooks after promote/rollback, rollback hooks after a rollback: answers recorded."""
    types: tuple = ()
    if action.kind in ("promote",):
        types = ("post-rollout",)
    elif action.kind in ("rollback", "abort"):
        types = ("rollback", "post-rollout")
    if not types or not target.rollout.webhooks:
        return state
    hooks = {f"webhook:{h.name}": h for h in target.plan.hooks}
    answers = call_hooks(target, state, types)
    return with_notifications(state, [judge_hook(hooks[s.check], s) for s in answers])


def decide_now(job: Job, target: CanaryTarget, state: CanaryState, now: datetime) -> tuple[CanaryState, Action]:
    """Collect what the tick needs (Prometheus, webhooks), then the pure decision."""
    need = due(target.plan, state, now)
    samples = []
    if need.at is None or now >= need.at:
        if need.gates:
            if job._sources is None:
                job._sources = prometheus_sources(target.plan.clusters, job.prometheus,
                                                  job.project.settings.prometheus)
            for p in job._sources.values():
                p._cache.clear()
            samples += collect(target, job._sources, now, window_seconds(state, now))
        if need.hooks:
            samples += call_hooks(target, state, need.hooks)
    return decide(target.plan, state, samples, now)


Decider = Callable[[CanaryTarget, CanaryState, datetime], tuple[CanaryState, Action]]


def _once(job: Job, repo: Repo, target: CanaryTarget, decider: Decider, now: datetime) -> Outcome:
    stacks = git.dirty(repo, [git.repo_path(repo, job.project.stacks_dir)])
    if stacks:
        raise StateError(f"stacks have uncommitted changes ({', '.join(stacks[:3])}); commit them first so the "
                         "canary's commit records output of committed intent")
    recovered = recover(job.project, repo, target)
    state = load_state(job.project.state_dir, target.key) or fresh_state(target.plan, target.name)
    new, action = decider(target, state, now)
    if not action.changed:
        return Outcome(target.key, action, new, recovered=recovered)
    if new.done and not state.done:
        new = _notify(target, new, action)
    sha = commit_state(job.project, repo, target, new, commit_message(target, new, action))
    return Outcome(target.key, action, new, commit=sha, recovered=recovered)


def _with_push(job: Job, target: CanaryTarget, decider: Decider, now: datetime) -> Outcome:
    with git.open_repo(job.project.root) as repo:
        for _attempt in range(PUSH_ATTEMPTS):
            base = repo.head.commit if repo.head.is_valid() else None
            outcome = _once(job, repo, target, decider, now)
            if not job.push or (outcome.commit is None and outcome.recovered is None):
                return outcome
            made = _own_commits(repo, base)
            while True:
                result = git.push(repo)
                if result.ok:
                    return replace(outcome, pushed=True)
                if not result.rejected:
                    raise StateError(f"push failed: {result.detail}")
                upstream = git.fetch_upstream(repo)
                state_file, _ = _paths(job.project, repo, outcome.key)
                moved = git.file_at(upstream, state_file) != git.file_at(base, state_file)
                git.reset_keep(repo, upstream)
                target = resolve(targets(job.project), job.name)  # upstream may have changed the stacks
                if moved:
                    break  # another job moved this canary: decide again on top of what it did
                base = upstream
                for state, message in made:  # ours still stands: redo the same commits on top
                    outcome = replace(outcome, commit=commit_state(job.project, repo, target, state, message))
        raise StateError(f"gave up pushing after {PUSH_ATTEMPTS} attempts: the branch keeps moving")


def _own_commits(repo: Repo, base) -> list[tuple[CanaryState, str]]:
    """Our unpushed commits since `base`, oldest first, as (state, message) to redo them on top."""
    out = []
    commits = list(repo.iter_commits(f"{base.hexsha}..HEAD" if base is not None else "HEAD"))
    for c in reversed(commits):
        state = _state_in(c)
        if state is not None:
            out.append((state, c.message))
    return out


def _state_in(commit) -> CanaryState | None:
    """The canary state a commit of ours changed (each canary commit changes exactly one)."""
    for path in commit.stats.files:
        if str(path).endswith(".json") and "/canaries/" in f"/{path}":
            data = git.file_at(commit, str(path))
            if data is not None:
                return CanaryState.model_validate_json(data)
    return None


# ---- entry points ---------------------------------------------------------------------------
def step(job: Job, now: datetime | None = None) -> Outcome:
    """One tick: nothing happens unless a check is due; then exactly one decision is committed."""
    target = resolve(targets(job.project), job.name)
    with canary_lock(job.project, target.key, job.wait):
        return _with_push(job, target, lambda t, s, n: decide_now(job, t, s, n), now or utcnow())


def command(job: Job, what: Command, now: datetime | None = None, reason: str = "") -> Outcome:
    target = resolve(targets(job.project), job.name)
    with canary_lock(job.project, target.key, job.wait):
        return _with_push(job, target, lambda t, s, n: apply_command(t.plan, s, what, n, reason), now or utcnow())


def status(project: Project, name: str | None = None) -> list[tuple[CanaryTarget, CanaryState | None]]:
    found = targets(project)
    chosen = [resolve(found, name)] if name else [found[k] for k in sorted(found)]
    return [(t, load_state(project.state_dir, t.key)) for t in chosen]


def next_wake(target: CanaryTarget, state: CanaryState, now: datetime) -> float:
    """Seconds until the next check is due (an interval when waiting on people)."""
    need = due(target.plan, state, now)
    if need.at is None:
        return target.plan.interval if state.phase in ("paused", "promoting") else 0.0
    return max(0.0, (need.at - now).total_seconds())


def run(job: Job, on_outcome: Callable[[Outcome], None], sleep: Callable[[float], None],
        clock: Callable[[], datetime] = utcnow, max_ticks: int | None = None) -> Outcome:
    """Tick every interval until the rollout succeeds or fails; only one `run` per canary."""
    target = resolve(targets(job.project), job.name)
    with canary_lock(job.project, target.key, 0, what="run"):
        ticks = 0
        while True:
            tick_job = Job(job.project, job.name, job.prometheus, job.push, max(job.wait, 60.0), job._sources)
            outcome = step(tick_job, clock())
            job._sources = tick_job._sources
            on_outcome(outcome)
            ticks += 1
            if outcome.state.done or (max_ticks is not None and ticks >= max_ticks):
                return outcome
            target, state = load(job.project, job.name)
            sleep(max(0.2, next_wake(target, state, clock())))


def replay_canary(project: Project, name: str) -> tuple[CanaryTarget, CanaryState,
                                                       tuple[list[Replayed], CanaryState]]:
    """The recorded history of a canary re-run through decide (see meshcode.delivery.replay)."""
    target = resolve(targets(project), name)
    state = load_state(project.state_dir, target.key)
    if state is None:
        raise StateError(f"canary {target.key} has no recorded state yet")
    return target, state, replay(state)
