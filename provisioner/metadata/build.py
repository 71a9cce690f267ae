"""Build the Metadata API components of an app from its spec.

An External Client App is five components. The Metadata API guide leaves the children's
``fullName`` free; we use the names Setup gives them (and that ``sf project retrieve`` shows for
apps created there), so adopted and generated apps look the same: ``NAME`` (header),
``NAME_oauth`` (OAuth settings), ``NAME_glbloauth`` (global OAuth settings), ``NAME_oauthPlcy``
(OAuth policies) and ``NAME_plcy`` (plugin policies). A Connected App is one ``ConnectedApp``.

Callback URLs: both app types keep several URLs in one ``callbackUrl`` string; we join them with
line breaks (the Connected App rule) and split on line breaks or commas when reading.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from provisioner.metadata.types import Component, FieldValue, Placeholder
from provisioner.model import AppSpec, IpRelaxation, OrgSpec, RefreshTokenPolicy
from provisioner.scopes import to_metadata_all
from provisioner.secret import Secret

ECA_HEADER = "ExternalClientApplication"
ECA_OAUTH = "ExtlClntAppOauthSettings"
ECA_GLOBAL = "ExtlClntAppGlobalOauthSettings"
ECA_OAUTH_POLICIES = "ExtlClntAppOauthConfigurablePolicies"
ECA_POLICIES = "ExtlClntAppConfigurablePolicies"
CONNECTED_APP = "ConnectedApp"

#: ECA child type -> the suffix appended to the app's API name to form its fullName.
ECA_CHILD_SUFFIX: Mapping[str, str] = {
    ECA_OAUTH: "_oauth",
    ECA_GLOBAL: "_glbloauth",
    ECA_OAUTH_POLICIES: "_oauthPlcy",
    ECA_POLICIES: "_plcy",
}

#: Spec IP relaxation -> (Connected App ``ipRelaxation``, ECA ``ipRelaxationPolicyType``).
IP_RELAXATION: Mapping[IpRelaxation, tuple[str, str]] = {
    "enforce": ("ENFORCE", "Enforce"),
    "bypass": ("BYPASS", "Bypass"),
    "bypass2fa": ("BYPASS_2FACTOR", "Bypass_2factor"),
    "enforceRelaxRefresh": ("ENFORCE_RELAXREFRESH", "Enforce_RelaxRefresh"),
}
PERMITTED_USERS: Mapping[str, str] = {
    "adminApprovedPreAuthorized": "AdminApprovedPreAuthorized",
    "allSelfAuthorized": "AllSelfAuthorized",
}
#: Spec refresh-token type -> (Connected App prefix, ECA ``refreshTokenPolicyType``).
REFRESH_TYPES: Mapping[str, tuple[str, str]] = {
    "infinite": ("infinite", "Infinite"),
    "zero": ("zero", "Zero"),
    "specificLifetime": ("specific_lifetime", "SpecificLifetime"),
    "specificInactivity": ("specific_inactivity", "SpecificInactivity"),
}
GENERATED = "generated at apply time"


def eca_full_names(api_name: str) -> dict[str, str]:
    """``{type: fullName}`` of the five components of External Client App ``api_name``."""
    return {ECA_HEADER: api_name, **{t: api_name + s for t, s in ECA_CHILD_SUFFIX.items()}}


def default_callback_url(org: OrgSpec) -> str:
    """The callback URL for an app whose spec names none (JWT only): Salesforce requires one.

    ``/services/oauth2/success`` on the org's login host is Salesforce's own no-op landing page.
    """
    return org.login_url + "/services/oauth2/success"


def effective_callback_urls(org: OrgSpec, callback_urls: Sequence[str]) -> tuple[str, ...]:
    """The callback URLs that are deployed: the given ones (trimmed, first of duplicates kept),
    or the default when there are none."""
    urls = tuple(dict.fromkeys(u.strip() for u in callback_urls if u.strip()))
    return urls or (default_callback_url(org),)


def connected_app_refresh_policy(policy: RefreshTokenPolicy) -> str:
    """``zero`` | ``infinite`` | ``specific_lifetime:N:UNIT`` | ``specific_inactivity:N:UNIT``."""
    prefix = REFRESH_TYPES[policy.type][0]
    if policy.type in ("specificLifetime", "specificInactivity"):
        return f"{prefix}:{policy.value}:{(policy.unit or 'days').upper()}"
    return prefix


def _certificate(app: AppSpec, pem: str | None, placeholders: bool) -> str | Placeholder | None:
    if pem is not None:
        return pem.strip() + "\n"
    if app.certificate is not None and placeholders:
        cert = app.certificate
        return Placeholder(
            f"{GENERATED}: self-signed X.509 (SHA-256) of an RSA {cert.key_size}-bit key, "
            f"valid {cert.validity_days} days"
        )
    return None


def _generated(
    app: AppSpec,
    consumer_key: str | None,
    consumer_secret: Secret | None,
    placeholders: bool,
) -> dict[str, FieldValue]:
    out: dict[str, FieldValue] = {}
    if consumer_key is not None:
        out["consumerKey"] = consumer_key
    elif placeholders:
        out["consumerKey"] = Placeholder(
            f"{GENERATED} for a new app; an existing app keeps its own"
        )
    if consumer_secret is not None:
        out["consumerSecret"] = consumer_secret
    elif placeholders and any(c.type == "oauth2" for c in app.credentials):
        out["consumerSecret"] = Placeholder(f"{GENERATED}; never rendered")
    return out


def _common_header(app: AppSpec) -> dict[str, FieldValue]:
    out: dict[str, FieldValue] = {"contactEmail": app.contact_email}
    if app.contact_phone:
        out["contactPhone"] = app.contact_phone
    if app.description:
        out["description"] = app.description
    return out


def build_components(
    app: AppSpec,
    org: OrgSpec,
    callback_urls: Sequence[str],
    *,
    certificate_pem: str | None = None,
    consumer_key: str | None = None,
    consumer_secret: Secret | None = None,
    placeholders: bool = False,
) -> list[Component]:
    """The components that deploy ``app`` to ``org``, in package order.

    ``callback_urls`` are the resolved URLs (``Desired.callback_urls``). Generated material is
    optional: the certificate PEM (public), the consumer key (create only: pass it only when
    creating) and the consumer secret. With ``placeholders`` (render), material not given is a
    :class:`Placeholder` that renders as a comment; otherwise it is left out.
    """
    urls = "\n".join(effective_callback_urls(org, callback_urls))
    scopes = to_metadata_all(app.scopes)
    cert = _certificate(app, certificate_pem, placeholders)
    generated = _generated(app, consumer_key, consumer_secret, placeholders)
    policies = app.policies
    profiles = tuple(sorted(set(app.pre_authorized_profiles)))
    permsets = tuple(sorted(set(app.pre_authorized_permission_sets)))
    if app.app_type == "connectedApp":
        oauth_config: dict[str, FieldValue] = {"callbackUrl": urls}
        if cert is not None:
            oauth_config["certificate"] = cert
        oauth_config.update(generated)
        oauth_config["isAdminApproved"] = policies.permitted_users == "adminApprovedPreAuthorized"
        if scopes:
            oauth_config["scopes"] = scopes
        fields: dict[str, FieldValue] = {
            **_common_header(app),
            "label": app.label,
            "oauthConfig": oauth_config,
            "oauthPolicy": {
                "ipRelaxation": IP_RELAXATION[policies.ip_relaxation][0],
                "refreshTokenPolicy": connected_app_refresh_policy(policies.refresh_token),
            },
        }
        if permsets:
            fields["permissionSetName"] = permsets
        if profiles:
            fields["profileName"] = profiles
        if policies.session_timeout_minutes is not None:
            fields["sessionPolicy"] = {"sessionTimeout": policies.session_timeout_minutes}
        return [Component(CONNECTED_APP, app.api_name, fields)]

    names = eca_full_names(app.api_name)
    parent = {"externalClientApplication": app.api_name}
    header: dict[str, FieldValue] = {
        **_common_header(app),
        "distributionState": "Local",
        "label": app.label,
    }
    oauth: dict[str, FieldValue] = {**parent, "label": names[ECA_OAUTH]}
    if scopes:
        oauth["commaSeparatedOauthScopes"] = ",".join(scopes)
    global_oauth: dict[str, FieldValue] = {"callbackUrl": urls}
    if cert is not None:
        global_oauth["certificate"] = cert
    global_oauth.update(generated)
    global_oauth.update(parent)
    global_oauth["label"] = names[ECA_GLOBAL]
    refresh = policies.refresh_token
    oauth_policies: dict[str, FieldValue] = {**parent}
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
