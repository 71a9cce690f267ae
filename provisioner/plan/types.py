"""The typed plan: one change per app and per Workflow² credential, with field-level detail.

A plan never holds a secret: secret fields show ``(sensitive)`` or a fingerprint. It is what
renderers format (text, Markdown, JSON) and what ``apply PLANFILE`` checks before executing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from provisioner.secret import REDACTED

PLAN_FORMAT_VERSION = 1

AppAction = Literal["create", "update", "rotate", "replace", "no-op", "delete", "retire"]
CredentialAction = Literal["create", "update", "replace", "no-op", "delete"]


@dataclass(frozen=True)
class FieldChange:
    """One field's before and after; ``sensitive`` fields show ``(sensitive)`` only."""

    field: str
    before: str | None
    after: str | None
    sensitive: bool = False

    def shown(self) -> tuple[str | None, str | None]:
        """Before/after as they may be displayed."""
        if self.sensitive:
            return (REDACTED if self.before is not None else None,
                    REDACTED if self.after is not None else None)
        return self.before, self.after

    def to_json(self) -> dict[str, Any]:
        """The JSON form used in plan files."""
        before, after = self.shown()
        return {"field": self.field, "before": before, "after": after, "sensitive": self.sensitive}


@dataclass(frozen=True)
class AppChange:
    """What happens to one app."""

    app: str
    org: str
    api_name: str
    app_type: str
    action: AppAction
    changes: tuple[FieldChange, ...] = ()
    rotate_reasons: tuple[str, ...] = ()
    new_certificate: bool = False
    new_consumer_secret: bool = False
    notes: tuple[str, ...] = ()
    source: str = ""
    #: A blue/green pair's side (``blue``: the spec app, ``green``: its partner), or None.
    pair_side: str | None = None
    #: Whose key Workflow²'s JWT credentials use: ``active`` / ``standby`` now and after the apply.
    pair_role: str | None = None
    pair_role_after: str | None = None
    #: The app gets a certificate whose private key is thrown away (nothing can sign in with it).
    retired_certificate: bool = False
    #: Deployed only after the JWT credentials switched to the partner and passed Workflow²'s test.
    after_records: bool = False
    #: ``rotate --now``: the old key is revoked before the new one is live (a window of failures).
    revoke_first: bool = False

    @property
    def address(self) -> str:
        """The resource address shown in plans (``app.NAME``)."""
        return f"app.{self.app}"

    def to_json(self) -> dict[str, Any]:
        """The JSON form used in plan files."""
        return {
            "address": self.address,
            "app": self.app,
            "org": self.org,
            "apiName": self.api_name,
            "appType": self.app_type,
            "action": self.action,
            "changes": [c.to_json() for c in self.changes],
            "rotateReasons": list(self.rotate_reasons),
            "newCertificate": self.new_certificate,
            "newConsumerSecret": self.new_consumer_secret,
            "notes": list(self.notes),
            "source": self.source,
            "pair": None if self.pair_side is None else {
                "side": self.pair_side, "role": self.pair_role, "roleAfter": self.pair_role_after},
            "retiredCertificate": self.retired_certificate,
            "afterRecords": self.after_records,
            "revokeFirst": self.revoke_first,
        }


@dataclass(frozen=True)
class CredentialChange:
    """What happens to one Workflow² credential record."""

    app: str
    instance: str
    name: str
    type: str  # Workflow² credential type: salesforceJwtApi | salesforceOAuth2Api
    action: CredentialAction
    record_id: str | None
    sink: str
    changes: tuple[FieldChange, ...] = ()
    reconnect_required: bool = False
    connection_status: str | None = None
    notes: tuple[str, ...] = ()
    #: The app (spec name) whose consumer key (and, for JWT, private key) the record uses after
    #: the apply: the app itself, or a blue/green partner.
    uses_app: str | None = None

    @property
    def key(self) -> str:
        """The state key of the record (``instance/name``)."""
        return f"{self.instance}/{self.name}"

    @property
    def address(self) -> str:
        """The resource address shown in plans (``credential.INSTANCE/NAME``)."""
        return f"credential.{self.key}"

    def to_json(self) -> dict[str, Any]:
        """The JSON form used in plan files."""
        return {
            "address": self.address,
            "app": self.app,
            "instance": self.instance,
            "name": self.name,
            "type": self.type,
            "action": self.action,
            "recordId": self.record_id,
            "sink": self.sink,
            "changes": [c.to_json() for c in self.changes],
            "reconnectRequired": self.reconnect_required,
            "connectionStatus": self.connection_status,
            "notes": list(self.notes),
            "usesApp": self.uses_app or self.app,
        }


@dataclass(frozen=True)
class Plan:
    """Everything an apply would do, plus what it was computed from (to refuse stale plans)."""

    apps: tuple[AppChange, ...]
    credentials: tuple[CredentialChange, ...]
    created_at: str
    state_lineage: str | None
    state_serial: int
    spec_files: tuple[tuple[str, str], ...] = ()  # (path, sha256)
    live_digests: tuple[tuple[str, str], ...] = ()  # (org or instance, digest of what was read)
    #: Each org's own state serial, when the state keeps one file per org (git backend).
    state_org_serials: tuple[tuple[str, int], ...] = ()
    callback_urls: tuple[tuple[str, str], ...] = ()  # (instance, resolved OAuth callback URL)
    warnings: tuple[str, ...] = field(default=())
    #: ``--org`` / ``--app`` the plan was restricted to (empty: everything).
    target_orgs: tuple[str, ...] = ()
    target_apps: tuple[str, ...] = ()

    @property
    def has_changes(self) -> bool:
        """True when an apply would change anything."""
        return any(a.action != "no-op" for a in self.apps) or any(
            c.action != "no-op" for c in self.credentials
        )

    def counts(self) -> dict[str, int]:
        """How many resources each action touches (for summaries)."""
        out: dict[str, int] = {}
        for a in self.apps:
            out[a.action] = out.get(a.action, 0) + 1
        for c in self.credentials:
            key = f"credential {c.action}"
            out[key] = out.get(key, 0) + 1
        return out

    def to_json(self) -> dict[str, Any]:
        """The versioned JSON document (schema: ``schemas/plan.schema.json``)."""
        return {
            "formatVersion": PLAN_FORMAT_VERSION,
            "createdAt": self.created_at,
            "state": {"lineage": self.state_lineage, "serial": self.state_serial,
                      **({"orgSerials": dict(self.state_org_serials)}
                         if self.state_org_serials else {})},
            "specFiles": [{"path": p, "sha256": h} for p, h in self.spec_files],
            "liveDigests": [{"target": t, "digest": d} for t, d in self.live_digests],
            "callbackUrls": [{"instance": i, "url": u} for i, u in self.callback_urls],
            "hasChanges": self.has_changes,
            "apps": [a.to_json() for a in self.apps],
            "credentials": [c.to_json() for c in self.credentials],
            "warnings": list(self.warnings),
            **({"targets": {"orgs": list(self.target_orgs), "apps": list(self.target_apps)}}
               if self.target_orgs or self.target_apps else {}),
        }
