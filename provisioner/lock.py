"""The state lock: one run at a time per state file, and the one rule for taking a lock over.

The lock is a file next to the state (``state.json.lock``), created with ``O_EXCL`` so exactly one
run gets it. It names its owner (``user@host pid N``), the operation and the time.

**Takeover policy** (stated here once; ``force-unlock --help`` and the errors say the same): a run
that finds the state locked takes the lock over only when its owner is provably gone, that is a
process on this same host that no longer runs (:meth:`LockInfo.liveness` is
:attr:`Liveness.DEAD`); the run says so on its output. A lock held by a live process, by another
host, or by an owner provisioner cannot check is never taken over: the run stops with the lock's
id, and a person who knows that run is dead releases it with ``provisioner force-unlock ID``.
"""

from __future__ import annotations

import enum
import getpass
import json
import os
import re
import socket
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from provisioner.errors import StateError, StateLockedError
from provisioner.fsutil import FILE_MODE, naming, private_folder
from provisioner.timestamps import format_time, parse_time

#: The default state file (force-unlock hints omit ``--state`` for it).
DEFAULT_STATE_FILE = Path(".provisioner/state.json")


class Liveness(enum.Enum):
    """What can be known about a lock's owner from here."""

    #: A process on this host that still runs.
    ALIVE = "alive"
    #: A process on this host that no longer runs: its lock may be taken over.
    DEAD = "dead"
    #: Another host, or an owner string provisioner did not write: cannot be checked.
    UNKNOWN = "unknown"


def _owner_pid(owner: str) -> int | None:
    match = re.fullmatch(r".+@\S+ pid (?P<pid>\d+)", owner)
    return int(match["pid"]) if match else None


def default_owner() -> str:
    """Who takes a lock: ``user@host pid N``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        user = f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def machine_identity() -> tuple[str | None, str | None]:
    """``(boot id, pid namespace)`` of this process: a pid means the same process only within
    one boot of one kernel and one pid namespace (containers on one host share the boot id but
    not the namespace). None where the system does not tell (then no lock is ever taken over)."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = None
    return _read("/proc/sys/kernel/random/boot_id"), namespace


def process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot), or None when unknown or gone:
    a pid reused by a new process has another start time."""
    stat = _read(f"/proc/{pid}/stat")
    if stat is None:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


@dataclass(frozen=True)
class LockInfo:
    """The content of the lock file: who holds the state, for what, since when, and where
    (the machine identity that makes the owner's pid checkable)."""

    id: str
    owner: str
    operation: str
    created: datetime
    boot_id: str | None = None
    pid_namespace: str | None = None
    #: The owner process's start time when the lock was taken (None: it had already ended).
    process_start: str | None = None

    @classmethod
    def taken_now(cls, lock_id: str, owner: str, operation: str) -> LockInfo:
        """A lock taken now on this machine for ``owner``."""
        boot, namespace = machine_identity()
        pid = _owner_pid(owner)
        return cls(lock_id, owner, operation, datetime.now(timezone.utc), boot, namespace,
                   process_start(pid) if pid is not None else None)

    def to_json(self) -> dict[str, Any]:
        """The JSON object of the lock file."""
        return {
            "id": self.id,
            "owner": self.owner,
            "operation": self.operation,
            "created": format_time(self.created),
            "bootId": self.boot_id,
            "pidNamespace": self.pid_namespace,
            "processStart": self.process_start,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> LockInfo:
        """Read the JSON object written by :meth:`to_json` (older locks lack the identity)."""

        def opt(name: str) -> str | None:
            value = doc.get(name)
            return str(value) if value else None

        return cls(
            str(doc["id"]), str(doc["owner"]), str(doc["operation"]), parse_time(doc["created"]),
            opt("bootId"), opt("pidNamespace"), opt("processStart"),
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

    def liveness(self) -> Liveness:
        """Whether the owner still runs: provable only for a process of this boot of this
        machine in this pid namespace (host name, boot id and namespace all match)."""
        match = re.fullmatch(r".+@(?P<host>\S+) pid (?P<pid>\d+)", self.owner)
        if match is None or match["host"] != socket.gethostname():
            return Liveness.UNKNOWN
        boot, namespace = machine_identity()
        if None in (boot, namespace, self.boot_id, self.pid_namespace) or (
                (self.boot_id, self.pid_namespace) != (boot, namespace)):
            return Liveness.UNKNOWN  # another container or boot: its pid means nothing here
        pid = int(match["pid"])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return Liveness.DEAD
        except PermissionError:
            pass  # it exists, under another user: compare start times below
        except (OSError, OverflowError):
            return Liveness.UNKNOWN
        started = process_start(pid)
        if self.process_start is not None and started is not None and (
                started != self.process_start):
            return Liveness.DEAD  # the pid now belongs to a newer process
        return Liveness.ALIVE

    @property
    def may_be_taken_over(self) -> bool:
        """The takeover policy (module docstring): only a dead process on this host."""
        return self.liveness() is Liveness.DEAD


class StateLock:
    """The lock file next to a state file (``state.json.lock``), created with O_EXCL."""

    def __init__(self, path: Path, state_path: Path) -> None:
        self.path = path
        self.state_path = state_path

    @contextmanager
    def hold(self, owner: str, operation: str,
             on_takeover: Callable[[LockInfo], None] | None = None) -> Iterator[LockInfo]:
        """Hold the state lock while the block runs.

        The lock file is created with O_EXCL, so exactly one run gets it; a held lock raises
        :class:`StateLockedError` naming its holder and the ``force-unlock`` command. With
        ``on_takeover``, a lock the takeover policy allows taking (its owner is a dead process on
        this host) is reported to it, removed, and taken; without, no lock is ever taken over.
        """
        info = LockInfo.taken_now(str(uuid.uuid4()), owner, operation)
        private_folder(self.path.parent)
        try:
            fd = self._create()
        except FileExistsError:
            held = self.read()
            if on_takeover is None or held is None or not held.may_be_taken_over:
                raise self._locked_error() from None
            on_takeover(held)
            self.force_unlock(held.id)
            try:
                fd = self._create()
            except FileExistsError:  # another run took it first
                raise self._locked_error() from None
        try:
            with naming(self.path), os.fdopen(fd, "w", encoding="utf-8") as handle:
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

    def _create(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)

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
        dead = " (that process is no longer running)" if held.may_be_taken_over else ""
        return StateLockedError(
            f"the state {self.state_path} is locked by {held.owner} for {held.operation!r} since "
            f"{format_time(held.created)} ({held.age()} ago){dead}",
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


__all__ = ["DEFAULT_STATE_FILE", "Liveness", "LockInfo", "StateLock", "default_owner"]
