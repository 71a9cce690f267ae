"""The write-ahead journal: the intent of each remote step, on disk before the step runs.

A run that is killed between "deploy the new certificate" and "record it in state" would otherwise
leave the org and the state disagreeing with nothing saying why. So the executor writes an intent
(what it is about to do, with the non-secret facts needed to finish or undo it: fingerprints,
consumer key, record ids), runs the step, then marks it done. The next run reads :meth:`pending`
and rolls forward or back. The file (``state.json.journal``) is JSON lines, appended and fsync'd
line by line, so a crash can at worst tear the last line, which is then ignored.

The journal never holds a secret: step facts are plain str/int/bool/None values, and strings that
carry a PEM private key are refused.

Test-only hook: with ``PROVISIONER_TEST_KILL_AT=<n>`` in the environment the process SIGKILLs itself
right after the n-th intent of the process is on disk, so crash tests can kill a run at every
journal point in turn (raise n until the run exits normally). Any other value (e.g. ``list``) does
nothing; :attr:`Journal.points_written` counts the intents written by this process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args

from provisioner.errors import StateError
from provisioner.fsutil import FILE_MODE, fsync_dir, naming, private_folder

KILL_AT_ENV = "PROVISIONER_TEST_KILL_AT"
_PRIVATE_KEY_MARKER = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")

#: Every kind of remote step the executor journals (the replay table in
#: :mod:`provisioner.engine.statewriter` has one entry for each).
StepKind = Literal[
    "deploy",             # an app's components deployed (created, updated, rotated, replaced)
    "delete",             # an app deleted from its org
    "verify",             # a JWT login with a new key
    "unverified",         # a new app whose login never worked: its certificate forgotten
    "rollback",           # the previous certificate deployed back after a failed login
    "credential-write",   # a credential record written (or renamed back)
    "credential-delete",  # a credential record deleted
]
STEP_KINDS: tuple[str, ...] = get_args(StepKind)

#: A fact about a step: plain values only, so a Secret (or anything holding one) cannot slip in.
FactValue = str | int | bool | None


def _check_facts(facts: Mapping[str, Any], what: str) -> dict[str, FactValue]:
    clean: dict[str, FactValue] = {}
    for key, value in facts.items():
        if not isinstance(key, str):
            raise TypeError(f"{what}: fact names must be str")
        if value is not None and not isinstance(value, (str, int, bool)):
            # The value is not shown: it may be a Secret or hold one.
            raise TypeError(
                f"{what}: fact {key!r} is a {type(value).__name__}, not str/int/bool/None"
            )
        if isinstance(value, str) and _PRIVATE_KEY_MARKER.search(value):
            raise ValueError(f"{what}: fact {key!r} holds a private key; the journal never does")
        clean[key] = value
    return clean


@dataclass(frozen=True)
class JournalStep:
    """One remote step about to run: its kind, where, and the non-secret facts to redo/undo it.

    Typical facts: ``certificatePem`` (public), ``consumerKey``, ``recordId``, fingerprints.
    """

    kind: StepKind
    org: str | None = None
    app: str | None = None
    instance: str | None = None
    facts: Mapping[str, FactValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in STEP_KINDS:
            raise ValueError(f"journal step kind {self.kind!r} is not one of {', '.join(STEP_KINDS)}")
        where = {"org": self.org, "app": self.app, "instance": self.instance}
        _check_facts(where, f"journal step {self.kind}")
        object.__setattr__(self, "facts", _check_facts(self.facts, f"journal step {self.kind}"))

    def to_json(self) -> dict[str, Any]:
        """The JSON object stored in the journal."""
        return {
            "kind": self.kind,
            "org": self.org,
            "app": self.app,
            "instance": self.instance,
            "facts": dict(self.facts),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> JournalStep:
        """Read the JSON object written by :meth:`to_json`."""
        return cls(doc["kind"], doc.get("org"), doc.get("app"), doc.get("instance"), doc["facts"])


@dataclass(frozen=True)
class JournalEntry:
    """An intent read back from the journal; ``outcome`` is None while the step is not done."""

    id: str
    at: datetime
    step: JournalStep
    outcome: Mapping[str, FactValue] | None = None

    @property
    def done(self) -> bool:
        """Whether the step was marked done."""
        return self.outcome is not None


class Journal:
    """The append-only journal file at ``path`` (normally ``StateStore.journal_path``)."""

    #: Intents written by this process, across all journals (what PROVISIONER_TEST_KILL_AT counts).
    points_written: ClassVar[int] = 0

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def record_intent(self, step: JournalStep) -> str:
        """Write and fsync the intent of ``step`` before it runs; returns the step id."""
        step_id = str(uuid.uuid4())
        self._append({"type": "intent", "id": step_id, "at": _now(), "step": step.to_json()})
        Journal.points_written += 1
        _maybe_kill(Journal.points_written)
        return step_id

    def record_intents(self, steps: Sequence[JournalStep]) -> list[str]:
        """:meth:`record_intent` for steps that start together (one deploy of many apps): one
        write and one fsync for all of them, so a large apply is not thousands of fsyncs."""
        if not steps:
            return []
        ids = [str(uuid.uuid4()) for _ in steps]
        at = _now()
        self._append(*({"type": "intent", "id": i, "at": at, "step": step.to_json()}
                       for i, step in zip(ids, steps, strict=True)))
        Journal.points_written += 1
        _maybe_kill(Journal.points_written)
        return ids

    def mark_done(self, step_id: str, outcome: Mapping[str, Any] | None = None) -> None:
        """Record that step ``step_id`` finished, with non-secret facts about its result."""
        self.mark_all_done([(step_id, outcome)])

    def mark_all_done(self, done: Sequence[tuple[str, Mapping[str, Any] | None]]) -> None:
        """:meth:`mark_done` for steps that finished together (one write, one fsync)."""
        if not done:
            return
        at = _now()
        self._append(*({"type": "done", "id": step_id, "at": at,
                        "outcome": _check_facts(outcome or {},
                                                f"outcome of journal step {step_id}")}
                       for step_id, outcome in done))

    def entries(self) -> list[JournalEntry]:
        """Every intent in the order written, each with its outcome when done."""
        intents: dict[str, JournalEntry] = {}
        for record in self._records():
            if record["type"] == "intent":
                try:
                    step = JournalStep.from_json(record["step"])
                except (ValueError, KeyError, TypeError) as exc:
                    raise StateError(
                        f"the journal {self.path} holds a step this provisioner does not know",
                        "finish the interrupted run with the provisioner version that started it, "
                        "or, if the org and Workflow² are as the specs say, delete the journal",
                    ) from exc
                intents[record["id"]] = JournalEntry(
                    record["id"], datetime.fromisoformat(record["at"]), step)
            elif record["id"] in intents:
                entry = intents[record["id"]]
                intents[record["id"]] = JournalEntry(
                    entry.id, entry.at, entry.step, record["outcome"]
                )
        return list(intents.values())

    def pending(self) -> list[JournalEntry]:
        """Intents without a done mark: steps a killed run may have left half-finished."""
        return [entry for entry in self.entries() if not entry.done]

    def clear(self) -> None:
        """Remove the journal after a fully successful run."""
        self.path.unlink(missing_ok=True)
        fsync_dir(self.path.parent)

    def _append(self, *records: dict[str, Any]) -> None:
        line = "".join(json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
                       for record in records).encode("utf-8")
        private_folder(self.path.parent)
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, FILE_MODE)
        try:
            with naming(self.path):
                _drop_torn_tail(fd)
                # One write for the lines: with O_APPEND they land whole or, on a crash, torn
                # at the end (a torn tail is cut by the next append or ignored by a read).
                os.write(fd, line)
                os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_dir(self.path.parent)

    def _records(self) -> list[dict[str, Any]]:
        try:
            lines = self.path.read_bytes().split(b"\n")
        except FileNotFoundError:
            return []
        records: list[dict[str, Any]] = []
        last = len(lines) - 1
        for number, raw in enumerate(lines):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
                if record["type"] not in ("intent", "done") or not isinstance(record["id"], str):
                    raise ValueError("unknown record")
            except (ValueError, KeyError, TypeError) as exc:
                if number == last:  # no newline yet: torn by a crash mid-write, never acted on
                    break
                raise StateError(
                    f"the journal {self.path} is damaged at line {number + 1}",
                    "inspect it: each line is a step provisioner intended to run; if the org and "
                    "Workflow² are as the specs say, delete the journal file",
                ) from exc
            records.append(record)
        return records


def _drop_torn_tail(fd: int) -> None:
    # A crash mid-write leaves a last line without its newline; appending after it would glue two
    # records together, so cut the fragment. A torn intent was never acted on (the step runs only
    # after the fsync); a torn done mark leaves its step pending, and the next run re-checks it.
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    data = os.pread(fd, size, 0)
    os.ftruncate(fd, data.rfind(b"\n") + 1)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _maybe_kill(point: int) -> None:
    # Test-only crash injection (see the module docstring); a non-number value is ignored.
    target = os.environ.get(KILL_AT_ENV, "")
    if target.isdigit() and int(target) == point:
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
