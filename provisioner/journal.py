"""Run coordination next to the state file: the lock (who runs) and the journal (what it did).

The lock (``state.json.lock``, :class:`StateLock`, used through ``StateStore.lock``) lets one run
at a time work on a state; a held lock names its owner and the ``force-unlock`` command, and is
never taken over silently.

The write-ahead journal: the intent of each remote step, on disk before the step runs.

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

import getpass
import json
import os
import re
import signal
import socket
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

from provisioner.errors import StateError, StateLockedError

KILL_AT_ENV = "PROVISIONER_TEST_KILL_AT"
#: The default state file (force-unlock hints omit ``--state`` for it).
DEFAULT_STATE_FILE = Path(".provisioner/state.json")
_PRIVATE_KEY_MARKER = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
_KIND = re.compile(r"[a-z][a-z0-9-]*")

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

    ``kind`` is a lower-case word such as ``deploy``, ``verify``, ``credential-write``,
    ``rollback``. Typical facts: ``certificateFingerprint``, ``previousCertificateFingerprint``,
    ``consumerKey``, ``recordId``.
    """

    kind: str
    org: str | None = None
    app: str | None = None
    instance: str | None = None
    facts: Mapping[str, FactValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or not _KIND.fullmatch(self.kind):
            raise ValueError(f"journal step kind {self.kind!r} must be a lower-case word")
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

    def mark_done(self, step_id: str, outcome: Mapping[str, Any] | None = None) -> None:
        """Record that step ``step_id`` finished, with non-secret facts about its result."""
        facts = _check_facts(outcome or {}, f"outcome of journal step {step_id}")
        self._append({"type": "done", "id": step_id, "at": _now(), "outcome": facts})

    def entries(self) -> list[JournalEntry]:
        """Every intent in the order written, each with its outcome when done."""
        intents: dict[str, JournalEntry] = {}
        for record in self._records():
            if record["type"] == "intent":
                intents[record["id"]] = JournalEntry(
                    record["id"],
                    datetime.fromisoformat(record["at"]),
                    JournalStep.from_json(record["step"]),
                )
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

    def _append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            _drop_torn_tail(fd)
            # One write per line: with O_APPEND a line lands whole or, on a crash, torn at the end.
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


# --- timestamps, shared with the state file -----------------------------------------------------


def format_time(moment: datetime) -> str:
    """An aware datetime as ISO 8601 UTC with a ``Z`` suffix (the state's spelling)."""
    if moment.tzinfo is None:
        raise ValueError("state timestamps must be timezone-aware")
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """The inverse of :func:`format_time` (accepts any ISO 8601 offset)."""
    return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)


# --- the state lock ------------------------------------------------------------------------------


def default_owner() -> str:
    """Who takes a lock: ``user@host pid N``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        user = f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


@dataclass(frozen=True)
class LockInfo:
    """The content of the lock file: who holds the state, for what, since when."""

    id: str
    owner: str
    operation: str
    created: datetime

    def to_json(self) -> dict[str, Any]:
        """The JSON object of the lock file."""
        return {
            "id": self.id,
            "owner": self.owner,
            "operation": self.operation,
            "created": format_time(self.created),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> LockInfo:
        """Read the JSON object written by :meth:`to_json`."""
        return cls(
            str(doc["id"]), str(doc["owner"]), str(doc["operation"]), parse_time(doc["created"])
        )

    def age(self, now: datetime | None = None) -> str:
        """How long the lock has been held, e.g. ``3m12s``."""
        seconds = int(((now or datetime.now(timezone.utc)) - self.created).total_seconds())
        days, rest = divmod(max(seconds, 0), 86400)
        hours, rest = divmod(rest, 3600)
        minutes, secs = divmod(rest, 60)
        if days:
            return f"{days}d{hours}h"
        if hours:
            return f"{hours}h{minutes:02d}m"
        return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"

    def liveness(self) -> str:
        """`` (that process is no longer running)`` when the owner is a dead process on this host."""
        match = re.fullmatch(r".+@(?P<host>\S+) pid (?P<pid>\d+)", self.owner)
        if match is None or match["host"] != socket.gethostname():
            return ""
        try:
            os.kill(int(match["pid"]), 0)
        except ProcessLookupError:
            return " (that process is no longer running)"
        except (OSError, OverflowError):
            return ""
        return ""


class StateLock:
    """The lock file next to a state file (``state.json.lock``), created with O_EXCL."""

    def __init__(self, path: Path, state_path: Path) -> None:
        self.path = path
        self.state_path = state_path

    @contextmanager
    def hold(self, owner: str, operation: str) -> Iterator[LockInfo]:
        """Hold the state lock while the block runs.

        The lock file is created with O_EXCL, so exactly one run gets it; a held lock raises
        :class:`StateLockedError` naming its holder and the ``force-unlock`` command. A lock left by
        a dead run is never taken over silently: a person decides, with ``force-unlock``.
        """
        info = LockInfo(str(uuid.uuid4()), owner, operation, datetime.now(timezone.utc))
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise self._locked_error() from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(json.dumps(info.to_json(), indent=2) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            self.path.unlink(missing_ok=True)  # an empty lock file would block everyone
            raise
        try:
            yield info
        finally:
            # Remove only our own lock: after a force-unlock another run may hold a new one.
            current = self.read()
            if current is not None and current.id == info.id:
                self.path.unlink(missing_ok=True)

    def read(self) -> LockInfo | None:
        """The current lock, or None when there is none; a damaged lock file is a StateError."""
        try:
            return LockInfo.from_json(json.loads(self.path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # Torn by a crash between create and write, or edited by hand.
            raise StateError(
                f"the lock file {self.path} is unreadable",
                f"if no provisioner run is active on {self.state_path}, delete {self.path}",
            ) from exc

    def _locked_error(self) -> StateError:
        try:
            held = self.read()
        except StateError as exc:
            return exc
        if held is None:  # released between our attempt and the read
            return StateLockedError(
                f"the state {self.state_path} was locked by another run a moment ago", "run again"
            )
        state_opt = "" if self.state_path == DEFAULT_STATE_FILE else f" --state {self.state_path}"
        return StateLockedError(
            f"the state {self.state_path} is locked by {held.owner} for {held.operation!r} since "
            f"{format_time(held.created)} ({held.age()} ago){held.liveness()}",
            f"wait for that run to finish; if it died, release the lock with: "
            f"provisioner force-unlock {held.id}{state_opt}",
        )

    def force_unlock(self, lock_id: str) -> LockInfo:
        """Remove the lock when its id is ``lock_id`` and return what was removed."""
        held = self.read()
        if held is None:
            raise StateError(
                f"the state {self.state_path} is not locked", "there is nothing to unlock"
            )
        if held.id != lock_id.strip():
            raise StateError(
                f"lock {lock_id} is not the lock on {self.state_path} (that one is held by {held.owner} "
                f"for {held.operation!r} since {format_time(held.created)})",
                "copy the ID from the 'is locked' error of a run made just now; a newer run may "
                "have taken the lock since",
            )
        self.path.unlink(missing_ok=True)
        return held


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _maybe_kill(point: int) -> None:
    # Test-only crash injection (see the module docstring); a non-number value is ignored.
    target = os.environ.get(KILL_AT_ENV, "")
    if target.isdigit() and int(target) == point:
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))


def fsync_dir(folder: Path) -> None:
    """fsync a folder, making a file's creation, rename or removal in it durable."""
    # Not every OS can open a folder; there the rename is as durable as the OS makes it.
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
