"""The HTTPS server: routing, fault injection, and the in-process start/stop API.

One thread per connection (``ThreadingHTTPServer``); TLS is negotiated in that thread, so a slow
client never blocks the accept loop. The org model does its own locking.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from provisioner.errors import ProvisionerError
from provisioner.fsutil import naming, private_folder

from . import mdapi, oauth, rest
from .faults import MAX_LATENCY, FaultInjector, FaultSpec
from .org import Org
from .soap import Response, SoapFault, fault_response
from .tlsgen import ensure_certificates, server_context
from .xmlcodec import MAX_REQUEST_BYTES

_PORT_FILE = "server.json"
_DRAIN_LIMIT = 64 * 1024 * 1024
_FAULT_MESSAGES = {
    "REQUEST_LIMIT_EXCEEDED": "TotalRequests Limit exceeded.",
    "INVALID_SESSION_ID": "Invalid Session ID found in SessionHeader: Illegal Session. Session "
                          "not found, missing session hash",
}


def default_state_dir() -> Path:
    """``$PROVISIONER_SANDBOX_DIR``, else ``$XDG_STATE_HOME/provisioner/sandbox``."""
    if os.environ.get("PROVISIONER_SANDBOX_DIR"):
        return Path(os.environ["PROVISIONER_SANDBOX_DIR"])
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "provisioner" / "sandbox"


class SandboxPortTaken(ProvisionerError):
    """The embedded org's port is in use: it keeps its URL rather than move (see keep_port)."""

    def __init__(self, port: int, state_dir: Path) -> None:
        super().__init__(
            f"the embedded sandbox in {state_dir} serves at https://127.0.0.1:{port} (its My "
            f"Domain URL, which Workflow² JWT credentials hold), and port {port} is in use: "
            "another provisioner run may be using this sandbox now",
            "wait for that run to finish and run again; to move the sandbox for good, free the "
            f"port or delete {state_dir / _PORT_FILE}: the next apply then rewrites the JWT "
            "credentials for the new URL (with new keys)",
        )


@dataclass(frozen=True)
class SandboxOptions:
    """How to run a sandbox. ``port=None`` reuses the port persisted in ``state_dir`` if free."""

    state_dir: Path
    port: int | None = None
    propagation_delay: float = 0.0
    faults: tuple[FaultSpec | str, ...] = ()
    seed: int = 0
    seed_file: Path | None = None
    max_request_bytes: int = MAX_REQUEST_BYTES
    #: Refuse to start when the persisted port is taken, instead of moving to a free one: the
    #: port is part of the org's URL (its My Domain), which Workflow² JWT credentials hold.
    keep_port: bool = False
    #: Called with (username, app, access token) for every session the org issues, from the
    #: first one on (a test counting sign-ins and planting the tokens as canaries).
    on_session: Callable[[str, str, str], None] | None = None


@dataclass(frozen=True)
class DeployCredentials:
    """How the tool signs in to deploy: JWT bearer as ``username`` through app ``client_id``."""

    client_id: str
    username: str
    private_key_path: Path


class _Handler(BaseHTTPRequestHandler):
    server: _TLSServer
    protocol_version = "HTTP/1.1"
    timeout = 30  # idle keep-alive connections give their thread back
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server_version = "SalesforceSandbox"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: request lines are noise here and nothing about a request is logged."""

    def _send(self, resp: Response) -> None:
        status, headers, body = resp
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def do_GET(self) -> None:
        """Userinfo/identity and a small API version listing."""
        self._dispatch(b"")

    def do_POST(self) -> None:
        """Token endpoint and Metadata API."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self._send((411, {"Content-Type": "text/plain"}, b"Length Required"))
            self.close_connection = True
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > self.server.sandbox.options.max_request_bytes:
            # Drain a bounded amount so the client sees the 413 rather than a reset mid-upload.
            remaining = min(max(length, 0), _DRAIN_LIMIT)
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 65536))
                if not chunk:
                    break
                remaining -= len(chunk)
            self._send((413, {"Content-Type": "text/plain"}, b"Request Entity Too Large"))
            self.close_connection = True
            return
        self._dispatch(self.rfile.read(length))

    def _dispatch(self, body: bytes) -> None:
        sandbox = self.server.sandbox
        org = sandbox.org
        path = urlsplit(self.path).path
        if path == "/services/oauth2/token" and self.command == "POST":
            endpoint = "token"
            form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            operation = form.get("grant_type", "")
        elif path == "/services/oauth2/userinfo" or path.startswith("/id/"):
            endpoint, operation = "userinfo", "userinfo"
        elif path.startswith("/services/Soap/m/") and self.command == "POST":
            endpoint, operation = "soap", mdapi.operation_name(body)
        elif path.startswith("/services/data"):
            endpoint, operation = "rest", "query" if "/query" in path else "versions"
        else:
            endpoint = operation = "other"
        fail_deploy = False
        # Latency first, so a delayed error is still delayed.
        hits = sorted(sandbox.faults.pick(endpoint, operation), key=lambda f: f.kind != "latency")
        for spec in hits:
            if spec.kind == "latency":
                time.sleep(min(spec.value or 0.0, MAX_LATENCY))
            elif spec.kind == "drop":
                org.record(endpoint, operation, 0)
                return self._drop()
            elif spec.kind == "fail" and operation == "deploy":
                fail_deploy = True
            else:
                resp = _injected(spec, endpoint)
                org.record(endpoint, operation, resp[0])
                return self._send(resp)
        user = None
        try:
            if endpoint == "token":
                resp = oauth.token(org, form)
            elif endpoint == "userinfo":
                resp = oauth.userinfo(org, self.headers.get("Authorization"))
            elif endpoint == "soap":
                resp, operation, user = mdapi.handle(org, path, body, fail_deploy=fail_deploy)
            elif path.rstrip("/") == "/services/data" and self.command == "GET":
                resp = rest.versions()
            elif re.fullmatch(r"/services/data/v\d+\.\d/query/?", path) and self.command == "GET":
                resp = rest.query(org, self.path, self.headers.get("Authorization"))
            else:
                resp = (404, {"Content-Type": "application/json"},
                        json.dumps([{"errorCode": "NOT_FOUND",
                                     "message": "The requested resource does not exist"}]).encode())
        except Exception as exc:  # a bug must not kill the connection thread
            # Only the exception type is reported: its text could echo request data.
            resp = fault_response(SoapFault("UNKNOWN_EXCEPTION",
                                            f"sandbox internal error ({type(exc).__name__})"))
        org.record(endpoint, operation, resp[0], user)
        self._send(resp)


def _injected(spec: FaultSpec, endpoint: str) -> Response:
    if spec.kind.startswith("http") or spec.kind == "fail":
        status = int(spec.kind[4:]) if spec.kind.startswith("http") else 500
        return status, {"Content-Type": "text/html"}, b"<html><body>Service Unavailable</body></html>"
    message = _FAULT_MESSAGES.get(spec.kind, "injected by the sandbox")
    if endpoint == "soap":
        return fault_response(SoapFault(spec.kind, message))
    return 403, {"Content-Type": "application/json"}, json.dumps(
        [{"errorCode": spec.kind, "message": message}]).encode()


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, port: int, sandbox: SandboxServer, ctx: ssl.SSLContext) -> None:
        self.sandbox = sandbox
        self.ctx = ctx
        super().__init__(("127.0.0.1", port), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Negotiate TLS in the connection's own thread, then serve it."""
        request.settimeout(15)
        for spec in self.sandbox.faults.pick("connect", "connect"):
            if spec.kind == "latency" and spec.value:
                time.sleep(min(spec.value, MAX_LATENCY))  # a handshake's round trips
            elif spec.kind == "drop":
                return
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # a client that does not trust us, or went away mid-handshake
        try:
            self.RequestHandlerClass(tls, client_address, self)  # type: ignore[arg-type]
        finally:
            tls.close()


class SandboxServer:
    """An HTTPS Salesforce org on 127.0.0.1. Use ``start()``/``stop()`` or ``with``."""

    def __init__(self, options: SandboxOptions) -> None:
        self.options = options
        state_dir = Path(options.state_dir)
        private_folder(state_dir)  # it holds keys: 0700, and so do folders made for it
        self.state_dir = state_dir
        self.ca_file: Path = ensure_certificates(state_dir)
        self.org = Org(state_dir, seed_file=options.seed_file,
                       propagation_delay=options.propagation_delay)
        if options.on_session is not None:
            self.org.session_listeners.append(options.on_session)
        specs = tuple(FaultSpec.parse(f) if isinstance(f, str) else f for f in options.faults)
        self.faults = FaultInjector(specs, options.seed)
        self._httpd: _TLSServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``https://127.0.0.1:PORT``: login host, My Domain URL and instance URL at once."""
        if self._httpd is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        return f"https://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self.url.rsplit(":", 1)[1])

    def _bind(self) -> _TLSServer:
        ctx = server_context(self.state_dir)
        if self.options.port is not None:
            return _TLSServer(self.options.port, self, ctx)
        port_file = self.state_dir / _PORT_FILE
        try:
            saved = int(json.loads(port_file.read_text())["port"])
        except (OSError, ValueError, KeyError, TypeError):
            saved = 0
        if saved:
            try:
                return _TLSServer(saved, self, ctx)
            except OSError as exc:
                if self.options.keep_port:
                    raise SandboxPortTaken(saved, self.state_dir) from exc
                # taken by someone else: take any free port
        return _TLSServer(0, self, ctx)

    def start(self) -> SandboxServer:
        """Bind, persist the port, and serve in a background thread."""
        if self._httpd is not None:
            return self
        self._httpd = self._bind()
        with naming(self.state_dir / _PORT_FILE):
            (self.state_dir / _PORT_FILE).write_text(json.dumps({"port": self.port}))
        self.org.url = self.url
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name="sandbox-https", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (open keep-alive connections are abandoned)."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None
        self.org.save()  # sessions issued since the last durable change survive a clean stop

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def deploy_credentials(self) -> DeployCredentials:
        """The seeded admin and bootstrap app the tool signs in with to deploy."""
        boot = self.org.data["bootstrap"]
        return DeployCredentials(client_id=boot["consumerKey"], username=boot["username"],
                                 private_key_path=self.org.bootstrap_key_path)
