"""What building any app's Metadata API components shares: type names, value tables, helpers.

The components of each app type are built by its app kind (:mod:`provisioner.appkinds`); this
module holds what they share. Callback URLs: both app types keep several URLs in one ``callbackUrl`` string; we join them with
line breaks (the Connected App rule) and split on line breaks or commas when reading.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from provisioner.metadata.types import FieldValue, Placeholder
from provisioner.model import AppSpec, IpRelaxation, OrgSpec, RefreshTokenPolicy

if TYPE_CHECKING:
    from provisioner.appkinds.base import Material

ECA_HEADER = "ExternalClientApplication"
ECA_OAUTH = "ExtlClntAppOauthSettings"
ECA_GLOBAL = "ExtlClntAppGlobalOauthSettings"
ECA_OAUTH_POLICIES = "ExtlClntAppOauthConfigurablePolicies"
ECA_POLICIES = "ExtlClntAppConfigurablePolicies"
CONNECTED_APP = "ConnectedApp"

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


def certificate_field(app: AppSpec, pem: str | None, placeholders: bool) -> str | Placeholder | None:
    """The certificate to deploy: the PEM given, a placeholder when rendering, else None."""
    if pem is not None:
        return pem.strip() + "\n"
    if app.certificate is not None and placeholders:
        cert = app.certificate
        return Placeholder(
            f"{GENERATED}: self-signed X.509 (SHA-256) of an RSA {cert.key_size}-bit key, "
            f"valid {cert.validity_days} days"
        )
    return None


def generated_fields(app: AppSpec, material: Material, placeholders: bool) -> dict[str, FieldValue]:
    """``consumerKey`` / ``consumerSecret`` as given (placeholders when rendering)."""
    consumer_key, consumer_secret = material.consumer_key, material.consumer_secret
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


def common_header(app: AppSpec) -> dict[str, FieldValue]:
    """The contact and description fields every app type has."""
    out: dict[str, FieldValue] = {"contactEmail": app.contact_email}
    if app.contact_phone:
        out["contactPhone"] = app.contact_phone
    if app.description:
        out["description"] = app.description
    return out


def joined_callback_urls(org: OrgSpec, callback_urls: Sequence[str]) -> str:
    """The deployed ``callbackUrl`` value: the effective URLs joined by line breaks."""
    return "\n".join(effective_callback_urls(org, callback_urls))
