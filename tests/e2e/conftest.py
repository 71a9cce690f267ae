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
import secrets
import shutil
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from provisioner.sandbox import SandboxOptions, SandboxServer
from tests.e2e.observe import Api, Canaries, CliResult, Recorder
from tests.layout import Layout
from tests.n8n_server import Workflow2Server

API_KEY_ENV = "PROVE2E_WORKFLOW2_API_KEY"
ENC_ENV = "PROVE2E_N8N_ENCRYPTION_KEY"
INTEGRATION_USER = "integration@sandbox.provisioner.test"
APP = "billing"


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



# -- the workspace -------------------------------------------------------------------------------


@dataclass
class E2E(Layout):
    """One test's specs, state, sandbox org and files, plus the server and the recorder."""

    server: Workflow2Server
    recorder: Recorder
    canaries: Canaries
    instance: str
    results: list[CliResult] = field(default_factory=list)
    snapshots: list[tuple[str, str]] = field(default_factory=list)
    """(where, text) of every file of the workspace right after each run (e.g. a journal that
    the next run clears): scanned at the end with every canary known by then."""

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
                    api_key_env: str = API_KEY_ENV,
                    kinds: tuple[str, ...] = ("jwt", "oauth2"),
                    rotation: str = "cutover") -> None:
        """The org, the api instance (and the importFile one), and app ``billing`` with a
        credential of each of ``kinds`` per instance."""
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
            if "jwt" in kinds:
                creds.append(f"    - type: jwt\n      instance: {instance}\n"
                             f"      name: {self.name('JWT', instance)}\n"
                             f"      username: {INTEGRATION_USER}\n")
            if "oauth2" in kinds:
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
              scopes: [api, refresh_token, full]
              certificate:
                keySize: 2048
                validityDays: 365
                rotateBeforeDays: 30
              rotation: {{strategy: {rotation}}}
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
        with runner.isolation() as (out, err, _):
            code = 0
            try:
                main(argv, services=self.recorder.services)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
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
        from tests.tls_trust import trust_ca

        server = SandboxServer(SandboxOptions(state_dir=self.sandbox_dir))
        server.start()
        self.recorder.watch(server.org)
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


def _workspace(server: Workflow2Server, sandbox_template: Path, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> E2E:
    root = tmp_path / "ws"
    root.mkdir()
    shutil.copytree(sandbox_template, root / "sandbox")
    canaries = Canaries()
    monkeypatch.setenv(API_KEY_ENV, server.api_key)
    monkeypatch.setenv(ENC_ENV, server.encryption_key)
    canaries.add("the Workflow² API key", server.api_key)
    canaries.add("the Workflow² encryption key", server.encryption_key)
    recorder = Recorder(server.base_url, canaries)
    ws = E2E(root, server, recorder, canaries, instance=f"w2-{secrets.token_hex(4)}")
    ws.write_specs()
    return ws


@pytest.fixture
def e2e(
    w2: Workflow2Server, sandbox_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[E2E]:
    """A fresh workspace for this test, its secrets planted; scanned for leaks at teardown."""
    ws = _workspace(w2, sandbox_template, tmp_path, monkeypatch)
    yield ws
    ws.scan_everything()


@pytest.fixture
def w2_oldest(workflow2_oldest: Workflow2Server, sandbox_ca_file: str) -> Workflow2Server:
    """The oldest supported server, trusting the sandbox CA."""
    if workflow2_oldest.env.get("NODE_EXTRA_CA_CERTS") != sandbox_ca_file:
        workflow2_oldest.extra_ca = sandbox_ca_file
        workflow2_oldest.env["NODE_EXTRA_CA_CERTS"] = sandbox_ca_file
        workflow2_oldest.restart()
    return workflow2_oldest


@pytest.fixture
def e2e_oldest(
    w2_oldest: Workflow2Server, sandbox_template: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[E2E]:
    """Like ``e2e``, against the oldest supported Workflow² version."""
    ws = _workspace(w2_oldest, sandbox_template, tmp_path, monkeypatch)
    yield ws
    ws.scan_everything()


@pytest.fixture
def api(w2: Workflow2Server) -> Api:
    """Direct API access to the server."""
    return Api(w2)

