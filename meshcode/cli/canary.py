"""`meshcode canary ...`: the progressive-delivery controller's commands (each change a git commit)."""
from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer

from meshcode.cli.main import RootOption, app, fail
from meshcode.redact import redact
from meshcode.errors import MeshcodeError, StateError
from meshcode.app.project import Project

if TYPE_CHECKING:  # loaded when the command runs, not with every `meshcode` command
    from meshcode.app.canary import Job, Outcome
    from meshcode.delivery.report import CanaryStatus


canary_app = typer.Typer(help="Progressive delivery: step canary weights from metric gates, one commit per step.",
                         no_args_is_help=True)
app.add_typer(canary_app, name="canary")

PrometheusOption = typer.Option(
    None, "--prometheus", envvar="MESHCODE_PROMETHEUS",
    help="Prometheus URL, or CLUSTER=URL (repeat per cluster); default: [tool.meshcode] prometheus.")
PushOption = typer.Option(False, "--push", help="Push the commit; on a non-fast-forward, fetch and re-decide.")
WaitOption = typer.Option(0.0, "--wait", help="Seconds to wait for another job on this canary (default: exit).")
MetricsFileOption = typer.Option(
    None, "--metrics-file", envvar="MESHCODE_METRICS_FILE",
    help="Write the controller's metrics here (Prometheus text format) for a node-exporter textfile collector.")
PushgatewayOption = typer.Option(
    None, "--pushgateway", envvar="MESHCODE_PUSHGATEWAY",
    help="Push the controller's metrics to this Pushgateway (job meshcode_canary).")
ArgoCDOption = typer.Option(
    None, "--argocd", envvar="MESHCODE_ARGOCD",
    help="Argo CD API URL: a stage is judged only once Argo CD has synced its weight (token: ARGOCD_AUTH_TOKEN); "
         "default: [tool.meshcode] argocd.")
NowOption = typer.Option(None, "--now", help="Decide as of this ISO time instead of the clock (replays, tests).")


CLOCK_SKEW = timedelta(seconds=60)


def _now(value: Optional[str]) -> datetime | None:
    """`--now` is for tests and replays: a time after the real clock would move a real rollout early."""
    from meshcode.app.canary import utcnow

    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO time") from None
    t = t if t.tzinfo else t.replace(tzinfo=timezone.utc)
    if t > utcnow() + CLOCK_SKEW and os.environ.get("MESHCODE_TEST_CLOCK") != "1":
        raise StateError(f"--now {value} is in the future; --now is for tests and replays and cannot move a "
                         "rollout ahead of the clock (a test harness sets MESHCODE_TEST_CLOCK=1)")
    return t


def _job(name: str, root: Optional[Path], prometheus: Optional[List[str]], push: bool, wait: float,
         argocd: Optional[str] = None) -> Job:
    from meshcode.app.canary import Job

    return Job(Project.open(root), name, tuple(prometheus or ()), push, wait, argocd=argocd)


def _describe(outcome: Outcome) -> str:
    a = outcome.action
    text = f"{outcome.key}: {a.kind}"
    text += f" {a.weight_from}% → {a.weight_to}%" if a.weight_from != a.weight_to else f" at {a.weight_to}%"
    text += f" — {a.reason}"
    if outcome.recovered:
        text = f"{outcome.key}: committed a decision an earlier job wrote but did not commit " \
               f"({outcome.recovered[:10]})\n" + text
    if outcome.commit:
        text += f"\n  committed {outcome.commit[:10]}" + (", pushed" if outcome.pushed else "")
    elif outcome.pushed:
        text += "\n  pushed decisions committed earlier but not pushed"
    for warning in outcome.warnings:
        text += f"\n  warning: {warning}"
    return text


# Exit codes a scheduler can act on (the same for `step` and `run`).
# 1 is an error (bad input, git, lock) and 2 a usage error, as for every command.
EXIT_ROLLED_BACK = 3  # gates failed `threshold` times, or a stalled rollout rolled back
EXIT_CHECK_FAILED = 4  # a check failed; the weight is held until the threshold
EXIT_STALLED = 5  # progress deadline or inconclusive limit reached; the rollout paused


def exit_code(outcome: Outcome) -> int:
    """0 for progress, holds and waits; non-zero when a human or an alert should look."""
    kind = outcome.action.kind
    if kind in ("rollback", "stall") and outcome.state.phase == "failed":
        return EXIT_ROLLED_BACK
    if kind == "stall":
        return EXIT_STALLED
    if kind == "fail-check":
        return EXIT_CHECK_FAILED
    return 0


@canary_app.command("status")
def status_cmd(name: Optional[str] = typer.Argument(None, help="Canary (default: all)."),
               as_json: bool = typer.Option(False, "--json", help="One JSON document: a list of canaries."),
               watch: bool = typer.Option(False, "--watch", help="Redraw every --every seconds until Ctrl-C."),
               every: float = typer.Option(5.0, "--every", help="Seconds between redraws with --watch."),
               times: Optional[int] = typer.Option(None, "--times", hidden=True),
               root: Optional[Path] = RootOption) -> None:
    """Table of canaries: phase, weight, step, failed checks, last decision (exit 1 if a state is invalid)."""
    from meshcode.app.canary import statuses, utcnow

    shown = 0
    while True:
        try:
            rows = statuses(Project.open(root), name)
        except MeshcodeError as e:
            fail(e)
            return
        if watch and not as_json:
            typer.echo("\x1b[H\x1b[2J", nl=False)  # clear the terminal, like watch(1)
            typer.echo(f"every {every:g}s: meshcode canary status{' ' + name if name else ''}   "
                       f"{utcnow().strftime('%Y-%m-%d %H:%M:%S')} UTC\n")
        if as_json:
            typer.echo(json.dumps([r.as_json() for r in rows], sort_keys=True, indent=None if watch else 2))
        else:
            _table(rows)
        shown += 1
        if not watch or (times is not None and shown >= times):
            break
        try:
            time.sleep(every)
        except KeyboardInterrupt:
            return
    if any(r.error for r in rows):
        raise typer.Exit(1)


def _table(rows: list[CanaryStatus]) -> None:
    if not rows:
        typer.echo("no canary has a rollout plan (Canary(rollout=Rollout(...)))")
        return
    table = [("CANARY", "PHASE", "WEIGHT", "STEP", "FAILED", "LAST")]
    for r in rows:
        last = "-"
        if r.last_time:
            when = datetime.fromisoformat(r.last_time).strftime("%Y-%m-%d %H:%M:%S")
            last = f"{when} {r.last_action}: {r.last_reason}"
            if len(last) > 110:
                last = last[:109] + "…"
        weight = f"{r.weight}%" + (" (static)" if r.last_time is None and r.phase == "waiting" else "")
        step_ = f"{r.step}/{r.stages} {r.stage}" if r.step else f"-/{r.stages}"
        table.append((r.canary, r.phase, weight, step_, f"{r.failed_checks}/{r.threshold}", last))
    widths = [max(len(t[i]) for t in table) for i in range(5)]
    for t in table:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(t[:5], widths)) + "  " + t[5])
    for r in rows:
        if r.error:
            typer.echo(f"{r.canary}: {r.error}", err=True)


SEVERITY = (EXIT_ROLLED_BACK, EXIT_STALLED, EXIT_CHECK_FAILED, 1)  # the code `--all` exits with: the worst


@canary_app.command("step")
def step_cmd(name: Optional[str] = typer.Argument(None, help="Canary: name, namespace/name or mesh/namespace/name."),
             all_: bool = typer.Option(False, "--all", help="Step every canary with a rollout plan, each under "
                                                            "its own lock (one scheduled job for all)."),
             mesh: Optional[str] = typer.Option(None, "--mesh", help="With --all: only this mesh's canaries."),
             prometheus: Optional[List[str]] = PrometheusOption, push: bool = PushOption,
             wait: float = WaitOption, now: Optional[str] = NowOption, argocd: Optional[str] = ArgoCDOption,
             metrics_file: Optional[str] = MetricsFileOption, pushgateway: Optional[str] = PushgatewayOption,
             root: Optional[Path] = RootOption) -> None:
    """One tick: query gates, decide, write state, compile, commit (nothing if no check is due).

    Exit 0: advanced, held, waited or promoted; 1: error; 2: usage; 3: rolled back; 4: a check
    failed; 5: stalled (progress deadline or inconclusive limit) and paused. With --all: the
    worst of them (3, 5, 4, 1 in that order); one canary's error never stops the others.
    """
    from dataclasses import replace

    from meshcode.app.canary import plans, report_metrics, step

    if (name is None) == (not all_) or (mesh is not None and not all_):
        fail(StateError("name one canary, or pass --all (optionally with --mesh) to step every canary"))
        return
    try:
        when = _now(now)
        loaded = plans(Project.open(root)) if all_ else None  # the stacks run at most once for every canary
        names = [name] if loaded is None else sorted(k for k in loaded.ticks
                                                     if mesh is None or k.split("/")[0] == mesh)
    except MeshcodeError as e:
        fail(e)
        return
    codes = []
    for each in names:
        try:
            outcome = step(replace(_job(each, root, prometheus, push, wait, argocd), loaded=loaded), when)
        except MeshcodeError as e:
            if not all_:
                fail(e)
                return
            typer.echo(f"{each}: error: {redact(str(e))}", err=True)
            codes.append(1)
            continue
        typer.echo(_describe(outcome))
        codes.append(exit_code(outcome))
    for problem in report_metrics(Project.open(root), metrics_file, pushgateway):
        typer.echo(f"warning: {problem}", err=True)  # reporting never changes the outcome
    code = next((c for c in SEVERITY if c in codes), 0)
    if code:
        raise typer.Exit(code)


def _bar(weight: int, width: int = 20) -> str:
    filled = round(width * weight / 100)
    return "█" * filled + "░" * (width - filled)


@canary_app.command("run")
def run_cmd(name: str = typer.Argument(..., help="Canary to drive until it succeeds or fails."),
            prometheus: Optional[List[str]] = PrometheusOption, push: bool = PushOption,
            argocd: Optional[str] = ArgoCDOption, root: Optional[Path] = RootOption) -> None:
    """Tick every interval until the rollout succeeds (exit 0), fails (exit 3) or stalls and pauses (exit 5)."""
    from meshcode.app.canary import run, utcnow

    def show(o: Outcome) -> None:
        stamp = utcnow().strftime("%H:%M:%S")
        typer.echo(f"{stamp} {_bar(o.state.weight)} {o.state.weight:>3}% {o.state.phase:<11} "
                   f"{o.action.kind}: {o.action.reason}" + (f" [{o.commit[:10]}]" if o.commit else ""))

    try:
        job = _job(name, root, prometheus, push, 0.0, argocd)
        final = run(job, show, time.sleep)
    except KeyboardInterrupt:
        typer.echo("stopped; the rollout stays where it is (its state is committed)", err=True)
        raise typer.Exit(130)
    typer.echo(f"{final.key}: {final.state.phase}")
    if final.state.phase == "failed":
        raise typer.Exit(EXIT_ROLLED_BACK)
    if final.action.kind == "stall":
        raise typer.Exit(EXIT_STALLED)


def _run_command(what: str, name: str, reason: str, push: bool, wait: float, now: Optional[str],
                 root: Optional[Path]) -> None:
    from meshcode.app.canary import command

    try:
        outcome = command(_job(name, root, None, push, wait), what, _now(now), reason)  # type: ignore[arg-type]
    except MeshcodeError as e:
        fail(e)
        return
    typer.echo(_describe(outcome))
    if not outcome.action.changed:
        raise typer.Exit(1)


ReasonOption = typer.Option("", "--reason", help="Recorded in the history and the commit message.")


def _command(what: str):
    def cmd(name: str = typer.Argument(..., help="Canary."), reason: str = ReasonOption,
            push: bool = PushOption, wait: float = WaitOption, now: Optional[str] = NowOption,
            root: Optional[Path] = RootOption) -> None:
        _run_command(what, name, reason, push, wait, now, root)

    cmd.__doc__ = {
        "abort": "Roll back now: stable 100%, phase failed (say why with --reason).",
        "pause": "Hold the rollout where it is (its weights, always) until resumed.",
        "resume": "Continue a paused rollout with a fresh evidence window.",
        "retry": "Start a failed rollout again: from the weight it rolled back to, with fresh counters.",
    }[what]
    return cmd


for _what in ("abort", "pause", "resume", "retry"):
    canary_app.command(_what)(_command(_what))


@canary_app.command("promote")
def promote_cmd(name: str = typer.Argument(..., help="Canary."),
                full: bool = typer.Option(True, "--full/--next", help="--full (default): candidate 100% now, phase "
                                                                       "succeeded (also the manual approval); "
                                                                       "--next: only the next stage now."),
                reason: str = ReasonOption, push: bool = PushOption, wait: float = WaitOption,
                now: Optional[str] = NowOption, root: Optional[Path] = RootOption) -> None:
    """Promote now, skipping the remaining checks (--full), or move to the next stage (--next)."""
    _run_command("promote" if full else "promote-next", name, reason, push, wait, now, root)


@canary_app.command("replay")
def replay_cmd(name: str = typer.Argument(..., help="Canary whose recorded history to re-run."),
               root: Optional[Path] = RootOption) -> None:
    """Re-run every recorded decision through decide(); exit 1 if any does not reproduce."""
    from meshcode.app.canary import replay_canary

    target, state, (results, final) = replay_canary(Project.open(root), name)
    bad = 0
    for r in results:
        e = r.recorded
        mark = "ok  " if r.ok else "DIFF"
        typer.echo(f"{mark} {r.index + 1:>3} {e.time.isoformat()} {e.kind:<7} {e.action:<14} {e.weight:>3}% "
                   f"{e.reason}")
        for d in r.differences:
            typer.echo(f"       {d}")
        bad += not r.ok
    if final != state:
        typer.echo("DIFF final state differs from the recorded one")
        bad += 1
    typer.echo(f"{target.key}: {len(results) - bad}/{len(results)} decisions reproduce")
    if bad:
        raise typer.Exit(1)



@canary_app.command("deploy")
def deploy_cmd(image: str = typer.Option(..., "--image", help="Controller image (build it from the Dockerfile)."),
               out: Path = typer.Option(Path("deploy/canary"), "--out", help="Folder for the files (from the root)."),
               mesh: Optional[List[str]] = typer.Option(None, "--mesh", help="Mesh (repeat); default: every "
                                                                                "mesh with a canary rollout."),
               schedule: str = typer.Option("*/5 * * * *", "--schedule", help="Cron schedule of the job."),
               namespace: str = typer.Option("meshcode", "--namespace", help="Namespace of the CronJob."),
               repo: Optional[str] = typer.Option(None, "--repo", help="Repository to clone and push to; "
                                                                        "default: [tool.meshcode] repo_url."),
               branch: str = typer.Option("main", "--branch"),
               git_auth: str = typer.Option("token", "--git-auth", help="token (https) or ssh (deploy key)."),
               prometheus: Optional[str] = typer.Option(None, "--prometheus", help="Prometheus URL in the cluster."),
               prometheus_token: bool = typer.Option(False, "--prometheus-token",
                                                     help="Send the Secret's prometheus-token as a bearer token."),
               argocd: Optional[str] = typer.Option(None, "--argocd", help="Argo CD API URL (judge applied weights)."),
               meshcode_spec: Optional[str] = typer.Option(None, "--meshcode-spec",
                                                           help="pip requirement for meshcode in the image."),
               root: Optional[Path] = RootOption) -> None:
    """Write a Kubernetes CronJob + ServiceAccount per mesh and a Dockerfile: the controller where Prometheus is."""
    from meshcode.app.canary import targets

    from meshcode.delivery.deploy import ControllerSpec, controller_files

    try:
        project = Project.open(root)
        meshes = list(mesh or sorted({k.split("/")[0] for k in targets(project)}))
        if not meshes:
            raise StateError("no canary has a rollout plan (Canary(rollout=Rollout(...))): nothing to run")
        url = repo or project.settings.repo_url
        if not url:
            raise StateError("--repo URL (or repo_url in [tool.meshcode]): the repository the job clones and pushes to")
        if git_auth not in ("token", "ssh"):
            raise StateError(f"--git-auth is token or ssh, not {git_auth!r}")
        specs = [ControllerSpec(mesh=m, repo_url=url, image=image, branch=branch, schedule=schedule,
                                namespace=namespace, git_auth=git_auth,  # type: ignore[arg-type]
                                prometheus=prometheus, prometheus_token=prometheus_token, argocd=argocd,
                                root=_project_in_repo(project)) for m in meshes]
        files = controller_files(specs, meshcode_spec)
    except MeshcodeError as e:
        fail(e)
        return
    folder = project.root / out
    for path, data in files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    typer.echo(f"wrote {len(files)} files to {out}/ for mesh(es) {', '.join(meshes)}: build the image from "
               f"{out}/Dockerfile, create the Secret, then kubectl apply -k {out}/<mesh>")


def _project_in_repo(project: Project) -> str:
    """The project folder relative to its git repository's top ('.' when it is the top)."""
    for top in (project.root, *project.root.parents):
        if (top / ".git").exists():
            rel = project.root.relative_to(top).as_posix()
            return rel or "."
    return "."
