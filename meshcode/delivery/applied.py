"""When did the canary's current weight take effect? (I/O edge: git history + Argo CD's API.)

A decision is a commit; the weight is live only once Argo CD has synced a revision containing
it. A stage is judged from that moment on, never on traffic at the previous weight. The answer
is a `Sample` (check "applied") that `decide` reads and records, so replays reproduce it:
status "ok" with `value` = the UNIX time the weight was applied, or "no-data" (not yet).

Argo CD: `GET /api/v1/applications/<mesh>-<cluster>?appNamespace=<ns>` (one Application per
cluster folder, as the generated ApplicationSet names them), with a bearer token from
`ARGOCD_AUTH_TOKEN` (or `MESHCODE_ARGOCD_TOKEN`/`_FILE`). The time is the `deployedAt` of the
first entry of the Application's `status.history` whose revision contains the decision's commit;
with several clusters, the latest of them.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from typing import TYPE_CHECKING

import httpx

from meshcode.delivery.decide import APPLIED
from meshcode.delivery.http import Auth, refused
from meshcode.redact import redact_url as redact
from meshcode.state.canary import CanaryState, Sample
from meshcode.errors import StateError

if TYPE_CHECKING:
    from git import Repo

CHECK = APPLIED
PREFIX = "MESHCODE_ARGOCD"
_WALK = 200  # commits of the state file searched for the one that set the current weight


def _routing(state: CanaryState) -> tuple:
    return state.weight, state.mirror, state.ab_testing, state.phase in ("succeeded", "failed")


def weight_commit(repo: Repo, state_file: str, state: CanaryState) -> str | None:
    """The commit that set the routing the state has now (later holds and checks do not count)."""
    found = None
    for commit in repo.iter_commits(paths=state_file, max_count=_WALK):
        try:
            data = commit.tree[state_file].data_stream.read()
            older = CanaryState.model_validate_json(data)
        except (KeyError, ValueError):
            break
        if _routing(older) != _routing(state):
            break
        found = commit.hexsha
    return found


def _contains(repo: Repo, revision: str, sha: str) -> bool:
    """Does `revision` contain `sha`? A revision this checkout does not have yet is not known to."""
    if revision == sha:
        return True
    try:
        return bool(repo.is_ancestor(sha, revision))
    except Exception:  # noqa: BLE001 - GitPython raises several kinds for an unknown revision
        return False


def _parse_time(text: str) -> datetime | None:
    """Argo CD's RFC 3339 time; whole seconds are rounded up (the sync ended within that second)."""
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError, AttributeError):
        return None
    if t.tzinfo is None:
        return None
    return t + timedelta(seconds=1) if t.microsecond == 0 else t


class ArgoCD:
    """Argo CD's API server; one client per job."""

    def __init__(self, url: str, auth: Auth | None = None, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.auth = auth if auth is not None else Auth.from_env(PREFIX, token_fallback="ARGOCD_AUTH_TOKEN")
        self._client = self.auth.client(timeout)

    def application(self, name: str, namespace: str) -> dict | str:
        """The Application's JSON, or why there is none (unreachable, not found); 401/403 raise."""
        url = f"{self.url}/api/v1/applications/{name}"
        try:
            r = self._client.get(url, params={"appNamespace": namespace})
        except httpx.HTTPError as e:
            return f"Argo CD at {redact(self.url)} unreachable: {type(e).__name__}"
        if r.status_code in (401, 403):
            raise refused("Argo CD", self.url, r, PREFIX)
        if r.status_code == 404:
            return f"Argo CD has no Application {namespace}/{name}"
        if r.status_code != 200:
            return f"Argo CD answered HTTP {r.status_code} for Application {namespace}/{name}"
        try:
            body = r.json()
        except ValueError:
            return f"Argo CD did not answer JSON for Application {namespace}/{name}"
        return body if isinstance(body, dict) else f"Argo CD answered {type(body).__name__} for {name}"

    def applied(self, repo: Repo, sha: str, apps: list[tuple[str, str]]) -> Sample:
        """When every Application had synced a revision containing `sha` (the latest of them)."""
        times: list[datetime] = []
        for name, namespace in apps:
            app = self.application(name, namespace)
            if isinstance(app, str):
                return Sample(check=CHECK, status="no-data", query=redact(self.url), detail=app)
            status = app.get("status") if isinstance(app.get("status"), dict) else {}
            history = status.get("history") if isinstance(status.get("history"), list) else []
            deployed = [t for h in history if isinstance(h, dict)
                        and isinstance(h.get("revision"), str) and _contains(repo, h["revision"], sha)
                        and (t := _parse_time(h.get("deployedAt", ""))) is not None]
            if not deployed:
                sync = status.get("sync") if isinstance(status.get("sync"), dict) else {}
                at = str(sync.get("revision", "?"))[:10]
                return Sample(check=CHECK, status="no-data", query=redact(self.url),
                              detail=f"{namespace}/{name} is {sync.get('status', 'Unknown')} at {at}, "
                                     f"not yet at {sha[:10]}")
            times.append(min(deployed))
        latest = max(times)
        names = ", ".join(n for n, _ in apps)
        return Sample(check=CHECK, query=redact(self.url), value=latest.timestamp(),
                      detail=f"{sha[:10]} synced by {names} at {latest.isoformat()}")


def applications(mesh_name: str, clusters: tuple[str, ...], namespace: str) -> list[tuple[str, str]]:
    """The Applications the generated ApplicationSet makes for these clusters."""
    if not clusters:
        raise StateError(f"mesh {mesh_name} has no cluster to wait for")
    return [(f"{mesh_name}-{c}", namespace) for c in clusters]
