"""An example credential sink that exists only in the tests: records kept in memory.

It shows the seam a new sink (a secret store, another server's API) plugs into: one class
implementing :class:`provisioner.sinks.CredentialSink` and one :class:`~provisioner.sinks.
SinkFactory` registered with :func:`provisioner.sinks.register_sink`. The engine builds it through
``build_sink`` and never knows its class.

A product sink touches at most three product files: its module, the ``register_sink(...)`` line
in ``provisioner/sinks.py``, and the ``sink`` schema of ``schemas/WorkflowInstance.schema.json``
(plus its spec dataclass in ``provisioner/model.py`` when it has settings of its own).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from provisioner.model import SecretRef, WorkflowInstanceSpec
from provisioner.sinks import LiveRecord, SinkFactory, SinkOptions, TestVerdict, WriteOp
from provisioner.targets import CredentialTarget
from provisioner.workflow2.records import CredentialRecord

KIND = "memory"


@dataclass(frozen=True)
class MemorySinkSpec:
    """The ``sink`` of a WorkflowInstance that keeps its records in :data:`STORES`."""

    type: str = KIND

    def secret_refs(self) -> tuple[SecretRef, ...]:
        """No secret needed."""
        return ()


@dataclass
class Store:
    """One instance's records (revealed data: this is where secrets are meant to go) and a log
    of the operations the sink carried out."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    log: list[tuple[str, str]] = field(default_factory=list)


#: Records by instance name, kept across runs of one test.
STORES: dict[str, Store] = {}


class MemorySink:
    """A :class:`~provisioner.sinks.CredentialSink` over a dict."""

    kind = KIND
    server_url: str | None = None
    batched = False

    def __init__(self, store: Store, target: CredentialTarget) -> None:
        self.store = store
        self.target = target

    def read(self, ids: Sequence[str]) -> dict[str, LiveRecord | None]:
        return {i: self._live(i) if i in self.store.records else None for i in ids}

    def _live(self, record_id: str) -> LiveRecord:
        item = self.store.records[record_id]
        return LiveRecord(record_id, item["name"], item["type"], dict(item["data"]))

    def list_records(self) -> list[LiveRecord]:
        return [self._live(i) for i in self.store.records]

    def schema(self, record_type: str) -> Mapping[str, Any] | None:
        return None

    def connection_status(self, record: LiveRecord) -> str:
        return "connected" if self.target.is_connected(record.data or {}) else "not connected"

    def write(self, record: CredentialRecord, op: WriteOp) -> str:
        data = record.revealed_data()
        if not op.create and not op.replace_data:
            data = {**self.store.records[record.id]["data"], **data}
        self.store.records[record.id] = {"name": record.name, "type": record.type, "data": data}
        self.store.log.append(("create" if op.create else "update", record.name))
        return record.id

    def rename(self, record_id: str, name: str, record_type: str) -> None:
        self.store.records[record_id]["name"] = name
        self.store.log.append(("rename", name))

    def delete(self, ids: Sequence[str]) -> list[str]:
        gone = [i for i in ids if self.store.records.pop(i, None) is not None]
        self.store.log.extend(("delete", i) for i in gone)
        return gone

    def test(self, record_id: str) -> TestVerdict | None:
        return None

    def flush(self) -> None:
        return None


def build_memory_sink(spec: WorkflowInstanceSpec, target: CredentialTarget,
                      options: SinkOptions) -> MemorySink:
    """The memory sink of an instance."""
    return MemorySink(STORES.setdefault(spec.name, Store()), target)


FACTORY = SinkFactory(KIND, build_memory_sink, remote=False)
