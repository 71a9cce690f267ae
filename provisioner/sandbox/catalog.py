"""The metadata types the sandbox holds, where they live in a package, and OAuth scope names."""

from __future__ import annotations

from dataclasses import dataclass

CONNECTED_APP = "ConnectedApp"
ECA = "ExternalClientApplication"
ECA_OAUTH = "ExtlClntAppOauthSettings"
ECA_GLOBAL = "ExtlClntAppGlobalOauthSettings"
ECA_OAUTH_POLICIES = "ExtlClntAppOauthConfigurablePolicies"
ECA_POLICIES = "ExtlClntAppConfigurablePolicies"


@dataclass(frozen=True)
class TypeInfo:
    """Where a type's files live in a Metadata API package, and its id prefix."""

    name: str
    folder: str
    suffix: str
    id_prefix: str

    def file_name(self, full_name: str) -> str:
        """The package path of one component, e.g. ``connectedApps/X.connectedApp``."""
        return f"{self.folder}/{full_name}.{self.suffix}"


TYPES: dict[str, TypeInfo] = {
    t.name: t
    for t in (
        TypeInfo(CONNECTED_APP, "connectedApps", "connectedApp", "0H4"),
        TypeInfo(ECA, "externalClientApps", "eca", "0xI"),
        TypeInfo(ECA_OAUTH, "extlClntAppOauthSettings", "ecaOauth", "0xO"),
        TypeInfo(ECA_GLOBAL, "extlClntAppGlobalOauthSets", "ecaGlblOauth", "0xG"),
        TypeInfo(ECA_OAUTH_POLICIES, "extlClntAppOauthPolicies", "ecaOauthPlcy", "0xP"),
        TypeInfo(ECA_POLICIES, "extlClntAppPolicies", "ecaPlcy", "0xC"),
    )
}

#: Sub-components of an External Client App; each names its parent in ``externalClientApplication``.
ECA_CHILDREN = (ECA_OAUTH, ECA_GLOBAL, ECA_OAUTH_POLICIES, ECA_POLICIES)

#: Order in which a deploy applies types: parents before the components that reference them.
DEPLOY_ORDER = (ECA, *ECA_CHILDREN, CONNECTED_APP)


def type_for_path(path: str) -> tuple[str, str] | None:
    """Map a package path such as ``externalClientApps/X.eca`` to (type, fullName)."""
    folder, _, file = path.partition("/")
    for info in TYPES.values():
        if folder == info.folder and file.endswith("." + info.suffix) and "/" not in file:
            return info.name, file[: -len(info.suffix) - 1]
    return None


# Metadata API scope name -> OAuth scope name, as Setup shows them.
SCOPE_OAUTH_NAMES: dict[str, str] = {
    "Basic": "id", "Api": "api", "Web": "web", "Full": "full", "Chatter": "chatter_api",
    "CustomApplications": "visualforce", "RefreshToken": "refresh_token", "OpenID": "openid",
    "Profile": "profile", "Email": "email", "Address": "address", "Phone": "phone",
    "OfflineAccess": "offline_access", "CustomPermissions": "custom_permissions",
    "Wave": "wave_api", "Eclair": "eclair_api", "Pardot": "pardot_api", "Lightning": "lightning",
    "Content": "content", "CDPIngest": "cdp_ingest_api", "CDPProfile": "cdp_profile_api",
    "CDPQuery": "cdp_query_api", "Chatbot": "chatbot_api", "CDPSegment": "cdp_segment_api",
    "CDPIdentityResolution": "cdp_identityresolution_api",
    "CDPCalculatedInsight": "cdp_calculated_insight_api", "ForgotPassword": "forgot_password",
    "UserRegistration": "user_registration_api", "SFAP": "sfap_api",
    "Interaction": "interaction_api", "CDP": "cdp_api", "EinsteinGPT": "einstein_gpt_api",
    "PwdlessLogin": "pwdless_login_api",
}
_BY_ANY_NAME = {k.lower(): k for k in SCOPE_OAUTH_NAMES} | {
    v: k for k, v in SCOPE_OAUTH_NAMES.items()
}
# What reads return instead of what was written (Salesforce folds these into broader scopes).
_CANONICAL = {"Profile": "Basic", "Email": "Basic", "Address": "Basic", "Phone": "Basic",
              "OfflineAccess": "RefreshToken"}


def scope_name(value: str) -> str | None:
    """The Metadata API name of a scope given either spelling, or None if unknown."""
    return _BY_ANY_NAME.get(value.strip().lower())


def split_scopes(value: str) -> list[str]:
    """Items of a comma-separated scope list (External Client Apps store scopes this way)."""
    return [item.strip() for item in value.split(",") if item.strip()]


def canonical_scopes(values: list[str]) -> list[str]:
    """Scopes as a read returns them: folded, de-duplicated, in the WSDL's order."""
    names = {_CANONICAL.get(n, n) for n in (scope_name(v) for v in values) if n}
    return [s for s in SCOPE_OAUTH_NAMES if s in names]


def oauth_scope_string(values: list[str]) -> str:
    """The ``scope`` of a token response, in OAuth names."""
    names = {scope_name(v) for v in values}
    return " ".join(SCOPE_OAUTH_NAMES[n] for n in SCOPE_OAUTH_NAMES if n in names)
