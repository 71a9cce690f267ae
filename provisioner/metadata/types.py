"""Metadata API component types as static tables: folders, suffixes, fields and their order.

The tables mirror the Metadata API WSDL bundled with simple-salesforce (API 63.0). They are
written out here, not parsed from the WSDL at run time, so that rendering needs no 1.5 MB parse;
``tests/metadata/test_wsdl_tables.py`` derives the same facts from the WSDL and fails when a
table disagrees (names, order, scalar kinds, repetition).

A field spec is ``name`` (a string), ``name:b`` (boolean), ``name:i`` (int), ``name:T``
(a nested complex type ``T`` from :data:`NESTED`, or ``name:~`` for one this tool does not model),
and a trailing ``*`` marks a repeated element (``maxOccurs="unbounded"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Union

from provisioner.secret import Secret

METADATA_NS = "http://soap.sforce.com/2006/04/metadata"

Kind = Literal["str", "bool", "int", "nested", "opaque"]


@dataclass(frozen=True)
class Placeholder:
    """A value that exists only at apply time (a generated certificate or consumer key).

    Rendered as an XML comment in its place; a deploy refuses it (nothing generated yet).
    """

    note: str


Scalar = str | bool | int | Secret | Placeholder
FieldValue = Union[Scalar, "Fields", tuple[Union[Scalar, "Fields"], ...]]
Fields = Mapping[str, FieldValue]


@dataclass(frozen=True)
class FieldDef:
    """One element of a complex type: its name, scalar kind, nested type and repetition."""

    name: str
    kind: Kind
    many: bool = False
    nested: str | None = None


@dataclass(frozen=True)
class TypeInfo:
    """A top-level metadata type: its package folder and file suffix."""

    name: str
    folder: str
    suffix: str


def _parse(specs: tuple[str, ...]) -> tuple[FieldDef, ...]:
    out: list[FieldDef] = []
    for spec in specs:
        many = spec.endswith("*")
        name, _, tag = spec.rstrip("*").partition(":")
        if tag == "":
            out.append(FieldDef(name, "str", many))
        elif tag == "b":
            out.append(FieldDef(name, "bool", many))
        elif tag == "i":
            out.append(FieldDef(name, "int", many))
        elif tag == "~":
            out.append(FieldDef(name, "opaque", many))
        else:
            out.append(FieldDef(name, "nested", many, tag))
    return tuple(out)


_TOP: dict[str, tuple[str, ...]] = {
    "ConnectedApp": (
        "fullName", "attributes:ConnectedAppAttribute*", "canvas:~", "canvasConfig:~",
        "contactEmail", "contactPhone", "description", "iconUrl", "infoUrl",
        "ipRanges:ConnectedAppIpRange*", "label", "logoUrl", "mobileAppConfig:~",
        "mobileStartUrl", "oauthConfig:ConnectedAppOauthConfig",
        "oauthPolicy:ConnectedAppOauthPolicy", "permissionSetName*", "plugin",
        "pluginExecutionUser", "profileName*", "samlConfig:~",
        "sessionPolicy:ConnectedAppSessionPolicy", "startUrl",
    ),
    "ExternalClientApplication": (
        "fullName", "contactEmail", "contactPhone", "description", "distributionState",
        "iconUrl", "infoUrl", "isProtected:b", "label", "logoUrl", "managedType",
        "orgScopedExternalApp",
    ),
    "ExtlClntAppOauthSettings": (
        "fullName", "areAttributesIncludedInAssetToken:b", "areCustomPermsIncludedInAssetToken:b",
        "assetTokenAudiences", "assetTokenSigningCertificate", "assetTokenValidity:i",
        "clientAssertionCertificate", "commaSeparatedCustomScopes", "commaSeparatedOauthScopes",
        "customAttributes:ExtlClntAppOauthSettingsAttribute*", "externalClientApplication",
        "isFirstPartyAppEnabled:b", "label", "oauthLink", "singleLogoutUrl",
        "trustedIpRanges:ExtlClntAppOauthIpRange*",
    ),
    "ExtlClntAppGlobalOauthSettings": (
        "fullName", "callbackUrl", "certificate", "consumerKey", "consumerSecret",
        "externalClientApplication", "idTokenConfig:ExternalAppIdTokenConfig",
        "isClientCredentialsFlowEnabled:b", "isCodeCredFlowEnabled:b", "isCodeCredPostOnly:b",
        "isConsumerSecretOptional:b", "isDeviceFlowEnabled:b", "isIntrospectAllTokens:b",
        "isNamedUserJwtEnabled:b", "isPkceRequired:b", "isRefreshTokenRotationEnabled:b",
        "isSecretRequiredForRefreshToken:b", "isSecretRequiredForTokenExchange:b",
        "isTokenExchangeEnabled:b", "label", "shouldRotateConsumerKey:b",
        "shouldRotateConsumerSecret:b",
    ),
    "ExtlClntAppOauthConfigurablePolicies": (
        "fullName", "apexHandler", "clientCredentialsFlowUser", "commaSeparatedCustomScopes",
        "commaSeparatedPermissionSet", "commaSeparatedProfile",
        "customAttributes:ExtlClntAppOauthPoliciesAttribute*", "executeHandlerAs",
        "externalClientApplication", "guestJwtTimeout:i", "ipRelaxationPolicyType",
        "isClientCredentialsFlowEnabled:b", "isGuestCodeCredFlowEnabled:b",
        "isNamedUserJwtEnabled:b", "isTokenExchangeFlowEnabled:b", "label",
        "namedUserJwtTimeout:i", "permittedUsersPolicyType", "policyAction",
        "refreshTokenPolicyType", "refreshTokenValidityPeriod:i", "refreshTokenValidityUnit",
        "requiredSessionLevel", "sessionTimeoutInMinutes:i", "singleLogoutUrl", "startUrl",
    ),
    "ExtlClntAppConfigurablePolicies": (
        "fullName", "externalClientApplication", "isEnabled:b", "isMobilePluginEnabled:b",
        "isNotificationPluginEnabled:b", "isOauthPluginEnabled:b", "isPushPluginEnabled:b",
        "isSamlPluginEnabled:b", "label", "startPage", "startUrl",
    ),
}  # fmt: skip

_NESTED: dict[str, tuple[str, ...]] = {
    "ConnectedAppAttribute": ("formula", "key"),
    "ConnectedAppIpRange": ("description", "end", "start"),
    "ConnectedAppOauthConfig": (
        "assetTokenConfig:~", "callbackUrl", "certificate", "consumerKey", "consumerSecret",
        "idTokenConfig:ConnectedAppOauthIdToken", "isAdminApproved:b",
        "isClientCredentialEnabled:b", "isCodeCredentialEnabled:b",
        "isCodeCredentialPostOnly:b", "isConsumerSecretOptional:b", "isIntrospectAllTokens:b",
        "isNamedUserJwtEnabled:b", "isPkceRequired:b", "isRefreshTokenRotationEnabled:b",
        "isSecretRequiredForRefreshToken:b", "isSecretRequiredForTokenExchange:b",
        "isTokenExchangeEnabled:b", "oauthClientCredentialUser", "scopes*", "singleLogoutUrl",
    ),
    "ConnectedAppOauthIdToken": (
        "idTokenAudience", "idTokenIncludeAttributes:b", "idTokenIncludeCustomPerms:b",
        "idTokenIncludeStandardClaims:b", "idTokenValidity:i",
    ),
    "ConnectedAppOauthPolicy": (
        "ipRelaxation", "isTokenExchangeFlowEnabled:b", "refreshTokenPolicy", "singleLogoutUrl",
    ),
    "ConnectedAppSessionPolicy": ("policyAction", "sessionLevel", "sessionTimeout:i"),
    "ExternalAppIdTokenConfig": (
        "idTokenAudience", "idTokenIncludeAttributes:b", "idTokenIncludeCustomPermissions:b",
        "idTokenIncludeStandardClaims:b", "idTokenValidityInMinutes:i",
    ),
    "ExtlClntAppOauthIpRange": ("description", "endIpAddress", "startIpAddress"),
    "ExtlClntAppOauthSettingsAttribute": ("formula", "key"),
    "ExtlClntAppOauthPoliciesAttribute": ("formula", "key"),
}  # fmt: skip

#: Top-level type name -> its fields in WSDL order (``fullName`` first, inherited from Metadata).
FIELDS: Mapping[str, tuple[FieldDef, ...]] = {k: _parse(v) for k, v in _TOP.items()}
#: Nested complex type name -> its fields in WSDL order.
NESTED: Mapping[str, tuple[FieldDef, ...]] = {k: _parse(v) for k, v in _NESTED.items()}

#: Package folders and suffixes, from the Metadata API guide ("File Suffix and Directory Location").
TYPES: Mapping[str, TypeInfo] = {
    t.name: t
    for t in (
        TypeInfo("ConnectedApp", "connectedApps", "connectedApp"),
        TypeInfo("ExternalClientApplication", "externalClientApps", "eca"),
        TypeInfo("ExtlClntAppOauthSettings", "extlClntAppOauthSettings", "ecaOauth"),
        TypeInfo("ExtlClntAppGlobalOauthSettings", "extlClntAppGlobalOauthSets", "ecaGlblOauth"),
        TypeInfo(
            "ExtlClntAppOauthConfigurablePolicies", "extlClntAppOauthPolicies", "ecaOauthPlcy"
        ),
        TypeInfo("ExtlClntAppConfigurablePolicies", "extlClntAppPolicies", "ecaPlcy"),
    )
}

#: Fields holding secrets, per (complex) type: omitted from renders, sent only to a real deploy.
SECRET_FIELDS: Mapping[str, frozenset[str]] = {
    "ExtlClntAppGlobalOauthSettings": frozenset({"consumerSecret"}),
    "ConnectedAppOauthConfig": frozenset({"consumerSecret"}),
}


def fields_of(type_name: str) -> tuple[FieldDef, ...]:
    """The field table of a top-level or nested type; ``KeyError`` names the unknown type."""
    if type_name in FIELDS:
        return FIELDS[type_name]
    if type_name in NESTED:
        return NESTED[type_name]
    raise KeyError(f"unknown metadata type {type_name!r}")


@dataclass(frozen=True)
class Component:
    """One Metadata API component: its type, ``fullName`` and field values (without fullName).

    Values are ``str``/``bool``/``int``, :class:`Secret` (secret fields), :class:`Placeholder`
    (generated at apply time), nested mappings for complex fields and tuples for repeated ones.
    """

    type: str
    full_name: str
    fields: Fields = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"unsupported metadata type {self.type!r}")
        known = {f.name for f in FIELDS[self.type]} - {"fullName"}
        unknown = sorted(set(self.fields) - known)
        if unknown:
            raise ValueError(f"{self.type} has no field(s) {', '.join(unknown)}")

    @property
    def info(self) -> TypeInfo:
        """Folder and suffix of this component's type."""
        return TYPES[self.type]

    @property
    def path(self) -> str:
        """Its file inside a deploy package, e.g. ``connectedApps/Sync.connectedApp``."""
        return f"{self.info.folder}/{self.full_name}.{self.info.suffix}"
