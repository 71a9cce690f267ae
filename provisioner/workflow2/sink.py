"""The API sink: writes records through a Workflow² instance's public REST API.

It executes what the engine decided (:class:`~provisioner.sinks.WriteOp`); reading, listing,
the OAuth connection status and the server's own credential test are what only it can know.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from provisioner.errors import SpecError
from provisioner.model import WorkflowInstanceSpec
from provisioner.sinks import LiveRecord, SinkOptions, TestVerdict, WriteOp
from provisioner.targets import CredentialTarget
from provisioner.workflow2.api import RemoteCredential, Workflow2Client
from provisioner.workflow2.records import CredentialRecord


class ApiSink:
    """Writes records through a Workflow² instance's REST API."""

    kind = "api"
    batched = False  # each write is on the server when it returns

    def __init__(self, client: Workflow2Client) -> None:
        self.client = client

    @property
    def server_url(self) -> str | None:
        """The server's base URL."""
        return self.client.base_url

    def preflight(self) -> list[tuple[str, bool, str, str | None]]:
        """Read-only checks for ``provisioner check``: (requirement, ok, detail, fix)."""
        first = next(iter(self.client.iter_credentials(page_size=1)), None)
        by_id = self.client.supports_get_by_id()
        return [
            ("API key accepted", True,
             f"{self.client.base_url} lists credentials"
             + ("" if first is not None else " (none yet)"), None),
            ("records read by id", True,
             "GET /api/v1/credentials/{id} answers" if by_id
             else "this version has no GET by id: records are found by listing (slower)", None),
        ]

    def read(self, ids: Sequence[str]) -> dict[str, LiveRecord | None]:
        """Live metadata for each id (data is write-only, so ``data`` is None)."""
        if self.client.supports_get_by_id():
            found = {i: self.client.get(i) for i in ids}
        else:
            listed = {c.id: c for c in self.client.iter_credentials()}
            found = {i: listed.get(i) for i in ids}
        return {i: _live(c) if c else None for i, c in found.items()}

    def list_records(self) -> list[LiveRecord]:
        """Every credential's metadata."""
        return [_live(c) for c in self.client.iter_credentials()]

    def schema(self, record_type: str) -> Mapping[str, Any] | None:
        """The server's own schema of the type."""
        return self.client.schema(record_type)

    def connection_status(self, record: LiveRecord) -> str:
        """The server's test of the record: a connected OAuth2 record passes it. A plan writes
        nothing, so servers without a test endpoint are not probed (status unknown)."""
        verdict = self.client.test(record.id)
        if verdict.status == "unsupported":
            return "unknown (this Workflow² version cannot test credentials)"
        return "connected" if verdict.ok else "not connected"

    def write(self, record: CredentialRecord, op: WriteOp) -> str:
        """Create the record (its id chosen by us where the server allows) or update it in
        place, merging or replacing its data as ``op`` says."""
        if op.create:
            return self.client.create(record).id
        self.client.update(record, replace=op.replace_data, include_data=True)
        return record.id

    def rename(self, record_id: str, name: str, record_type: str) -> None:
        """Give a record back its name without touching its data."""
        self.client.rename(record_id, name, record_type)

    def delete(self, ids: Sequence[str]) -> list[str]:
        """Delete records by id; returns the ids that existed."""
        return [i for i in ids if self.client.delete(i)]

    def test(self, record_id: str) -> TestVerdict | None:
        """The server's own test (None before 2.41, which has no test endpoint; found out
        from the answer, without a probe write)."""
        verdict = self.client.test(record_id)
        if verdict.status == "unsupported":
            return None
        return TestVerdict(verdict.ok, verdict.message)

    def flush(self) -> None:
        """Every write is already stored by the server."""


def _live(remote: RemoteCredential) -> LiveRecord:
    return LiveRecord(id=remote.id, name=remote.name, type=remote.type)


def build_api_sink(spec: WorkflowInstanceSpec, target: CredentialTarget,
                   options: SinkOptions) -> ApiSink:
    """The API sink of an instance, its API key resolved from its reference."""
    if spec.api_key is None:
        raise SpecError(
            f"{spec.source}: WorkflowInstance {spec.name!r} has no apiKey",
            "add spec.apiKey: {env: NAME} (an API key with the credential scopes)",
        )
    return ApiSink(Workflow2Client(
        spec.base_url,
        spec.api_key.resolve(options.environ),
        instance_name=spec.name,
        ca_file=str(spec.ca_file) if spec.ca_file else None,
        observer=options.observer,
    ))
