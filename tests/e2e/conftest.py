"""End-to-end fixtures: the embedded sandbox org + a real Workflow² (n8n 2.41.1), driven by the CLI.

The n8n server (``workflow2_server``, from ``tests/n8n_server.py``) starts once per session with
``NODE_EXTRA_CA_CERTS`` = the CA of :func:`sandbox_template`, a sandbox state dir made once per
session. Every test copies that dir for its own org (same CA, its own port and apps), so the
server's own credential tests reach every test's org over verified TLS.

Each test gets an :class:`E2E` workspace: specs in a temporary directory naming a unique
Workflow² instance (record ids derive from the instance name, so tests sharing the server never
share records), the state file, the sandbox dir, plan and import files. ``e2e.cli(...)`` runs
``provisioner`` in-process and returns its streams plus what it sent: every request to the
Workflow² server and every request the sandbox org answered. At teardown every output and every
file of the workspace is scanned for every secret the run produced (see :class:`Canaries`).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from click.testing import CliRunner

from provisioner.sandbox import SandboxOptions, SandboxServer
from tests.n8n_server import Workflow2Server

API_KEY_ENV = "PROVE2E_WORKFLOW2_API_KEY"
ENC_ENV = "PROVE2E_N8N_ENCRYPTION_KEY"
INTEGRATION_USER = "integration@sandbox.provisioner.test"
PROBE_NAME = "provisioner capability probe (safe to delete)"
APP = "billing"
MUTATING = ("POST", "PATCH", "PUT", "DELETE")


# -- the session: one sandbox CA, one server that trusts it ------------------------------------


@pytest.fixture(scope="session")
def sandbox_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sandbox state dir started once (its CA, server certificate, seeded org), then stopped."""
    state_dir = tmp_path_factory.mktemp("sandbox-template") / "sandbox"
    server = SandboxServer(SandboxOptions(state_dir=state_dir))
    server.start()
    server.stop()
    # Each copy binds its own free port on first start (then keeps it): tests never share one.
    (state_dir / "server.json").unlink(missing_ok=True)
    return state_dir


@pytest.fixture(scope="session")
def sandbox_ca_file(sandbox_template: Path) -> str:
    """The sandbox CA; ``tests/n8n_server.py`` starts n8n with it as NODE_EXTRA_CA_CERTS."""
    return str(sandbox_template / "ca.pem")


@pytest.fixture
def w2(workflow2_server: Workflow2Server, sandbox_ca_file: str) -> Workflow2Server:
    """The session's server, running and trusting the sandbox CA.

    When another test directory started the session's server first, it was started without our
    CA: restart it once with the CA (same data, same key) rather than fail on TLS.
    """
    if workflow2_server.env.get("NODE_EXTRA_CA_CERTS") != sandbox_ca_file:
        workflow2_server.extra_ca = sandbox_ca_file
        workflow2_server.env["NODE_EXTRA_CA_CERTS"] = sandbox_ca_file
        workflow2_server.restart()
    elif not workflow2_server.running:
        workflow2_server.start()  # a previous test stopped it and could not start it again
    return workflow2_server


@pytest.fixture(autouse=True)
def _restore_ca_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    """connect() points REQUESTS_CA_BUNDLE at a combined bundle; undo it after each test."""
    value = os.environ.get("REQUESTS_CA_BUNDLE")
    if value is None:
        monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    else:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", value)


# -- what a run sends: Workflow² requests, sandbox requests, secrets made ------------------------


@dataclass(frozen=True)
class Call:
    """One request to the Workflow² server: method, path, and the name in a create body."""

    method: str
    path: str
    name: str | None = None

    @property
    def is_probe(self) -> bool:
        """Traffic of the capability probe's throw-away record (made and deleted every run)."""
        return self.name == PROBE_NAME or "/pvprobe" in self.path

    @property
    def is_test(self) -> bool:
        """``POST /credentials/{id}/test``: asks the server to try a credential, changes nothing."""
        return self.method == "POST" and self.path.endswith("/test")

    @property
    def writes_a_record(self) -> bool:
        """Whether the call can change a credential other than the probe's."""
        return self.method in MUTATING and not self.is_probe and not self.is_test


class Canaries:
    """Every secret a test's runs handle; none may appear in any output or file."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def add(self, label: str, value: str | None) -> None:
        """Remember ``value`` (under a label that the failure message shows instead of it)."""
        if value and len(value) >= 8:
            self.values.setdefault(value, label)

    def scan(self, text: str, where: str) -> None:
        """Fail when ``text`` holds a secret or a 24-character run of a private key's body.

        Only the second half of a PEM body is cut into runs: its first half encodes the public
        modulus, which the certificate in state rightly shows too; the second half is the
        private exponent and primes.
        """
        for value, label in self.values.items():
            assert value not in text, f"{label} appears in {where}"
            if "-----BEGIN" in value:
                body = "".join(ln for ln in value.splitlines() if not ln.startswith("-----"))
                for i in range(len(body) // 2, len(body) - 24, 24):
                    assert body[i: i + 24] not in text, f"part of {label} appears in {where}"


class Recorder:
    """Installed for every test: Workflow² requests, sandbox connections, generated secrets."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, base_url: str, canaries: Canaries) -> None:
        self.base_url = base_url
        self.canaries = canaries
        self.calls: list[Call] = []
        self.connections: list[Any] = []
        self.sessions: list[tuple[str, str]] = []
        self.active = False
        self._install(monkeypatch)

    def _install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import provisioner.engine.context as context
        import provisioner.engine.executor as executor
        from provisioner.sandbox.org import Org

        real_request = requests.Session.request
        recorder = self

        def request(session: requests.Session, method: str, url: Any, *a: Any, **kw: Any) -> Any:
            if recorder.active and str(url).startswith(recorder.base_url):
                body = kw.get("json")
                name = body.get("name") if isinstance(body, dict) else None
                recorder.calls.append(Call(method.upper(), urlsplit(str(url)).path, name))
            return real_request(session, method, url, *a, **kw)

        monkeypatch.setattr(requests.Session, "request", request)

        real_connect = context.build_connection

        def build_connection(org: Any, options: Any, progress: Any) -> Any:
            conn = real_connect(org, options, progress)
            recorder.connections.append(conn)
            return conn

        monkeypatch.setattr(context, "build_connection", build_connection)

        real_generate = getattr(executor, "generate_many")  # noqa: B009 (not re-exported)

        def generate_many(reqs: Any, **kw: Any) -> Any:
            made = real_generate(reqs, **kw)
            for name, material in made.items():
                recorder.canaries.add(f"the private key of app {name}",
                                      material.private_key.reveal())
            return made

        monkeypatch.setattr(executor, "generate_many", generate_many)

        real_secret = getattr(executor, "generate_consumer_secret")  # noqa: B009

        def generate_consumer_secret() -> Any:
            secret = real_secret()
            recorder.canaries.add("a consumer secret", secret.reveal())
            return secret

        monkeypatch.setattr(executor, "generate_consumer_secret", generate_consumer_secret)

        real_session = Org.new_session

        def new_session(org: Org, user: dict[str, Any], app: str, scopes: list[str]) -> str:
            token = real_session(org, user, app, scopes)
            recorder.sessions.append((str(user.get("username")), app))
            recorder.canaries.add(f"an access token issued through app {app}", token)
            return token

        monkeypatch.setattr(Org, "new_session", new_session)


@dataclass(frozen=True)
class CliResult:
    """One ``provisioner`` run: exit code, streams, and what it sent."""

    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    calls: tuple[Call, ...]
    org_requests: tuple[dict[str, Any], ...]
    sessions: tuple[tuple[str, str], ...] = ()
    """(username, app) of every access token the org issued during the run."""

    @property
    def all(self) -> str:
        """Both streams."""
        return self.stdout + self.stderr

    def mutations(self) -> list[Call]:
        """Every POST/PATCH/PUT/DELETE except credential tests (which change no record)."""
        return [c for c in self.calls if c.method in MUTATING and not c.is_test]

    def record_writes(self) -> list[Call]:
        """Requests that could change a credential (not the probe's, not a credential test)."""
        return [c for c in self.calls if c.writes_a_record]

    def org_writes(self) -> list[str]:
        """The sandbox org's write operations (deploys, metadata CRUD) during the run."""
        return [str(r["operation"]) for r in self.org_requests if r["write"]]

    def __str__(self) -> str:  # pytest shows this on a failed assertion
        return f"provisioner {' '.join(self.args)} -> exit {self.code}\n{self.all}"


# -- the workspace -------------------------------------------------------------------------------


@dataclass
class E2E:
    """One test's specs, state, sandbox org and files, plus the server and the recorder."""

    root: Path
    server: Workflow2Server
    recorder: Recorder
    canaries: Canaries
    instance: str
    results: list[CliResult] = field(default_factory=list)
    snapshots: list[tuple[str, str]] = field(default_factory=list)
    """(where, text) of every file of the workspace right after each run (e.g. a journal that
    the next run clears): scanned at the end with every canary known by then."""

    @property
    def specs(self) -> Path:
        """The spec folder."""
        return self.root / "specs"

    @property
    def state_path(self) -> Path:
        """The state file (its journal and lock sit next to it)."""
        return self.root / "state" / "state.json"

    @property
    def sandbox_dir(self) -> Path:
        """The embedded org's state dir (a copy of the session's: same CA)."""
        return self.root / "sandbox"

    @property
    def import_file(self) -> Path:
        """Where the importFile instance writes."""
        return self.root / "out" / "credentials.json"

    @property
    def file_instance(self) -> str:
        """The importFile instance's name."""
        return self.instance + "-file"

    def name(self, kind: str, instance: str | None = None) -> str:
        """A credential's name: unique on the shared server (``kind`` is ``JWT`` or ``OAuth2``)."""
        file = " file" if instance == self.file_instance else ""
        return f"Billing{file} ({kind}) {self.instance}"

    @property
    def jwt_name(self) -> str:
        """The api instance's JWT credential."""
        return self.name("JWT")

    @property
    def oauth_name(self) -> str:
        """The api instance's OAuth2 credential."""
        return self.name("OAuth2")

    def record_id(self, name: str, instance: str | None = None) -> str:
        """The deterministic record id provisioner gives credential ``name`` on an instance."""
        from provisioner.workflow2 import derive_credential_id

        return derive_credential_id(instance or self.instance, name)

    # -- specs ---------------------------------------------------------------------------------

    def write_specs(self, *, file_sink: bool = False, api_credentials: bool = True,
                    api_key_env: str = API_KEY_ENV) -> None:
        """The org, the api instance (and the importFile one), and app ``billing``."""
        self.specs.mkdir(parents=True, exist_ok=True)
        docs = [textwrap.dedent("""\
            apiVersion: provisioner.dev/v1
            kind: SalesforceOrg
            metadata:
              name: sb
            spec:
              sandbox:
                stateDir: ../sandbox
            """), textwrap.dedent(f"""\
            apiVersion: provisioner.dev/v1
            kind: WorkflowInstance
            metadata:
              name: {self.instance}
            spec:
              baseUrl: {self.server.base_url}
              apiKey: {{env: {api_key_env}}}
              sink: {{type: api}}
            """)]
        if file_sink:
            docs.append(textwrap.dedent(f"""\
                apiVersion: provisioner.dev/v1
                kind: WorkflowInstance
                metadata:
                  name: {self.file_instance}
                spec:
                  baseUrl: {self.server.base_url}
                  sink:
                    type: importFile
                    path: ../out/credentials.json
                    encryptionKey: {{env: {ENC_ENV}}}
                """))
        creds = []
        targets = ([self.instance] if api_credentials else []) + (
            [self.file_instance] if file_sink else [])
        for instance in targets:
            creds.append(f"    - type: jwt\n      instance: {instance}\n"
                         f"      name: {self.name('JWT', instance)}\n"
                         f"      username: {INTEGRATION_USER}\n")
            creds.append(f"    - type: oauth2\n      instance: {instance}\n"
                         f"      name: {self.name('OAuth2', instance)}\n")
        docs.append(textwrap.dedent(f"""\
            apiVersion: provisioner.dev/v1
            kind: SalesforceApp
            metadata:
              name: {APP}
            spec:
              org: sb
              appType: externalClientApp
              label: Billing
              contactEmail: integrations@example.com
              callbackUrls:
                - workflowInstance: {self.instance}
              scopes: [api, refresh_token]
              certificate:
                keySize: 2048
                validityDays: 365
                rotateBeforeDays: 30
              preAuthorized:
                profiles: [Integration User]
                permissionSets: [Workflow_Integration]
              credentials:
            """) + "".join(creds))
        (self.specs / "specs.yaml").write_text("---\n".join(docs))

    # -- running provisioner -------------------------------------------------------------------

    def cli(self, *args: str | Path, state: bool = True) -> CliResult:
        """``provisioner ARGS [--state STATE]`` in-process, through ``main`` (exit codes, errors)."""
        from provisioner.cli.main import main

        argv = [str(a) for a in args]
        if state:
            argv += ["--state", str(self.state_path)]
        runner = CliRunner()
        self.recorder.calls.clear()
        self.recorder.connections.clear()
        self.recorder.sessions.clear()
        self.recorder.active = True
        try:
            with runner.isolation() as (out, err, _):
                code = 0
                try:
                    main(argv)
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
        finally:
            self.recorder.active = False
        org_log = [r for conn in self.recorder.connections if conn.sandbox is not None
                   for r in conn.sandbox.org.request_log]
        result = CliResult(tuple(argv), code, stdout, stderr, tuple(self.recorder.calls),
                           tuple(org_log), tuple(self.recorder.sessions))
        self.results.append(result)
        self.snapshots.extend(self._files(f"after provisioner {argv[0]}"))
        return result

    def _files(self, when: str) -> list[tuple[str, str]]:
        out = []
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and self.sandbox_dir not in path.parents:
                # The sandbox dir is Salesforce's side (it holds the org's consumer secrets).
                text = path.read_text(encoding="utf-8", errors="replace")
                out.append((f"file {path.relative_to(self.root)} ({when})", text))
        return out

    def plan(self, *extra: str | Path) -> CliResult:
        """``provisioner plan SPECS --detailed-exitcode EXTRA``."""
        return self.cli("plan", self.specs, "--detailed-exitcode", *extra)

    def apply(self, *extra: str | Path) -> CliResult:
        """``provisioner apply SPECS --auto-approve EXTRA``."""
        return self.cli("apply", self.specs, "--auto-approve", "--verify-timeout", "30", *extra)

    # -- looking at the results ----------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The state file as JSON."""
        doc: dict[str, Any] = json.loads(self.state_path.read_text())
        return doc

    def app_state(self) -> dict[str, Any]:
        """State's entry for app ``billing``."""
        app: dict[str, Any] = self.state()["apps"][APP]
        return app

    @contextmanager
    def org(self) -> Iterator[SandboxServer]:
        """The workspace's org served again (same dir, same port) so the server can reach it."""
        from provisioner.salesforce.tls import trust_ca

        server = SandboxServer(SandboxOptions(state_dir=self.sandbox_dir))
        server.start()
        try:
            trust_ca(Path(server.ca_file))
            yield server
        finally:
            server.stop()

    def export_decrypted(self) -> dict[str, dict[str, Any]]:
        """``n8n export:credentials --all --decrypted``, by id; the secrets become canaries."""
        out = self.root / f"export-{secrets.token_hex(4)}.json"
        try:
            self.server.run_cli("export:credentials", "--all", "--decrypted", f"--output={out}")
            items = json.loads(out.read_text())
        finally:
            out.unlink(missing_ok=True)  # plaintext secrets: never left behind for the file scan
        exported = {str(item["id"]): item for item in items}
        for item in exported.values():
            data = item.get("data") or {}
            if isinstance(data, dict):
                for key in ("privateKey", "clientSecret", "accessToken"):
                    self.canaries.add(f"the {key} of record {item['id']}", data.get(key))
        return exported

    def scan_everything(self) -> None:
        """No secret in any output of this test's runs or any file of the workspace."""
        for result in self.results:
            self.canaries.scan(result.all, f"the output of provisioner {' '.join(result.args)}")
        for where, text in [*self.snapshots, *self._files("at the end")]:
            self.canaries.scan(text, where)


class Api:
    """Direct calls to the server's public API, as a person or another tool would make them."""

    def __init__(self, server: Workflow2Server) -> None:
        self.base = server.base_url + "/api/v1"
        self.headers = {"X-N8N-API-KEY": server.api_key, "Accept": "application/json"}

    def get(self, record_id: str) -> dict[str, Any] | None:
        """A credential's metadata, or None (404)."""
        resp = requests.get(f"{self.base}/credentials/{record_id}", headers=self.headers,
                            timeout=30)
        if resp.status_code == 404:
            return None
        resp.raise_for_status()
        body: dict[str, Any] = resp.json()
        return body

    def credentials(self) -> list[dict[str, Any]]:
        """Every credential (metadata)."""
        out: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 250, **({"cursor": cursor} if cursor else {})}
            resp = requests.get(f"{self.base}/credentials", headers=self.headers, params=params,
                                timeout=30)
            resp.raise_for_status()
            body = resp.json()
            out.extend(body.get("data") or [])
            cursor = body.get("nextCursor")
            if not cursor:
                return out

    def named(self, name: str) -> list[dict[str, Any]]:
        """Credentials with this name."""
        return [c for c in self.credentials() if c["name"] == name]

    def test(self, record_id: str) -> dict[str, Any]:
        """The server's own test of a credential: ``{status, message}``."""
        resp = requests.post(f"{self.base}/credentials/{record_id}/test", headers=self.headers,
                             timeout=60)
        resp.raise_for_status()
        body: dict[str, Any] = resp.json()
        return body

    def delete(self, record_id: str) -> None:
        """Delete a credential behind provisioner's back."""
        requests.delete(f"{self.base}/credentials/{record_id}", headers=self.headers,
                        timeout=30).raise_for_status()

    def rename(self, record_id: str, name: str, type_: str) -> None:
        """Rename a credential behind provisioner's back (data untouched)."""
        requests.patch(f"{self.base}/credentials/{record_id}", headers=self.headers,
                       json={"name": name, "type": type_}, timeout=30).raise_for_status()


@pytest.fixture
def e2e(
    w2: Workflow2Server, sandbox_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[E2E]:
    """A fresh workspace for this test, its secrets planted; scanned for leaks at teardown."""
    root = tmp_path / "ws"
    root.mkdir()
    shutil.copytree(sandbox_template, root / "sandbox")
    canaries = Canaries()
    monkeypatch.setenv(API_KEY_ENV, w2.api_key)
    monkeypatch.setenv(ENC_ENV, w2.encryption_key)
    canaries.add("the Workflow² API key", w2.api_key)
    canaries.add("the Workflow² encryption key", w2.encryption_key)
    recorder = Recorder(monkeypatch, w2.base_url, canaries)
    ws = E2E(root, w2, recorder, canaries, instance=f"w2-{secrets.token_hex(4)}")
    ws.write_specs()
    yield ws
    ws.scan_everything()


@pytest.fixture
def api(w2: Workflow2Server) -> Api:
    """Direct API access to the server."""
    return Api(w2)


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    """``check()`` polled until true or ``timeout`` (bounded waits for propagation)."""
    import time

    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True
