"""Writing the Workflow² credential records of an apply, and what an apply produced.

Split from :mod:`provisioner.engine.executor` to keep both readable. A record is written only
with material made in this run (the private key or consumer secret exists nowhere else), each
behind a journal intent, and recorded in state (ids and fingerprints only) right after.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from provisioner.engine.context import RunContext
from provisioner.engine.inputs import (
    credential_key,
    my_domain_for,
    public_fields,
    record_id_for,
    value_fingerprint,
)
from provisioner.engine.live import LiveSnapshot
from provisioner.engine.statewriter import StateWriter, apply_credential
from provisioner.errors import ProvisionerError, RemoteError
from provisioner.journal import Journal, JournalStep
from provisioner.keys import KeyMaterial
from provisioner.model import AppSpec, CredentialSpec
from provisioner.plan.types import CredentialChange, Plan
from provisioner.secret import Secret
from provisioner.sinks import WriteOp
from provisioner.state import State
from provisioner.workflow2.records import CredentialRecord


@dataclass
class Generated:
    """Material made for this run: keys, consumer keys and secrets (never persisted)."""

    keys: dict[str, KeyMaterial] = field(default_factory=dict)
    consumer_keys: dict[str, str] = field(default_factory=dict)
    consumer_secrets: dict[str, Secret] = field(default_factory=dict)
    #: Certificates whose private key was thrown away as soon as it was made (retired keys).
    retired: dict[str, str] = field(default_factory=dict)


@dataclass
class ApplyResult:
    """What an apply did, for the CLI to report."""

    deploys: int = 0
    components: int = 0
    verified: list[str] = field(default_factory=list)
    rolled_back: list[str] = field(default_factory=list)
    records_written: list[str] = field(default_factory=list)
    records_deleted: list[str] = field(default_factory=list)
    tests: dict[str, str] = field(default_factory=dict)
    connect_links: dict[str, str] = field(default_factory=dict)
    failures: list[ProvisionerError] = field(default_factory=list)
    #: The Metadata API deploy ids, by org.
    deploy_ids: dict[str, str] = field(default_factory=dict)
    #: Key rotations that took effect: app -> (previous, new certificate fingerprint).
    rotations: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    #: Blue/green sides whose old key was retired (or partner deleted) after the switch.
    retired: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """What the apply did, as ``schemas/result.schema.json``'s ``result`` (no secret:
        failures are project errors, whose texts never hold one)."""
        return {
            "deploys": self.deploys,
            "components": self.components,
            "verified": list(self.verified),
            "rolledBack": list(self.rolled_back),
            "recordsWritten": list(self.records_written),
            "recordsDeleted": list(self.records_deleted),
            "tests": dict(sorted(self.tests.items())),
            "connectLinks": dict(sorted(self.connect_links.items())),
            "failures": [{"message": f.message, "hint": f.hint} for f in self.failures],
            "deployIds": dict(sorted(self.deploy_ids.items())),
            "rotations": [{"app": app, "previousCertificate": old, "certificate": new}
                          for app, (old, new) in sorted(self.rotations.items())],
            "retired": list(self.retired),
        }


class RecordWriter:
    """Writes the records a plan changes, with this run's generated material."""

    def __init__(self, ctx: RunContext, snap: LiveSnapshot, writer: StateWriter, journal: Journal,
                 material: Generated, result: ApplyResult) -> None:
        self.ctx = ctx
        self.snap = snap
        self.writer = writer
        self.journal = journal
        self.material = material
        self.result = result

    def write(self, plan: Plan, unverified: Collection[str], undeployed: Collection[str]) -> None:
        """Write every changed record, except those of apps whose deploy failed (``undeployed``)
        and the JWT records of apps whose new key did not log in (``unverified``).

        An OAuth2 record of an unverified app is still written: its consumer secret is already
        set in the org, and this run is the only holder of it.
        """
        by_instance: dict[str, list[tuple[AppSpec, CredentialSpec, str, CredentialChange]]] = {}
        self.planned = list(plan.credentials)
        for change in plan.credentials:
            if change.action == "no-op" or change.app in undeployed:
                continue
            if change.action == "delete":
                continue  # done before the app's deploy (delete_first)
            app = self.ctx.desired.apps[change.app]
            cred = next(c for c in app.credentials if credential_key(c) == change.key)
            if cred.type == "jwt" and (change.uses_app or change.app) in unverified:
                continue
            if (change.uses_app or change.app) in undeployed:
                continue
            record_id = change.record_id or record_id_for(
                cred, self.writer.state.apps.get(app.name), self.ctx.target(cred.instance))
            if [f.field for f in change.changes] == ["name"] and change.action == "update":
                self._rename(app, cred, record_id)
                continue
            by_instance.setdefault(cred.instance, []).append((app, cred, record_id, change))
        for instance, items in sorted(by_instance.items()):
            self._write_instance(instance, items)

    def delete_first(self, plan: Plan) -> set[str]:
        """Delete the records of the apps this plan deletes, before the apps themselves: a run
        killed in between leaves an app that state still names (the next destroy deletes it),
        never records nobody remembers. Returns the apps whose records could not all be
        deleted (their app is kept for the next run)."""
        failed: set[str] = set()
        for change in plan.credentials:
            if change.action == "delete" and not self._delete(
                    change.app, change.instance, change.name, change.record_id):
                failed.add(change.app)
        return failed

    def _delete(self, app: str, instance: str, name: str, rid: str | None) -> bool:
        """Delete the record of an app being deleted, then forget it in state."""
        if rid is None:
            return True
        step = self.journal.record_intent(JournalStep(
            "credential-delete", app=app, instance=instance, facts={"recordId": rid}))
        self.ctx.progress(f"deleting Workflow² credential {name!r} ({rid}) from {instance}")
        try:
            gone = self.ctx.sink(instance).delete([rid])
        except ProvisionerError as exc:
            self.result.failures.append(exc)
            return False
        self.ctx.sink(instance).flush()

        def forget(state: Any) -> None:
            held = state.apps.get(app)
            key = f"{instance}/{name}"
            if held is not None and key in held.credentials:
                state.apps[app] = replace(held, credentials={
                    k: v for k, v in held.credentials.items() if k != key})

        self.writer.update(forget)
        self.journal.mark_done(step, {"existed": bool(gone)})
        self.result.records_deleted.append(f"{instance}/{name}")
        return True

    def _rename(self, app: AppSpec, cred: CredentialSpec, rid: str) -> None:
        """Undo a rename made outside provisioner: the name only, so no secret is needed."""
        known = self.writer.state.apps[app.name].credentials[credential_key(cred)]
        facts = {"instance": cred.instance, "name": cred.name, "type": known.type,
                 "recordId": rid, "sink": known.sink,
                 "fieldFingerprints": json.dumps(dict(known.field_fingerprints), sort_keys=True)}
        step = self.journal.record_intent(JournalStep(
            "credential-write", org=app.org, app=app.name, instance=cred.instance, facts=facts))
        self.ctx.progress(f"renaming Workflow² credential {rid} back to {cred.name!r}")
        try:
            self.ctx.sink(cred.instance).rename(rid, cred.name, known.type)
        except ProvisionerError as exc:
            self.result.failures.append(exc)
            return
        self.journal.mark_done(step, {"recordId": rid})
        at = self.ctx.now()
        self.writer.update(functools.partial(_record_credentials, written=[(app.name, facts)], at=at))
        self.result.records_written.append(f"{cred.instance}/{cred.name}")

    @staticmethod
    def _keys_of(app: AppSpec, cred: CredentialSpec, change: CredentialChange) -> str:
        """The app whose consumer key (and private key) the record holds: for a JWT record of a
        blue/green app, the active side; otherwise the app itself."""
        return (change.uses_app or app.name) if cred.type == "jwt" else app.name

    def _record(self, app: AppSpec, cred: CredentialSpec, rid: str,
                schema: Mapping[str, Any] | None, keys_of: str) -> CredentialRecord:
        """The record, with the secret made in this run (it exists nowhere else)."""
        st = self.writer.state.apps[keys_of if cred.type == "jwt" else app.name]
        secret: Secret | None
        if cred.type == "jwt":
            keys = self.material.keys.get(keys_of)
            secret, what = (keys.private_key if keys else None), "new private key"
        else:
            secret, what = self.material.consumer_secrets.get(app.name), "consumer secret"
        if secret is None:
            raise ProvisionerError(
                f"credential {credential_key(cred)!r}: no {what} in this run",
                "run plan again: the record can be written only together with a new secret",
            )
        return self.ctx.target(cred.instance).build_record(
            record_id=rid, cred=cred, client_id=st.consumer_key, secret=secret,
            my_domain_url=my_domain_for(app, cred, self.snap.org_facts.get(app.org)),
            schema=schema,
        )

    def _write_instance(
        self, instance: str,
        items: Sequence[tuple[AppSpec, CredentialSpec, str, CredentialChange]],
    ) -> None:
        sink = self.ctx.sink(instance)
        written: list[tuple[str, dict[str, Any]]] = []
        flushed: list[tuple[str, dict[str, Any], str]] = []  # batched: done after the flush
        try:
            for app, cred, rid, change in items:
                try:
                    facts, step = self._write_one(instance, app, cred, rid, change)
                except ProvisionerError as exc:
                    # One record's failure must not cost the others: their secrets exist only here.
                    self.result.failures.append(exc)
                    continue
                if sink.batched:
                    flushed.append((app.name, facts, step))
                else:
                    written.append((app.name, facts))
            if flushed:
                try:
                    sink.flush()
                except ProvisionerError as exc:
                    # Nothing of the batch reached the file; the intents stay pending, and the
                    # next plan reads the file and writes them again.
                    self.result.failures.append(exc)
                    flushed = []
                self.journal.mark_all_done([(step, {"recordId": facts["recordId"]})
                                            for _, facts, step in flushed])
                for name, facts, _ in flushed:
                    self._written(instance, facts)
                    written.append((name, facts))
        finally:
            # One state save for the instance, not one per record: each record's outcome is already
            # durable in the journal (its done mark), which the next run replays if this one dies
            # before the save. Saving per record made a large apply quadratic in the state size.
            if written:
                at = self.ctx.now()
                self.writer.update(functools.partial(_record_credentials, written=written, at=at))

    def _written(self, instance: str, facts: Mapping[str, Any]) -> None:
        """Report a record that is now on the server or in the file."""
        key = f"{instance}/{facts['name']}"
        self.result.records_written.append(key)
        sink = self.ctx.sink(instance)
        if facts["type"] == self.ctx.target(instance).record_type("oauth2") and sink.server_url:
            self.result.connect_links[key] = self.ctx.target(instance).connect_link(
                sink.server_url, str(facts["recordId"]))

    def _write_one(
        self, instance: str, app: AppSpec, cred: CredentialSpec, rid: str,
        change: CredentialChange,
    ) -> tuple[dict[str, Any], str]:
        """Write one record as the plan decided (journaled); returns the facts state records and
        the journal step (already marked done unless the sink is batched)."""
        spec = self.ctx.desired.instances[instance]
        sink, target = self.ctx.sink(instance), self.ctx.target(instance)
        keys_of = self._keys_of(app, cred, change)
        record = self._record(app, cred, rid, sink.schema(target.record_type(cred.type)), keys_of)
        st = self.writer.state.apps[keys_of if cred.type == "jwt" else app.name]
        secret_field = target.secret_field(cred.type)
        # Only the fields provisioner manages: fields a server's schema makes it add (2.8.4's
        # OAuth2 extras) are not in the spec, so counting them would be drift on every plan.
        managed = public_fields(target, app, cred, st.consumer_key,
                                self.snap.org_facts.get(app.org))
        prints = {k: value_fingerprint(v) for k, v in record.public_fields().items()
                  if k in managed}
        if cred.type == "jwt":
            assert st.certificate is not None
            prints[secret_field] = st.certificate.public_key_fingerprint
        else:
            prints[secret_field] = record.fingerprints()[secret_field]
        facts = {"instance": instance, "name": cred.name, "type": record.type,
                 "recordId": record.id, "sink": spec.sink.type,
                 "fieldFingerprints": json.dumps(prints, sort_keys=True)}
        if cred.type == "jwt":  # which app's keys it holds (a blue/green side, or the app)
            facts["loginApp"] = keys_of
        op = WriteOp(create=change.action == "create",
                     replace_data=change.action == "replace" or target.replaces_data(
                         cred.type, [f.field for f in change.changes]))
        step = self.journal.record_intent(JournalStep(
            "credential-write", org=app.org, app=app.name, instance=instance, facts=facts))
        self.ctx.progress(f"writing Workflow² credential {cred.name!r} ({record.type}) to {instance}")
        record_id = sink.write(record, op)
        facts["recordId"] = record_id
        if sink.batched:
            return facts, step  # done once the batch is flushed (see _write_instance)
        self.journal.mark_done(step, {"recordId": record_id})
        self._written(instance, facts)
        verdict = sink.test(record_id) if cred.type == "jwt" else None
        if verdict is not None:
            self.result.tests[f"{instance}/{cred.name}"] = (
                "OK" if verdict.ok else f"Error: {verdict.message}")
            if not verdict.ok:
                self.result.failures.append(RemoteError(
                    f"Workflow² {instance}: the server's own test of credential {cred.name!r} "
                    f"failed: {verdict.message}",
                    "the server signs a JWT with the stored key and calls the org's token "
                    "endpoint: check that the server can reach the org and trusts its TLS "
                    "certificate (NODE_EXTRA_CA_CERTS for a private CA)",
                ))
        return facts, step


def _record_credentials(
    state: State, *, written: Sequence[tuple[str, dict[str, Any]]], at: datetime
) -> None:
    for app, facts in written:
        apply_credential(state, app, facts, at)


__all__ = ["ApplyResult", "Generated", "RecordWriter"]
