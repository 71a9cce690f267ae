"""Bundled knowledge of the two credential types' schemas, for when no server is asked.

The import-file sink validates against these before writing (``n8n import:credentials`` checks
nothing itself). They are the schemas n8n 2.41.1 serves at ``GET /api/v1/credentials/schema/
{type}`` (hidden fields excluded, as the server does; ``json`` is n8n's own type name), except
that ``clientId`` and ``clientSecret`` are required outright: 2.41 requires them only when
dynamic client registration is off, which is the only way provisioner writes them. Records
with 2.8.4's extra OAuth2 fields also validate.
"""

from __future__ import annotations

import copy
from typing import Any

from provisioner.errors import SpecError
from provisioner.workflow2.records import JWT_TYPE, OAUTH2_TYPE

_DOMAIN_FIELDS: dict[str, Any] = {
    "allowedHttpRequestDomains": {"type": "string", "enum": ["all", "domains", "none"]},
    "allowedDomains": {"type": "string"},
}

_SCHEMAS: dict[str, dict[str, Any]] = {
    JWT_TYPE: {
        "additionalProperties": False,
        "type": "object",
        "properties": {
            "environment": {"type": "string", "enum": ["production", "sandbox"]},
            "clientId": {"type": "string"},
            "username": {"type": "string"},
            "privateKey": {"type": "string"},
            "myDomainUrl": {"type": "string"},
            **_DOMAIN_FIELDS,
        },
        "required": ["clientId", "username", "privateKey"],
    },
    OAUTH2_TYPE: {
        "additionalProperties": False,
        "type": "object",
        "properties": {
            "environment": {"type": "string", "enum": ["production", "sandbox"]},
            "serverUrl": {"type": "string"},
            "clientId": {"type": "string"},
            "clientSecret": {"type": "string"},
            "sendAdditionalBodyProperties": {"type": "boolean"},
            "additionalBodyProperties": {"type": "json"},
            "oauthTokenData": {"type": "json"},
            **_DOMAIN_FIELDS,
        },
        "required": ["clientId", "clientSecret"],
    },
}


def bundled_schema(type: str, version: str | None = None) -> dict[str, Any]:
    """The bundled JSON schema for ``type`` (a copy) as Workflow² ``version`` serves it (None:
    the newest supported); :class:`SpecError` for other types."""
    from provisioner.workflow2.versions import lacks_my_domain

    try:
        schema = copy.deepcopy(_SCHEMAS[type])
    except KeyError:
        raise SpecError(
            f"provisioner does not know the Workflow² credential type {type!r}",
            f"use {JWT_TYPE} or {OAUTH2_TYPE}",
        ) from None
    if type == JWT_TYPE and lacks_my_domain(version):
        del schema["properties"]["myDomainUrl"]
    return schema
