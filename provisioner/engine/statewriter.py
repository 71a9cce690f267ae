"""State updates during an apply: serialised, saved after every step, replayable from the journal.

Every remote step writes its intent to the journal first and its outcome right after; the state is
saved after each step too. A run killed between a step and the save leaves a ``done`` entry that
:func:`recover` applies to the state at the start of the next run (rolled forward); a step killed
before its ``done`` is settled by the next plan, which reads the org and sees what happened.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime

from provisioner.journal import STEP_KINDS, Journal, JournalEntry, StepKind
from provisioner.state import (
    AppState,
    CertificateRecord,
    CredentialState,
    Rotation,
    State,
    StateStore,
)
from provisioner.timestamps import format_time, parse_time


class StateWriter:
    """The run's state: updated under a lock (orgs run in parallel) and saved after each change."""

    def __init__(self, store: StateStore, state: State) -> None:
        self.store = store
        self.state = state
        self._lock = threading.Lock()

    def update(self, change: Callable[[State], None]) -> None:
        """Apply ``change`` to the state and save it atomically."""
        with self._lock:
            change(self.state)
            self.state = self.store.save(self.state, expected_serial=self.state.serial)


def deploy_facts(
    *,
    action: str,
    api_name: str,
    app_type: str,
    consumer_key: str | None,
    certificate_pem: str | None,
    consumer_secret_fingerprint: str | None,
    reason: str | None,
    consumer_secret_rotated: bool = False,
    key_retired: bool = False,
    partner_of: str | None = None,
) -> dict[str, str | None]:
    """The journal facts of an app's deploy: enough to put it in state if the run dies after.

    ``consumer_secret_rotated``: the deploy asks the org to generate a new consumer secret, so
    the one state knows is void until it is read back.
    """
    return {
        "action": action,
        "apiName": api_name,
        "appType": app_type,
        "consumerKey": consumer_key,
        "certificatePem": certificate_pem,
        "consumerSecretFingerprint": consumer_secret_fingerprint,
        "consumerSecretRotated": "true" if consumer_secret_rotated else None,
        "reason": reason,
        "keyRetired": "true" if key_retired else None,
        "partnerOf": partner_of,
    }


def apply_deploy(state: State, app: str, org: str, facts: Mapping[str, object], at: datetime) -> None:
    """Record in ``state`` that ``app`` was deployed as ``facts`` say."""
    old = state.apps.get(app)
    pem = facts.get("certificatePem")
    cert = CertificateRecord.from_pem(str(pem)) if pem else (old.certificate if old else None)
    consumer_key = str(facts.get("consumerKey") or (old.consumer_key if old else ""))
    secret_fp = facts.get("consumerSecretFingerprint")
    retired = bool(facts.get("keyRetired"))
    rotated = bool(pem) and old is not None and old.certificate is not None and not retired
    partner_of = facts.get("partnerOf")
    new = AppState(
        org=org,
        api_name=str(facts["apiName"]),
        app_type=str(facts["appType"]),
        consumer_key=consumer_key,
        created_at=old.created_at if old is not None and facts.get("action") != "replace" else at,
        consumer_secret_fingerprint=str(secret_fp) if secret_fp else (
            None if facts.get("consumerSecretRotated") else (
                old.consumer_secret_fingerprint if old else None)),
        certificate=cert,
        previous_certificate=(old.certificate if rotated and old else (
            old.previous_certificate if old else None)),
        last_rotation=Rotation(at, str(facts.get("reason") or "rotated")) if rotated else (
            old.last_rotation if old else None),
        credentials=dict(old.credentials) if old is not None else {},
        login_app=old.login_app if old is not None else None,
        key_retired=retired if pem else (old.key_retired if old is not None else False),
        partner_of=str(partner_of) if partner_of else (old.partner_of if old else None),
    )
    state.apps[app] = new


def apply_secret_read(state: State, app: str, fingerprint: str) -> None:
    """Record the fingerprint of the consumer secret the org generated and returned."""
    old = state.apps.get(app)
    if old is not None:
        state.apps[app] = replace(old, consumer_secret_fingerprint=fingerprint)


def rollback_facts(
    previous: CertificateRecord, before: AppState | None
) -> dict[str, str | None]:
    """The journal facts of a rollback: the certificate deployed back, and what the app's
    rotation history was before the failed rotation (restored with it)."""
    older = before.previous_certificate if before is not None else None
    rotation = before.last_rotation if before is not None else None
    return {
        "certificateFingerprint": previous.fingerprint,
        "olderCertificatePem": older.pem if older is not None else None,
        "lastRotationAt": format_time(rotation.at) if rotation is not None else None,
        "lastRotationReason": rotation.reason if rotation is not None else None,
    }


def apply_rollback(state: State, app: str, facts: Mapping[str, object]) -> None:
    """Record that ``app``'s previous certificate was deployed back after a failed verification.

    The failed rotation is undone in state too: the certificate before it is the previous one
    again, and the last rotation is the one before (``maxAgeDays`` counts from it).
    """
    old = state.apps.get(app)
    if old is None:
        return
    older = facts.get("olderCertificatePem")
    at = facts.get("lastRotationAt")
    state.apps[app] = replace(
        old,
        certificate=old.previous_certificate,
        previous_certificate=CertificateRecord.from_pem(str(older)) if older else None,
        last_rotation=Rotation(parse_time(str(at)), str(facts.get("lastRotationReason") or ""))
        if at else None,
    )


def apply_unverified(state: State, app: str) -> None:
    """Forget the certificate of a new app whose login never worked: its key is gone with the run."""
    old = state.apps.get(app)
    if old is not None:
        state.apps[app] = replace(old, certificate=None)


def apply_credential(state: State, app: str, facts: Mapping[str, object], at: datetime) -> None:
    """Record a written Workflow² record (ids and fingerprints only)."""
    old = state.apps.get(app)
    if old is None:
        return
    prints = json.loads(str(facts["fieldFingerprints"]))
    login = facts.get("loginApp")
    if login is not None:  # a JWT record: the app whose keys it holds now
        old = replace(old, login_app=None if login == app else str(login))
    record = CredentialState(
        instance=str(facts["instance"]),
        name=str(facts["name"]),
        type=str(facts["type"]),
        record_id=str(facts["recordId"]),
        sink=str(facts["sink"]),
        field_fingerprints=prints,
        updated_at=at,
    )
    state.apps[app] = old.with_credential(record)


def recover(journal: Journal, writer: StateWriter) -> list[str]:
    """Roll the state forward with the outcomes a killed run journaled but did not save.

    Returns one line per step recovered (for the run's output); the journal is then cleared.
    """
    entries = journal.entries()
    if not entries:
        return []
    lines: list[str] = []

    def roll(state: State) -> None:
        for entry in entries:
            if entry.done:
                lines.append(_replay(state, entry))
            else:
                lines.append(f"{entry.step.kind} of {entry.step.app or entry.step.org} was "
                             "interrupted before it finished: the plan reads what happened")

    writer.update(roll)
    journal.clear()
    return lines


def _no_state_change(state: State, entry: JournalEntry) -> None:
    """A step whose effect the state does not record (a login, for instance)."""


def _replay_deploy(state: State, entry: JournalEntry) -> None:
    apply_deploy(state, entry.step.app or "", entry.step.org or "", dict(entry.step.facts),
                 entry.at)


def _replay_delete(state: State, entry: JournalEntry) -> None:
    state.apps.pop(entry.step.app or "", None)


def _replay_rollback(state: State, entry: JournalEntry) -> None:
    apply_rollback(state, entry.step.app or "", dict(entry.step.facts))


def _replay_unverified(state: State, entry: JournalEntry) -> None:
    apply_unverified(state, entry.step.app or "")


def _replay_credential_write(state: State, entry: JournalEntry) -> None:
    facts = dict(entry.step.facts)
    if entry.outcome is not None and entry.outcome.get("recordId"):
        facts["recordId"] = entry.outcome["recordId"]  # the id the sink gave the record
    apply_credential(state, entry.step.app or "", facts, entry.at)


def _replay_credential_delete(state: State, entry: JournalEntry) -> None:
    """The record is gone: forget it wherever state still lists it (by record id)."""
    record_id = entry.step.facts.get("recordId")
    for name, app in list(state.apps.items()):
        gone = [key for key, rec in app.credentials.items() if rec.record_id == record_id]
        if gone:
            state.apps[name] = replace(app, credentials={
                k: v for k, v in app.credentials.items() if k not in gone})


#: How a finished step of an interrupted run is recorded in state: one entry per step kind.
REPLAY: Mapping[StepKind, Callable[[State, JournalEntry], None]] = {
    "deploy": _replay_deploy,
    "delete": _replay_delete,
    "verify": _no_state_change,
    "unverified": _replay_unverified,
    "rollback": _replay_rollback,
    "credential-write": _replay_credential_write,
    "credential-delete": _replay_credential_delete,
}


def _replay(state: State, entry: JournalEntry) -> str:
    step = entry.step
    where = step.app or step.org
    if entry.outcome is not None and entry.outcome.get("failed"):
        return f"{step.kind} of {where} was refused in the interrupted run: nothing to record"
    REPLAY[step.kind](state, entry)
    return f"{step.kind} of {where} finished in the interrupted run: recorded in state"


assert set(REPLAY) == set(STEP_KINDS), "every journal step kind needs a replay entry"

__all__ = [
    "REPLAY",
    "StateWriter",
    "apply_credential",
    "apply_deploy",
    "apply_rollback",
    "apply_unverified",
    "deploy_facts",
    "parse_time",
    "recover",
    "rollback_facts",
]
