"""The comparable view of one app: what the planner diffs between desired and live.

:func:`desired_view` (from the spec) and :func:`live_view` (from components read back) produce an
:class:`AppView` in the same normalised vocabulary, so an app deployed from a spec and read back
compares equal: scopes as Salesforce canonicalises them, callback URLs as a sorted tuple,
the certificate as a SHA-256 fingerprint of its DER bytes (PEM whitespace does not matter),
policies in the spec's own words. Secrets are not part of the view.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from provisioner.metadata.build import (
    CONNECTED_APP,
    ECA_GLOBAL,
    ECA_HEADER,
    ECA_OAUTH,
    ECA_OAUTH_POLICIES,
    ECA_POLICIES,
    IP_RELAXATION,
    PERMITTED_USERS,
    REFRESH_TYPES,
    effective_callback_urls,
)
from provisioner.metadata.types import Component, FieldValue
from provisioner.model import AppSpec, OrgSpec, RefreshTokenPolicy
from provisioner.scopes import UnknownScopeError, normalise

_PEM_RE = re.compile(
    r"-----BEGIN CERTIFICATE-----(?P<body>[A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----"
)
_IP_FROM_CA = {ca: spec for spec, (ca, _) in IP_RELAXATION.items()}
_IP_FROM_ECA = {eca.lower(): spec for spec, (_, eca) in IP_RELAXATION.items()}
_PERMITTED_FROM_ECA = {v.lower(): k for k, v in PERMITTED_USERS.items()}
_REFRESH_FROM_CA = {ca: spec for spec, (ca, _) in REFRESH_TYPES.items()}
_REFRESH_FROM_ECA = {eca.lower(): spec for spec, (_, eca) in REFRESH_TYPES.items()}


def certificate_fingerprint(pem: str) -> str:
    """``sha256:<hex>`` of the certificate's DER bytes; ``ValueError`` when ``pem`` is not one."""
    match = _PEM_RE.search(pem)
    if match is None:
        raise ValueError("not a PEM certificate")
    try:
        der = base64.b64decode("".join(match.group("body").split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("PEM certificate body is not base64") from exc
    return "sha256:" + hashlib.sha256(der).hexdigest()


def _fingerprint_or_marker(pem: str | None) -> str | None:
    if pem is None or not pem.strip():
        return None
    try:
        return certificate_fingerprint(pem)
    except ValueError:
        # A certificate we cannot parse still has to show up as different from a good one.
        return "unparseable:" + hashlib.sha256(pem.strip().encode()).hexdigest()[:16]


def refresh_token_text(policy: RefreshTokenPolicy) -> str:
    """``infinite`` | ``zero`` | ``specificLifetime:N:unit`` | ``specificInactivity:N:unit``."""
    if policy.type in ("specificLifetime", "specificInactivity"):
        return f"{policy.type}:{policy.value}:{(policy.unit or 'days').lower()}"
    return policy.type


@dataclass(frozen=True)
class FieldChange:
    """One managed field that differs: its name and printable before/after values."""

    field: str
    before: Any
    after: Any


@dataclass(frozen=True)
class AppView:
    """Everything the tool manages on one app, flat and normalised (no secrets)."""

    app_type: str
    label: str | None = None
    contact_email: str | None = None
    contact_phone: str | None = None
    description: str | None = None
    callback_urls: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    certificate_fingerprint: str | None = None
    permitted_users: str | None = None
    ip_relaxation: str | None = None
    refresh_token: str | None = None
    session_timeout_minutes: int | None = None
    profiles: tuple[str, ...] = ()
    permission_sets: tuple[str, ...] = ()
    consumer_key: str | None = None
    plugin_enabled: bool | None = None

    def diff(self, other: AppView) -> list[FieldChange]:
        """Changes from ``self`` (before) to ``other`` (after), in field order.

        ``consumer_key`` is settable on create only and often unknown on one side: it counts
        only when both sides know it.
        """
        changes: list[FieldChange] = []
        for f in fields(self):
            before, after = getattr(self, f.name), getattr(other, f.name)
            if f.name == "consumer_key" and (before is None or after is None):
                continue
            if before != after:
                changes.append(FieldChange(f.name, before, after))
        return changes

    def as_dict(self) -> dict[str, Any]:
        """The view as plain JSON-ready data (tuples become lists)."""
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
            for f in fields(self)
        }


def _text(value: object) -> str | None:
    if value is None or isinstance(value, Mapping):
        return None
    text = str(value).strip()
    return text or None


def _scopes(names: Iterable[str]) -> tuple[str, ...]:
    try:
        return tuple(sorted(normalise(n for n in names if n.strip())))
    except UnknownScopeError:
        # A scope newer than our table: compare it verbatim rather than failing a read.
        return tuple(sorted({n.strip() for n in names if n.strip()}))


def _split(value: object, separators: str = ",") -> tuple[str, ...]:
    text = _text(value) or ""
    parts = re.split(f"[{re.escape(separators)}]", text)
    return tuple(sorted({p.strip() for p in parts if p.strip()}))


def _names(value: FieldValue | None) -> tuple[str, ...]:
    items = value if isinstance(value, tuple) else (() if value is None else (value,))
    return tuple(sorted({t for t in (_text(i) for i in items) if t}))


def desired_view(
    app: AppSpec, org: OrgSpec, callback_urls: Sequence[str], certificate_pem: str | None
) -> AppView:
    """The view the spec asks for. ``certificate_pem`` is the app's current/intended certificate."""
    policies = app.policies
    is_eca = app.app_type == "externalClientApp"
    return AppView(
        app_type=app.app_type,
        label=_text(app.label),
        contact_email=_text(app.contact_email),
        contact_phone=_text(app.contact_phone),
        description=_text(app.description),
        callback_urls=tuple(sorted(set(effective_callback_urls(org, callback_urls)))),
        scopes=_scopes(app.scopes),
        certificate_fingerprint=_fingerprint_or_marker(certificate_pem),
        permitted_users=policies.permitted_users,
        ip_relaxation=policies.ip_relaxation,
        refresh_token=refresh_token_text(policies.refresh_token),
        session_timeout_minutes=policies.session_timeout_minutes,
        profiles=tuple(sorted(set(app.pre_authorized_profiles))),
        permission_sets=tuple(sorted(set(app.pre_authorized_permission_sets))),
        plugin_enabled=True if is_eca else None,
    )


def _connected_app_refresh(value: str | None) -> str | None:
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


def _live_connected_app(app: Component) -> AppView:
    f = app.fields
    oauth = f.get("oauthConfig")
    oauth = oauth if isinstance(oauth, Mapping) else {}
    policy = f.get("oauthPolicy")
    policy = policy if isinstance(policy, Mapping) else {}
    session = f.get("sessionPolicy")
    session = session if isinstance(session, Mapping) else {}
    ip = _text(policy.get("ipRelaxation"))
    timeout = session.get("sessionTimeout")
    cert = oauth.get("certificate")
    return AppView(
        app_type="connectedApp",
        label=_text(f.get("label")),
        contact_email=_text(f.get("contactEmail")),
        contact_phone=_text(f.get("contactPhone")),
        description=_text(f.get("description")),
        callback_urls=_split(oauth.get("callbackUrl"), "\n\r,"),
        scopes=_scopes(_names(oauth.get("scopes"))),
        certificate_fingerprint=_fingerprint_or_marker(cert if isinstance(cert, str) else None),
        permitted_users=(
            "adminApprovedPreAuthorized"
            if oauth.get("isAdminApproved") is True
            else "allSelfAuthorized"
        ),
        ip_relaxation=_IP_FROM_CA.get(ip.upper(), ip) if ip else None,
        refresh_token=_connected_app_refresh(_text(policy.get("refreshTokenPolicy"))),
        session_timeout_minutes=timeout
        if isinstance(timeout, int) and not isinstance(timeout, bool)
        else None,
        profiles=_names(f.get("profileName")),
        permission_sets=_names(f.get("permissionSetName")),
        consumer_key=_text(oauth.get("consumerKey")),
        plugin_enabled=None,
    )


def _eca_refresh(policies: Mapping[str, FieldValue]) -> str | None:
    raw = _text(policies.get("refreshTokenPolicyType"))
    if raw is None:
        return None
    spec_type = _REFRESH_FROM_ECA.get(raw.lower(), raw)
    if spec_type in ("specificLifetime", "specificInactivity"):
        period = policies.get("refreshTokenValidityPeriod")
        unit = (_text(policies.get("refreshTokenValidityUnit")) or "days").lower()
        return f"{spec_type}:{period}:{unit}"
    return spec_type


def _live_eca(by_type: Mapping[str, Component]) -> AppView:
    def of(type_name: str) -> Mapping[str, FieldValue]:
        component = by_type.get(type_name)
        return component.fields if component is not None else {}

    header, oauth, glob = of(ECA_HEADER), of(ECA_OAUTH), of(ECA_GLOBAL)
    policies, plugin = of(ECA_OAUTH_POLICIES), of(ECA_POLICIES)
    ip = _text(policies.get("ipRelaxationPolicyType"))
    permitted = _text(policies.get("permittedUsersPolicyType"))
    timeout = policies.get("sessionTimeoutInMinutes")
    cert = glob.get("certificate")
    plugin_on: bool | None = None
    if ECA_POLICIES in by_type:
        plugin_on = plugin.get("isEnabled") is True and plugin.get("isOauthPluginEnabled") is True
    return AppView(
        app_type="externalClientApp",
        label=_text(header.get("label")),
        contact_email=_text(header.get("contactEmail")),
        contact_phone=_text(header.get("contactPhone")),
        description=_text(header.get("description")),
        callback_urls=_split(glob.get("callbackUrl"), "\n\r,"),
        scopes=_scopes(_split(oauth.get("commaSeparatedOauthScopes"))),
        certificate_fingerprint=_fingerprint_or_marker(cert if isinstance(cert, str) else None),
        permitted_users=_PERMITTED_FROM_ECA.get(permitted.lower(), permitted)
        if permitted
        else None,
        ip_relaxation=_IP_FROM_ECA.get(ip.lower(), ip) if ip else None,
        refresh_token=_eca_refresh(policies),
        session_timeout_minutes=timeout
        if isinstance(timeout, int) and not isinstance(timeout, bool)
        else None,
        profiles=_split(policies.get("commaSeparatedProfile")),
        permission_sets=_split(policies.get("commaSeparatedPermissionSet")),
        consumer_key=_text(glob.get("consumerKey")),
        plugin_enabled=plugin_on,
    )


def live_view(components: Sequence[Component]) -> AppView:
    """The view of an app read back: one ``ConnectedApp``, or the External Client App family.

    Missing ECA children leave their fields empty (so the planner sees them as drift).
    """
    by_type = {c.type: c for c in components}
    if CONNECTED_APP in by_type:
        return _live_connected_app(by_type[CONNECTED_APP])
    if not by_type:
        raise ValueError("live_view needs at least one component")
    return _live_eca(by_type)
