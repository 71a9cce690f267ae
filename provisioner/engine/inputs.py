"""What the planner reads: live apps and records, org facts, and the rules for credential records.

The live reader (:mod:`provisioner.engine.live`) fills :class:`PlanInputs`; the planner and the
record writer share the helpers that say which record a credential is, where it lives and which
fields it holds (asking the instance's credential target), so the plan and the apply agree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from provisioner.metadata.types import Component
from provisioner.metadata.view import AppView
from provisioner.model import AppSpec, CredentialSpec, Desired
from provisioner.secret import Secret
from provisioner.state import AppState, State
from provisioner.targets import CredentialTarget

#: Shown where a value exists only after apply (a consumer key chosen at create).
AFTER_APPLY = "(known after apply)"


@dataclass(frozen=True)
class LiveApp:
    """An app as read from its org: the comparable view, and its components' names by type
    (deploys update and deletes name those, whatever naming the app was made with)."""

    view: AppView
    names: Mapping[str, str] = field(default_factory=dict)
    #: The components as read, by type (an update keeps what the spec does not manage).
    components: Mapping[str, Component] = field(default_factory=dict)


@dataclass(frozen=True)
class LiveCredential:
    """A Workflow² record as its sink shows it (the API never returns secret data)."""

    id: str
    name: str
    type: str
    connection_status: str | None = None
    adopted: bool = False  # found by name and type, not by the id provisioner gives records


@dataclass(frozen=True)
class OrgFacts:
    """What only a signed-in org knows: where app logins go and their audience, and whether
    its reads return certificates (False when no app read from it showed one)."""

    my_domain_url: str | None
    login_host: str
    certificates_readable: bool = True


@dataclass(frozen=True)
class PlanInputs:
    """Everything the planner needs, read beforehand by :mod:`provisioner.engine.live`."""

    desired: Desired
    state: State
    live_apps: Mapping[str, LiveApp | None]
    live_credentials: Mapping[str, LiveCredential | None]
    org_facts: Mapping[str, OrgFacts]
    callback_urls: Mapping[str, str]
    now: datetime
    creation_refused: Mapping[str, str] = field(default_factory=dict)
    force_rotate: frozenset[str] = frozenset()
    #: Apps whose consumer secret is rotated now (``rotate --consumer-secret``).
    force_secret: frozenset[str] = frozenset()
    #: Apps whose key is revoked before the new one is live (``rotate --now``: a leaked key).
    revoke: frozenset[str] = frozenset()
    #: Files per Metadata API deploy (Salesforce's limit): more are split into several deploys.
    max_deploy_files: int = 10_000
    #: app -> why a run for it cannot finish (``file:line: ...``), found by reading before
    #: anything is changed: names its org lacks, record fields its Workflow² server lacks.
    refusals: Mapping[str, Sequence[str]] = field(default_factory=dict)
    prune: bool = False
    destroy: frozenset[str] = frozenset()
    spec_files: tuple[tuple[str, str], ...] = ()
    live_digests: tuple[tuple[str, str], ...] = ()
    sink_kinds: Mapping[str, str] = field(default_factory=dict)
    #: The credential target (record format) of each instance.
    targets: Mapping[str, CredentialTarget] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def target(self, instance: str) -> CredentialTarget:
        """The credential target of ``instance`` (Workflow² unless told otherwise)."""
        if instance in self.targets:
            return self.targets[instance]
        from provisioner.targets import target_for

        return target_for(self.desired.instances[instance])


def credential_key(spec: CredentialSpec) -> str:
    """The state key of a credential: ``instance/name``."""
    return f"{spec.instance}/{spec.name}"


def record_id_for(
    spec: CredentialSpec, app_state: AppState | None, target: CredentialTarget
) -> str:
    """The record id: the one state recorded, else the target's stable id for a new record."""
    if app_state is not None:
        known = app_state.credentials.get(credential_key(spec))
        if known is not None and known.record_id:
            return known.record_id
    return target.derive_record_id(spec.instance, spec.name)


def my_domain_for(app: AppSpec, cred: CredentialSpec, facts: OrgFacts | None) -> str | None:
    """The JWT record's ``myDomainUrl``: the spec's, else the org's for app kinds whose logins
    carry My Domain as audience (External Client Apps)."""
    from provisioner.appkinds import app_kind

    if cred.my_domain_url:
        return cred.my_domain_url.rstrip("/")
    if app_kind(app.app_type).audience_is_my_domain and facts is not None and facts.my_domain_url:
        return facts.my_domain_url.rstrip("/")
    return None


def public_fields(
    target: CredentialTarget, app: AppSpec, cred: CredentialSpec, consumer_key: str | None,
    facts: OrgFacts | None,
) -> dict[str, str]:
    """The non-secret fields of the record the spec asks for (consumer key may be unknown)."""
    domain = my_domain_for(app, cred, facts) if cred.type == "jwt" else None
    return target.public_fields(cred, consumer_key or AFTER_APPLY, domain)


def value_fingerprint(value: Any) -> str:
    """The fingerprint state keeps for a public field value (same rule for every field)."""
    return Secret(json.dumps(value, sort_keys=True)).fingerprint()
