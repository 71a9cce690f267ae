"""Fixtures for the plan/apply/rotate tests: spec workspaces in temporary directories, the
embedded sandbox org behind them, request counting, decrypted import-file records, canaries.

Every workspace holds its own specs, state file, sandbox state dir and import file; relative paths
in the specs keep a workspace relocatable, so a template applied once can be copied per test.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from provisioner.engine.context import RunOptions
from provisioner.engine.services import Services
from provisioner.events import Event, Observer, Step
from provisioner.model import OrgSpec
from provisioner.salesforce.connection import OrgConnection, connect
from provisioner.sandbox import SandboxOptions, SandboxServer
from provisioner.secret import Secret
from tests.layout import Layout

ENC_ENV = "PROVTEST_N8N_ENCRYPTION_KEY"
API_KEY_ENV = "PROVTEST_WORKFLOW2_API_KEY"
INTEGRATION_USER = "integration@sandbox.provisioner.test"
REPO = Path(__file__).resolve().parents[2]

ORG_AND_INSTANCE = """\
apiVersion: provisioner.dev/v1
kind: SalesforceOrg
metadata:
  name: sb
spec:
  sandbox:
    stateDir: ../sandbox
    propagationDelaySeconds: {delay}
---
apiVersion: provisioner.dev/v1
kind: WorkflowInstance
metadata:
  name: wf
spec:
  baseUrl: http://localhost:5678
  apiKey: {{env: {api_env}}}
  sink:
    type: importFile
    path: ../out/credentials.json
    encryptionKey: {{env: {enc_env}}}
"""


def app_yaml(
    name: str,
    *,
    app_type: str = "externalClientApp",
    scopes: str = "[api, refresh_token, full]",
    permission_sets: str = "[Workflow_Integration]",
    rotate_before_days: int = 30,
    max_age_days: int | None = None,
    oauth2: bool = True,
    rotation: str | None = None,
) -> str:
    """One SalesforceApp document: JWT credential (and an OAuth2 one unless ``oauth2=False``)."""
    oauth = (
        "    - type: oauth2\n      instance: wf\n      name: " + f"{name} (OAuth2)\n"
        if oauth2 else ""
    )
    max_age = f"\n            maxAgeDays: {max_age_days}" if max_age_days is not None else ""
    if rotation is not None:
        max_age += f"\n          rotation: {{strategy: {rotation}}}"
    return textwrap.dedent(f"""\
        apiVersion: provisioner.dev/v1
        kind: SalesforceApp
        metadata:
          name: {name}
        spec:
          org: sb
          appType: {app_type}
          label: {name.replace('-', ' ').title()}
          contactEmail: integrations@example.com
          callbackUrls:
            - workflowInstance: wf
          scopes: {scopes}
          certificate:
            keySize: 2048
            validityDays: 365
            rotateBeforeDays: {rotate_before_days}{max_age}
          preAuthorized:
            profiles: [System Administrator]
            permissionSets: {permission_sets}
          credentials:
        """) + (
        f"    - type: jwt\n      instance: wf\n      name: {name} (JWT)\n"
        f"      username: {INTEGRATION_USER}\n" + oauth
    )


class Recorder:
    """A ``Services.connector`` that keeps every connection, to count the sandbox's requests."""

    def __init__(self, faults: tuple[str, ...] = ()) -> None:
        self.faults = faults
        self.connections: list[OrgConnection] = []

    def __call__(self, org: OrgSpec, options: RunOptions, observer: Observer) -> OrgConnection:
        observer(Step(f"signing in to org {org.name} (test recorder)"))
        conn = connect(org, environ=options.environ, sandbox_faults=self.faults)
        self.connections.append(conn)
        return conn

    def log(self) -> list[dict[str, Any]]:
        """Every request the sandboxes of the recorded connections answered, in order."""
        out: list[dict[str, Any]] = []
        for conn in self.connections:
            assert conn.sandbox is not None
            out.extend(conn.sandbox.org.request_log)
        return out

    def writes(self) -> list[dict[str, Any]]:
        """The write requests (deploys, CRUD writes) among them."""
        return [r for r in self.log() if r["write"]]

    def operations(self) -> list[str]:
        """The operation of every request, in order."""
        return [str(r["operation"]) for r in self.log()]

    def reset(self) -> None:
        """Forget the connections recorded so far."""
        self.connections.clear()


@dataclass
class Workspace(Layout):
    """Specs, state, sandbox state dir and import file under one temporary directory."""

    env: dict[str, str]
    recorder: Recorder = field(default_factory=Recorder)

    @property
    def encryption_key(self) -> Secret:
        """The import file's encryption key (a canary)."""
        return Secret(self.env[ENC_ENV])

    def write_org(self, delay: float = 0.0) -> None:
        """(Re)write the org + instance spec file."""
        self.specs.mkdir(parents=True, exist_ok=True)
        (self.specs / "org.yaml").write_text(
            ORG_AND_INSTANCE.format(delay=delay, enc_env=ENC_ENV, api_env=API_KEY_ENV)
        )

    def write_apps(self, *docs: str, file: str = "apps.yaml") -> Path:
        """(Re)write an app spec file holding ``docs``."""
        path = self.specs / file
        path.write_text("---\n".join(docs))
        return path

    def options(self, **kw: Any) -> RunOptions:
        """Run options for this workspace (state path, environment, request recorder)."""
        services: dict[str, Any] = {"connector": self.recorder}
        for name in ("clock", "keys", "observer"):
            if name in kw:
                services[name] = kw.pop(name)
        base: dict[str, Any] = {
            "state_path": self.state_path, "environ": dict(os.environ) | self.env,
            "verify_timeout": 30.0, "services": Services(**services),
        }
        base.update(kw)
        return RunOptions(**base)

    def paths(self) -> list[Path]:
        """The spec paths to plan/apply."""
        return [self.specs]

    def copy_to(self, root: Path) -> Workspace:
        """A copy of this workspace under ``root`` (same specs, state, org and import file)."""
        shutil.copytree(self.root, root, symlinks=True)
        return Workspace(root, dict(self.env))


def canary(label: str) -> str:
    """A planted secret value that must never appear in any output."""
    return f"CANARY{label.upper()}{secrets.token_hex(12)}"


@pytest.fixture
def env_canaries(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The encryption key and an API key, planted in the process environment (the CLI reads it)."""
    values = {ENC_ENV: canary("enc"), API_KEY_ENV: canary("apikey")}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values



@pytest.fixture
def ws(tmp_path: Path, env_canaries: dict[str, str]) -> Workspace:
    """An empty workspace: the org/instance file and one app, nothing applied."""
    w = Workspace(tmp_path / "ws", dict(env_canaries))
    w.write_org()
    w.write_apps(app_yaml("billing"))
    return w


@pytest.fixture(scope="session")
def applied_template(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A workspace applied once (one app, both credentials), copied by :func:`applied`."""
    return applied_workspace(tmp_path_factory.mktemp("template") / "ws")


def applied_workspace(root: Path) -> Workspace:
    """A new workspace under ``root`` (its own canaries) with app ``billing`` applied once."""
    from provisioner.engine.run import apply

    w = Workspace(root, {ENC_ENV: canary("enc"), API_KEY_ENV: canary("apikey")})
    w.write_org()
    w.write_apps(app_yaml("billing"))
    previous = os.environ.get("REQUESTS_CA_BUNDLE")
    try:
        _plan, result = apply(w.paths(), w.options(), _quiet, lambda _p: True)
    finally:
        if previous is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = previous
    assert result is not None and not result.failures
    return w


@pytest.fixture
def applied(
    applied_template: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Workspace:
    """A fresh copy of the applied template, its canaries in the environment."""
    w = applied_template.copy_to(tmp_path / "ws")
    for key, value in w.env.items():
        monkeypatch.setenv(key, value)
    return w


def _quiet(_line: str) -> None:
    return None


class Lines:
    """A run observer that keeps every event and its line (for secret scans and assertions)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.lines: list[str] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        self.lines.append(str(event))

    def text(self) -> str:
        """All lines."""
        return "\n".join(self.lines)


def approve(_plan: object) -> bool:
    """A confirm callback that approves."""
    return True


# -- the org, between runs ---------------------------------------------------------------------


@contextmanager
def running_org(ws: Workspace) -> Iterator[SandboxServer]:
    """The workspace's sandbox org served again (same state dir, same port) for inspection."""
    from tests.tls_trust import trust_ca

    server = SandboxServer(SandboxOptions(state_dir=ws.sandbox_dir))
    server.start()
    try:
        trust_ca(Path(server.ca_file))
        yield server
    finally:
        server.stop()


def jwt_login(server: SandboxServer, consumer_key: str, private_key: Secret) -> str:
    """A JWT bearer login as the integration user (External Client App: My Domain audience).

    Returns the user id; raises :class:`~provisioner.salesforce.token_errors.TokenRejected`.
    """
    from provisioner.salesforce.auth import jwt_bearer_token

    session = jwt_bearer_token(
        server.url, consumer_key, INTEGRATION_USER, private_key, server.url,
        verify=str(server.ca_file), timeout=10, who="test login",
    )
    assert session.access_token.reveal()
    return session.instance_url


def login_eventually(
    server: SandboxServer, consumer_key: str, private_key: Secret, timeout: float = 10.0
) -> None:
    """:func:`jwt_login`, retried while the org propagates a change (bounded)."""
    import time

    from provisioner.salesforce.token_errors import TokenRejected

    deadline = time.monotonic() + timeout
    while True:
        try:
            jwt_login(server, consumer_key, private_key)
            return
        except TokenRejected:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


# -- the import file and the state ---------------------------------------------------------------


def records(ws: Workspace) -> dict[str, dict[str, Any]]:
    """The import file's records by name: ``{id, type, data}`` with ``data`` decrypted."""
    import json

    from provisioner.workflow2.atrest import decrypt_data

    items = json.loads(ws.import_file.read_text())
    out = {}
    for item in items:
        assert isinstance(item["data"], str), "record data must be stored encrypted"
        out[item["name"]] = {"id": item["id"], "type": item["type"],
                             "data": decrypt_data(item["data"], ws.encryption_key)}
    return out


def state_doc(ws: Workspace) -> dict[str, Any]:
    """The state file as JSON."""
    import json

    doc: dict[str, Any] = json.loads(ws.state_path.read_text())
    return doc


def secrets_in_records(ws: Workspace) -> list[str]:
    """Every secret value the import file holds (private keys, consumer secrets)."""
    if not ws.import_file.exists():
        return []
    found = []
    for rec in records(ws).values():
        for key in ("privateKey", "clientSecret"):
            value = rec["data"].get(key)
            if value:
                found.append(str(value))
    return found


def _public_runs(pem: str) -> list[str]:
    """Base64 of the public modulus and exponent at every alignment: a private key's PEM shares
    these with its certificate, so runs inside them are not secret."""
    import base64

    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(pem.encode(), password=None)
    pkcs1 = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    inner = pkcs1[4:]  # INTEGER n, INTEGER e (without the SEQUENCE header)
    return [base64.b64encode(inner[k:]).decode() for k in range(3)]


def secret_fragments(value: str) -> list[str]:
    """What to look for: the value; for a PEM private key, every 20-character run of its body
    that is not also part of the public key."""
    if "PRIVATE KEY-----" not in value:
        return [value]
    body = "".join(ln for ln in value.splitlines() if not ln.startswith("-----"))
    public = _public_runs(value)
    # The first 60 characters are the PKCS#8/PKCS#1 structure (lengths, version, algorithm):
    # the same in every key of a size, so matching them would flag any other key as this one.
    runs = [body[i: i + 20] for i in range(60, max(0, len(body) - 20), 20)]
    return [value, *(r for r in runs if not any(r in p for p in public))]


def assert_no_secret(text: str, *values: str, where: str = "output") -> None:
    """Fail when ``text`` holds any of ``values`` (a private key: any secret part of its body)."""
    for value in values:
        for fragment in secret_fragments(value):
            assert fragment not in text, f"a secret (or part of a private key) appears in {where}"


def frozen(moment: datetime) -> Callable[[], datetime]:
    """A clock stuck at ``moment``."""
    return lambda: moment


def now() -> datetime:
    """The real current time (aware)."""
    return datetime.now(timezone.utc)


# -- the CLI ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CliResult:
    """Exit code and both streams of one CLI run."""

    code: int
    stdout: str
    stderr: str

    @property
    def all(self) -> str:
        """Both streams."""
        return self.stdout + self.stderr


def cli(*args: str | Path, cwd: Path | None = None, stdin: str | None = None,
        faults: tuple[str, ...] = ()) -> CliResult:
    """``provisioner ARGS`` in-process through ``main`` (its error handler and exit codes),
    with click's CliRunner isolation: separate streams, stdin not a terminal. ``faults`` are
    sandbox fault specs for the run's orgs."""
    from provisioner.cli.main import main
    from provisioner.engine.services import Services

    services = Services(connector=Recorder(faults=faults)) if faults else None

    runner = CliRunner()
    old = Path.cwd()
    with runner.isolation(input=stdin) as (out, err, _):
        code = 0
        try:
            if cwd is not None:
                os.chdir(cwd)
            main([str(a) for a in args], services=services)
        except SystemExit as exc:
            code = int(exc.code or 0) if not isinstance(exc.code, str) else 1
        finally:
            os.chdir(old)
        return CliResult(code, out.getvalue().decode(), err.getvalue().decode())


def cli_subprocess(
    *args: str | Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``provisioner ARGS`` in a child process (for kills); never hangs past ``timeout``."""
    return subprocess.run(
        [sys.executable, "-m", "provisioner", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, cwd=REPO,
        env={**os.environ, **(env or {})}, check=False,
    )


#: Sandbox faults under which the org refuses the REST lookups of the names a spec uses: plan
#: only warns, so a deploy naming a missing permission set reaches the org and fails there.
LOOKUP_REFUSED = ("query:INSUFFICIENT_ACCESS@rate=1",)


def kill_at_every_point(template: Workspace, command: Callable[[Workspace], tuple[Any, ...]],
                        converge: Callable[[Workspace, int], None], *, max_points: int
                        ) -> list[int]:
    """``provisioner COMMAND`` on a copy of ``template``, SIGKILLed right after journal intent
    1, 2, ... until a run survives; returns the points it was killed at.

    After each kill the journal and the lock are on disk, ``converge(copy, point)`` finishes
    and checks the work, and nothing the killed run wrote or printed holds a secret now in use.
    """
    import signal

    from provisioner.journal import KILL_AT_ENV

    killed: list[int] = []
    for point in range(1, max_points + 1):
        run_ws = template.copy_to(template.root.parent / f"kill{point}")
        proc = cli_subprocess(*command(run_ws), env={KILL_AT_ENV: str(point)})
        if proc.returncode == 0:
            return killed
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        killed.append(point)
        journal = Path(str(run_ws.state_path) + ".journal")
        lock = Path(str(run_ws.state_path) + ".lock")
        assert journal.exists() and lock.exists()
        journal_text = journal.read_text()
        converge(run_ws, point)
        for text in (journal_text, proc.stdout, proc.stderr):
            assert_no_secret(text, *secrets_in_records(run_ws), *run_ws.env.values(),
                             where="the killed run's journal/output")
    pytest.fail(f"{command(template)[0]} was still killed at journal point {max_points}")
