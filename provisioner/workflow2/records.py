"""Workflow² credential records: typed builders, redacted views, validation and fingerprints.

A :class:`CredentialRecord` is what a sink writes: an ``id``, a ``name``, an n8n credential
``type`` and its ``data``. Secret fields hold :class:`~provisioner.secret.Secret` values; they are
revealed only by :meth:`CredentialRecord.revealed_data`, which sinks call at the point the data
leaves the process. Everything else here (``redacted``, ``public_fields``, ``fingerprints``,
validation messages) is safe to print and to store in state.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import jsonschema

from provisioner.errors import PlanError, SpecError
from provisioner.secret import REDACTED, Secret

JWT_TYPE = "salesforceJwtApi"
OAUTH2_TYPE = "salesforceOAuth2Api"
#: The fields of each type that hold secrets: write-only remotely, fingerprinted in state.
SECRET_FIELDS: Mapping[str, frozenset[str]] = {
    JWT_TYPE: frozenset({"privateKey"}),
    OAUTH2_TYPE: frozenset({"clientSecret"}),
}
#: Fields that only older servers (2.8.4) require on ``salesforceOAuth2Api``, with their values.
OAUTH2_LEGACY_FIELDS: Mapping[str, Any] = {
    "serverUrl": "",
    "sendAdditionalBodyProperties": False,
    "additionalBodyProperties": {},
}

Environment = Literal["production", "sandbox"]
FieldValue = str | Secret | bool | dict[str, Any]
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,36}$")


def derive_credential_id(instance_name: str, credential_name: str) -> str:
    """The deterministic record id for a credential on an instance.

    16 characters of ``[a-z0-9]``: ``pv`` + 70 bits of SHA-256 in base32. n8n 2.41.1 accepts a
    caller-chosen id of 1-16 letters, digits, ``_`` or ``-`` (measured: longer ids get a 400).
    The same inputs give the same id in every run, so a retried create is recognised (409)
    instead of duplicated, and an import file upserts.
    """
    digest = hashlib.sha256(f"{instance_name}\0{credential_name}".encode()).digest()
    return "pv" + base64.b32encode(digest).decode("ascii").lower()[:14]


def is_valid_credential_id(value: str) -> bool:
    """Whether ``value`` can be a record id: 1-36 of ``[A-Za-z0-9_-]`` (n8n's id column).

    Ids provisioner chooses are 16 characters, the most n8n's create endpoint accepts; longer
    ones can only come from adopting records made elsewhere.
    """
    return bool(_ID_RE.match(value))


@dataclass(frozen=True)
class CredentialRecord:
    """One Workflow² credential as provisioner wants it to be.

    ``data`` maps field names to plain values or :class:`Secret`. Its ``repr`` is secret-free.
    """

    id: str
    name: str
    type: str
    data: Mapping[str, FieldValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not is_valid_credential_id(self.id):
            raise SpecError(
                f"credential {self.name!r}: id {self.id!r} is not a valid Workflow² record id",
                "use up to 36 letters, digits, '_' or '-' (derive_credential_id gives one)",
            )

    @property
    def secret_fields(self) -> frozenset[str]:
        """Names of the fields holding secrets (by type, plus any field holding a Secret)."""
        declared = SECRET_FIELDS.get(self.type, frozenset())
        held = {k for k, v in self.data.items() if isinstance(v, Secret)}
        return frozenset(declared | held)

    def revealed_data(self) -> dict[str, Any]:
        """The data with secrets unwrapped. Only sinks call this, right before sending/writing."""
        return {k: (v.reveal() if isinstance(v, Secret) else v) for k, v in self.data.items()}

    def redacted(self) -> dict[str, Any]:
        """A printable view for plans and renders: secret fields shown as ``(sensitive)``."""
        data = {k: (REDACTED if k in self.secret_fields else v) for k, v in self.data.items()}
        return {"id": self.id, "name": self.name, "type": self.type, "data": data}

    def public_fields(self) -> dict[str, Any]:
        """The non-secret fields and their values; safe for state files and plans."""
        return {k: v for k, v in self.data.items() if k not in self.secret_fields}

    def fingerprints(self) -> dict[str, str]:
        """``{field: "sha256:..."}`` for every secret field present; safe for state files."""
        out: dict[str, str] = {}
        for name in sorted(self.secret_fields):
            value = self.data.get(name)
            if isinstance(value, Secret):
                out[name] = value.fingerprint()
            elif isinstance(value, str):
                out[name] = Secret(value).fingerprint()
        return out


def _schema_fields(schema: Mapping[str, Any] | None) -> set[str] | None:
    if schema is None:
        return None
    props = schema.get("properties")
    return set(props) if isinstance(props, Mapping) else None


def _missing_required(data: Mapping[str, Any], schema: Mapping[str, Any]) -> set[str]:
    """Top-level fields ``schema`` requires of ``data`` that it lacks.

    Conditional requirements count only when their condition holds for ``data``: n8n 2.41's
    OAuth2 schema requires ``serverUrl`` only under dynamic client registration.
    """
    missing: set[str] = set()
    pending = list(_validator(schema).iter_errors(dict(data)))
    while pending:
        error = pending.pop()
        pending.extend(error.context or [])
        if error.validator == "required" and not error.absolute_path:
            wanted: Any = error.validator_value
            missing.update(str(name) for name in wanted if name not in data)
    return missing


_JSON_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})


def _normalize_schema(schema: Any) -> Any:
    """A copy where n8n's non-JSON-Schema types (e.g. ``json``, ``notice``) accept anything.

    n8n copies its own property types into ``type``; a standard validator rejects those.
    """
    if isinstance(schema, Mapping):
        out = {k: _normalize_schema(v) for k, v in schema.items()}
        if isinstance(out.get("type"), str) and out["type"] not in _JSON_TYPES:
            del out["type"]
        return out
    if isinstance(schema, list):
        return [_normalize_schema(v) for v in schema]
    return schema


def build_jwt_record(
    *,
    id: str,
    name: str,
    environment: Environment,
    client_id: str,
    username: str,
    private_key: Secret,
    my_domain_url: str | None = None,
    schema: Mapping[str, Any] | None = None,
) -> CredentialRecord:
    """A ``salesforceJwtApi`` record (Salesforce JWT API).

    ``client_id`` is the app's consumer key, ``private_key`` the PEM. ``my_domain_url`` (the JWT
    audience and token host External Client Apps need) is written only when given; when the
    server's ``schema`` lacks the field (before 2.41) that is a :class:`PlanError`, since
    dropping it would write a credential that cannot sign in.
    """
    data: dict[str, FieldValue] = {
        "environment": environment,
        "clientId": client_id,
        "username": username,
        "privateKey": private_key,
    }
    if my_domain_url:
        fields = _schema_fields(schema)
        if fields is not None and "myDomainUrl" not in fields:
            raise PlanError(
                f"credential {name!r}: this Workflow² server has no 'myDomainUrl' field on "
                f"{JWT_TYPE}, but the app needs the My Domain URL as the JWT audience",
                "upgrade Workflow² to 2.41 or later, or use login/test.salesforce.com as audience",
            )
        data["myDomainUrl"] = my_domain_url.rstrip("/")
    return CredentialRecord(id=id, name=name, type=JWT_TYPE, data=data)


def build_oauth2_record(
    *,
    id: str,
    name: str,
    environment: Environment,
    client_id: str,
    client_secret: Secret,
    schema: Mapping[str, Any] | None = None,
) -> CredentialRecord:
    """A ``salesforceOAuth2Api`` record (Salesforce OAuth2 API).

    The extra fields ``serverUrl``/``sendAdditionalBodyProperties``/``additionalBodyProperties``
    are added (with neutral values) only when the server's ``schema`` requires them (2.8.4 does).
    """
    data: dict[str, FieldValue] = {
        "environment": environment,
        "clientId": client_id,
        "clientSecret": client_secret,
    }
    if schema is not None:
        missing = _missing_required(
            {k: (v.reveal() if isinstance(v, Secret) else v) for k, v in data.items()}, schema
        )
        for key, value in OAUTH2_LEGACY_FIELDS.items():
            if key in missing:
                data[key] = value.copy() if isinstance(value, dict) else value
    return CredentialRecord(id=id, name=name, type=OAUTH2_TYPE, data=data)


def _validator(schema: Mapping[str, Any]) -> jsonschema.protocols.Validator:
    """A validator for one of n8n's schemas (its non-standard types normalized away)."""
    normalized = _normalize_schema(schema)
    cls = jsonschema.validators.validator_for(normalized, default=jsonschema.Draft7Validator)
    validator: jsonschema.protocols.Validator = cls(normalized)
    return validator


def _describe(error: jsonschema.ValidationError, secret_fields: frozenset[str]) -> str:
    """A message for one schema error that never quotes a secret value."""
    path = ".".join(str(p) for p in error.absolute_path)
    where = f"data.{path}" if path else "data"
    top = str(error.absolute_path[0]) if error.absolute_path else ""
    kind = error.validator
    if kind in ("required", "additionalProperties", "dependentRequired"):
        return f"{where}: {error.message}"
    if kind == "enum":
        allowed: Any = error.validator_value
        return f"{where}: must be one of {list(allowed)}"
    if kind == "type":
        return f"{where}: must be of type {error.validator_value}"
    if top in secret_fields:
        return f"{where}: fails the {kind!s} rule"
    return f"{where}: {error.message}"


def validation_problems(record: CredentialRecord, schema: Mapping[str, Any]) -> list[str]:
    """Every way ``record.data`` breaks ``schema``, as secret-free one-liners (empty when valid)."""
    errors = sorted(
        _validator(schema).iter_errors(record.revealed_data()), key=lambda e: list(e.path)
    )
    return [_describe(e, record.secret_fields) for e in errors]


def validate_record(
    record: CredentialRecord, schema: Mapping[str, Any], *, where: str = "Workflow²"
) -> None:
    """Raise :class:`SpecError` listing every schema problem of ``record`` (nothing remote)."""
    problems = validation_problems(record, schema)
    if problems:
        raise SpecError(
            f"credential {record.name!r} ({record.type}) does not match the {where} schema: "
            + "; ".join(problems),
            "fix the credential fields in the spec (secret values are never shown)",
        )
