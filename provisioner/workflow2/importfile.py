"""The import-file sink: a JSON file that ``n8n import:credentials --input=FILE`` accepts.

For pipelines that run next to the server. The file is a JSON array of ``{id, name, type, data}``;
ids are stable across runs, so importing upserts. Records of other ids already in the file are
kept verbatim. Writes are atomic (temp file + rename) and the file's mode is 0600; each write is
durable when it returns (the engine journals it as done right after).

With an encryption key (the server's ``N8N_ENCRYPTION_KEY``) ``data`` is stored encrypted in
n8n's at-rest format, so no plaintext secret touches the disk; without one the sink refuses
unless ``allow_plaintext=True`` (``--allow-plaintext-secrets``). A rerun that changes nothing
writes nothing: the engine writes only the records its plan changes (encryption is salted, so
rewriting would churn the file).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from provisioner.errors import ProvisionerError, StateError
from provisioner.fsutil import FILE_MODE, atomic_write, read_regular_file
from provisioner.model import ImportFileSinkSpec, WorkflowInstanceSpec
from provisioner.secret import Secret
from provisioner.sinks import LiveRecord, SinkOptions, TestVerdict, WriteOp
from provisioner.targets import CredentialTarget
from provisioner.workflow2.atrest import DecryptionError, decrypt_data, encrypt_data
from provisioner.workflow2.bundled import bundled_schema
from provisioner.workflow2.records import (
    SECRET_FIELDS,
    CredentialRecord,
    FieldValue,
    validate_record,
)

#: Largest import file read (a few KB per record).
MAX_IMPORT_FILE_BYTES = 256 * 1024 * 1024


class ImportFileSink:
    """Writes records into an n8n credentials import file (see the module docstring)."""

    kind = "importFile"
    server_url: str | None = None
    #: Writes collect in memory and the file is rewritten once, at :meth:`flush`: rewriting the
    #: whole file per record made an apply of N records O(N²) in bytes written.
    batched = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        encryption_key: Secret | None = None,
        allow_plaintext: bool = False,
        target: CredentialTarget | None = None,
        target_version: str | None = None,
    ) -> None:
        self.path = Path(path)
        self._key = encryption_key
        self._target = target
        #: The server version the file is written for (None: the newest supported).
        self.target_version = target_version
        #: The file's records with this batch's writes, until :meth:`flush` writes them.
        self._pending: list[dict[str, Any]] | None = None
        self._pending_ids: dict[str, int] = {}
        if encryption_key is None and not allow_plaintext:
            raise ProvisionerError(
                f"refusing to write credential secrets in plain text to {self.path}",
                "give the server's encryption key (N8N_ENCRYPTION_KEY) by reference so the data "
                "is encrypted, or pass --allow-plaintext-secrets to accept a plaintext file",
            )

    @property
    def encrypted(self) -> bool:
        """Whether ``data`` is written encrypted."""
        return self._key is not None

    def preflight(self) -> list[tuple[str, bool, str, str | None]]:
        """Read-only checks for ``provisioner check``: (requirement, ok, detail, fix)."""
        folder = self.path.parent
        probe = folder
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        writable = probe.is_dir() and os.access(probe, os.W_OK | os.X_OK)
        readable = True
        try:
            self.load_items()
        except ProvisionerError:
            readable = False
        return [
            ("import file folder writable", writable, str(folder),
             f"create {folder} or make it writable for this user"),
            ("existing import file readable", readable,
             str(self.path) if self.path.exists() else f"{self.path} (not written yet)",
             "fix or remove the file; provisioner rewrites its own records"),
            ("secrets encrypted", self.encrypted,
             "with the server's encryption key" if self.encrypted else "plain text",
             "give the server's encryption key (N8N_ENCRYPTION_KEY) by reference"),
        ]

    # -- reading --------------------------------------------------------------------------------

    def load_items(self) -> list[dict[str, Any]]:
        """The file's raw array (empty when the file does not exist)."""
        try:
            text = read_regular_file(self.path, MAX_IMPORT_FILE_BYTES).decode("utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StateError(f"cannot read the import file {self.path}: {exc.strerror or exc}",
                             "point the sink at a regular file provisioner may read and write"
                             ) from exc
        try:
            items = json.loads(text) if text.strip() else []
        except json.JSONDecodeError as exc:
            raise StateError(
                f"the import file {self.path} is not valid JSON (line {exc.lineno})",
                "fix or remove the file; provisioner rewrites its own records",
            ) from exc
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise StateError(
                f"the import file {self.path} is not a JSON array of credential objects",
                "fix or remove the file; provisioner rewrites its own records",
            )
        return items

    def _decode(self, item: Mapping[str, Any]) -> dict[str, Any] | None:
        """An item's data as a plain object, or ``None`` when it is encrypted and no key is set."""
        data = item.get("data")
        if isinstance(data, dict):
            return data
        if isinstance(data, str):
            if self._key is None:
                return None
            try:
                return decrypt_data(data, self._key)
            except DecryptionError as exc:
                raise DecryptionError(
                    f"credential {item.get('name')!r} (id {item.get('id')!r}) in {self.path} "
                    "does not decrypt with the given encryption key",
                    "use the key the file was written with, or remove the record from the file",
                ) from exc
        return {}

    def read(self, ids: Sequence[str]) -> dict[str, LiveRecord | None]:
        """The records in the file for each id, with data (secret fields wrapped in Secret)."""
        by_id = {str(i.get("id")): i for i in self.load_items()}
        return {i: (self._live(by_id[i]) if i in by_id else None) for i in ids}

    # -- writing --------------------------------------------------------------------------------

    def _live(self, item: Mapping[str, Any]) -> LiveRecord:
        plain = self._decode(item)
        type_ = str(item.get("type", ""))
        data = None if plain is None else _wrap_secrets(type_, plain)
        return LiveRecord(str(item.get("id")), str(item.get("name", "")), type_, data)

    def list_records(self) -> list[LiveRecord]:
        """Every record in the file (id, name, type)."""
        return [LiveRecord(str(i.get("id")), str(i.get("name", "")), str(i.get("type", "")))
                for i in self.load_items()]

    def schema(self, record_type: str) -> Mapping[str, Any] | None:
        """The schema bundled for the type, as the target version has it (an import does not
        validate: we do)."""
        return bundled_schema(record_type, self.target_version)

    def connection_status(self, record: LiveRecord) -> str:
        """Connected when the stored data holds a token (unknown when it cannot be decrypted)."""
        if record.data is None:
            return "unknown (the file is encrypted with another key)"
        if self._target is None:
            from provisioner.workflow2.target import TARGET

            self._target = TARGET
        return "connected" if self._target.is_connected(record.data) else "not connected"

    def _batch(self) -> list[dict[str, Any]]:
        """The records the next :meth:`flush` writes (the file as read, plus this batch)."""
        if self._pending is None:
            self._pending = self.load_items()
            self._pending_ids = {str(item.get("id")): n for n, item in enumerate(self._pending)}
        return self._pending

    def write(self, record: CredentialRecord, op: WriteOp) -> str:
        """Upsert ``record`` by id, validated against the bundled schema; keep other records.
        (An import replaces a record's data whole, so ``op.replace_data`` changes nothing.)
        The file changes at :meth:`flush`."""
        validate_record(record, bundled_schema(record.type, self.target_version),
                        where="bundled Workflow²")
        items = self._batch()
        entry = self._entry(record)
        at = self._pending_ids.get(record.id)
        if at is not None:
            items[at] = entry
        else:
            self._pending_ids[record.id] = len(items)
            items.append(entry)
        return record.id

    def test(self, record_id: str) -> TestVerdict | None:
        """A file cannot test its records."""
        return None

    def flush(self) -> None:
        """Write the file once with every change of the batch (atomically, fsynced)."""
        if self._pending is None:
            return
        items, self._pending, self._pending_ids = self._pending, None, {}
        self._write_atomically(items)

    def rename(self, record_id: str, name: str, record_type: str) -> None:
        """Give a record in the file back its name (data untouched); written at once."""
        items = self._batch()
        for item in items:
            if str(item.get("id")) == record_id and item.get("type") == record_type:
                if item.get("name") != name:
                    item["name"] = name
                    self.flush()
                return
        raise StateError(f"the import file {self.path} has no {record_type} record {record_id}",
                         "run plan again: the record is written anew")

    def delete(self, ids: Sequence[str]) -> list[str]:
        """Remove records by id; returns the ids that were present. Written at :meth:`flush`."""
        items = self._batch()
        gone = set(ids)
        removed = [str(i.get("id")) for i in items if str(i.get("id")) in gone]
        if removed:
            self._pending = [i for i in items if str(i.get("id")) not in gone]
            self._pending_ids = {str(item.get("id")): n for n, item in enumerate(self._pending)}
        return removed

    def _entry(self, record: CredentialRecord) -> dict[str, Any]:
        data = record.revealed_data()
        stored: str | dict[str, Any] = encrypt_data(data, self._key) if self._key else data
        return {"id": record.id, "name": record.name, "type": record.type, "data": stored}

    def _write_atomically(self, items: list[dict[str, Any]]) -> None:
        """Replace the file (0600) with ``items``, atomically and durably."""
        atomic_write(self.path, json.dumps(items, indent=2) + "\n", mode=FILE_MODE)


def _wrap_secrets(type_: str, data: Mapping[str, Any]) -> dict[str, FieldValue]:
    secret_names = SECRET_FIELDS.get(type_, frozenset())
    return {
        k: Secret(v) if k in secret_names and isinstance(v, str) else v for k, v in data.items()
    }


def build_file_sink(spec: WorkflowInstanceSpec, target: CredentialTarget,
                    options: SinkOptions) -> ImportFileSink:
    """The import-file sink of an instance, encrypted when the spec gives a key."""
    sink = spec.sink
    assert isinstance(sink, ImportFileSinkSpec), f"{spec.name}: not an importFile sink"
    key = sink.encryption_key.resolve(options.environ) if sink.encryption_key else None
    try:
        return ImportFileSink(sink.path, encryption_key=key,
                              allow_plaintext=options.allow_plaintext_secrets, target=target,
                              target_version=spec.target_version)
    except ProvisionerError as exc:
        raise type(exc)(f"WorkflowInstance {spec.name!r} ({spec.source}): {exc.message}",
                        exc.hint) from exc
