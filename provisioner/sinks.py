"""Credential sinks: where an automation server's credential records are written.

A *sink* executes the credential changes the engine decided (it never decides again): it reads
records, lists them for adoption, writes one record as told (create, or update merging or
replacing its data), renames, deletes, and reports what only it can know: a record's connection
status and the server's own test verdict. :func:`build_sink` makes the sink a
``WorkflowInstance`` names (``sink.type``); a new sink registers a :class:`SinkFactory` with
:func:`register_sink`. The engine imports no concrete sink.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from provisioner.events import Observer, ignore

if TYPE_CHECKING:
    from provisioner.model import WorkflowInstanceSpec
    from provisioner.targets import CredentialTarget
    from provisioner.workflow2.records import CredentialRecord, FieldValue


@dataclass(frozen=True)
class LiveRecord:
    """A record as a sink has it. ``data`` is known for files, None for write-only APIs."""

    id: str
    name: str
    type: str
    data: Mapping[str, FieldValue] | None = None


@dataclass(frozen=True)
class WriteOp:
    """How to write one record, as the engine decided it."""

    create: bool
    """A new record (else an update of the record with the same id)."""
    replace_data: bool = False
    """Replace all stored data (else merge the fields sent where the server can)."""


@dataclass(frozen=True)
class TestVerdict:
    """The server's own test of a stored credential."""

    ok: bool
    message: str


class CredentialSink(Protocol):
    """What the engine asks of every sink."""

    #: The ``sink.type`` it is built for (recorded in state and plans).
    kind: str
    #: The server's base URL when the sink writes to a live server (None: offline, e.g. a file).
    server_url: str | None
    #: True when writes take effect only at :meth:`flush` (a file written once per batch): the
    #: engine then journals them as done after the flush, not after each write.
    batched: bool

    def read(self, ids: Sequence[str]) -> dict[str, LiveRecord | None]:
        """The live record of each id (None when absent)."""
        ...

    def list_records(self) -> list[LiveRecord]:
        """Every record the sink holds (id, name, type), to adopt records made elsewhere."""
        ...

    def schema(self, record_type: str) -> Mapping[str, Any] | None:
        """The schema the server holds records of ``record_type`` to (None: not known)."""
        ...

    def connection_status(self, record: LiveRecord) -> str:
        """Whether a person connected an OAuth record (``connected``, ``not connected`` or
        ``unknown (why)``)."""
        ...

    def write(self, record: CredentialRecord, op: WriteOp) -> str:
        """Write one record as ``op`` says; returns its id."""
        ...

    def rename(self, record_id: str, name: str, record_type: str) -> None:
        """Give a record back its name, its data untouched."""
        ...

    def delete(self, ids: Sequence[str]) -> list[str]:
        """Delete records; returns the ids that existed."""
        ...

    def test(self, record_id: str) -> TestVerdict | None:
        """The server's own test of a stored record (None: the sink cannot test)."""
        ...

    def flush(self) -> None:
        """Make every write so far durable (a file sink writes its file once here)."""
        ...


@dataclass(frozen=True)
class SinkOptions:
    """What building a sink may need from the run."""

    environ: Mapping[str, str] | None = None
    allow_plaintext_secrets: bool = False
    #: Sees the requests a remote sink sends (:class:`~provisioner.events.RequestSent`).
    observer: Observer = ignore


#: Builds a sink: ``(instance spec, target, options) -> sink``.
BuildSink = Callable[["WorkflowInstanceSpec", "CredentialTarget", SinkOptions], CredentialSink]


@dataclass(frozen=True)
class SinkFactory:
    """How to build one kind of sink: ``build`` is a function or ``"module:function"``, imported
    on first use (so a run that never writes to a server never imports its HTTP client)."""

    kind: str
    build: str | BuildSink
    #: Whether the sink talks to a live server (it then needs the instance's API key).
    remote: bool

    def __call__(self, spec: WorkflowInstanceSpec, target: CredentialTarget,
                 options: SinkOptions) -> CredentialSink:
        build = self.build
        if isinstance(build, str):
            module, _, name = build.partition(":")
            build = getattr(importlib.import_module(module), name)
            assert callable(build), f"{self.build} is not a function"
        return build(spec, target, options)


_SINKS: dict[str, SinkFactory] = {}


def register_sink(factory: SinkFactory) -> None:
    """Make a sink type buildable by its ``kind`` (a second registration replaces the first)."""
    _SINKS[factory.kind] = factory


def unregister_sink(kind: str) -> None:
    """Forget a sink type (for tests that register an example sink)."""
    _SINKS.pop(kind, None)


@contextmanager
def sink_registered(factory: SinkFactory) -> Iterator[None]:
    """``factory`` registered for the duration of the block, the previous one restored after
    (tests wrap a real sink this way: no patching of its code)."""
    previous = _SINKS.get(factory.kind)
    register_sink(factory)
    try:
        yield
    finally:
        if previous is None:
            unregister_sink(factory.kind)
        else:
            register_sink(previous)


def sink_factory(kind: str) -> SinkFactory:
    """The factory of sink type ``kind``; ``KeyError`` names the known ones."""
    try:
        return _SINKS[kind]
    except KeyError:
        raise KeyError(f"unknown sink type {kind!r} (known: {', '.join(sorted(_SINKS))})") from None


def build_sink(spec: WorkflowInstanceSpec, target: CredentialTarget,
               options: SinkOptions) -> CredentialSink:
    """The sink ``spec`` names, built for ``target``'s records."""
    return sink_factory(spec.sink.type)(spec, target, options)


register_sink(SinkFactory("api", "provisioner.workflow2.sink:build_api_sink", remote=True))
register_sink(SinkFactory("importFile", "provisioner.workflow2.importfile:build_file_sink",
                          remote=False))

__all__ = [
    "CredentialSink",
    "LiveRecord",
    "SinkFactory",
    "SinkOptions",
    "TestVerdict",
    "WriteOp",
    "build_sink",
    "register_sink",
    "sink_factory",
    "sink_registered",
    "unregister_sink",
]
