"""What a provisioner run sends and what it must never show, for the end-to-end tests.

:class:`Recorder` gives every e2e run its services: it notes each request to the Workflow² server
(:class:`Call`), every connection to the sandbox org (their request logs count org writes), and
every secret the run makes (generated private keys and consumer secrets, access tokens the org
issues) as :class:`Canaries`. :class:`Api` calls the server directly, as a person would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from provisioner.engine.context import RunOptions
from provisioner.engine.services import Services
from provisioner.events import Event, MaterialMade, Observer, RequestSent, Step
from provisioner.model import OrgSpec
from provisioner.salesforce.connection import OrgConnection, connect
from provisioner.sandbox.org import Org
from tests.n8n_server import Workflow2Server

PROBE_NAME = "provisioner capability probe (safe to delete)"
MUTATING = ("POST", "PATCH", "PUT", "DELETE")


# -- what a run sends: Workflow² requests, sandbox requests, secrets made ------------------------


@dataclass(frozen=True)
class Call:
    """One request to the Workflow² server: method, path, and the name in a create body."""

    method: str
    path: str
    name: str | None = None

    @property
    def is_probe(self) -> bool:
        """Traffic of the capability probe's throw-away record (made and deleted by runs that write)."""
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
    """The services of every e2e run: what it sends to Workflow², the sandbox connections it
    opens (their request logs count org writes), the sessions the org issues and every secret
    the run generates (through :class:`~provisioner.engine.services.Services`, not patching)."""

    def __init__(self, base_url: str, canaries: Canaries) -> None:
        self.base_url = base_url
        self.canaries = canaries
        self.calls: list[Call] = []
        self.connections: list[OrgConnection] = []
        self.sessions: list[tuple[str, str]] = []

    @property
    def services(self) -> Services:
        """The standard services, with this recorder's connector and observer."""
        return Services(connector=self.connect, observer=self.observe)

    def connect(self, org: OrgSpec, options: RunOptions, observer: Observer) -> OrgConnection:
        """The standard sign-in, the sandbox org watched from its first session; kept."""
        observer(Step(f"signing in to org {org.name} (e2e recorder)"))
        conn = connect(org, environ=options.environ, sandbox_on_session=self._session)
        self.connections.append(conn)
        return conn

    def watch(self, org: Org) -> None:
        """Note every session ``org`` issues; its access token becomes a canary."""
        org.session_listeners.append(self._session)

    def _session(self, username: str, app: str, token: str) -> None:
        self.sessions.append((username, app))
        self.canaries.add(f"an access token issued through app {app}", token)

    def observe(self, event: Event) -> None:
        """Every event of the run: secrets made become canaries; Workflow² requests are kept."""
        if isinstance(event, MaterialMade):
            self.canaries.add(f"the {event.what} of app {event.app}", event.secret.reveal())
        elif isinstance(event, RequestSent) and event.url.startswith(self.base_url):
            self.calls.append(Call(event.method, urlsplit(event.url).path, event.name))


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
