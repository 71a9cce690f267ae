"""Workflow² (n8n) credential records and the sinks that write them.

Public interface (no click; plain data in, results out):

- :mod:`~provisioner.workflow2.records`: :class:`CredentialRecord`, :func:`build_jwt_record`,
  :func:`build_oauth2_record`, :func:`derive_credential_id`, :func:`validate_record`;
  ``record.redacted()`` for plans/renders, ``record.public_fields()`` / ``record.fingerprints()`` for
  state (never a secret).
- :mod:`~provisioner.workflow2.api`: :class:`Workflow2Client` (capability probe, list/get/find,
  create/update/delete/test, schema).
- :mod:`~provisioner.workflow2.target`: Workflow² as a credential target (record format).
- :mod:`~provisioner.workflow2.sink`: :class:`ApiSink`, the REST API sink.
- :mod:`~provisioner.workflow2.importfile`: :class:`ImportFileSink` for ``n8n import:credentials``.
- :mod:`~provisioner.workflow2.atrest`: n8n's at-rest encryption (``encrypt_data``/``decrypt_data``).
- :mod:`~provisioner.workflow2.callback`: the instance's OAuth2 callback URL.
"""

from __future__ import annotations

from provisioner.workflow2.api import Capabilities, RemoteCredential, TestResult, Workflow2Client
from provisioner.workflow2.atrest import DecryptionError, decrypt_data, encrypt_data
from provisioner.workflow2.bundled import bundled_schema
from provisioner.workflow2.callback import ResolvedCallbackUrl, resolve_callback_url
from provisioner.workflow2.importfile import ImportFileSink
from provisioner.workflow2.records import (
    JWT_TYPE,
    OAUTH2_TYPE,
    SECRET_FIELDS,
    CredentialRecord,
    build_jwt_record,
    build_oauth2_record,
    derive_credential_id,
    validate_record,
    validation_problems,
)
from provisioner.workflow2.sink import ApiSink
from provisioner.workflow2.target import TARGET, Workflow2Target
from provisioner.workflow2.urls import derive_callback_url

__all__ = [
    "JWT_TYPE",
    "OAUTH2_TYPE",
    "SECRET_FIELDS",
    "TARGET",
    "ApiSink",
    "Capabilities",
    "CredentialRecord",
    "DecryptionError",
    "ImportFileSink",
    "RemoteCredential",
    "ResolvedCallbackUrl",
    "TestResult",
    "Workflow2Client",
    "Workflow2Target",
    "build_jwt_record",
    "build_oauth2_record",
    "bundled_schema",
    "decrypt_data",
    "derive_callback_url",
    "derive_credential_id",
    "encrypt_data",
    "resolve_callback_url",
    "validate_record",
    "validation_problems",
]
