"""Client for a Workflow² instance's public REST API (n8n ``/api/v1``, ``X-N8N-API-KEY``).

Servers differ by version (see ``reference/workflow2.md``): :meth:`Workflow2Client.capabilities`
probes once per client (i.e. per run) with a throw-away record and caches what the server can
do; every operation then takes the best path. Credential data is write-only through this API:
reads return metadata (id, name, type, timestamps), never secrets.
"""

from __future__ import annotations

import contextlib
import secrets as _random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests

from provisioner.errors import ProvisionerError, RemoteError
from provisioner.events import Observer, ignore
from provisioner.secret import Secret
from provisioner.workflow2.records import CredentialRecord, validate_record
from provisioner.workflow2.transport import Transport

#: Most pages of a credential list followed (100 records each: 100,000 records).
MAX_PAGES = 1000
_PROBE_TYPE = "httpHeaderAuth"
_PROBE_NAME = "provisioner capability probe (safe to delete)"


@dataclass(frozen=True)
class Capabilities:
    """What a server's credential API supports, found by :meth:`Workflow2Client.probe`."""

    create_with_id: bool
    """``POST /credentials`` honours a caller-chosen ``id`` and answers 409 on a repeat."""
    get_by_id: bool
    """``GET /credentials/{id}`` exists (2.8.4 answers 405)."""
    partial_update: bool
    """``PATCH`` with ``isPartialData: true`` merges instead of replacing all data."""
    credential_test: bool
    """``POST /credentials/{id}/test`` exists and makes the server try the credential."""


@dataclass(frozen=True)
class RemoteCredential:
    """A credential's metadata as the server reports it (never its data)."""

    id: str
    name: str
    type: str
    created_at: str | None = None
    updated_at: str | None = None

    @classmethod
    def from_json(cls, body: Any) -> RemoteCredential:
        """Build from an API object; raises :class:`RemoteError` if it lacks id/name/type."""
        if not isinstance(body, dict) or not all(k in body for k in ("id", "name", "type")):
            raise RemoteError(
                "Workflow² answered with an unexpected credential object",
                "check that the URL points at a Workflow² (n8n) server",
            )
        return cls(
            id=str(body["id"]),
            name=str(body["name"]),
            type=str(body["type"]),
            created_at=body.get("createdAt"),
            updated_at=body.get("updatedAt"),
        )


@dataclass(frozen=True)
class TestResult:
    """The server's verdict from trying a credential (``POST /credentials/{id}/test``)."""

    status: str
    """``"OK"``, ``"Error"``, or ``"unsupported"`` when the server has no test endpoint."""
    message: str

    @property
    def ok(self) -> bool:
        """Whether the server could authenticate with the credential."""
        return self.status == "OK"


class Workflow2Client:
    """Credential operations on one Workflow² instance.

    ``api_key`` is a :class:`Secret`; it only ever leaves in the request header. ``ca_file`` adds a
    trusted CA for TLS (verification is never disabled); plain http is allowed only for loopback.
    ``capabilities`` may be given to skip the probe (e.g. when already probed this run).
    """

    def __init__(
        self,
        base_url: str,
        api_key: Secret,
        *,
        instance_name: str | None = None,
        ca_file: str | None = None,
        timeout: float = 30.0,
        attempts: int = 4,
        backoff: float = 1.0,
        capabilities: Capabilities | None = None,
        session: requests.Session | None = None,
        observer: Observer = ignore,
    ) -> None:
        self._http = Transport(
            base_url,
            api_key,
            instance_name=instance_name or base_url,
            ca_file=ca_file,
            timeout=timeout,
            attempts=attempts,
            backoff=backoff,
            session=session,
            observer=observer,
        )
        self.instance_name = self._http.instance_name
        self._caps = capabilities
        self._get_by_id: bool | None = None
        self._schemas: dict[str, dict[str, Any]] = {}

    @property
    def base_url(self) -> str:
        """The instance's normalized base URL (no ``/api/v1``)."""
        return self._http.base_url

    # -- capabilities ---------------------------------------------------------------------------

    def capabilities(self) -> Capabilities:
        """The server's capabilities, probed on first use and cached for this client.

        The probe writes (a throw-away record), so only the write paths call this; reads use
        :meth:`supports_get_by_id` and :meth:`test`, which find out without writing, so a plan
        or a rerun with nothing to change leaves the server untouched.
        """
        if self._caps is None:
            self._caps = self.probe()
        return self._caps

    def supports_get_by_id(self) -> bool:
        """Whether ``GET /credentials/{id}`` exists (2.8.4 answers 405), found without writing."""
        if self._caps is not None:
            return self._caps.get_by_id
        if self._get_by_id is None:
            resp = self._http.request(
                "GET",
                "/api/v1/credentials/pvnosuchrecord00",
                op="probe its API (read by id)",
                accept=(200, 404, 405),
            )
            self._get_by_id = resp.status_code != 405
        return self._get_by_id

    def probe(self) -> Capabilities:
        """Find what the server supports using a throw-away ``httpHeaderAuth`` record.

        Creates it with a chosen id (and again, expecting 409), reads it by id, patches it with
        partial data, asks the server to test it, and deletes it whatever happened.
        """
        probe_id = "pvprobe" + _random.token_hex(4)  # create ids are 16 chars at most
        body = {"name": _PROBE_NAME, "type": _PROBE_TYPE, "data": {"name": "X-Probe", "value": "-"}}
        resp = self._http.request(
            "POST",
            "/api/v1/credentials",
            op="probe its API (create a test record)",
            json={**body, "id": probe_id},
            accept=(200, 201, 400),
            idempotent=False,
        )
        if resp.status_code == 400:  # a server that rejects the id field itself
            resp = self._http.request(
                "POST",
                "/api/v1/credentials",
                op="probe its API (create a test record)",
                json=body,
                idempotent=False,
            )
        created = RemoteCredential.from_json(self._http.json(resp, op="probe its API"))
        try:
            with_id = created.id == probe_id
            if with_id:
                again = self._http.request(
                    "POST",
                    "/api/v1/credentials",
                    op="probe its API (repeat a create)",
                    json={**body, "id": probe_id},
                    accept=(200, 201, 409),
                    idempotent=False,
                )
                if again.status_code != 409:  # a second record: not idempotent after all
                    with_id = False
                    self._delete_quietly(RemoteCredential.from_json(
                        self._http.json(again, op="probe its API")).id)
            got = self._http.request(
                "GET",
                f"/api/v1/credentials/{created.id}",
                op="probe its API (read by id)",
                accept=(200, 404, 405),
            )
            patched = self._http.request(
                "PATCH",
                f"/api/v1/credentials/{created.id}",
                op="probe its API (partial update)",
                json={"data": {"value": "--"}, "isPartialData": True},
                accept=(200, 400),
            )
            tested = self._http.request(
                "POST",
                f"/api/v1/credentials/{created.id}/test",
                op="probe its API (credential test)",
                accept=(200, 400, 404, 405),
            )
            return Capabilities(
                create_with_id=with_id,
                get_by_id=got.status_code == 200,
                partial_update=patched.status_code == 200,
                credential_test=tested.status_code == 200 and "status" in _json_or_empty(tested),
            )
        finally:
            self._delete_quietly(created.id)

    def _delete_quietly(self, credential_id: str) -> None:
        # A leftover probe record is harmless and clearly named.
        with contextlib.suppress(ProvisionerError):
            self.delete(credential_id)

    # -- reads ----------------------------------------------------------------------------------

    def iter_credentials(self, *, page_size: int = 100) -> Iterator[RemoteCredential]:
        """Every credential the key can see (metadata only), following ``nextCursor``. A server
        that repeats a cursor, or pages without end, is refused (:data:`MAX_PAGES`)."""
        cursor: str | None = None
        seen: set[str] = set()
        pages = 0
        while True:
            pages += 1
            if pages > MAX_PAGES:
                raise RemoteError(f"{self._http.where} kept answering with more pages after "
                                  f"{MAX_PAGES} while listing credentials",
                                  "check the server (a proxy in front of it may be looping)")
            params: dict[str, str | int] = {"limit": page_size}
            if cursor:
                params["cursor"] = cursor
            body = self._http.json(self._http.request(
                "GET", "/api/v1/credentials", op="list credentials", params=params
            ), op="list credentials")
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, list):
                raise RemoteError(f"{self._http.where} answered a credential list without a "
                                  "data array", "check that baseUrl points at the Workflow² "
                                  "server's public API")
            for item in data:
                yield RemoteCredential.from_json(item)
            cursor = body.get("nextCursor")
            if not cursor:
                return
            if not isinstance(cursor, str) or cursor in seen:
                raise RemoteError(f"{self._http.where} answered a cursor it had already given "
                                  "while listing credentials (the list would never end)",
                                  "check the server (a proxy in front of it may be caching "
                                  "the first page)")
            seen.add(cursor)

    def list_credentials(self) -> list[RemoteCredential]:
        """All credentials (metadata only)."""
        return list(self.iter_credentials())

    def get(self, credential_id: str) -> RemoteCredential | None:
        """One credential's metadata by id, or ``None`` when it does not exist."""
        if self.supports_get_by_id():
            resp = self._http.request(
                "GET",
                f"/api/v1/credentials/{credential_id}",
                op="read",
                record=credential_id,
                accept=(200, 404),
            )
            return None if resp.status_code == 404 else RemoteCredential.from_json(
                self._http.json(resp, op="read", record=credential_id))
        return next((c for c in self.iter_credentials() if c.id == credential_id), None)

    def schema(self, type: str) -> dict[str, Any]:
        """The server's JSON schema for a credential type (cached per client)."""
        if type not in self._schemas:
            resp = self._http.request(
                "GET", f"/api/v1/credentials/schema/{type}", op=f"read the schema of type {type!r}"
            )
            body = self._http.json(resp, op=f"read the schema of type {type!r}")
            if not isinstance(body, dict):
                raise RemoteError(f"{self._http.where} returned a schema that is not an object")
            self._schemas[type] = body
        return self._schemas[type]

    def validate(self, record: CredentialRecord) -> None:
        """Check ``record`` against the server's schema; raise a secret-free error if it fails."""
        validate_record(record, self.schema(record.type), where=self._http.where)

    # -- writes ---------------------------------------------------------------------------------

    def create(self, record: CredentialRecord) -> RemoteCredential:
        """Create ``record`` (validated first) and return what the server stored.

        With ids supported, ``record.id`` is sent and a 409 (a retried create that already
        happened) is treated as success: the existing record's data is brought up to date in
        place. Without, the server picks the id: use the returned one.
        """
        self.validate(record)
        hidden = _secret_values(record)
        body: dict[str, Any] = {
            "name": record.name,
            "type": record.type,
            "data": record.revealed_data(),
        }
        with_id = self.capabilities().create_with_id
        if with_id:
            body["id"] = record.id
        resp = self._http.request(
            "POST",
            "/api/v1/credentials",
            op="create",
            record=record.name,
            json=body,
            accept=(200, 201, 409),
            idempotent=with_id,
            secrets=hidden,
        )
        if resp.status_code == 409:
            existing = self.get(record.id)
            if existing is None or existing.type != record.type:
                raise RemoteError(
                    f"{self._http.where}: id {record.id!r} for credential {record.name!r} is "
                    "taken by a record of another type",
                    "delete or rename the conflicting record in Workflow², or choose another "
                    "credential name in the spec",
                )
            return self.update(record, replace=False)
        return RemoteCredential.from_json(self._http.json(resp, op="write a credential"))

    def update(
        self, record: CredentialRecord, *, replace: bool, include_data: bool = True
    ) -> RemoteCredential:
        """Update ``record.id`` in place (its id never changes): name, type and data.

        ``replace=False`` merges the fields into the stored data (``isPartialData``), which keeps
        a connected OAuth2 token; servers without partial updates always replace. ``replace=True``
        replaces all data (a connected OAuth2 credential must then be reconnected).
        ``include_data=False`` renames only, leaving the stored data untouched on every version.
        """
        self.validate(record)
        hidden = _secret_values(record)
        body: dict[str, Any] = {"name": record.name, "type": record.type}
        if include_data:
            body["data"] = record.revealed_data()
            if not replace and self.capabilities().partial_update:
                body["isPartialData"] = True
        resp = self._http.request(
            "PATCH",
            f"/api/v1/credentials/{record.id}",
            op="update",
            record=record.name,
            json=body,
            secrets=hidden,
        )
        return RemoteCredential.from_json(self._http.json(resp, op="write a credential"))

    def rename(self, credential_id: str, name: str, type: str) -> RemoteCredential:
        """Give a credential back its name, its data untouched (no secret needed or sent)."""
        resp = self._http.request(
            "PATCH",
            f"/api/v1/credentials/{credential_id}",
            op="rename",
            record=name,
            json={"name": name, "type": type},
        )
        return RemoteCredential.from_json(self._http.json(resp, op="write a credential"))

    def delete(self, credential_id: str) -> bool:
        """Delete a credential; ``False`` when it was already gone (404)."""
        resp = self._http.request(
            "DELETE",
            f"/api/v1/credentials/{credential_id}",
            op="delete",
            record=credential_id,
            accept=(200, 204, 404),
        )
        return resp.status_code != 404

    def test(self, credential_id: str) -> TestResult:
        """Have the server try an existing credential (e.g. sign a JWT and exchange it) and report.

        Call it for a record that exists: a 404/405 then means the server has no test endpoint
        (before 2.41), reported as ``unsupported`` without any probe write.
        """
        unsupported = TestResult("unsupported", "this Workflow² version has no credential test")
        if self._caps is not None and not self._caps.credential_test:
            return unsupported
        resp = self._http.request(
            "POST",
            f"/api/v1/credentials/{credential_id}/test",
            op="test",
            record=credential_id,
            accept=(200, 404, 405),
        )
        if resp.status_code in (404, 405):
            return unsupported
        body = _json_or_empty(resp)
        return TestResult(str(body.get("status", "Error")), str(body.get("message", "")))


def _secret_values(record: CredentialRecord) -> list[str]:
    """The record's secret values, to scrub from anything the server says back."""
    data = record.revealed_data()
    return [str(data[k]) for k in record.secret_fields if k in data]


def _json_or_empty(resp: requests.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
