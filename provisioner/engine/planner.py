"""The planner: desired (specs) vs live (org, Workflow²) vs state -> a typed :class:`Plan`.

Pure: plain data in, a plan out; no I/O, no clock (``now`` is passed in). It knows Salesforce's
rules: a consumer key is chosen on create and never resent; a certificate whose private key the
tool does not hold must be replaced (rotated) before a JWT credential can be written; creating a
Connected App where the org refuses it is a planning error; reads canonicalise values (the
:class:`~provisioner.metadata.view.AppView` normalises them so nothing shows false drift).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from provisioner.appkinds import DEFAULT_TYPE, app_kind
from provisioner.engine.inputs import (
    LiveApp,
    OrgFacts,
    PlanInputs,
    credential_key,
    public_fields,
    record_id_for,
    value_fingerprint,
)
from provisioner.engine.pairs import plan_pair
from provisioner.errors import PlanError
from provisioner.keys import certificate_info
from provisioner.metadata.view import AppView, desired_view
from provisioner.model import PARTNER_SUFFIX, AppSpec, CallbackRef, CredentialSpec, OrgSpec
from provisioner.plan.types import (
    AppAction,
    AppChange,
    CredentialAction,
    CredentialChange,
    FieldChange,
    Plan,
)
from provisioner.state import AppState

_UNMANAGED_VIEW_FIELDS = frozenset({"certificate_fingerprint", "consumer_key", "app_type"})


def _shown(value: Any) -> str | None:
    if value is None or value == ():
        return None
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _view_changes(before: AppView | None, after: AppView) -> tuple[FieldChange, ...]:
    base = before if before is not None else AppView(app_type=after.app_type)
    return tuple(
        FieldChange(_camel(c.field), _shown(c.before), _shown(c.after))
        for c in base.diff(after)
        if c.field not in _UNMANAGED_VIEW_FIELDS
    )


@dataclass
class _AppDecision:
    change: AppChange
    consumer_key: str | None
    #: Why the app's consumer secret is replaced, if it is.
    secret_reason: str | None = None


class Planner:
    """Computes one plan from :class:`PlanInputs` (use :func:`make_plan`)."""

    def __init__(self, inputs: PlanInputs) -> None:
        self.inputs = inputs
        self.errors: list[str] = []
        self.warnings: list[str] = list(inputs.warnings)

    # -- apps ----------------------------------------------------------------------------------
    def _rotation_reasons(
        self, app: AppSpec, st: AppState | None, live: AppView,
        holder: tuple[AppSpec, AppState | None] | None = None,
    ) -> list[str]:
        """Why the app's key must be replaced. ``holder``: the spec app whose JWT credentials
        use this app's key, when that is another app (a blue/green partner's)."""
        cert = app.certificate
        if cert is None:
            return []
        reasons: list[str] = []
        now = self.inputs.now
        if app.primary in self.inputs.force_rotate:
            reasons.append("forced (provisioner rotate)")
        if st is not None and st.login_app not in (None, app.name) and not app.blue_green:
            reasons.append(
                f"the JWT credentials use the blue/green partner {st.login_app!r}, which goes "
                "(rotation strategy is cutover now): this app gets a new key first")
        elif st is not None and st.key_retired and not reasons:
            reasons.append("the app's key was retired (thrown away): it gets a new one")
        known = st.certificate if st is not None else None
        facts = self.inputs.org_facts.get(app.org)
        unreadable = facts is not None and not facts.certificates_readable
        if live.certificate_fingerprint is None and not (unreadable and known is not None):
            reasons.append("certificate missing: the app in the org has no certificate")
        elif known is None or live.certificate_fingerprint not in (None, known.fingerprint):
            reasons.append(
                "certificate foreign: the org's certificate was not made by provisioner (or its "
                "key was lost in an interrupted run), so its private key is unknown"
            )
        else:
            window = timedelta(days=cert.rotate_before_days)
            if known.not_after - now <= window:
                reasons.append(
                    f"due by policy: the certificate expires {known.not_after:%Y-%m-%d}, inside "
                    f"the {cert.rotate_before_days}-day rotateBeforeDays window"
                )
            born = st.last_rotation.at if st is not None and st.last_rotation else known.not_before
            if cert.max_age_days is not None and now - born >= timedelta(days=cert.max_age_days):
                reasons.append(f"due by policy: the key is older than maxAgeDays ({cert.max_age_days})")
            size = certificate_info(known.pem).key_size
            if size != cert.key_size:
                reasons.append(f"key size changes from {size} to {cert.key_size} bits")
        if not reasons:
            owner, owner_st = holder if holder is not None else (app, st)
            reasons.extend(self._jwt_records_needing_key(owner, owner_st, st))
        return reasons

    def _write_reason(self, app: AppSpec, cred: CredentialSpec, st: AppState | None,
                      login: AppState | None = None) -> str | None:
        """Why a record must be (re)written, if it must. Every write needs the record's secret.

        ``login``: the state of the app whose keys a JWT record uses (a blue/green side), when
        that is not ``app`` itself.
        """
        key = credential_key(cred)
        live = self.inputs.live_credentials.get(key)
        known = st.credentials.get(key) if st is not None else None
        facts = self.inputs.org_facts.get(app.org)
        keys = login if (login is not None and cred.type == "jwt") else st
        consumer_key = keys.consumer_key if keys is not None else None
        if live is None:
            return "is missing" if known is not None else "does not exist yet"
        if known is None:
            return "is not in state (adopting it means rewriting it)"
        # A rename alone is undone without the secret (the name is not part of the data).
        target = self.inputs.target(cred.instance)
        if live.type != target.record_type(cred.type):
            return f"changed type outside provisioner to {live.type!r}"
        drift = self._public_drift(app, cred, consumer_key, facts, known.field_fingerprints)
        if drift:
            return "has fields that change (" + ", ".join(sorted(drift)) + ")"
        secret_field = target.secret_field(cred.type)
        expected = None
        if keys is not None and cred.type == "jwt" and keys.certificate is not None and (
                not keys.key_retired):
            expected = keys.certificate.public_key_fingerprint
        elif st is not None and cred.type == "oauth2":
            expected = st.consumer_secret_fingerprint
        if expected is None or known.field_fingerprints.get(secret_field) != expected:
            return f"holds a {secret_field} that no longer matches the app"
        return None

    def _jwt_records_needing_key(self, app: AppSpec, st: AppState | None,
                                 login: AppState | None = None) -> list[str]:
        """A JWT record to (re)write needs the private key, which is never stored: rotate."""
        out = []
        for cred in app.jwt_credentials:
            reason = self._write_reason(app, cred, st, login)
            if reason:
                out.append(f"the Workflow² JWT credential {credential_key(cred)!r} {reason} and "
                           "writing it needs the private key, which provisioner never stores")
        return out

    def _public_drift(
        self,
        app: AppSpec,
        cred: CredentialSpec,
        consumer_key: str | None,
        facts: OrgFacts | None,
        prints: Mapping[str, str],
    ) -> list[str]:
        target = self.inputs.target(cred.instance)
        wanted = public_fields(target, app, cred, consumer_key, facts)
        secret = target.secret_field(cred.type)
        return [k for k, v in wanted.items() if prints.get(k) != value_fingerprint(v)] + [
            k for k in prints if k not in wanted and k != secret
        ]

    def _needs_new_secret(self, app: AppSpec, st: AppState | None) -> str | None:
        """Why an OAuth2 record needs a consumer secret the tool does not know, if it does."""
        for cred in app.credentials:
            if cred.type != "oauth2":
                continue
            reason = self._write_reason(app, cred, st)
            if reason:
                return (f"the OAuth2 credential {credential_key(cred)!r} {reason} and writing it "
                        "needs the consumer secret, which provisioner never stores: a new one "
                        "is set")
        return None

    def plan_app(self, app: AppSpec,
                 holder: tuple[AppSpec, AppState | None] | None = None) -> _AppDecision:
        """The change for one app of the specs (``holder``: see :meth:`_rotation_reasons`)."""
        inp = self.inputs
        org: OrgSpec = inp.desired.orgs[app.org]
        st = inp.state.apps.get(app.name)
        live = inp.live_apps.get(app.name)
        callbacks = inp.desired.callback_urls(app, inp.callback_urls)

        def base(action: AppAction, **kw: Any) -> AppChange:
            return AppChange(app=app.name, org=app.org, api_name=app.api_name,
                             app_type=app.app_type, action=action, source=str(app.source), **kw)

        if live is None:
            refused = inp.creation_refused.get(app.name)
            if refused:
                kind = app_kind(app.app_type)
                self.errors.append(
                    f"{app.source}: app {app.name!r}: org {app.org!r} refuses to create the "
                    f"{kind.label} {app.api_name} ({refused}); set appType: {DEFAULT_TYPE} "
                    "(new apps are External Client Apps since Spring '26) or ask Salesforce "
                    f"Support to enable {kind.label} creation"
                )
            created: list[str] = []
            action: AppAction = "create"
            if st is not None and st.app_type != app.app_type:
                action = "replace"
                created.append(f"the {st.app_type} {st.api_name} is replaced by a new {app.app_type}; "
                             "its credentials are switched to the new app once its login is "
                             "verified; the old app is left in place")
            elif st is not None:
                created.append("the app is in state but missing from the org (deleted outside "
                             "provisioner): it is created again")
            view = desired_view(app, org, callbacks, None)
            change = base(
                action, changes=_view_changes(None, view),
                new_certificate=app.certificate is not None, new_consumer_secret=True,
                notes=tuple(created),
            )
            return _AppDecision(change, None)
        consumer_key = live.view.consumer_key or (st.consumer_key if st is not None else None)
        if st is not None and st.consumer_key and live.view.consumer_key and (
                st.consumer_key != live.view.consumer_key):
            kind_label = app_kind(app.app_type).label
            self.errors.append(
                f"{app.source}: app {app.name!r}: the state says its consumer key is "
                f"{st.consumer_key[:12]}..., but the {kind_label} {app.api_name} in org "
                f"{app.org!r} has {live.view.consumer_key[:12]}...: this state belongs to "
                "another deployment, or the app was made again outside provisioner hint: check "
                "--state (PROVISIONER_STATE); if the app was made again, forget the old one "
                f"with: provisioner state rm app.{app.name}, then provisioner import or apply")
        known_pem = None
        if st is not None and st.certificate is not None and (
            st.certificate.fingerprint == live.view.certificate_fingerprint
        ):
            known_pem = st.certificate.pem
        view = desired_view(app, org, callbacks, known_pem)
        changes = list(_view_changes(live.view, view))
        if app.certificate is None and live.view.certificate_fingerprint is not None and (
            st is not None and st.certificate is not None
        ):
            changes.append(FieldChange("certificate", live.view.certificate_fingerprint, None))
        notes: list[str] = []
        if st is None:
            notes.append("adopting an app that exists in the org but not in state")
        facts = inp.org_facts.get(app.org)
        if (facts is not None and not facts.certificates_readable and st is not None
                and st.certificate is not None and live.view.certificate_fingerprint is None):
            notes.append(
                f"org {app.org!r} returns no certificate on read: the one in state "
                f"({st.certificate.fingerprint[:19]}...) is assumed, and rotation follows state "
                "and the JWT login verification")
        reasons = self._rotation_reasons(app, st, live.view, holder)
        secret_reason = self._needs_new_secret(app, st)
        if secret_reason is None and app.name in inp.force_secret:
            secret_reason = "consumer secret: forced (provisioner rotate --consumer-secret)"
        kind = app_kind(app.app_type)
        if secret_reason and kind.secret_rotation == "none":
            self.errors.append(
                f"{app.source}: app {app.name!r}: {secret_reason.replace(': a new one is set', '')}"
                f"; the Metadata API gives an existing {kind.label} no new consumer secret: "
                f"move the app to appType: {DEFAULT_TYPE}, or drop the oauth2 credential"
            )
            secret_reason = None
        if secret_reason:
            reasons.append(secret_reason)
            notes.append(
                "Salesforce generates the new consumer secret (shouldRotateConsumerSecret) and "
                "provisioner reads it back through the Metadata API, which needs the org setting "
                "'Allow Access to OAuth Consumer Secrets via Metadata API'")
        action = "rotate" if reasons else ("update" if changes else "no-op")
        kept = _kept_fields(kind, live)
        if kept and action != "no-op":
            notes.append(f"keeps {len(kept)} field(s) of the org's components that the spec "
                         f"does not manage: {', '.join(kept)}")
        new_certificate = bool(reasons) and app.certificate is not None and (
            secret_reason is None or len(reasons) > 1)
        revoke = new_certificate and app.primary in inp.revoke and not app.blue_green
        if revoke:
            notes.append("rotate --now: the old key is revoked by this deploy and never deployed "
                         "back, even if the new key fails to sign in; logins fail until "
                         "Workflow² holds the new key")
        change = base(
            action, changes=tuple(changes), rotate_reasons=tuple(reasons),
            new_certificate=new_certificate,
            new_consumer_secret=secret_reason is not None,
            notes=tuple(notes), revoke_first=revoke,
        )
        return _AppDecision(change, consumer_key, secret_reason)

    def _split_deploys(self, changes: list[AppChange]) -> list[str]:
        """A line per org whose apps do not fit one deploy: they go in several, as the executor
        splits them (:func:`provisioner.metadata.package.deploy_batches`)."""
        from provisioner.metadata.package import deploy_batches

        by_org: dict[str, list[int]] = {}
        for c in changes:
            if c.action in ("create", "update", "rotate", "replace", "retire") and not (
                    c.after_records and c.action == "retire"):
                by_org.setdefault(c.org, []).append(len(app_kind(c.app_type).component_types))
        out = []
        for org, sizes in sorted(by_org.items()):
            batches = deploy_batches(sizes, self.inputs.max_deploy_files)
            if len(batches) > 1:
                out.append(
                    f"org {org!r}: {len(sizes)} apps ({sum(sizes)} files) are deployed in "
                    f"{len(batches)} deploys of at most {self.inputs.max_deploy_files} files "
                    "(Salesforce's limit per deploy); each deploy is one transaction, so if one "
                    "fails the apps of the others are still deployed")
        return out

    def _dropped_partner(self, app: AppSpec, decision: _AppDecision) -> list[AppChange]:
        """The blue/green partner of an app whose strategy is cutover now: deleted once the JWT
        credentials use the app itself again (after this run's records when they use the
        partner now)."""
        inp = self.inputs
        name = app.name + PARTNER_SUFFIX
        st = inp.state.apps.get(name)
        if st is None or st.partner_of != app.name or app.name in inp.destroy:
            return []
        holder = inp.state.apps.get(app.name)
        in_use = holder is not None and holder.login_app == name
        change = self._deletion(name, "rotation strategy is cutover now: the blue/green partner "
                                      "is deleted")
        if in_use and change.action == "delete":
            change = replace(change, after_records=True, notes=(*change.notes, f"the JWT credentials use it until {app.name!r} has its new key and Workflow² " "holds it; it is deleted after that"))
        return [change]

    def _deletion(self, name: str, why: str) -> AppChange:
        """Delete an app provisioner manages; an app it never created or adopted is refused."""
        st = self.inputs.state.apps.get(name)
        spec = self.inputs.desired.apps.get(name)
        if st is None:
            assert spec is not None
            if self.inputs.live_apps.get(name) is not None:
                self.errors.append(
                    f"{spec.source}: app {name!r}: {spec.app_type} {spec.api_name} in org "
                    f"{spec.org} was not created or adopted by provisioner (it is not in state), "
                    "so destroy does not delete it; run apply first to adopt it, or delete it in "
                    "Setup"
                )
            return AppChange(app=name, org=spec.org, api_name=spec.api_name,
                             app_type=spec.app_type, action="no-op",
                             notes=("not in the org and not in state: nothing to delete",))
        gone = self.inputs.live_apps.get(name) is None and name in self.inputs.live_apps
        return AppChange(
            app=name, org=st.org, api_name=st.api_name, app_type=st.app_type, action="delete",
            notes=(why,) + (("already gone from the org: only state is cleared",) if gone else ()),
            source=str(spec.source) if spec is not None else "",
        )

    def _record_deletions(self, name: str) -> list[CredentialChange]:
        """Delete the Workflow² records provisioner wrote for an app that is deleted."""
        st = self.inputs.state.apps.get(name)
        if st is None:
            return []
        out = []
        for cred in st.credentials.values():
            if cred.instance not in self.inputs.desired.instances:
                self.warnings.append(
                    f"credential {cred.key!r} of app {name!r} is not deleted: WorkflowInstance "
                    f"{cred.instance!r} is no longer in the specs"
                )
                continue
            out.append(CredentialChange(
                app=name, instance=cred.instance, name=cred.name, type=cred.type,
                action="delete", record_id=cred.record_id, sink=cred.sink,
                notes=("its app is deleted",),
            ))
        return out

    def plan(self) -> Plan:
        """The whole plan; raises :class:`PlanError` listing every planning error."""
        inp = self.inputs
        app_changes: list[AppChange] = []
        cred_changes: list[CredentialChange] = []
        for app in sorted(inp.desired.apps.values(), key=lambda a: (a.org, a.name)):
            if app.name in inp.destroy or app.primary in inp.destroy:
                app_changes.append(self._deletion(app.name, "destroy (provisioner destroy)"))
                cred_changes.extend(self._record_deletions(app.name))
                continue
            if app.pair is not None and app.pair.side == "green":
                continue  # planned with its spec app
            # A deploy naming what the org lacks would fail the org's whole transaction.
            self.errors.extend(inp.refusals.get(app.name, ()))
            login: tuple[_AppDecision, str] | None = None
            if app.pair is not None:
                partner = inp.desired.apps[app.name + PARTNER_SUFFIX]
                decision, other, login_name = plan_pair(self, app, partner)
                app_changes += [decision.change, other.change]
                login = (other if login_name == partner.name else decision, login_name)
            else:
                decision = self.plan_app(app)
                app_changes.append(decision.change)
                app_changes.extend(self._dropped_partner(app, decision))
            for cred in app.credentials:
                cred_changes.append(plan_credential(self, app, cred, decision, login))
        for name in sorted(set(inp.state.apps) - set(inp.desired.apps)):
            st = inp.state.apps[name]
            if st.partner_of is not None and st.partner_of in inp.desired.apps:
                continue  # a partner the spec app no longer wants: see _dropped_partner
            if name not in inp.live_apps:
                # Its org is not in these specs, so it was not read: what it is there is unknown,
                # and forgetting it would lose it (the next full run would rotate it).
                self.warnings.append(
                    f"app {name!r} ({st.app_type} {st.api_name} in org {st.org}) is in state but "
                    f"org {st.org!r} is not in these specs, so it was not read and is left alone"
                    + (" (--prune deletes only in the orgs of the specs)" if inp.prune else "")
                )
            elif inp.prune:
                app_changes.append(self._deletion(name, "in state but no longer in the specs (--prune)"))
                cred_changes.extend(self._record_deletions(name))
            else:
                self.warnings.append(
                    f"app {name!r} ({st.app_type} {st.api_name} in org {st.org}) is in state but "
                    "no longer in the specs: it is left alone (plan/apply --prune deletes it)"
                )
        self.warnings.extend(self._split_deploys(app_changes))
        if self.errors:
            raise PlanError(
                "the specs cannot be applied:\n  " + "\n  ".join(self.errors),
                "fix the specs (or the org) as each line says, then plan again",
            )
        referenced = {cb.instance for a in inp.desired.apps.values() for cb in a.callback_urls
                      if isinstance(cb, CallbackRef)}
        callback_pairs = tuple(sorted(
            (i, u) for i, u in inp.callback_urls.items() if i in referenced))
        return Plan(
            apps=tuple(app_changes),
            credentials=tuple(cred_changes),
            created_at=inp.now.isoformat().replace("+00:00", "Z"),
            state_lineage=inp.state.lineage,
            state_serial=inp.state.serial,
            state_org_serials=tuple(sorted(inp.state.org_serials.items())),
            spec_files=inp.spec_files,
            live_digests=inp.live_digests,
            callback_urls=callback_pairs,
            warnings=tuple(self.warnings),
        )


def plan_credential(
    planner: Planner, app: AppSpec, cred: CredentialSpec, decision: _AppDecision,
    login: tuple[_AppDecision, str] | None = None,
) -> CredentialChange:
    """The change for one Workflow² record: create, update (which fields) or no-op.

    ``login``: for a blue/green app, the decision of the side whose keys the JWT records use
    after the apply, and its name.
    """
    inp = planner.inputs
    st = inp.state.apps.get(app.name)
    key = credential_key(cred)
    known = st.credentials.get(key) if st is not None else None
    live = inp.live_credentials.get(key)
    target = inp.target(cred.instance)
    ctype = target.record_type(cred.type)
    facts = inp.org_facts.get(app.org)
    uses = None
    if login is not None and cred.type == "jwt":
        decision, uses = login
    change = decision.change
    consumer_key = None if change.action in ("create", "replace") else decision.consumer_key
    wanted = public_fields(target, app, cred, consumer_key, facts)

    def base(action: CredentialAction, **kw: Any) -> CredentialChange:
        return CredentialChange(app=app.name, instance=cred.instance, name=cred.name, type=ctype,
                                action=action,
                                record_id=live.id if live else record_id_for(cred, st, target),
                                sink=inp.sink_kinds.get(cred.instance, "api"), uses_app=uses,
                                **kw)

    status = live.connection_status if live is not None else None
    secret_field = target.secret_field(cred.type)
    secret_changes = (change.new_certificate if cred.type == "jwt" else change.new_consumer_secret)
    if live is None:
        drift = ("deleted outside provisioner: written again",) if known is not None else ()
        new = [FieldChange(k, None, v) for k, v in wanted.items()]
        new.append(FieldChange(secret_field, None, "new", sensitive=True))
        return base("create", changes=tuple(new), notes=drift,
                                connection_status="not connected" if cred.type == "oauth2" else None)
    fields = []
    prints = known.field_fingerprints if known is not None else {}
    for k, v in wanted.items():
        if prints.get(k) != value_fingerprint(v):
            fields.append(FieldChange(k, None if k not in prints else "(changed)", v))
    if secret_changes:
        fields.append(FieldChange(secret_field, "old", "new", sensitive=True))
    notes: list[str] = []
    if live.adopted:
        notes.append(f"adopting the existing record {live.id} (same name and type); it is "
                     "rewritten with the app's values")
    if live.name != cred.name:
        fields.append(FieldChange("name", live.name, cred.name))
        notes.append(f"renamed outside provisioner to {live.name!r}: renamed back, its data "
                     "untouched" if len(fields) == 1 else
                     f"renamed outside provisioner to {live.name!r}: renamed back")
    action: CredentialAction = "update" if fields else "no-op"
    if live.type != ctype:
        action = "replace"
        notes.append(f"type changed outside provisioner to {live.type!r}: replaced")
    reconnect = action != "no-op" and target.reconnect_needed(
        cred.type, [f.field for f in fields])
    return base(
        action, changes=tuple(fields), reconnect_required=reconnect,
        connection_status=status, notes=tuple(notes),
    )


def _kept_fields(kind: Any, live: LiveApp) -> list[str]:
    """``Type.field`` of every field an update sends back unchanged (not managed by the spec)."""
    from provisioner.metadata.merge import merge_component
    from provisioner.metadata.types import Component

    out: list[str] = []
    for type_name, component in sorted(live.components.items()):
        managed = kind.managed_fields.get(type_name, frozenset())
        empty = Component(type_name, component.full_name, {})
        out += [f"{type_name}.{f}" for f in merge_component(empty, component, managed).kept]
    return out


def make_plan(inputs: PlanInputs) -> Plan:
    """The plan for ``inputs``; raises :class:`PlanError` listing every planning error."""
    return Planner(inputs).plan()
