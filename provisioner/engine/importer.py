"""``provisioner import``: adopt apps that exist in their org, and their credential records,
into state without rotating, where the current key can be proven to work.

An app missing from state is otherwise adopted by ``apply`` with a rotation: provisioner cannot
write a record without its secret, and never had it. ``import`` records what is there instead,
when it can prove it:

- a JWT record is adopted when the import file's private key matches the app's certificate (and
  its client id is the app's consumer key), or when Workflow²'s own credential test signs in
  with it (an ``api`` sink, whose data is write-only);
- an OAuth2 record is adopted when its client secret is the one the org returns for the app
  (an import file, and an org that returns consumer secrets);
- what cannot be proven is left out and the preview says what the next apply will do.

The preview is shown like a plan; nothing is written before it is approved, and then only the
state (under its lock).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from provisioner.engine.context import RunContext, RunOptions, preflight
from provisioner.engine.inputs import (
    LiveApp,
    credential_key,
    public_fields,
    value_fingerprint,
)
from provisioner.engine.live import LiveSnapshot, read_live
from provisioner.errors import ProvisionerError, UsageError
from provisioner.events import Observer
from provisioner.model import PARTNER_SUFFIX, AppSpec, CredentialSpec
from provisioner.secret import Secret
from provisioner.state import AppState, CertificateRecord, CredentialState, State

Outcome = Literal["adopt", "skip"]


@dataclass(frozen=True)
class ImportItem:
    """What import does with one resource, and why."""

    address: str
    outcome: Outcome
    detail: str

    def to_json(self) -> dict[str, str]:
        """As ``import --format json`` prints it."""
        return {"address": self.address, "outcome": self.outcome, "detail": self.detail}


@dataclass
class ImportPreview:
    """The items, and the state entries an approval records."""

    items: list[ImportItem] = field(default_factory=list)
    apps: dict[str, AppState] = field(default_factory=dict)

    @property
    def adopts(self) -> bool:
        """Whether anything would be recorded."""
        return bool(self.apps)


def _live_certificate(live: LiveApp) -> str | None:
    """The PEM certificate among the app's components as read (any kind keeps it in a field
    named ``certificate``, nested or not)."""

    def find(fields: Mapping[str, Any]) -> str | None:
        for name, value in fields.items():
            if name == "certificate" and isinstance(value, str) and "BEGIN CERTIFICATE" in value:
                return value
            if isinstance(value, Mapping):
                found = find(value)
                if found:
                    return found
        return None

    for component in live.components.values():
        pem = find(component.fields)
        if pem:
            return pem
    return None


def _org_secret(live: LiveApp, app: AppSpec) -> Secret | None:
    from provisioner.appkinds import app_kind

    component = live.components.get(app_kind(app.app_type).secret_type)
    value = component.fields.get("consumerSecret") if component is not None else None
    return value if isinstance(value, Secret) and value.reveal() else None


class _Importer:
    def __init__(self, ctx: RunContext, snap: LiveSnapshot) -> None:
        self.ctx = ctx
        self.snap = snap
        self.preview = ImportPreview()

    def skip(self, address: str, why: str) -> None:
        self.preview.items.append(ImportItem(address, "skip", why))

    def app(self, app: AppSpec, state: State) -> None:
        address = f"app.{app.name}"
        if app.name in state.apps:
            self.skip(address, "already in state: nothing to import")
            return
        live = self.snap.apps.get(app.name)
        if live is None:
            self.skip(address, f"not in org {app.org!r}: nothing to import (apply creates it)")
            return
        consumer_key = live.view.consumer_key
        if not consumer_key:
            self.skip(address, "the org does not return its consumer key: apply adopts it with "
                               "a rotation")
            return
        pem = _live_certificate(live)
        cert = CertificateRecord.from_pem(pem) if pem else None
        now = self.ctx.now()
        at = len(self.preview.items)
        entry = AppState(org=app.org, api_name=app.api_name, app_type=app.app_type,
                         consumer_key=consumer_key, created_at=now, certificate=cert,
                         partner_of=app.primary if app.primary != app.name else None)
        # A blue/green pair's JWT records may hold the partner's keys: adopt them as such.
        jwt_side = self._jwt_side(app)
        for cred in app.credentials:
            if cred.type == "jwt" and jwt_side is None and self._side_unknown(app, cred):
                self.skip(f"credential.{credential_key(cred)}",
                          "not proven: its data is write-only, so which app of the blue/green "
                          "pair it holds cannot be told (Workflow²'s test would pass for "
                          "either); the next apply rewrites it with a new key")
                continue
            if cred.type == "jwt" and jwt_side is not None:
                side_key, side_cert = jwt_side
                entry = replace(entry, login_app=app.name + PARTNER_SUFFIX)
                proven = self.credential(app, cred, live, side_key, side_cert)
            else:
                proven = self.credential(app, cred, live, consumer_key, cert)
            if proven is None:
                continue
            record, secret_fp = proven
            entry = entry.with_credential(record)
            if secret_fp is not None:
                entry = replace(entry, consumer_secret_fingerprint=secret_fp)
        self.preview.items.insert(
            at,
            ImportItem(address, "adopt",
                       f"{app.app_type} {app.api_name} in org {app.org}, consumer key "
                       f"{consumer_key}, certificate "
                       f"{cert.fingerprint[:19] + '...' if cert else '(none read)'}"))
        self.preview.apps[app.name] = entry

    def _jwt_side(self, app: AppSpec) -> tuple[str, CertificateRecord | None] | None:
        """The partner's consumer key and certificate, when ``app`` is the spec app of a
        blue/green pair whose JWT record (as the import file shows it) holds the partner's
        client id; None otherwise (the app's own keys, or a record that cannot be read)."""
        if app.pair is None or app.pair.side != "blue":
            return None
        partner = self.snap.apps.get(app.name + PARTNER_SUFFIX)
        partner_key = partner.view.consumer_key if partner is not None else None
        if partner is None or not partner_key:
            return None
        for cred in app.jwt_credentials:
            found = self.snap.credentials.get(credential_key(cred))
            if found is None:
                continue
            record = self.ctx.sink(cred.instance).read([found.id]).get(found.id)
            if record is not None and record.data is not None and (
                    record.data.get("clientId") == partner_key):
                pem = _live_certificate(partner)
                return partner_key, CertificateRecord.from_pem(pem) if pem else None
        return None

    def _side_unknown(self, app: AppSpec, cred: CredentialSpec) -> bool:
        """Whether ``app`` is the spec app of a blue/green pair whose partner exists and whose
        JWT record ``cred`` exists but cannot be read (an API sink)."""
        if app.pair is None or app.pair.side != "blue" or (
                self.snap.apps.get(app.name + PARTNER_SUFFIX) is None):
            return False
        found = self.snap.credentials.get(credential_key(cred))
        if found is None:
            return False
        record = self.ctx.sink(cred.instance).read([found.id]).get(found.id)
        return record is not None and record.data is None

    def credential(self, app: AppSpec, cred: CredentialSpec, live: LiveApp, consumer_key: str,
                   cert: CertificateRecord | None
                   ) -> tuple[CredentialState, str | None] | None:
        key = credential_key(cred)
        address = f"credential.{key}"
        found = self.snap.credentials.get(key)
        if found is None:
            self.skip(address, "no record to import: apply writes it")
            return None
        sink, target = self.ctx.sink(cred.instance), self.ctx.target(cred.instance)
        record = sink.read([found.id]).get(found.id)
        data = record.data if record is not None else None
        secret_field = target.secret_field(cred.type)
        secret_fp: str | None = None
        if cred.type == "jwt":
            how = self._prove_jwt(found.id, data, consumer_key, cert, sink)
            if how.startswith("not proven"):
                self.skip(address, f"{how}: the next apply rotates the key and rewrites it")
                return None
            assert cert is not None
            secret_print = cert.public_key_fingerprint
        else:
            org_secret = _org_secret(live, app)
            held = data.get(secret_field) if data is not None else None
            if not isinstance(held, Secret) or org_secret is None:
                why = ("the record's client secret cannot be read through the Workflow² API"
                       if data is None else "the org does not return the app's consumer secret")
                self.skip(address, f"not proven ({why}): the next apply sets a new consumer "
                                   "secret and the credential needs Connect again")
                return None
            if held.reveal() != org_secret.reveal():
                self.skip(address, "not proven (its client secret is not the app's): the next "
                                   "apply sets a new consumer secret")
                return None
            how = "its client secret is the one the org returns for the app"
            secret_print = secret_fp = held.fingerprint()
        facts = self.snap.org_facts.get(app.org)
        managed = public_fields(target, app, cred, consumer_key, facts)
        if data is not None:  # the file's own values: any difference shows as drift later
            prints = {k: value_fingerprint(v) for k, v in data.items()
                      if k in managed and not isinstance(v, Secret)}
        else:  # write-only: the values the spec asks for (the server's test vouched for them)
            prints = {k: value_fingerprint(v) for k, v in managed.items()}
        prints[secret_field] = secret_print
        self.preview.items.append(ImportItem(address, "adopt", f"record {found.id}: proven, {how}"))
        state = CredentialState(instance=cred.instance, name=cred.name,
                                type=target.record_type(cred.type), record_id=found.id,
                                sink=self.ctx.desired.instances[cred.instance].sink.type,
                                field_fingerprints=prints, updated_at=self.ctx.now())
        return state, secret_fp

    @staticmethod
    def _prove_jwt(record_id: str, data: Mapping[str, Any] | None, consumer_key: str,
                   cert: CertificateRecord | None, sink: Any) -> str:
        from provisioner.keys import load_private_key, public_key_fingerprint

        if cert is None:
            return "not proven (the org returns no certificate for the app)"
        if data is not None:
            key = data.get("privateKey")
            if not isinstance(key, Secret):
                return "not proven (the record holds no private key)"
            try:
                public = public_key_fingerprint(load_private_key(key, what="the record's key"))
            except ProvisionerError:
                return "not proven (the record's private key cannot be read)"
            if public != cert.public_key_fingerprint:
                return "not proven (its private key does not match the app's certificate)"
            if data.get("clientId") != consumer_key:
                return "not proven (its client id is not the app's consumer key)"
            return "its private key matches the app's certificate"
        verdict = sink.test(record_id)
        if verdict is None:
            return "not proven (this Workflow² version cannot test credentials)"
        if not verdict.ok:
            return f"not proven (Workflow²'s own test failed: {verdict.message})"
        return "Workflow²'s own credential test signs in with it"


def import_apps(
    paths: Sequence[Path],
    options: RunOptions,
    progress: Observer,
    names: frozenset[str],
    confirm: Callable[[ImportPreview], bool],
) -> ImportPreview:
    """Preview the import of apps ``names``; record what is proven once ``confirm`` agrees."""
    from provisioner.engine.run import load_specs, locked
    from provisioner.gitstate import open_state

    desired = load_specs(list(paths))
    unknown = sorted(names - set(desired.apps))
    if unknown:
        raise UsageError(f"no app named {', '.join(unknown)} in the specs",
                         "use the metadata.name of a SalesforceApp: " + ", ".join(desired.apps))
    preflight(desired, options.environ)
    store = open_state(options.state_path, sorted(desired.orgs), options.environ)
    with locked(store, "import", progress, timeout=options.lock_timeout):
        state = store.load()
        with RunContext(desired, replace(options, allow_plaintext_secrets=True), progress) as ctx:
            snap = read_live(ctx, state)
            importer = _Importer(ctx, snap)
            for name in sorted(names):
                importer.app(desired.apps[name], state)
        preview = importer.preview
        if not preview.adopts or not confirm(preview):
            return preview
        store.save(State(lineage=state.lineage, serial=state.serial,
                         apps={**state.apps, **preview.apps}), expected_serial=state.serial)
    return preview


__all__ = ["ImportItem", "ImportPreview", "import_apps"]
