"""The state file: what provisioner last did, per app, and never a secret.

The state records fingerprints, public certificates, consumer keys (not secret) and Workflow²
record ids, so the planner can tell drift it cannot read back (consumer secrets, credential
secrets) and roll back a failed rotation. It is a versioned JSON document
(``schemas/state.schema.json``) with a ``lineage`` (which deployment it belongs to) and a ``serial``
(bumped on every save, so a saved plan or a concurrent writer can be detected). Writes are atomic
(temporary file, fsync, rename), mode 0600, and guarded by a lock file next to the state
(implemented in :mod:`provisioner.journal`) that only ``provisioner force-unlock ID`` removes on
someone else's behalf (no silent lock stealing).
"""

from __future__ import annotations

import json
import re
import types
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar, Union, cast, get_args, get_origin, get_type_hints

import jsonschema

from provisioner.errors import StateError
from provisioner.fsutil import atomic_write
from provisioner.jsonschemas import validator
from provisioner.keys import certificate_info
from provisioner.lock import DEFAULT_STATE_FILE, LockInfo, StateLock
from provisioner.timestamps import format_time, parse_time

STATE_VERSION = 1
DEFAULT_STATE_PATH = DEFAULT_STATE_FILE
SCHEMA_FILE = "state.schema.json"
#: A private key in any PEM flavour (PKCS#8, PKCS#1, encrypted, EC, OpenSSH).
_PRIVATE_KEY_MARKER = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")

__all__ = [
    "DEFAULT_STATE_PATH",
    "STATE_VERSION",
    "AppState",
    "CertificateRecord",
    "CredentialState",
    "LockInfo",
    "Rotation",
    "State",
    "StateStore",
    "assert_no_secrets",
]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, JsonRecord):
        return value.to_json()
    if isinstance(value, Mapping):
        return {key: _encode(value[key]) for key in sorted(value)}
    return value


def _decode(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):  # "X | None": decode as X
        return _decode(next(a for a in args if a is not type(None)), value)
    if hint is datetime:
        return parse_time(value)
    if isinstance(hint, type) and issubclass(hint, JsonRecord):
        return hint.from_json(value)
    if origin in (Mapping, dict):
        return {key: _decode(args[1], item) for key, item in value.items()}
    return value


_R = TypeVar("_R", bound="JsonRecord")


class JsonRecord:
    """Mixin for the state's frozen dataclasses: snake_case fields <-> camelCase JSON keys.

    Datetimes are stored as UTC ISO 8601 strings; nested records and maps of records recurse. The
    schema, not this codec, decides which keys are required.
    """

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this record."""
        return {_camel(f.name): _encode(getattr(self, f.name)) for f in fields(cast(Any, self))}

    @classmethod
    def from_json(cls: type[_R], doc: Mapping[str, Any]) -> _R:
        """Read a JSON object written by :meth:`to_json` (already validated by the schema)."""
        hints = get_type_hints(cls)
        values = {
            f.name: _decode(hints[f.name], doc[_camel(f.name)])
            for f in fields(cast(Any, cls))
            if _camel(f.name) in doc
        }
        return cls(**values)


@dataclass(frozen=True)
class CertificateRecord(JsonRecord):
    """A certificate the tool deployed: its public facts and the PEM, kept for rollback."""

    fingerprint: str
    public_key_fingerprint: str
    serial: str
    not_before: datetime
    not_after: datetime
    pem: str

    @classmethod
    def from_pem(cls, pem: str) -> CertificateRecord:
        """The record of a PEM certificate (fingerprints and dates read from it)."""
        info = certificate_info(pem)
        return cls(
            info.fingerprint,
            info.public_key_fingerprint,
            info.serial,
            info.not_before,
            info.not_after,
            pem,
        )


@dataclass(frozen=True)
class Rotation(JsonRecord):
    """When a key was last rotated and why (``due by policy``, ``forced``...)."""

    at: datetime
    reason: str


@dataclass(frozen=True)
class CredentialState(JsonRecord):
    """A Workflow² credential the tool wrote: where, its record id, and fingerprints of its fields."""

    instance: str
    name: str
    type: str
    record_id: str | None
    sink: str
    field_fingerprints: Mapping[str, str]
    updated_at: datetime

    @property
    def key(self) -> str:
        """The key of this record in :attr:`AppState.credentials`: ``instance/name``."""
        return f"{self.instance}/{self.name}"


@dataclass(frozen=True)
class AppState(JsonRecord):
    """What the tool knows about one app (keyed in :attr:`State.apps` by spec ``metadata.name``)."""

    org: str
    api_name: str
    app_type: str
    consumer_key: str
    created_at: datetime
    consumer_secret_fingerprint: str | None = None
    certificate: CertificateRecord | None = None
    previous_certificate: CertificateRecord | None = None
    last_rotation: Rotation | None = None
    credentials: Mapping[str, CredentialState] = field(default_factory=dict)
    #: Blue/green: the app (state key) whose consumer key and private key this app's JWT
    #: credentials use; None: this app.
    login_app: str | None = None
    #: The certificate was deployed with its private key thrown away: nothing can sign in with it.
    key_retired: bool = False
    #: Blue/green: the spec app whose partner this app is.
    partner_of: str | None = None

    def with_credential(self, record: CredentialState) -> AppState:
        """A copy with ``record`` added or replaced under its ``instance/name`` key."""
        return replace(self, credentials={**self.credentials, record.key: record})


@dataclass
class State:
    """The whole state: lineage (None until first saved), serial (0 until first saved), apps."""

    lineage: str | None = None
    serial: int = 0
    apps: dict[str, AppState] = field(default_factory=dict)
    #: Per-org serials when the state is one file per org (the git backend; not saved here).
    org_serials: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON document of the state file (lineage/serial as they are; save assigns them)."""
        return {
            "version": STATE_VERSION,
            "lineage": self.lineage,
            "serial": self.serial,
            "apps": {name: self.apps[name].to_json() for name in sorted(self.apps)},
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], *, source: str = "state") -> State:
        """Validate a state document against the schema and read it."""
        _check_document(doc, source)
        return cls(
            lineage=doc["lineage"],
            serial=doc["serial"],
            apps={name: AppState.from_json(app) for name, app in doc["apps"].items()},
        )


def _schema_path() -> Path:
    # An installed wheel carries the schemas in provisioner/_schemas; a checkout in <repo>/schemas.
    package = Path(__file__).resolve().parent
    for candidate in (package / "_schemas", package.parent / "schemas"):
        if (candidate / SCHEMA_FILE).is_file():
            return candidate / SCHEMA_FILE
    raise StateError(f"{SCHEMA_FILE} is missing from the installation", "reinstall provisioner")


@lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(_schema_path().read_text(encoding="utf-8"))
    return validator(schema)


def _check_document(doc: Any, source: str) -> None:
    if not isinstance(doc, Mapping):
        raise StateError(f"{source} is not a JSON object", _CORRUPT_HINT)
    version = doc.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > STATE_VERSION:
        raise StateError(
            f"{source} has format version {version}; this provisioner reads version {STATE_VERSION}",
            "it was written by a newer provisioner: upgrade provisioner to use this state",
        )
    assert_no_secrets(doc, source)
    error = jsonschema.exceptions.best_match(_validator().iter_errors(doc))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        # jsonschema's own messages quote the offending value; name only the broken rule instead,
        # so a secret pasted into the file by mistake is never echoed.
        if error.validator in ("required", "additionalProperties"):
            what = error.message
        else:
            what = f"fails {error.validator} {json.dumps(error.validator_value)[:80]}"
        raise StateError(f"{source} is invalid at {where}: {what}", _CORRUPT_HINT)


_CORRUPT_HINT = (
    "the file was edited or damaged; restore it from its .backup copy next to it (the state "
    "before the last save) or from version control: the next plan compares it with the orgs "
    "and Workflow² and rotates only what it no longer matches (a key or secret it does not "
    "hold). Or move it away to start empty, then provisioner import adopts what works"
)


def assert_no_secrets(value: Any, where: str = "the state") -> None:
    """Raise :class:`StateError` if any string inside ``value`` holds a PEM private key."""
    if isinstance(value, str):
        if _PRIVATE_KEY_MARKER.search(value):
            raise StateError(
                f"{where} contains a PEM private key",
                "only fingerprints and public certificates belong there: remove the key and "
                "treat it as leaked (rotate it)",
            )
    elif isinstance(value, Mapping):
        for key, item in value.items():
            assert_no_secrets(key, where)
            assert_no_secrets(item, where)
    elif isinstance(value, (list, tuple)):
        for item in value:
            assert_no_secrets(item, where)


#: Largest state file read (about 5 KB per app).
MAX_STATE_BYTES = 256 * 1024 * 1024


class StateStore:
    """The state file at ``path`` with its lock (``.lock``), backup and journal next to it."""

    def __init__(self, path: Path | str = DEFAULT_STATE_PATH) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.backup_path = self.path.with_name(self.path.name + ".backup")
        self.journal_path = self.path.with_name(self.path.name + ".journal")
        self._last_saved: dict[str, Any] | None = None
        self._lock = StateLock(self.lock_path, self.path)

    def _read_document(self) -> dict[str, Any] | None:
        from provisioner.fsutil import read_regular_file

        try:
            raw = read_regular_file(self.path, MAX_STATE_BYTES)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(
                f"cannot read the state file {self.path}: {exc.strerror or exc}",
                "check the file's permissions",
            ) from exc
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StateError(
                f"the state file {self.path} is not valid JSON", _CORRUPT_HINT
            ) from exc
        if not isinstance(doc, dict):
            raise StateError(f"the state file {self.path} is not a JSON object", _CORRUPT_HINT)
        return doc

    def load(self) -> State:
        """The saved state, or an empty one when the file does not exist yet."""
        doc = self._read_document()
        if doc is None:
            return State()
        return State.from_json(doc, source=f"the state file {self.path}")

    def save(self, state: State, *, expected_serial: int) -> State:
        """Write ``state`` atomically and return it as written (new serial, lineage assigned).

        Refuses when the file's serial is not ``expected_serial`` (someone else wrote since it was
        read) or the file belongs to another lineage. The caller should hold :meth:`lock`.
        """
        current = self._read_document()
        # Never build on (or back up over) a damaged file; what this store itself wrote last was
        # checked when written, so an apply's many saves validate one document each, not two.
        if current is not None and current != self._last_saved:
            _check_document(current, f"the state file {self.path}")
        on_disk_serial = 0 if current is None else int(current["serial"])
        on_disk_lineage = None if current is None else current["lineage"]
        if on_disk_serial != expected_serial:
            raise StateError(
                f"the state file {self.path} changed while this run was working "
                f"(serial {on_disk_serial}, expected {expected_serial})",
                "another run wrote it; run plan again to start from the current state",
            )
        if on_disk_lineage is not None and state.lineage not in (None, on_disk_lineage):
            raise StateError(
                f"the state file {self.path} belongs to lineage {on_disk_lineage}, "
                f"not {state.lineage}",
                "you are mixing states of two deployments; check the --state path",
            )
        lineage = state.lineage or on_disk_lineage or str(uuid.uuid4())
        saved = State(lineage=lineage, serial=expected_serial + 1, apps=dict(state.apps))
        doc = saved.to_json()
        _check_document(doc, "the state to save")
        if current is not None:
            atomic_write(self.backup_path, json.dumps(current, indent=2, sort_keys=True) + "\n")
        atomic_write(self.path, json.dumps(doc, indent=2, sort_keys=True) + "\n")
        self._last_saved = doc
        return saved

    @contextmanager
    def lock(self, owner: str, operation: str,
             on_takeover: Callable[[LockInfo], None] | None = None) -> Iterator[LockInfo]:
        """Hold the state lock while the block runs; :class:`StateLockedError` when it is held.

        With ``on_takeover``, a dead run's lock is taken over as :mod:`provisioner.lock`'s
        takeover policy allows (and reported to it); without, never.
        """
        with self._lock.hold(owner, operation, on_takeover) as info:
            yield info

    def read_lock(self) -> LockInfo | None:
        """The current lock, or None when the state is not locked."""
        return self._lock.read()

    def force_unlock(self, lock_id: str) -> LockInfo:
        """Remove the lock when its id is ``lock_id`` and return what was removed."""
        return self._lock.force_unlock(lock_id)


