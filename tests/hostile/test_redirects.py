"""No call follows a redirect: a server that answers 301/302/307/308 never gets the API key, a
private key or an assertion re-sent to wherever it points (provisioner.httppolicy).

Two real HTTP servers on loopback: the one the tool is pointed at answers every request with a
redirect to the other, which records anything that reaches it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from provisioner.errors import RemoteError
from provisioner.secret import Secret
from provisioner.workflow2.records import build_jwt_record, derive_credential_id
from provisioner.workflow2.transport import Transport

API_KEY = "n8n_api_CANARYREDIRECTKEY0123456789"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, status: int, location: str) -> None:
        self.status, self.location = status, location
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append((self.command, self.path, dict(self.headers), body))
        self.send_response(self.server.status)
        if self.server.location:
            self.send_header("Location", self.server.location + self.path)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        return None


@contextmanager
def _serving(status: int, location: str = "") -> Iterator[_Server]:
    server = _Server(status, location)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def thief() -> Iterator[_Server]:
    """Where the redirects point: it must never see a request."""
    with _serving(200) as server:
        yield server


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_workflow2_transport_never_follows(thief: _Server, status: int,
                                           canary_private_key: str) -> None:
    with _serving(status, thief.url) as front:
        transport = Transport(front.url, Secret(API_KEY), instance_name="prod", attempts=1)
        record = build_jwt_record(
            id=derive_credential_id("prod", "jwt"), name="SF JWT", environment="production",
            client_id="3MVG9-ck", username="int@acme.test",
            private_key=Secret(canary_private_key), my_domain_url="https://acme.my.salesforce.com")
        with pytest.raises(RemoteError) as info:
            transport.request("POST", "/api/v1/credentials", op="create", record="SF JWT",
                              json=record.revealed_data(), accept=(200,), idempotent=False)
        assert len(front.seen) == 1 and thief.seen == []
        message = info.value.message
        assert f"answered HTTP {status}, a redirect to {thief.url}/api/v1/credentials" in message
        assert "never follows redirects" in message and API_KEY not in message
        assert "baseUrl" in (info.value.hint or "")


def test_token_endpoint_redirect_is_refused(thief: _Server, canary_private_key: str) -> None:
    from provisioner.salesforce.auth import jwt_bearer_token

    with _serving(307, thief.url) as front:
        with pytest.raises(RemoteError, match="answered HTTP 307, a redirect to"):
            jwt_bearer_token(front.url, "CK", "u@example.com", Secret(canary_private_key),
                             "https://login.salesforce.com")
        assert len(front.seen) == 1 and thief.seen == []


def test_callback_lookup_ignores_a_redirect(thief: _Server) -> None:
    from provisioner.workflow2.callback import resolve_callback_url

    with _serving(302, thief.url) as front:
        resolved = resolve_callback_url(front.url)
        assert (resolved.url, resolved.source) == (
            front.url + "/rest/oauth2-credential/callback", "derived")
        assert thief.seen == []
