"""A webhook receiver on 127.0.0.1 for the canary tests: records every POST (path, JSON body) and
answers each path with the status the test sets (200 by default)."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookReceiver:
    def __init__(self) -> None:
        self.status: dict[str, int] = {}
        self.calls: list[tuple[str, dict]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.calls.append((self.path, body))
                self.send_response(receiver.status.get(self.path, 200))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def bodies(self, path: str) -> list[dict]:
        """The bodies sent to paths starting with `path`, in order."""
        return [b for p, b in self.calls if p.startswith(path)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
