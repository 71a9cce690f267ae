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

from provisioner.metadata.build import effective_callback_urls
from provisioner.metadata.types import Component, FieldValue
from provisioner.model import AppSpec, OrgSpec, RefreshTokenPolicy
from provisioner.scopes import UnknownScopeError, normalise

_PEM_RE = re.compile(
    r"-----BEGIN CERTIFICATE-----(?P<body>[A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----"
)


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
class ViewChange:
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

    def diff(self, other: AppView) -> list[ViewChange]:
        """Changes from ``self`` (before) to ``other`` (after), in field order.

        ``consumer_key`` is settable on create only and often unknown on one side: it counts
        only when both sides know it.
        """
        changes: list[ViewChange] = []
        for f in fields(self):
            before, after = getattr(self, f.name), getattr(other, f.name)
            if f.name == "consumer_key" and (before is None or after is None):
                continue
            if before != after:
                changes.append(ViewChange(f.name, before, after))
        return changes

    def as_dict(self) -> dict[str, Any]:
        """The view as plain JSON-ready data (tuples become lists)."""
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
            for f in fields(self)
        }


def text(value: object) -> str | None:
    """A value read back as trimmed text; None for nothing, blanks and nested records."""
    if value is None or isinstance(value, Mapping):
        return None
    text = str(value).strip()
    return text or None


def scopes_view(names: Iterable[str]) -> tuple[str, ...]:
    """Scope names as Salesforce canonicalises them, sorted."""
    try:
        return tuple(sorted(normalise(n for n in names if n.strip())))
    except UnknownScopeError:
        # A scope newer than our table: compare it verbatim rather than failing a read.
        return tuple(sorted({n.strip() for n in names if n.strip()}))


def split(value: object, separators: str = ",") -> tuple[str, ...]:
    """A separated list read back, as a sorted tuple of distinct trimmed items."""
    joined = text(value) or ""
    parts = re.split(f"[{re.escape(separators)}]", joined)
    return tuple(sorted({p.strip() for p in parts if p.strip()}))


def names(value: FieldValue | None) -> tuple[str, ...]:
    """A repeated element read back, as a sorted tuple of distinct names."""
    items = value if isinstance(value, tuple) else (() if value is None else (value,))
    return tuple(sorted({t for t in (text(i) for i in items) if t}))


def mapping(value: object) -> Mapping[str, Any]:
    """A nested record read back, or an empty one."""
    return value if isinstance(value, Mapping) else {}


def whole_minutes(value: object) -> int | None:
    """An integer field read back (booleans are not numbers here)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def certificate_view(value: object) -> str | None:
    """The fingerprint of a certificate field read back (a marker when it does not parse)."""
    return _fingerprint_or_marker(value if isinstance(value, str) else None)


def desired_view(
    app: AppSpec, org: OrgSpec, callback_urls: Sequence[str], certificate_pem: str | None
) -> AppView:
    """The view the spec asks for. ``certificate_pem`` is the app's current/intended certificate."""
    from provisioner.appkinds import app_kind

    policies = app.policies
    extras = app_kind(app.app_type).desired_extras()
    return AppView(
        app_type=app.app_type,
        label=text(app.label),
        contact_email=text(app.contact_email),
        contact_phone=text(app.contact_phone),
        description=text(app.description),
        callback_urls=tuple(sorted(set(effective_callback_urls(org, callback_urls)))),
        scopes=scopes_view(app.scopes),
        certificate_fingerprint=_fingerprint_or_marker(certificate_pem),
        permitted_users=policies.permitted_users,
        ip_relaxation=policies.ip_relaxation,
        refresh_token=refresh_token_text(policies.refresh_token),
        session_timeout_minutes=policies.session_timeout_minutes,
        profiles=tuple(sorted(set(app.pre_authorized_profiles))),
        permission_sets=tuple(sorted(set(app.pre_authorized_permission_sets))),
        **extras,
    )


def live_view(components: Sequence[Component]) -> AppView:
    """The view of an app read back, by the kind its components belong to."""
    from provisioner.appkinds import kind_of_components

    by_type = {c.type: c for c in components}
    if not by_type:
        raise ValueError("live_view needs at least one component")
    return kind_of_components(set(by_type)).live_view(by_type)
