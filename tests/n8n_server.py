"""pytest plugin: a real Workflow² (n8n) server for integration tests.

Load it with ``pytest_plugins = ["tests.n8n_server"]``. The session-scoped ``workflow2_server``
fixture starts the n8n that ``.ci/install-n8n.sh`` installed (cache folder
``$PROVISIONER_N8N_CACHE`` or ``~/.cache/provisioner-n8n``) on 127.0.0.1 with free ports, a fresh
user folder and a known encryption key; waits until its API answers; creates the owner and an
API key over its REST API; and stops it at the end of the session.

Missing install: the fixture fails when ``CI=true`` (``.ci/run`` always provides a server) and
skips otherwise, telling the developer to run ``.ci/install-n8n.sh``.

If a ``sandbox_ca_file`` fixture exists (the Salesforce emulator's CA file) or
``PROVISIONER_N8N_EXTRA_CA`` is set, the server starts with ``NODE_EXTRA_CA_CERTS`` pointing at it,
so its own outbound calls (credential tests) trust the emulator.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

N8N_VERSION = "2.41.1"
#: The oldest Workflow² version README.md lists as supported: its "Salesforce JWT API" has no
#: myDomainUrl (added in 2.20.0) and its API has no GET by id. CI installs it too (.ci/run).
OLDEST_N8N_VERSION = "2.8.4"
READY_TIMEOUT = 120.0
STOP_TIMEOUT = 20.0
API_KEY_SCOPES = [
    "credential:create",
    "credential:read",
    "credential:list",
    "credential:update",
    "credential:delete",
    "credential:move",
]
REPO_ROOT = Path(__file__).resolve().parent.parent


def n8n_cache_dir() -> Path:
    """Where ``.ci/install-n8n.sh`` installs n8n and Node."""
    default = Path.home() / ".cache" / "provisioner-n8n"
    return Path(os.environ.get("PROVISIONER_N8N_CACHE") or default)


def find_install(version: str = N8N_VERSION) -> tuple[Path, Path] | None:
    """``(node_bin, n8n_bin)`` of a complete install of ``version``, or ``None``."""
    cache = n8n_cache_dir()
    node_bin = cache / "node" / "node_modules" / "node" / "bin" / "node"
    folder = "n8n" if version == N8N_VERSION else f"n8n-{version}"
    n8n_bin = cache / folder / "node_modules" / "n8n" / "bin" / "n8n"
    marker = cache / f".complete-n8n-{version}"
    if marker.is_file() and node_bin.is_file() and n8n_bin.is_file():
        return node_bin, n8n_bin
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Workflow2Server:
    """A running n8n for tests. ``api_key`` is a plain str here; wrap it in ``Secret`` to use."""

    owner_email = "owner@provisioner.test"

    def __init__(
        self, node_bin: Path, n8n_bin: Path, user_folder: Path, *, extra_ca: str | None = None
    ) -> None:
        self.node_bin = node_bin
        self.n8n_bin = n8n_bin
        self.user_folder = user_folder
        self.encryption_key = secrets.token_hex(24)
        self.owner_password = "Pv-" + secrets.token_hex(8) + "A1"
        self.api_key = ""
        self.port = free_port()
        self.broker_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = user_folder.parent / f"{user_folder.name}.log"
        self.extra_ca = extra_ca
        self.start_seconds = 0.0
        self._proc: subprocess.Popen[bytes] | None = None
        self.env = self._build_env()

    def __repr__(self) -> str:
        return f"Workflow2Server(base_url={self.base_url!r}, user_folder={str(self.user_folder)!r})"

    def _build_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("N8N_", "DB_"))}
        env["PATH"] = f"{self.node_bin.parent}{os.pathsep}{env.get('PATH', '')}"
        env.update(
            N8N_LISTEN_ADDRESS="127.0.0.1",
            N8N_HOST="127.0.0.1",
            N8N_PORT=str(self.port),
            N8N_PROTOCOL="http",
            N8N_RUNNERS_BROKER_LISTEN_ADDRESS="127.0.0.1",
            N8N_RUNNERS_BROKER_PORT=str(self.broker_port),
            DB_TYPE="sqlite",
            N8N_USER_FOLDER=str(self.user_folder),
            N8N_ENCRYPTION_KEY=self.encryption_key,
            N8N_SECURE_COOKIE="false",
            N8N_DIAGNOSTICS_ENABLED="false",
            N8N_VERSION_NOTIFICATIONS_ENABLED="false",
            N8N_PERSONALIZATION_ENABLED="false",
            N8N_TEMPLATES_ENABLED="false",
            N8N_HIRING_BANNER_ENABLED="false",
        )
        if self.extra_ca:
            env["NODE_EXTRA_CA_CERTS"] = self.extra_ca
        return env

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the server and wait until its REST API answers (``/rest/login`` gives 401)."""
        started = time.monotonic()
        log = self.log_path.open("ab")
        try:
            self._proc = subprocess.Popen(
                [str(self.node_bin), str(self.n8n_bin), "start"],
                env=self.env,
                cwd=self.user_folder,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        self._wait_ready(started)
        self.start_seconds = time.monotonic() - started

    def _wait_ready(self, started: float) -> None:
        deadline = started + READY_TIMEOUT
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"n8n exited with code {self._proc.returncode} during start-up\n"
                    + self.log_tail()
                )
            try:
                if requests.get(self.base_url + "/rest/login", timeout=2).status_code == 401:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"n8n not ready after {READY_TIMEOUT:.0f} s\n" + self.log_tail())

    def stop(self) -> None:
        """Stop the server's process group (SIGTERM, then SIGKILL after a bound)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=STOP_TIMEOUT)
        except ProcessLookupError:
            pass

    def restart(self) -> None:
        """Stop and start again on the same port, folder and key (the data survives)."""
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        """The last lines of the server's log, for failure messages."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no server log)"
        return "--- n8n log (tail) ---\n" + "\n".join(text.splitlines()[-lines:])

    # -- owner + API key ------------------------------------------------------------------------

    def create_owner_and_api_key(self) -> None:
        """Set up the owner account, sign in, and create an API key with credential scopes."""
        http = requests.Session()
        owner = {
            "email": self.owner_email,
            "firstName": "Pat",
            "lastName": "Provisioner",
            "password": self.owner_password,
        }
        resp = http.post(self.base_url + "/rest/owner/setup", json=owner, timeout=30)
        _expect(resp, "owner setup")
        login = {"emailOrLdapLoginId": self.owner_email, "password": self.owner_password}
        _expect(http.post(self.base_url + "/rest/login", json=login, timeout=30), "login")
        key_req = {"label": "provisioner tests", "scopes": API_KEY_SCOPES, "expiresAt": None}
        resp = http.post(self.base_url + "/rest/api-keys", json=key_req, timeout=30)
        _expect(resp, "API key creation")
        self.api_key = str(resp.json()["data"]["rawApiKey"])

    def run_cli(
        self, *args: str, check: bool = True, timeout: float = 180.0
    ) -> subprocess.CompletedProcess[str]:
        """Run ``n8n ARGS`` (e.g. ``import:credentials --input=F``) with the server's env."""
        result = subprocess.run(
            [str(self.node_bin), str(self.n8n_bin), *args],
            env=self.env,
            cwd=self.user_folder,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"n8n {' '.join(args)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
            )
        return result


def _expect(resp: requests.Response, what: str) -> None:
    if resp.status_code != 200:
        raise RuntimeError(f"n8n {what} failed: HTTP {resp.status_code}: {resp.text[:500]}")


def _extra_ca(request: pytest.FixtureRequest) -> str | None:
    """The Salesforce emulator's CA file: the ``sandbox_ca_file`` fixture, else the env var."""
    try:
        value: Any = request.getfixturevalue("sandbox_ca_file")
    except pytest.FixtureLookupError:
        value = None
    if value:
        return str(value)
    return os.environ.get("PROVISIONER_N8N_EXTRA_CA") or None


def started_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, version: str
) -> Workflow2Server:
    """A running n8n ``version`` with an owner and an API key (the caller stops it). Not
    installed: a failure in CI (where ``.ci/run`` installs it), a skip elsewhere."""
    install = find_install(version)
    if install is None:
        env = "" if version == N8N_VERSION else f"PROVISIONER_N8N_VERSION={version} "
        message = (
            f"n8n {version} is not installed in {n8n_cache_dir()}; "
            f"run {env}.ci/install-n8n.sh (once; a few minutes) to run the workflow2 tests"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    node_bin, n8n_bin = install
    folder = tmp_path_factory.mktemp(f"n8n-{version}-user")
    server = Workflow2Server(node_bin, n8n_bin, folder, extra_ca=_extra_ca(request))
    try:
        server.start()
        server.create_owner_and_api_key()
    except BaseException:
        server.stop()
        raise
    return server


@contextmanager
def running_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                   version: str) -> Iterator[Workflow2Server]:
    """:func:`started_server`, stopped when the block ends."""
    server = started_server(request, tmp_path_factory, version)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def workflow2_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Workflow2Server]:
    """A running n8n 2.41.1 with an owner and an API key; stopped at session end."""
    with running_server(request, tmp_path_factory, N8N_VERSION) as server:
        yield server


@pytest.fixture(scope="session")
def workflow2_oldest(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Workflow2Server]:
    """The oldest supported n8n (:data:`OLDEST_N8N_VERSION`), running; stopped at session end."""
    with running_server(request, tmp_path_factory, OLDEST_N8N_VERSION) as server:
        yield server
