"""Workflow² (n8n) as a credential target: its record types, fields, ids, callback and links.

Everything n8n-specific about a record lives here (and in :mod:`~provisioner.workflow2.records`):
``salesforceJwtApi`` holds ``clientId``/``username``/``privateKey`` (and ``myDomainUrl`` from
2.41), ``salesforceOAuth2Api`` holds ``clientId``/``clientSecret`` and, once a person clicked
Connect, ``oauthTokenData``; a record is opened at ``{server}/home/credentials/{id}``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from provisioner.model import CredentialSpec, CredentialType, WorkflowInstanceSpec
from provisioner.secret import Secret
from provisioner.workflow2.records import (
    JWT_TYPE,
    OAUTH2_TYPE,
    CredentialRecord,
    build_jwt_record,
    build_oauth2_record,
    derive_credential_id,
)

_RECORD_TYPES: Mapping[str, str] = {"jwt": JWT_TYPE, "oauth2": OAUTH2_TYPE}
_SECRET_FIELDS: Mapping[str, str] = {"jwt": "privateKey", "oauth2": "clientSecret"}
#: A connected OAuth2 token belongs to its client: changing these drops it.
_OAUTH2_CLIENT_FIELDS = frozenset({"clientId", "clientSecret"})
#: The scopes each credential requests. The "Salesforce OAuth2 API" credential sends a hidden,
#: fixed ``scope`` of ``full refresh_token`` in its authorization request (n8n-nodes-base 2.41.1,
#: dist/credentials/SalesforceOAuth2Api.credentials.js, property ``scope``, type hidden); an org
#: refuses a request for a scope its app does not grant, so Connect fails without ``Full``. The
#: JWT credential sends no scope (a JWT bearer token carries the app's scopes).
_REQUESTED_SCOPES: Mapping[str, tuple[str, ...]] = {"jwt": (), "oauth2": ("full", "refresh_token")}


class Workflow2Target:
    """The Workflow² (n8n) credential format."""

    name = "workflow2"

    def record_type(self, cred_type: CredentialType) -> str:
        """``salesforceJwtApi`` or ``salesforceOAuth2Api``."""
        return _RECORD_TYPES[cred_type]

    def secret_field(self, cred_type: CredentialType) -> str:
        """``privateKey`` or ``clientSecret``."""
        return _SECRET_FIELDS[cred_type]

    def public_fields(self, cred: CredentialSpec, client_id: str,
                      my_domain_url: str | None) -> dict[str, str]:
        """``environment``, ``clientId`` (and ``username``, ``myDomainUrl`` for JWT)."""
        out = {"environment": cred.environment, "clientId": client_id}
        if cred.type == "jwt":
            out["username"] = cred.username or ""
            if my_domain_url:
                out["myDomainUrl"] = my_domain_url.rstrip("/")
        return out

    def build_record(self, *, record_id: str, cred: CredentialSpec, client_id: str,
                     secret: Secret, my_domain_url: str | None,
                     schema: Mapping[str, Any] | None) -> CredentialRecord:
        """The ``salesforceJwtApi`` / ``salesforceOAuth2Api`` record."""
        if cred.type == "jwt":
            return build_jwt_record(
                id=record_id, name=cred.name, environment=cred.environment, client_id=client_id,
                username=cred.username or "", private_key=secret, my_domain_url=my_domain_url,
                schema=schema,
            )
        return build_oauth2_record(
            id=record_id, name=cred.name, environment=cred.environment, client_id=client_id,
            client_secret=secret, schema=schema,
        )

    def derive_record_id(self, instance: str, name: str) -> str:
        """16 characters n8n's create accepts (see :func:`derive_credential_id`)."""
        return derive_credential_id(instance, name)

    def callback_url(self, spec: WorkflowInstanceSpec) -> str:
        """The override, else ``{root}/rest/oauth2-credential/callback``."""
        return spec.callback_url

    def resolve_callback_url(self, spec: WorkflowInstanceSpec) -> str:
        """The override, else the URL the server publishes in its settings, else derived."""
        if spec.oauth_callback_url:
            return spec.oauth_callback_url
        from provisioner.workflow2.callback import resolve_callback_url

        return resolve_callback_url(
            spec.base_url, ca_file=str(spec.ca_file) if spec.ca_file else None).url

    def connect_link(self, server_url: str, record_id: str) -> str:
        """The credential's page in the editor."""
        return f"{server_url.rstrip('/')}/home/credentials/{record_id}"

    def replaces_data(self, cred_type: CredentialType, fields: Collection[str]) -> bool:
        """A JWT record holds no consent, only the server's cached session of the key it
        replaces (hidden ``accessToken``/``instanceUrl``): merging would keep that session, so
        the server's own test after a rotation would never sign in with the new key. An OAuth2
        record is replaced when its client changes (its token is void anyway)."""
        data = set(fields) - {"name"}
        if cred_type == "jwt":
            return bool(data)
        return bool(data & _OAUTH2_CLIENT_FIELDS)

    def reconnect_needed(self, cred_type: CredentialType, fields: Collection[str]) -> bool:
        """An OAuth2 token belongs to its client id and secret."""
        return cred_type == "oauth2" and bool(set(fields) & _OAUTH2_CLIENT_FIELDS)

    def requested_scopes(self, cred_type: CredentialType) -> tuple[str, ...]:
        """``full refresh_token`` for OAuth2 (n8n's hidden scope), none for JWT."""
        return _REQUESTED_SCOPES[cred_type]

    def is_connected(self, data: Mapping[str, Any]) -> bool:
        """n8n stores the connected token as ``oauthTokenData``."""
        return bool(data.get("oauthTokenData"))


TARGET = Workflow2Target()
