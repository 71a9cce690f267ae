"""Salesforce-like validation of the app metadata the sandbox accepts.

Rules are the ones provisioner depends on: required fields and enumerations (from the WSDL),
API names, consumer key and secret rules, callback URLs, scopes, certificates, and references
between an External Client App and its sub-components.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlparse

from cryptography import x509

from . import catalog as c
from .wsdl import schema


@dataclass(frozen=True)
class Problem:
    """One validation failure, as a SaveResult error or a deploy component failure."""

    code: str
    message: str
    field: str | None = None


class Context(Protocol):
    """What validation needs to know about the org (implemented by the org state)."""

    def profiles(self) -> set[str]: ...
    def permission_sets(self) -> set[str]: ...
    def consumer_key_owner(self, key: str) -> tuple[str, str] | None: ...
    def eca_exists(self, name: str) -> bool: ...
    def child_of(self, type_name: str, eca: str) -> str | None: ...


API_NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|_(?!_))*$")
CONSUMER_KEY = re.compile(r"^[A-Za-z0-9]{8,256}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
REFRESH_POLICY = re.compile(r"^(zero|infinite|specific_(lifetime|inactivity):\d+:(HOURS|DAYS|MONTHS))$")
IP_RELAXATION_CA = {"ENFORCE", "BYPASS_2FACTOR", "BYPASS", "ENFORCE_RELAXREFRESH"}
IP_RELAXATION_ECA = {"Enforce", "Bypass", "Bypass_2factor", "Enforce_RelaxRefresh"}
KEY_TAKEN = "consumer key is already taken"
_NAME_RULE = (
    "The API name can only contain underscores and alphanumeric characters. It must be unique, "
    "begin with a letter, not include spaces, not end with an underscore, and not contain two "
    "consecutive underscores."
)


def _required(md: dict[str, Any], type_name: str, path: str, out: list[Problem]) -> None:
    sch = schema()
    for field in sch.fields(type_name):
        value = md.get(field.name)
        if field.required and (value is None or value == "" or value == []):
            out.append(Problem("REQUIRED_FIELD_MISSING",
                               f"Required fields are missing: [{path}{field.name}]", field.name))
            continue
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict):
                _required(item, field.type, f"{path}{field.name}.", out)
            elif item is not None and field.type in sch.enums and item not in sch.enums[field.type]:
                if field.type == "ConnectedAppOauthAccessScope":
                    continue  # scopes are checked below, where OAuth spellings are accepted
                out.append(Problem("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                   f"bad value for restricted picklist field: {item}", field.name))


def _callback_urls(value: str, out: list[Problem]) -> None:
    urls = [u.strip() for u in re.split(r"[\r\n]+", value) if u.strip()]
    if not urls:
        out.append(Problem("REQUIRED_FIELD_MISSING", "Required fields are missing: [callbackUrl]",
                           "callbackUrl"))
    for url in urls:
        parsed = urlparse(url)
        if not parsed.scheme or (parsed.scheme in {"http", "https"} and not parsed.netloc):
            out.append(Problem("FIELD_INTEGRITY_EXCEPTION",
                               f"Callback URL: invalid URL: {url}", "callbackUrl"))
        elif parsed.scheme == "http" and parsed.hostname not in {"localhost", "127.0.0.1"}:
            out.append(Problem("FIELD_INTEGRITY_EXCEPTION",
                               f"Callback URL: {url} must use https (http only for localhost)",
                               "callbackUrl"))


def _scopes(values: list[str], out: list[Problem], field: str) -> None:
    if not values:
        out.append(Problem("REQUIRED_FIELD_MISSING",
                           f"Required fields are missing: [{field}]", field))
    for value in values:
        if c.scope_name(value) is None:
            out.append(Problem("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                               f"bad value for restricted picklist field: {value}", field))


def _certificate(pem: str, out: list[Problem]) -> None:
    try:
        x509.load_pem_x509_certificate(pem.strip().encode())
    except ValueError:
        out.append(Problem("FIELD_INTEGRITY_EXCEPTION",
                           "certificate: not a valid PEM-encoded X.509 certificate", "certificate"))


def _consumer_key(md: dict[str, Any], type_name: str, name: str, existing: bool,
                  ctx: Context, out: list[Problem]) -> None:
    # sandbox-rule: consumer-key-create-only-unique (docs/salesforce-behaviour.md)
    key, secret = md.get("consumerKey"), md.get("consumerSecret")
    if key is not None:
        owner = ctx.consumer_key_owner(str(key))
        if existing or (owner is not None and owner != (type_name, name)):
            # Salesforce refuses the key on anything but create, even when unchanged.
            out.append(Problem("FIELD_INTEGRITY_EXCEPTION", KEY_TAKEN, "consumerKey"))
        elif not CONSUMER_KEY.match(str(key)):
            out.append(Problem("FIELD_INTEGRITY_EXCEPTION",
                               "consumerKey: must be 8-256 alphanumeric characters", "consumerKey"))
    # sandbox-rule: secret-chosen-on-create-only (docs/salesforce-behaviour.md)
    if secret is not None:
        # A chosen secret is documented for a new app only; an existing External Client App
        # gets a new one through shouldRotateConsumerSecret (docs/salesforce-behaviour.md).
        if existing:
            hint = ("; deploy shouldRotateConsumerSecret to have a new one generated"
                    if type_name == "ExtlClntAppGlobalOauthSettings" else "")
            out.append(Problem("FIELD_INTEGRITY_EXCEPTION",
                               "consumerSecret: can only be set when the app is created" + hint,
                               "consumerSecret"))
        elif not re.match(r"^[A-Za-z0-9]{8,256}$", str(secret)):
            out.append(Problem("FIELD_INTEGRITY_EXCEPTION",
                               "consumerSecret: must be 8-256 alphanumeric characters",
                               "consumerSecret"))


# sandbox-rule: unknown-profile-permset (docs/salesforce-behaviour.md)
def _names(values: list[str], known: set[str], kind: str, out: list[Problem]) -> None:
    for value in values:
        if value not in known:
            out.append(Problem("INVALID_CROSS_REFERENCE_KEY", f"no {kind} named {value} found",
                               kind))


def validate(type_name: str, md: dict[str, Any], *, existing: bool, ctx: Context) -> list[Problem]:
    """Every problem Salesforce would report for saving this component."""
    out: list[Problem] = []
    name = str(md.get("fullName") or "")
    if not name:
        return [Problem("REQUIRED_FIELD_MISSING", "Required fields are missing: [fullName]",
                        "fullName")]
    if not API_NAME.match(name) or name.endswith("_") or len(name) > 80:
        out.append(Problem("FIELD_INTEGRITY_EXCEPTION", _NAME_RULE, "fullName"))
    _required(md, type_name, "", out)
    if type_name == c.CONNECTED_APP:
        _connected_app(md, name, existing, ctx, out)
    elif type_name == c.ECA:
        if not md.get("label"):
            out.append(Problem("REQUIRED_FIELD_MISSING", "Required fields are missing: [label]",
                               "label"))
    else:
        _eca_child(type_name, md, name, existing, ctx, out)
    return out


def _connected_app(md: dict[str, Any], name: str, existing: bool, ctx: Context,
                   out: list[Problem]) -> None:
    if md.get("contactEmail") and not EMAIL.match(str(md["contactEmail"])):
        out.append(Problem("FIELD_INTEGRITY_EXCEPTION", "contactEmail: invalid email address",
                           "contactEmail"))
    oauth = md.get("oauthConfig")
    if isinstance(oauth, dict):
        _callback_urls(str(oauth.get("callbackUrl") or ""), out)
        _scopes(list(oauth.get("scopes") or []), out, "scopes")
        if oauth.get("certificate"):
            _certificate(str(oauth["certificate"]), out)
        _consumer_key(oauth, c.CONNECTED_APP, name, existing, ctx, out)
    policy = md.get("oauthPolicy")
    if isinstance(policy, dict):
        if policy.get("ipRelaxation") and policy["ipRelaxation"] not in IP_RELAXATION_CA:
            out.append(Problem("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                               f"bad value for restricted picklist field: {policy['ipRelaxation']}",
                               "ipRelaxation"))
        if policy.get("refreshTokenPolicy") and not REFRESH_POLICY.match(
                str(policy["refreshTokenPolicy"])):
            out.append(Problem("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                               "bad value for restricted picklist field: "
                               f"{policy['refreshTokenPolicy']}", "refreshTokenPolicy"))
    _names(list(md.get("profileName") or []), ctx.profiles(), "Profile", out)
    _names(list(md.get("permissionSetName") or []), ctx.permission_sets(), "PermissionSet", out)


def _eca_child(type_name: str, md: dict[str, Any], name: str, existing: bool, ctx: Context,
               out: list[Problem]) -> None:
    parent = str(md.get("externalClientApplication") or "")
    if parent and not ctx.eca_exists(parent):
        out.append(Problem("INVALID_CROSS_REFERENCE_KEY",
                           f"externalClientApplication: no ExternalClientApplication named "
                           f"{parent} found", "externalClientApplication"))
    elif parent:
        sibling = ctx.child_of(type_name, parent)
        if sibling is not None and sibling != name:
            out.append(Problem("DUPLICATE_VALUE",
                               f"{parent} already has a {type_name}: {sibling}",
                               "externalClientApplication"))
    if type_name == c.ECA_OAUTH:
        _scopes(c.split_scopes(str(md.get("commaSeparatedOauthScopes") or "")), out,
                "commaSeparatedOauthScopes")
    elif type_name == c.ECA_GLOBAL:
        _callback_urls(str(md.get("callbackUrl") or ""), out)
        if md.get("certificate"):
            _certificate(str(md["certificate"]), out)
        _consumer_key(md, c.ECA_GLOBAL, name, existing, ctx, out)
    elif type_name == c.ECA_OAUTH_POLICIES:
        ip = md.get("ipRelaxationPolicyType")
        if ip and ip not in IP_RELAXATION_ECA:
            out.append(Problem("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                               f"bad value for restricted picklist field: {ip}",
                               "ipRelaxationPolicyType"))
        _names(c.split_scopes(str(md.get("commaSeparatedProfile") or "")), ctx.profiles(),
               "Profile", out)
        _names(c.split_scopes(str(md.get("commaSeparatedPermissionSet") or "")),
               ctx.permission_sets(), "PermissionSet", out)
