"""OAuth scopes: the Metadata API spelling, the OAuth names users see in Setup, and normalisation.

Specs may use either spelling (``Api`` or ``api``; ``RefreshToken`` or ``refresh_token`` /
``offline_access``). Everything inside provisioner uses the Metadata API spelling. Salesforce
canonicalises some scopes when it reads an app back (Profile, Email, Address and Phone come back as
Basic; OfflineAccess as RefreshToken), so comparisons go through :func:`normalise`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

#: Every scope the Metadata API accepts, as it spells them (WSDL enumeration ConnectedAppOauthAccessScope).
METADATA_SCOPES: tuple[str, ...] = (
    "Basic", "Api", "Web", "Full", "Chatter", "CustomApplications", "RefreshToken", "OpenID",
    "Profile", "Email", "Address", "Phone", "OfflineAccess", "CustomPermissions", "Wave", "Eclair",
    "Pardot", "Lightning", "Content", "CDPIngest", "CDPProfile", "CDPQuery", "Chatbot",
    "CDPSegment", "CDPIdentityResolution", "CDPCalculatedInsight", "ForgotPassword",
    "UserRegistration", "SFAP", "Interaction", "CDP", "EinsteinGPT", "PwdlessLogin",
)  # fmt: skip

#: The OAuth scope names shown in Setup and used in token requests, mapped to the Metadata API name.
OAUTH_SCOPE_NAMES: dict[str, str] = {
    "id": "Basic",
    "api": "Api",
    "web": "Web",
    "full": "Full",
    "chatter_api": "Chatter",
    "visualforce": "CustomApplications",
    "refresh_token": "RefreshToken",
    "offline_access": "RefreshToken",
    "openid": "OpenID",
    "profile": "Profile",
    "email": "Email",
    "address": "Address",
    "phone": "Phone",
    "custom_permissions": "CustomPermissions",
    "wave_api": "Wave",
    "eclair_api": "Eclair",
    "pardot_api": "Pardot",
    "lightning": "Lightning",
    "content": "Content",
    "cdp_ingest_api": "CDPIngest",
    "cdp_profile_api": "CDPProfile",
    "cdp_query_api": "CDPQuery",
    "chatbot_api": "Chatbot",
    "cdp_segment_api": "CDPSegment",
    "cdp_identityresolution_api": "CDPIdentityResolution",
    "cdp_calculated_insight_api": "CDPCalculatedInsight",
    "forgot_password": "ForgotPassword",
    "user_registration_api": "UserRegistration",
    "sfap_api": "SFAP",
    "interaction_api": "Interaction",
    "cdp_api": "CDP",
    "einstein_gpt_api": "EinsteinGPT",
    "pwdless_login_api": "PwdlessLogin",
}

#: How Salesforce rewrites a scope when it reads an app back.
READ_CANONICAL: dict[str, str] = {
    "Profile": "Basic",
    "Email": "Basic",
    "Address": "Basic",
    "Phone": "Basic",
    "OfflineAccess": "RefreshToken",
}

_BY_LOWER: dict[str, str] = {s.lower(): s for s in METADATA_SCOPES}


class UnknownScopeError(ValueError):
    """A scope name that is neither a Metadata API scope nor an OAuth scope name."""

    def __init__(self, name: str, suggestion: str | None) -> None:
        self.name = name
        self.suggestion = suggestion
        text = f"unknown OAuth scope {name!r}"
        if suggestion:
            text += f"; did you mean {suggestion!r}?"
        super().__init__(text)


def all_spellings() -> list[str]:
    """Every accepted spelling, Metadata API names first (for schemas and suggestions)."""
    return [*METADATA_SCOPES, *OAUTH_SCOPE_NAMES]


def to_metadata(name: str) -> str:
    """The Metadata API spelling of a scope written either way; raises :class:`UnknownScopeError`."""
    if name in OAUTH_SCOPE_NAMES:
        return OAUTH_SCOPE_NAMES[name]
    if name in _BY_LOWER.values():
        return name
    folded = name.strip().lower()
    if folded in _BY_LOWER:
        return _BY_LOWER[folded]
    if folded in OAUTH_SCOPE_NAMES:
        return OAUTH_SCOPE_NAMES[folded]
    return _raise_unknown(name)


def _raise_unknown(name: str) -> str:
    matches = difflib.get_close_matches(name, all_spellings(), n=1, cutoff=0.6)
    if not matches:
        matches = difflib.get_close_matches(name.lower(), list(OAUTH_SCOPE_NAMES), n=1, cutoff=0.5)
    raise UnknownScopeError(name, matches[0] if matches else None)


def to_metadata_all(names: Iterable[str]) -> tuple[str, ...]:
    """Metadata API spellings, duplicates removed, in the order of :data:`METADATA_SCOPES`."""
    wanted = {to_metadata(n) for n in names}
    return tuple(s for s in METADATA_SCOPES if s in wanted)


def normalise(names: Iterable[str]) -> frozenset[str]:
    """The set a read-back app would show for these scopes: compare these, never raw lists."""
    return frozenset(READ_CANONICAL.get(to_metadata(n), to_metadata(n)) for n in names)
