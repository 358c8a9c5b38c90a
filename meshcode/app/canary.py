"""The runner: one tick = query → decide → write state → compile → commit (→ push).

Safety, in order of what can go wrong:
- jobs on different canaries in one checkout: the decision, the render of every canary and
  the commit happen under the project lock, from the state on disk at that moment, so no job
  ever commits another canary's stale weights (only sample collection runs outside it);
- two jobs on one canary in one checkout: a per-canary file lock; the second waits (`wait`)
  or exits clearly;
- two jobs in two checkouts: the second push is rejected; the runner fetches, and re-decides
  when the other job moved this canary (decide then sees the check was just made and waits),
  or re-applies its own decision on top when the other job touched something else; pushes
  are bounded and a push the server refuses (hook, protected branch) is an error with git's
  message;
- a job killed after writing state but before committing: the next job finds the state file
  differing from HEAD with this job's pending mark, compiles and commits it (the decision is
  kept, not re-made), then ticks; an uncommitted change without the mark is a hand edit and is
  refused, never committed as a decision.
State and generated/ are always committed together, so the repository never records a weight
the output does not have.
"""
from __future__ import annotations

import hashlib
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from filelock import FileLock, Timeout

if TYPE_CHECKING:
    from git import Repo

    from meshcode.delivery.report import CanaryStatus
    from meshcode.delivery.targets import CanaryTarget
    from meshcode.intent.topology import Mesh

from meshcode.delivery.decide import (
    APPLIED,
    Action,
    Command,
    applied_time,
    apply_command,
    decide,
    due,
    fresh_state,
    judge_hook,
    window_seconds,
    with_notifications,
)
from meshcode.delivery.applied import ArgoCD, applications, weight_commit
from meshcode.delivery.prometheus import Prometheus, collect
from meshcode.delivery.notify import event_for, send
from meshcode.delivery.replay import Replayed, replay
from meshcode.state.canary import CanaryState, Sample, routing_inputs
from meshcode.delivery.store import load_state, load_states, parse_state, save_state, state_bytes, state_path
from meshcode.delivery.tickplan import TickTarget, resolve
from meshcode.delivery.webhooks import call_hooks
from meshcode.gitops.tree import refuse_unfinished
from meshcode.errors import MeshcodeError, StateError
from meshcode.app import inputs, plancache
from meshcode.gcpause import gc_paused
from meshcode.gitops import git
from meshcode.app.project import LockedError, Project
from meshcode.redact import redact

PUSH_ATTEMPTS = 5  # pushes per decision: each rejection by a race re-applies ours on the new upstream
DECIDE_ATTEMPTS = 5  # decisions per job when other jobs keep moving this canary
PROJECT_LOCK_WAIT = 300.0  # seconds a job waits for other jobs' commits in this checkout
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
    argocd: str | None = None  # Argo CD API URL: judge a stage only once its weight is synced (default: setting)
    _sources: dict[str, Prometheus] | None = field(default=None, repr=False)
    loaded: Plans | None = field(default=None, repr=False)  # stacks already run (step --all: once for all canaries)


@dataclass(frozen=True)
class Outcome:
    key: str
    action: Action
    state: CanaryState
    commit: str | None = None
    recovered: str | None = None  # commit of a decision an earlier job wrote but did not commit
    pushed: bool = False
    note: str = ""
    warnings: tuple[str, ...] = ()  # e.g. a notification that could not be sent: never changes the outcome
    target: TickTarget | None = field(default=None, compare=False, repr=False)  # the plan the tick decided by


# ---- loading --------------------------------------------------------------------------------
def targets(project: Project) -> dict[str, CanaryTarget]:
    from meshcode.delivery.targets import find_canaries
    from meshcode.loader import load_stacks

    return find_canaries(load_stacks(project.stacks_dir))


@dataclass(frozen=True)
class Loaded:
    """The stacks as a tick ran them (once per tick: the plan it decides by and the meshes it compiles),
    with what they read, so the tick can tell under the project lock whether they are still current."""

    meshes: list[Mesh]
    targets: dict[str, CanaryTarget]
    record: inputs.InputRecord
    files: tuple[str, ...]  # every file the stacks read: opened, and their local Python modules
    reads: str  # digest of those files, the folders listed, the paths probed, the environment variables read

    def current(self) -> bool:
        return plancache.reads_digest(self.files, self.record) == self.reads

    @cached_property
    def ticks(self) -> dict[str, TickTarget]:
        return {k: t.tick for k, t in self.targets.items()}


Plans = Loaded | plancache.CachedPlans  # what a tick decides by: the stacks run, or their plans kept


def plans(project: Project) -> Plans:
    """The canaries' tick plans: kept from the last run of the stacks when nothing they read changed,
    else from running them (which keeps them for the next tick)."""
    return plancache.load(project) or load_project(project)


def load_project(project: Project) -> Loaded:
    """Run the stacks, recording what they read (their modules: those the run imported); keep the plans."""
    from meshcode.delivery.targets import find_canaries
    from meshcode.loader import load_stacks

    before = dict(sys.modules)  # by object: a second load in one process imports the stacks afresh
    with gc_paused(), inputs.recording() as record:  # what the stacks allocate lives until the tick ends
        meshes = load_stacks(project.stacks_dir, project.root)
    modules = {os.path.abspath(f) for name, module in list(sys.modules.items()) if before.get(name) is not module
               and (f := getattr(module, "__file__", None)) and f.endswith(".py")}
    files = tuple(sorted(record.files | modules))
    loaded = Loaded(meshes, find_canaries(meshes), record, files, plancache.reads_digest(files, record))
    plancache.save(project, loaded.ticks, files, record, loaded.reads)
    return loaded


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
def commit_message(key: str, state: CanaryState, action: Action, note: str = "") -> str:
    """Subject with the move, body with every piece of evidence the decision was made from."""
    entry = state.history[-1] if state.history else None
    plan = state.plans.get(entry.plan) if entry is not None else None
    lines = [action.subject(key.rsplit("/", 1)[-1]) + note, "", f"canary: {key}"]
    stages = len(plan.stages) if plan else 0
    threshold = plan.threshold if plan else 0
    lines.append(f"phase: {state.phase}  step: {state.step + 1}/{stages}  weight: {state.weight}%  "
                 f"failed checks: {state.failed_checks}/{threshold}")
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


@contextmanager
def project_locked(project: Project, wait: float = PROJECT_LOCK_WAIT) -> Iterator[None]:
    """The repository-wide lock: every read of state that a decision, a render or a commit uses is under it."""
    lock = project.locked(wait=wait)
    try:
        yield
    finally:
        lock.release()


def _pending_path(project: Project, key: str) -> Path:
    folder = project.root / ".meshcode"
    folder.mkdir(exist_ok=True)
    return folder / f"canary-{key.replace('/', '.')}.pending"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def output_current(project: Project) -> bool:
    """Under the project lock, before a write: whether the output on disk is the compile of the stacks and
    states on disk (the input record of the last compile holds, files as meshcode left them).

    When it is not, every generated file is checked against the manifest: one edited by hand is never
    overwritten silently (the same refusal as compile --commit).
    """
    if inputs.unchanged(project, inputs.extra_inputs(project, None)):
        return True
    git.refuse_hand_edits(project.output_dir, project.settings.output, project.record_path)
    return False


def commit_state(project: Project, repo: Repo, key: str, state: CanaryState, message: str,
                 loaded: Plans | None = None, current: bool | None = None) -> str:
    """Render every canary from the state on disk now (this one replaced), then write both and commit.

    The caller holds the project lock, so no other job writes state or generated/ in between.
    A compile error or a foreign staged file stops before anything is written. The pending mark
    (the digest of the state written) lets the next job tell a decision this job wrote but did
    not commit from a hand edit.

    `current`: output_current(project), taken under this lock (None: take it here). When the output
    is current, a decision that changes no field the compiler reads (routing_inputs: a recorded
    hold, a failed check) needs no compile: the output stays byte for byte what a compile would
    write, and the commit carries the state (and generated/ as it is on disk, as always).
    """
    if current is None:
        current = output_current(project)
    states = load_states(project.state_dir)
    before = states.get(key)
    states[key] = state
    _, paths = _paths(project, repo, key)
    git.check_index(repo, paths)
    extra = inputs.extra_inputs(project, None)
    build = None
    if not (current and before is not None and routing_inputs(before) == routing_inputs(state)):
        loaded = loaded if isinstance(loaded, Loaded) and loaded.current() else load_project(project)
        with inputs.recording() as record:
            build = project.build(states=states, meshes=loaded.meshes)
    pending = _pending_path(project, key)
    pending.write_text(_digest(state_bytes(state)) + "\n")
    save_state(project.state_dir, key, state)
    if build is None:
        inputs.restate(project, extra)
    else:
        change = project.write(build)
        assert isinstance(loaded, Loaded)
        inputs.save(project, _merged(loaded.record, record), extra, change.generation)
    refuse_unfinished(project.output_dir)  # a commit never holds half of a write (docs/architecture.md)
    sha = git.commit_paths(repo, paths, message)
    pending.unlink(missing_ok=True)
    return sha


def _merged(a: inputs.InputRecord, b: inputs.InputRecord) -> inputs.InputRecord:
    """What the stacks read when the tick ran them, and what the compile read after."""
    return inputs.InputRecord(a.files | b.files, {**a.env, **b.env}, a.listings | b.listings, a.probes | b.probes)


def _key_of(project: Project, repo: Repo, rel_path: str) -> str | None:
    """'<mesh>/<namespace>/<name>' of a repository path under state/canaries, or None."""
    parts = rel_path.split("/")
    base = [p for p in git.repo_path(repo, project.state_dir / "canaries").split("/") if p]
    rest = parts[len(base):] if parts[:len(base)] == base else []
    if len(rest) != 3 or not rest[2].endswith(".json"):
        return None
    return f"{rest[0]}/{rest[1]}/{rest[2][:-len('.json')]}"


def settle(project: Project, repo: Repo, loaded: Plans | None = None) -> str | None:
    """Make the state on disk the committed state before anything is decided from it.

    A state file an earlier job wrote but did not commit (its pending mark matches) is committed
    as that job's decision; anything else uncommitted under state/canaries is a hand edit, which the
    controller never commits as its own decision: it stops and says how to resolve it.
    Returns the sha of the last recovery commit, if any.
    """
    canaries = project.state_dir / "canaries"
    recovered = None
    for f in git.dirty(repo, [git.repo_path(repo, canaries)]):
        path = Path(repo.working_tree_dir) / f  # type: ignore[arg-type]
        if re.search(r"\.json\.tmp-\d+\Z", f):  # half-written by a killed save_state: never the state
            path.unlink(missing_ok=True)
            continue
        key = _key_of(project, repo, f)
        if key is None:
            raise StateError(f"{f} is not a canary state file (state/canaries/<mesh>/<namespace>/<name>.json) "
                             "and is not committed; remove it or commit it yourself")
        pending = _pending_path(project, key)
        data = path.read_bytes() if path.exists() else None
        mark = pending.read_text().strip() if pending.exists() else None
        if data is None or mark != _digest(data):
            what = "was deleted" if data is None else "has changes"
            raise StateError(f"{f} {what} that the controller did not write (a hand edit?) and that are not "
                             f"committed; the controller never commits them as its decision. Discard them "
                             f"(git checkout -- {f}) or commit them yourself, then step again")
        state = load_state(project.state_dir, key)
        assert state is not None
        entry = state.history[-1] if state.history else None
        before = state.history[-2].weight if state.history and len(state.history) > 1 else state.weight
        action = Action(entry.action, entry.reason, before, entry.weight) if entry else \
            Action("recover", "state written but not committed", state.weight, state.weight)
        note = " [recovered: written by a job that stopped before committing]"
        # with generated/ as the stopped job left it; compiled again unless output_current() holds
        recovered = commit_state(project, repo, key, state, commit_message(key, state, action, note), loaded)
    for stale in (project.root / ".meshcode").glob("canary-*.pending"):
        stale.unlink(missing_ok=True)  # marks of writes that were committed, or never happened
    return recovered


# ---- the tick -------------------------------------------------------------------------------
def _notify(target: TickTarget, state: CanaryState, action: Action) -> CanaryState:
    """post-rollout hooks after promote/rollback, rollback hooks after a rollback: answers recorded."""
    types: tuple = ()
    if action.kind in ("promote",):
        types = ("post-rollout",)
    elif action.kind in ("rollback", "abort") or (action.kind == "stall" and state.phase == "failed"):
        types = ("rollback", "post-rollout")
    if not types or not target.hooks:
        return state
    hooks = {f"webhook:{h.name}": h for h in target.plan.hooks}
    answers = call_hooks(target, state, types)
    return with_notifications(state, [judge_hook(hooks[s.check], s) for s in answers])


def applied_sample(job: Job, repo: Repo, target: TickTarget, state: CanaryState) -> Sample | None:
    """When the current weight took effect, per Argo CD (None: no Argo CD configured, judge from the commit)."""
    url = job.argocd or job.project.settings.argocd
    if not url:
        return None
    state_file, _ = _paths(job.project, repo, target.key)
    sha = weight_commit(repo, state_file, state)
    if sha is None:
        return Sample(check=APPLIED, status="no-data", detail=f"the commit that set {state.weight}% is not found")
    return ArgoCD(url).applied(repo, sha, applications(target.mesh, target.plan.clusters, target.argocd_namespace))


def gather(job: Job, target: TickTarget, state: CanaryState, now: datetime, repo: Repo) -> list[Sample]:
    """Collect what the tick needs (Argo CD, Prometheus, webhooks): the I/O, done outside the project lock.

    With Argo CD configured, gates are queried only once the weight is applied, over a window that
    starts then: a stage is never judged on traffic at the previous weight.
    """
    need = due(target.plan, state, now)
    samples: list[Sample] = []
    if need.at is None or now >= need.at:
        if need.gates:
            applied_at = None
            applied = applied_sample(job, repo, target, state) if state.phase == "progressing" else None
            if applied is not None:
                samples.append(applied)
                applied_at = applied_time(applied)
                if applied_at is None or now < applied_at + timedelta(seconds=target.plan.interval):
                    return samples  # decide waits: not applied yet, or not a whole interval at this weight
            if job._sources is None:
                job._sources = prometheus_sources(target.plan.clusters, job.prometheus,
                                                  job.project.settings.prometheus)
            for p in job._sources.values():
                p._cache.clear()
            samples += collect(target, job._sources, now, window_seconds(state, now, applied_at))
        if need.hooks:
            samples += call_hooks(target, state, need.hooks)
    return samples


Gather = Callable[[TickTarget, CanaryState, datetime, "Repo"], list[Sample]]
Decider = Callable[[TickTarget, CanaryState, list[Sample], datetime], tuple[CanaryState, Action]]


def _prepare(job: Job, repo: Repo, key: str, loaded: Plans) -> tuple[TickTarget, CanaryState, str | None, Plans]:
    """Under the project lock: committed stacks, settled state, this canary's plan and state from disk.

    The stacks run again only when a file they read (or an environment variable) changed since.
    """
    stacks = git.dirty(repo, [git.repo_path(repo, job.project.stacks_dir)])
    if stacks:
        raise StateError(f"stacks have uncommitted changes ({', '.join(stacks[:3])}); commit them first so the "
                         "canary's commit records output of committed intent")
    if not loaded.current():
        loaded = plans(job.project)
    recovered = settle(job.project, repo, loaded)
    if key not in loaded.ticks:
        raise StateError(f"canary {key} no longer has a rollout plan in the stacks")
    target = loaded.ticks[key]
    state = load_state(job.project.state_dir, key) or fresh_state(target.plan, target.name)
    return target, state, recovered, loaded


def _tick(job: Job, gather_: Gather | None, decider: Decider, now: datetime) -> Outcome:
    """Decide, render and commit under the project lock, from the state on disk at that moment.

    Only the sample collection (Prometheus, webhooks) runs outside it, under this canary's own
    lock; if the canary's state or plan changed meanwhile, the samples are collected again.
    The stacks run once per tick, and again only if a file they read changed meanwhile.
    """
    loaded = job.loaded if job.loaded is not None and job.loaded.current() else plans(job.project)
    key = resolve(loaded.ticks, job.name).key
    with canary_lock(job.project, key, job.wait), git.open_repo(job.project.root) as repo:
        for _attempt in range(DECIDE_ATTEMPTS):
            with project_locked(job.project):
                target, state, recovered, loaded = _prepare(job, repo, key, loaded)
            samples = gather_(target, state, now, repo) if gather_ is not None else []
            with project_locked(job.project):
                target_now, current, more, loaded = _prepare(job, repo, key, loaded)
                if (target_now.plan, current) != (target.plan, state):
                    continue  # moved while the samples were collected: collect for what is there now
                recovered = more or recovered
                if current.history and now < current.history[-1].time:
                    raise StateError(f"canary {key}: {now.isoformat()} is before its last recorded decision "
                                     f"({current.history[-1].time.isoformat()}); time does not go backwards")
                base = repo.head.commit if repo.head.is_valid() else None
                new, action = decider(target, current, samples, now)
                outcome = Outcome(key, action, new, recovered=recovered, target=target)
                if action.changed:
                    up_to_date = output_current(job.project)  # refuses hand edits before anything is sent
                    if new.done and not current.done:
                        new = _notify(target, new, action)
                    sha = commit_state(job.project, repo, key, new, commit_message(key, new, action), loaded,
                                       up_to_date)
                    outcome = replace(outcome, state=new, commit=sha)
                if not job.push or (outcome.commit is None and not git.unpushed(repo)):
                    return outcome
                if _push(job, repo, key, base, loaded):
                    return replace(outcome, pushed=True)
            # another job moved this canary upstream: decide again on top of what it did
        raise StateError(f"canary {key}: its state kept changing while this job collected samples or pushed "
                         f"({DECIDE_ATTEMPTS} attempts); try again")


def _push(job: Job, repo: Repo, key: str, base, loaded: Plans | None = None) -> bool:
    """Push, bounded; on a race re-apply our commits on top. False: upstream moved this canary."""
    made = _own_commits(job.project, repo, base)
    for _attempt in range(PUSH_ATTEMPTS):
        result = git.push(repo)
        if result.ok:
            return True
        if not result.rejected:
            raise StateError(f"push rejected: {result.detail}")
        upstream = git.fetch_upstream(repo)
        if git.is_ancestor(repo, upstream, repo.head.commit):  # nothing new upstream: not a race
            raise StateError(f"push rejected: {result.detail}")
        state_file, _ = _paths(job.project, repo, key)
        moved = git.file_at(upstream, state_file) != git.file_at(base, state_file)
        git.reset_keep(repo, upstream)
        if moved:
            return False
        base = upstream
        for other, state, message in made:  # ours still stands: redo the same commits on top
            commit_state(job.project, repo, other, state, message, loaded)  # compiled: upstream's tree is checked out
    raise StateError(f"gave up pushing after {PUSH_ATTEMPTS} attempts: the branch keeps moving")


def _own_commits(project: Project, repo: Repo, base) -> list[tuple[str, CanaryState, str]]:
    """Our unpushed commits since `base`, oldest first, as (key, state, message) to redo them on top."""
    out = []
    commits = list(repo.iter_commits(f"{base.hexsha}..HEAD" if base is not None else "HEAD"))
    for c in reversed(commits):
        found = _state_in(project, repo, c)
        if found is not None:
            out.append((*found, c.message))
    return out


def _state_in(project: Project, repo: Repo, commit) -> tuple[str, CanaryState] | None:
    """The canary state a commit of ours changed (each canary commit changes exactly one)."""
    for path in commit.stats.files:
        key = _key_of(project, repo, str(path))
        if key is not None:
            data = git.file_at(commit, str(path))
            if data is not None:
                return key, parse_state(data, f"{path} at {commit.hexsha[:10]}")
    return None


# ---- entry points ---------------------------------------------------------------------------
def step(job: Job, now: datetime | None = None) -> Outcome:
    """One tick: nothing happens unless a check is due; then exactly one decision is committed."""
    now = now or utcnow()
    return _tell(_tick(job, lambda t, s, n, r: gather(job, t, s, n, r),
                       lambda t, s, samples, n: decide(t.plan, s, samples, n), now), now)


def command(job: Job, what: Command, now: datetime | None = None, reason: str = "") -> Outcome:
    now = now or utcnow()
    return _tell(_tick(job, None, lambda t, s, _samples, n: apply_command(t.plan, s, what, n, reason), now), now)


def _tell(outcome: Outcome, now: datetime) -> Outcome:
    """Notify people (Slack, Teams, webhook) of the decision; after the commit, and never blocking."""
    state = outcome.state
    if not state.history or state.history[-1].plan not in state.plans:
        return outcome
    a = outcome.action
    event = event_for(a.kind, a.changed, a.weight_from, a.weight_to, a.reason, outcome.key, state,
                      state.plans[state.history[-1].plan], now, outcome.commit)
    if event is None:
        return outcome
    return replace(outcome, warnings=(*outcome.warnings, *send(event)))


def status(project: Project, name: str | None = None) -> list[tuple[CanaryTarget, CanaryState | None]]:
    found = targets(project)
    chosen = [resolve(found, name)] if name else [found[k] for k in sorted(found)]
    return [(t, load_state(project.state_dir, t.key)) for t in chosen]


def statuses(project: Project, name: str | None = None, now: datetime | None = None) -> list[CanaryStatus]:
    """Every canary's status; a state that cannot be read is reported on its row, not raised."""
    from meshcode.delivery.report import canary_status

    found = targets(project)
    chosen = [resolve(found, name)] if name else [found[k] for k in sorted(found)]
    now = now or utcnow()
    out = []
    for t in chosen:
        try:
            out.append(canary_status(t, load_state(project.state_dir, t.key), now))
        except StateError as e:
            out.append(canary_status(t, None, now, error=redact(str(e))))
    return out


def report_metrics(project: Project, textfile: str | None, pushgateway: str | None,
                   now: datetime | None = None) -> list[str]:
    """Write the controller's metrics where a textfile collector or a Pushgateway reads them.

    Returns the problems (never raises): reporting must never block or undo a decision.
    """
    if not textfile and not pushgateway:
        return []
    from meshcode.delivery.report import metrics_text

    problems = []
    try:
        text = metrics_text(statuses(project, now=now), now or utcnow())
    except MeshcodeError as e:
        return [f"metrics not written: {redact(str(e))}"]
    if textfile:
        path = Path(textfile)
        try:
            tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
            tmp.write_text(text)
            os.replace(tmp, path)  # the collector never reads half a file
        except OSError as e:
            problems.append(f"metrics not written to {textfile}: {e.strerror or e}")
    if pushgateway:
        from meshcode.delivery.http import Auth

        url = pushgateway.rstrip("/") + "/metrics/job/meshcode_canary"
        try:
            with Auth.from_env("MESHCODE_PUSHGATEWAY").client(10.0) as client:
                r = client.put(url, content=text.encode(), headers={"Content-Type": "text/plain; version=0.0.4"})
            if r.status_code >= 300:
                problems.append(f"Pushgateway {redact(pushgateway)} answered HTTP {r.status_code}")
        except (httpx.HTTPError, MeshcodeError) as e:
            problems.append(f"Pushgateway {redact(pushgateway)} unreachable: {type(e).__name__}")
    return problems


def next_wake(target: CanaryTarget | TickTarget, state: CanaryState, now: datetime) -> float:
    """Seconds until the next check is due (an interval when waiting on people)."""
    need = due(target.plan, state, now)
    if need.at is None:
        return target.plan.interval if state.phase in ("paused", "promoting") else 0.0
    return max(0.0, (need.at - now).total_seconds())


def run(job: Job, on_outcome: Callable[[Outcome], None], sleep: Callable[[float], None],
        clock: Callable[[], datetime] = utcnow, max_ticks: int | None = None) -> Outcome:
    """Tick every interval until the rollout succeeds or fails; only one `run` per canary."""
    target: CanaryTarget | TickTarget = resolve(plans(job.project).ticks, job.name)
    with canary_lock(job.project, target.key, 0, what="run"):
        ticks = 0
        while True:
            tick_job = replace(job, wait=max(job.wait, 60.0))
            outcome = step(tick_job, clock())
            job._sources = tick_job._sources
            on_outcome(outcome)
            ticks += 1
            if outcome.state.done or outcome.action.kind == "stall" or (max_ticks is not None and ticks >= max_ticks):
                return outcome
            if outcome.target is not None:  # the plan this tick ran the stacks for: no second run
                target = outcome.target
                state = load_state(job.project.state_dir, target.key) or fresh_state(target.plan, target.name)
            else:
                target, state = load(job.project, job.name)
            if outcome.action.kind in ("hold", "wait") and not outcome.action.changed and \
                    next_wake(target, state, clock()) == 0:  # an unrecorded hold or wait: check again an interval on
                sleep(target.plan.interval)
            else:
                sleep(max(0.2, next_wake(target, state, clock())))


def replay_canary(project: Project, name: str) -> tuple[CanaryTarget, CanaryState,
                                                       tuple[list[Replayed], CanaryState]]:
    """The recorded history of a canary re-run through decide (see meshcode.delivery.replay)."""
    target = resolve(targets(project), name)
    state = load_state(project.state_dir, target.key, check=False)  # replay is how a bad state is examined
    if state is None:
        raise StateError(f"canary {target.key} has no recorded state yet")
    return target, state, replay(state)
