"""A simulated Argo CD: syncs each new revision of a branch `lag` seconds after it appears.

It serves the part of Argo CD's API the controller reads (`GET /api/v1/applications/<name>`
with `status.sync` and `status.history[].{revision, deployedAt}`), checks the bearer token like
the real API server (401 without it), and calls `on_apply(sha)` when a revision is "synced", so a
test can make the traffic follow the weight that is really applied.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from git import Repo


class SimArgoCD:
    def __init__(self, repo: Path, apps: list[str], lag: float, token: str = "argocd-test-token",
                 on_apply: Callable[[str], None] | None = None, branch: str = "main") -> None:
        self.repo, self.apps, self.lag, self.token, self.branch = repo, set(apps), lag, token, branch
        self.on_apply = on_apply or (lambda sha: None)
        self.history: list[dict[str, str]] = []
        self.synced: str | None = None
        self._queue: list[tuple[float, str]] = []  # (apply at, sha) in the order the revisions appeared
        self._seen: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        sim = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                if self.headers.get("Authorization") != f"Bearer {sim.token}":
                    return self._send(401, {"error": "no session information", "code": 16})
                name = self.path.split("?", 1)[0].rsplit("/", 1)[-1]
                if name not in sim.apps:
                    return self._send(404, {"error": f"applications.argoproj.io \"{name}\" not found", "code": 5})
                self._send(200, sim.application(name))

            def _send(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _head(self) -> str | None:
        try:
            with Repo(self.repo) as repo:
                return repo.heads[self.branch].commit.hexsha
        except (IndexError, ValueError, OSError):
            return None

    def _watch(self) -> None:
        while not self._stop.is_set():
            head, now = self._head(), time.monotonic()
            if head and head != self._seen:
                self._seen = head
                self._queue.append((now + self.lag, head))
            while self._queue and self._queue[0][0] <= now:
                _, sha = self._queue.pop(0)
                with self._lock:
                    self.synced = sha
                    self.history.append({"revision": sha, "deployedAt": datetime.now(timezone.utc)
                                         .strftime("%Y-%m-%dT%H:%M:%SZ"), "id": len(self.history)})
                self.on_apply(sha)
            time.sleep(0.05)

    def application(self, name: str) -> dict:
        with self._lock:
            head = self._seen
            return {"metadata": {"name": name, "namespace": "argocd"},
                    "status": {"sync": {"status": "Synced" if self.synced == head else "OutOfSync",
                                        "revision": self.synced or ""},
                               "history": list(self.history)}}

    def close(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
