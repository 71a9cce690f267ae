"""A scripted token endpoint on 127.0.0.1 for unit tests of the token exchange and verifier.

Plain http is accepted by the adapter only for loopback, which is exactly what this serves. Each
path answers from its own queue of ``(status, body)`` (the last entry repeats), and every request
is recorded with its decoded form and headers.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

Answer = tuple[int, Any]


@dataclass
class Script:
    """Queued answers per path and the requests seen."""

    answers: dict[str, list[Answer]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""

    def on(self, path: str, *answers: Answer) -> None:
        """Queue answers for ``path`` (the last one repeats)."""
        self.answers[path] = list(answers)

    def forms(self, path: str = "/services/oauth2/token") -> list[dict[str, str]]:
        """The decoded forms POSTed to ``path``."""
        return [r["form"] for r in self.requests if r["path"] == path]

    def next_answer(self, path: str) -> Answer:
        queue = self.answers.get(path)
        if not queue:
            return 404, {"error": "not_found", "error_description": "no such path"}
        return queue.pop(0) if len(queue) > 1 else queue[0]


def token_ok(base_url: str) -> Answer:
    """A successful token response pointing back at ``base_url``."""
    return 200, {
        "access_token": "00DTESTTOKEN!canary-access-token",
        "instance_url": base_url,
        "id": f"{base_url}/id/00D000000000001AAA/005000000000001AAA",
        "token_type": "Bearer",
        "scope": "api web",
        "issued_at": "1700000000000",
    }


@contextmanager
def scripted_server() -> Iterator[Script]:
    """Run a scripted server for the duration of the block."""
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            path = self.path.split("?", 1)[0]
            script.requests.append({"path": path, "form": form, "headers": dict(self.headers)})
            status, body = script.next_answer(path)
            if status == 0:  # drop the connection without an answer
                self.close_connection = True
                self.connection.shutdown(2)
                return
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = _answer
        do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    script.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield script
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
