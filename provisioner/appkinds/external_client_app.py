"""External Client Apps: the default for new apps (Salesforce stopped new Connected Apps in
Spring '26).

An External Client App is five components. The Metadata API guide leaves the children's
``fullName`` free; new apps get the names Setup gives them (and that ``sf project retrieve`` shows
for apps created there): ``NAME`` (header), ``NAME_oauth`` (OAuth settings), ``NAME_glbloauth``
(global OAuth settings), ``NAME_oauthPlcy`` (OAuth policies) and ``NAME_plcy`` (plugin policies).
Apps made by metadata use any names (public sfdx projects retrieve ``XGlblOAuth``,
``XOAuthSettings``; Salesforce itself generates ``..._defaultPolicy`` policies), so a child is
found by the parent it names (``externalClientApplication``) when the Setup name is not there,
and an existing app is updated under the names it has.
Its JWT logins carry the org's My Domain URL as audience. A consumer secret is chosen only when
the app is created; an existing app gets a new one by the documented route: its global OAuth
settings are deployed with ``shouldRotateConsumerSecret``, Salesforce generates the secret, and a
read of those settings returns it (the org setting "Allow Access to OAuth Consumer Secrets via
Metadata API" and, for developer roles, the user permission "View External Client Apps Consumer
Secrets in Metadata" allow both).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from provisioner.appkinds.base import Material, SecretRotation
from provisioner.metadata.build import (
    ECA_GLOBAL,
    ECA_HEADER,
    ECA_OAUTH,
    ECA_OAUTH_POLICIES,
    ECA_POLICIES,
    IP_RELAXATION,
    PERMITTED_USERS,
    REFRESH_TYPES,
    certificate_field,
    common_header,
    generated_fields,
    joined_callback_urls,
)
from provisioner.metadata.types import Component, FieldValue
from provisioner.metadata.view import (
    AppView,
    certificate_view,
    scopes_view,
    split,
    text,
    whole_minutes,
)
from provisioner.model import AppSpec, OrgSpec
from provisioner.scopes import to_metadata_all

#: Child type -> the suffix appended to the app's API name to form its fullName.
CHILD_SUFFIX: Mapping[str, str] = {
    ECA_OAUTH: "_oauth",
    ECA_GLOBAL: "_glbloauth",
    ECA_OAUTH_POLICIES: "_oauthPlcy",
    ECA_POLICIES: "_plcy",
}
TYPES: tuple[str, ...] = (ECA_HEADER, *CHILD_SUFFIX)

_IP_FROM_ECA = {eca.lower(): spec for spec, (_, eca) in IP_RELAXATION.items()}
_PERMITTED_FROM_ECA = {v.lower(): k for k, v in PERMITTED_USERS.items()}
_REFRESH_FROM_ECA = {eca.lower(): spec for spec, (_, eca) in REFRESH_TYPES.items()}


#: The field by which each child names its External Client App.
PARENT_FIELD = "externalClientApplication"


def full_names(api_name: str) -> dict[str, str]:
    """``{type: fullName}`` of the five components of External Client App ``api_name``, as
    Setup names them (a new app gets these)."""
    return {ECA_HEADER: api_name, **{t: api_name + s for t, s in CHILD_SUFFIX.items()}}


def _child_of(api_name: str, type_name: str, found: Mapping[str, Component]
              ) -> Component | None:
    """The child of ``type_name`` naming ``api_name`` as its parent: the Setup name first, else
    any other (the first by name, when an org holds several)."""
    conventional = found.get(api_name + CHILD_SUFFIX[type_name])
    if conventional is not None:
        return conventional
    for name in sorted(found):
        if text(found[name].fields.get(PARENT_FIELD)) == api_name:
            return found[name]
    return None


def _refresh(policies: Mapping[str, FieldValue]) -> str | None:
    raw = text(policies.get("refreshTokenPolicyType"))
    if raw is None:
        return None
    spec_type = _REFRESH_FROM_ECA.get(raw.lower(), raw)
    if spec_type in ("specificLifetime", "specificInactivity"):
        period = policies.get("refreshTokenValidityPeriod")
        unit = (text(policies.get("refreshTokenValidityUnit")) or "days").lower()
        return f"{spec_type}:{period}:{unit}"
    return spec_type


class ExternalClientAppKind:
    """The ``externalClientApp`` app type."""

    type_name = "externalClientApp"
    label = "External Client App"
    header_type = ECA_HEADER
    component_types: tuple[str, ...] = TYPES
    # An ECA's API name holds 40 characters (Setup's limit for the External Client App name).
    api_name_max = 40
    secret_rotation: SecretRotation = "generated"
    secret_type = ECA_GLOBAL
    creation_may_be_refused = False
    audience_is_my_domain = True
    spec_warning: str | None = None
    managed_fields: Mapping[str, frozenset[str]] = {
        ECA_HEADER: frozenset({"contactEmail", "contactPhone", "description",
                               "distributionState", "label"}),
        ECA_OAUTH: frozenset({"externalClientApplication", "label",
                              "commaSeparatedOauthScopes"}),
        ECA_GLOBAL: frozenset({"callbackUrl", "certificate", "externalClientApplication",
                               "label"}),
        ECA_OAUTH_POLICIES: frozenset({
            "externalClientApplication", "label", "commaSeparatedPermissionSet",
            "commaSeparatedProfile", "ipRelaxationPolicyType", "permittedUsersPolicyType",
            "refreshTokenPolicyType", "refreshTokenValidityPeriod", "refreshTokenValidityUnit",
            "sessionTimeoutInMinutes"}),
        ECA_POLICIES: frozenset({"externalClientApplication", "isEnabled",
                                 "isOauthPluginEnabled", "label"}),
    }

    def build(
        self,
        app: AppSpec,
        org: OrgSpec,
        callback_urls: Sequence[str],
        material: Material,
        *,
        placeholders: bool = False,
    ) -> list[Component]:
        """The header and its four children, in package order."""
        policies = app.policies
        names = {**full_names(app.api_name), **material.names}
        parent = {PARENT_FIELD: app.api_name}
        header: dict[str, FieldValue] = {
            **common_header(app),
            "distributionState": "Local",
            "label": app.label,
        }
        oauth: dict[str, FieldValue] = {**parent, "label": names[ECA_OAUTH]}
        scopes = to_metadata_all(app.scopes)
        if scopes:
            oauth["commaSeparatedOauthScopes"] = ",".join(scopes)
        global_oauth: dict[str, FieldValue] = {
            "callbackUrl": joined_callback_urls(org, callback_urls)
        }
        cert = certificate_field(app, material.certificate_pem, placeholders)
        if cert is not None:
            global_oauth["certificate"] = cert
        global_oauth.update(generated_fields(app, material, placeholders))
        if material.rotate_consumer_secret:
            global_oauth["shouldRotateConsumerSecret"] = True
        global_oauth.update(parent)
        global_oauth["label"] = names[ECA_GLOBAL]
        refresh = policies.refresh_token
        oauth_policies: dict[str, FieldValue] = {**parent}
        permsets = tuple(sorted(set(app.pre_authorized_permission_sets)))
        profiles = tuple(sorted(set(app.pre_authorized_profiles)))
        if permsets:
            oauth_policies["commaSeparatedPermissionSet"] = ",".join(permsets)
        if profiles:
            oauth_policies["commaSeparatedProfile"] = ",".join(profiles)
        oauth_policies["ipRelaxationPolicyType"] = IP_RELAXATION[policies.ip_relaxation][1]
        oauth_policies["label"] = names[ECA_OAUTH_POLICIES]
        oauth_policies["permittedUsersPolicyType"] = PERMITTED_USERS[policies.permitted_users]
        oauth_policies["refreshTokenPolicyType"] = REFRESH_TYPES[refresh.type][1]
        if refresh.type in ("specificLifetime", "specificInactivity"):
            oauth_policies["refreshTokenValidityPeriod"] = int(refresh.value or 0)
            oauth_policies["refreshTokenValidityUnit"] = (refresh.unit or "days").capitalize()
        if policies.session_timeout_minutes is not None:
            oauth_policies["sessionTimeoutInMinutes"] = policies.session_timeout_minutes
        plugin: dict[str, FieldValue] = {
            **parent,
            "isEnabled": True,
            "isOauthPluginEnabled": True,
            "label": names[ECA_POLICIES],
        }
        return [
            Component(ECA_HEADER, names[ECA_HEADER], header),
            Component(ECA_OAUTH, names[ECA_OAUTH], oauth),
            Component(ECA_GLOBAL, names[ECA_GLOBAL], global_oauth),
            Component(ECA_OAUTH_POLICIES, names[ECA_OAUTH_POLICIES], oauth_policies),
            Component(ECA_POLICIES, names[ECA_POLICIES], plugin),
        ]

    def component_names(self, api_name: str) -> dict[str, str]:
        """The header's and its children's names."""
        return full_names(api_name)

    def assemble(
        self, api_name: str, found: Mapping[str, Mapping[str, Component]]
    ) -> tuple[tuple[Component, ...], tuple[str, ...]] | None:
        """The components the org has and the types it lacks; None when it has none. Children
        are matched by their Setup name, else by the parent they name."""
        have: dict[str, Component | None] = {
            ECA_HEADER: found.get(ECA_HEADER, {}).get(api_name)}
        for child in CHILD_SUFFIX:
            have[child] = _child_of(api_name, child, found.get(child, {}))
        comps = tuple(c for c in have.values() if c is not None)
        if not comps:
            return None
        return comps, tuple(t for t, c in have.items() if c is None)

    def desired_extras(self) -> dict[str, Any]:
        """The OAuth plugin must be on, or no OAuth flow works."""
        return {"plugin_enabled": True}

    def live_view(self, by_type: Mapping[str, Component]) -> AppView:
        """The view of the components read back; missing children leave their fields empty (so
        the planner sees them as drift)."""

        def of(type_name: str) -> Mapping[str, FieldValue]:
            component = by_type.get(type_name)
            return component.fields if component is not None else {}

        header, oauth, glob = of(ECA_HEADER), of(ECA_OAUTH), of(ECA_GLOBAL)
        policies, plugin = of(ECA_OAUTH_POLICIES), of(ECA_POLICIES)
        ip = text(policies.get("ipRelaxationPolicyType"))
        permitted = text(policies.get("permittedUsersPolicyType"))
        plugin_on: bool | None = None
        if ECA_POLICIES in by_type:
            plugin_on = plugin.get("isEnabled") is True and plugin.get("isOauthPluginEnabled") is True
        return AppView(
            app_type=self.type_name,
            label=text(header.get("label")),
            contact_email=text(header.get("contactEmail")),
            contact_phone=text(header.get("contactPhone")),
            description=text(header.get("description")),
            callback_urls=split(glob.get("callbackUrl"), "\n\r,"),
            scopes=scopes_view(split(oauth.get("commaSeparatedOauthScopes"))),
            certificate_fingerprint=certificate_view(glob.get("certificate")),
            permitted_users=_PERMITTED_FROM_ECA.get(permitted.lower(), permitted)
            if permitted
            else None,
            ip_relaxation=_IP_FROM_ECA.get(ip.lower(), ip) if ip else None,
            refresh_token=_refresh(policies),
            session_timeout_minutes=whole_minutes(policies.get("sessionTimeoutInMinutes")),
            profiles=split(policies.get("commaSeparatedProfile")),
            permission_sets=split(policies.get("commaSeparatedPermissionSet")),
            consumer_key=text(glob.get("consumerKey")),
            plugin_enabled=plugin_on,
        )

    def note_for(self, component: Component) -> str | None:
        """Nothing to add."""
        return None


KIND = ExternalClientAppKind()
