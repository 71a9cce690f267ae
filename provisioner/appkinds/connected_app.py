"""Connected Apps: one ``ConnectedApp`` component; creation blocked for most orgs since Spring '26.

Salesforce stopped letting customers create new Connected Apps in Spring '26 (Metadata API as
well as Setup) unless Support enables it; existing ones can still be edited, deployed and
deleted. Their consumer secret is settable on create only, and their JWT logins carry the login
host of the org's environment as audience.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from provisioner.appkinds.base import Material, SecretRotation
from provisioner.metadata.build import (
    CONNECTED_APP,
    IP_RELAXATION,
    REFRESH_TYPES,
    certificate_field,
    common_header,
    connected_app_refresh_policy,
    generated_fields,
    joined_callback_urls,
)
from provisioner.metadata.types import Component, FieldValue
from provisioner.metadata.view import (
    AppView,
    certificate_view,
    mapping,
    names,
    scopes_view,
    split,
    text,
    whole_minutes,
)
from provisioner.model import AppSpec, OrgSpec
from provisioner.scopes import to_metadata_all

_IP_FROM_CA = {ca: spec for spec, (ca, _) in IP_RELAXATION.items()}
_REFRESH_FROM_CA = {ca: spec for spec, (ca, _) in REFRESH_TYPES.items()}


def _refresh(value: str | None) -> str | None:
    if not value:
        return None
    prefix, _, rest = value.strip().partition(":")
    spec_type = _REFRESH_FROM_CA.get(prefix.lower())
    if spec_type is None:
        return value.strip()
    if rest:
        amount, _, unit = rest.partition(":")
        return f"{spec_type}:{amount}:{unit.lower()}"
    return spec_type


class ConnectedAppKind:
    """The ``connectedApp`` app type."""

    type_name = "connectedApp"
    label = "Connected App"
    header_type = CONNECTED_APP
    component_types: tuple[str, ...] = (CONNECTED_APP,)
    # Field Reference, "ConnectedApplication": Name, length 80.
    api_name_max = 80
    # The Metadata API documents no way to give an existing Connected App a new secret.
    secret_rotation: SecretRotation = "none"
    secret_type = CONNECTED_APP
    managed_fields: Mapping[str, frozenset[str]] = {
        CONNECTED_APP: frozenset({
            "contactEmail", "contactPhone", "description", "label", "oauthConfig.callbackUrl",
            "oauthConfig.certificate", "oauthConfig.isAdminApproved", "oauthConfig.scopes",
            "oauthPolicy.ipRelaxation", "oauthPolicy.refreshTokenPolicy", "permissionSetName",
            "profileName", "sessionPolicy.sessionTimeout"}),
    }
    creation_may_be_refused = True
    audience_is_my_domain = False
    spec_warning: str | None = (
        "Salesforce blocks creating new Connected Apps since Spring '26; adopting and "
        "updating an existing one works"
    )

    def build(
        self,
        app: AppSpec,
        org: OrgSpec,
        callback_urls: Sequence[str],
        material: Material,
        *,
        placeholders: bool = False,
    ) -> list[Component]:
        """One ``ConnectedApp`` component."""
        policies = app.policies
        oauth_config: dict[str, FieldValue] = {
            "callbackUrl": joined_callback_urls(org, callback_urls)
        }
        cert = certificate_field(app, material.certificate_pem, placeholders)
        if cert is not None:
            oauth_config["certificate"] = cert
        oauth_config.update(generated_fields(app, material, placeholders))
        oauth_config["isAdminApproved"] = policies.permitted_users == "adminApprovedPreAuthorized"
        scopes = to_metadata_all(app.scopes)
        if scopes:
            oauth_config["scopes"] = scopes
        fields: dict[str, FieldValue] = {
            **common_header(app),
            "label": app.label,
            "oauthConfig": oauth_config,
            "oauthPolicy": {
                "ipRelaxation": IP_RELAXATION[policies.ip_relaxation][0],
                "refreshTokenPolicy": connected_app_refresh_policy(policies.refresh_token),
            },
        }
        permsets = tuple(sorted(set(app.pre_authorized_permission_sets)))
        profiles = tuple(sorted(set(app.pre_authorized_profiles)))
        if permsets:
            fields["permissionSetName"] = permsets
        if profiles:
            fields["profileName"] = profiles
        if policies.session_timeout_minutes is not None:
            fields["sessionPolicy"] = {"sessionTimeout": policies.session_timeout_minutes}
        return [Component(CONNECTED_APP, app.api_name, fields)]

    def component_names(self, api_name: str) -> dict[str, str]:
        """The one component's name is the app's API name."""
        return {CONNECTED_APP: api_name}

    def assemble(
        self, api_name: str, found: Mapping[str, Mapping[str, Component]]
    ) -> tuple[tuple[Component, ...], tuple[str, ...]] | None:
        """The ``ConnectedApp`` named ``api_name``, when the org has it."""
        comp = found.get(CONNECTED_APP, {}).get(api_name)
        return ((comp,), ()) if comp is not None else None

    def desired_extras(self) -> dict[str, Any]:
        """A Connected App has no plugin switch."""
        return {}

    def live_view(self, by_type: Mapping[str, Component]) -> AppView:
        """The view of a ``ConnectedApp`` read back."""
        f = by_type[CONNECTED_APP].fields
        oauth: Mapping[str, Any] = mapping(f.get("oauthConfig"))
        policy: Mapping[str, Any] = mapping(f.get("oauthPolicy"))
        session: Mapping[str, Any] = mapping(f.get("sessionPolicy"))
        ip = text(policy.get("ipRelaxation"))
        return AppView(
            app_type=self.type_name,
            label=text(f.get("label")),
            contact_email=text(f.get("contactEmail")),
            contact_phone=text(f.get("contactPhone")),
            description=text(f.get("description")),
            callback_urls=split(oauth.get("callbackUrl"), "\n\r,"),
            scopes=scopes_view(names(oauth.get("scopes"))),
            certificate_fingerprint=certificate_view(oauth.get("certificate")),
            permitted_users=(
                "adminApprovedPreAuthorized"
                if oauth.get("isAdminApproved") is True
                else "allSelfAuthorized"
            ),
            ip_relaxation=_IP_FROM_CA.get(ip.upper(), ip) if ip else None,
            refresh_token=_refresh(text(policy.get("refreshTokenPolicy"))),
            session_timeout_minutes=whole_minutes(session.get("sessionTimeout")),
            profiles=names(f.get("profileName")),
            permission_sets=names(f.get("permissionSetName")),
            consumer_key=text(oauth.get("consumerKey")),
            plugin_enabled=None,
        )

    def note_for(self, component: Component) -> str | None:
        """Creating one needs Salesforce Support in Spring '26+ orgs."""
        return "creating one needs Salesforce Support in Spring '26+ orgs"


KIND = ConnectedAppKind()
