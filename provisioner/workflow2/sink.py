"""Credential sinks: where records go, behind one small interface.

A sink reads what exists (:meth:`CredentialSink.read`) and converges records to what is wanted
(:meth:`CredentialSink.write`). :func:`plan_record` is the pure decision both use and ``plan``
can show: create, update (which fields; whether an OAuth2 credential must be reconnected) or
nothing. State keeps each :class:`WriteResult`'s ``snapshot`` (ids, public fields, secret
fingerprints; never a secret) and passes it back as ``previous`` next run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from provisioner.workflow2.api import RemoteCredential, TestResult, Workflow2Client
from provisioner.workflow2.records import JWT_TYPE, OAUTH2_TYPE, CredentialRecord, FieldValue

Action = Literal["create", "update", "none"]
#: The fields whose change invalidates a connected OAuth2 token (it belongs to that client).
_OAUTH2_CLIENT_FIELDS = frozenset({"clientId", "clientSecret"})


@dataclass(frozen=True)
class LiveRecord:
    """A record as it exists in a sink. ``data`` is known for files, ``None`` for the API."""

    id: str
    name: str
    type: str
    data: Mapping[str, FieldValue] | None = None

    def snapshot(self) -> dict[str, Any] | None:
        """The :meth:`CredentialRecord.snapshot` of the live data, when the data is known."""
        if self.data is None:
            return None
        return CredentialRecord(self.id, self.name, self.type, self.data).snapshot()


@dataclass(frozen=True)
class CredentialChange:
    """What converging one record takes (secret-free: field names, never values)."""

    record_id: str
    name: str
    type: str
    action: Action
    fields: tuple[str, ...] = ()
    """Fields that change; secret ones are shown as ``(sensitive)`` by renderers."""
    replace: bool = False
    """Replace all stored data (instead of merging the changed fields)."""
    reconnect_required: bool = False
    """An OAuth2 credential's token is dropped: a person must click Connect again."""
    drift: str | None = None
    """Why the live record differs from state (e.g. deleted or renamed outside provisioner)."""


@dataclass(frozen=True)
class WriteResult:
    """The outcome of converging one record; ``snapshot`` is what state should store."""

    change: CredentialChange
    record_id: str
    snapshot: dict[str, Any] = field(default_factory=dict)

    @property
    def wrote(self) -> bool:
        """Whether the sink was written to for this record."""
        return self.change.action != "none"


class CredentialSink(Protocol):
    """What every Workflow² sink offers."""

    def read(self, ids: Sequence[str]) -> dict[str, LiveRecord | None]:
        """The live record for each id (``None`` when absent)."""
        ...

    def plan(
        self,
        records: Sequence[CredentialRecord],
        previous: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> list[CredentialChange]:
        """What :meth:`write` would do for each record, without writing."""
        ...

    def write(
        self,
        records: Sequence[CredentialRecord],
        previous: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> list[WriteResult]:
        """Converge every record; ``previous`` maps record id to the snapshot state kept."""
        ...


def plan_record(
    record: CredentialRecord,
    previous: Mapping[str, Any] | None,
    live: LiveRecord | None,
    *,
    partial_update: bool = True,
) -> CredentialChange:
    """Decide how to converge ``record`` given state's ``previous`` snapshot and the live record.

    Without data from the sink (the API never returns it), unchanged fields are known only from
    ``previous``: no snapshot means every field is written. OAuth2 tokens are kept (partial
    update) unless the client id/secret changed or the server cannot merge.
    """
    if live is None:
        return CredentialChange(
            record.id,
            record.name,
            record.type,
            "create",
            fields=tuple(sorted(record.data)),
            drift="deleted outside provisioner" if previous is not None else None,
        )
    known = live.snapshot() or previous
    changed = set(record.changed_fields(known))
    drift = None
    if live.name != record.name:
        changed.add("name")
        if previous is not None and previous.get("name") == record.name:
            drift = f"renamed outside provisioner to {live.name!r}"
    type_changed = live.type != record.type
    if type_changed:
        changed.add("type")
        drift = f"type changed outside provisioner to {live.type!r}"
    if not changed:
        return CredentialChange(record.id, record.name, record.type, "none")
    data_changed = changed - {"name"}
    # A JWT record holds no person's consent, only the server's cached session of the key it
    # replaces (hidden accessToken/instanceUrl): merging would keep that session, so the
    # server's own test after a rotation would never sign in with the new key. Replace it all.
    replace = type_changed or (record.type == JWT_TYPE and bool(data_changed)) or (
        record.type == OAUTH2_TYPE
        and previous is not None
        and bool(data_changed & _OAUTH2_CLIENT_FIELDS)
    )
    wipes = bool(data_changed) and (replace or not partial_update)
    return CredentialChange(
        record.id,
        record.name,
        record.type,
        "update",
        fields=tuple(sorted(changed)),
        replace=replace,
        reconnect_required=record.type == OAUTH2_TYPE and wipes,
        drift=drift,
    )


class ApiSink:
    """Writes records through a Workflow² instance's REST API."""

    def __init__(self, client: Workflow2Client) -> None:
        self.client = client

    def read(self, ids: Sequence[str]) -> dict[str, LiveRecord | None]:
        """Live metadata for each id (data is write-only, so ``data`` is ``None``)."""
        if self.client.supports_get_by_id():
            found = {i: self.client.get(i) for i in ids}
        else:
            listed = {c.id: c for c in self.client.iter_credentials()}
            found = {i: listed.get(i) for i in ids}
        return {i: _live(c) if c else None for i, c in found.items()}

    def plan(
        self,
        records: Sequence[CredentialRecord],
        previous: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> list[CredentialChange]:
        """The change each record needs, reading the server but writing nothing."""
        live = self.read([r.id for r in records])
        partial = self.client.capabilities().partial_update
        prev = previous or {}
        return [plan_record(r, prev.get(r.id), live[r.id], partial_update=partial) for r in records]

    def write(
        self,
        records: Sequence[CredentialRecord],
        previous: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> list[WriteResult]:
        """Create or update each record in place (ids never change); skip unchanged ones."""
        results = []
        for record, change in zip(records, self.plan(records, previous), strict=True):
            record_id = record.id
            if change.action == "create":
                record_id = self.client.create(record).id
            elif change.action == "update":
                data_changed = bool(set(change.fields) - {"name"})
                self.client.update(record, replace=change.replace, include_data=data_changed)
            snap = CredentialRecord(record_id, record.name, record.type, record.data).snapshot()
            results.append(WriteResult(change=change, record_id=record_id, snapshot=snap))
        return results

    def delete(self, ids: Sequence[str]) -> list[str]:
        """Delete records by id; returns the ids that existed."""
        return [i for i in ids if self.client.delete(i)]

    def rename(self, record_id: str, name: str, type: str) -> bool:
        """Give a record back its name without touching its data."""
        self.client.rename(record_id, name, type)
        return True

    def test(self, ids: Sequence[str]) -> dict[str, TestResult]:
        """The server's credential-test verdict for each id."""
        return {i: self.client.test(i) for i in ids}


def _live(remote: RemoteCredential) -> LiveRecord:
    return LiveRecord(id=remote.id, name=remote.name, type=remote.type)
