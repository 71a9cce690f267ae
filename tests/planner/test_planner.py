"""The planner on :class:`PlanInputs`, table by table: no network, milliseconds a case.

Each row starts from a converged apply (:func:`tests.planner.builder.converged`), changes one
thing, and states the planner's answer as the rules in ``provisioner/engine/planner.py`` give it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest

from provisioner.engine.inputs import LiveCredential
from provisioner.engine.planner import make_plan
from provisioner.errors import PlanError
from provisioner.plan.types import AppChange, CredentialChange, FieldChange, Plan
from tests.planner.builder import (
    NOW,
    Scenario,
    app_doc,
    converged,
    key_material,
    rotation_at,
)

JWT, OAUTH = "wf/billing (JWT)", "wf/billing (OAuth2)"
NEEDS_KEY = "and writing it needs the private key, which provisioner never stores"
NEEDS_SECRET = ("and writing it needs the consumer secret, which "
                "provisioner never stores: a new one is set")

Change = Callable[[Scenario], Scenario]


def plan_of(scenario: Scenario) -> Plan:
    return make_plan(scenario.inputs())


def app(plan: Plan, name: str = "billing") -> AppChange:
    (found,) = [a for a in plan.apps if a.app == name]
    return found


def cred(plan: Plan, key: str) -> CredentialChange:
    (found,) = [c for c in plan.credentials if c.key == key]
    return found


def test_converged_is_no_change(tmp_path: Path) -> None:
    plan = plan_of(converged(tmp_path))
    assert not plan.has_changes
    assert [a.action for a in plan.apps] == ["no-op"]
    assert [(c.key, c.action) for c in plan.credentials] == [(JWT, "no-op"), (OAUTH, "no-op")]
    assert plan.warnings == ()


# -- rotation: every reason ----------------------------------------------------------------------


def _expiring(s: Scenario) -> Scenario:
    cert = s.app_state().certificate
    assert cert is not None
    return s.at(cert.not_after - timedelta(days=10))


def _older_than_max_age(s: Scenario) -> Scenario:
    cert = s.app_state().certificate
    assert cert is not None
    return s.at(cert.not_before + timedelta(days=31))


def _jwt_secret_print(s: Scenario) -> Scenario:
    known = s.app_state().credentials[JWT]
    return s.with_credential_state(JWT, field_fingerprints={
        **known.field_fingerprints, "privateKey": "sha256:" + "0" * 64})


def _jwt_username_print(s: Scenario) -> Scenario:
    known = s.app_state().credentials[JWT]
    return s.with_credential_state(JWT, field_fingerprints={
        **known.field_fingerprints, "username": "sha256:" + "0" * 64})


def _expires(s: Scenario) -> str:
    cert = s.app_state().certificate
    assert cert is not None
    return f"{cert.not_after:%Y-%m-%d}"


@dataclass(frozen=True)
class RotationCase:
    change: Change
    reason: Callable[[Scenario], str]
    doc: dict[str, object] | None = None
    deployed_key_size: int | None = None
    new_certificate: bool = True
    new_consumer_secret: bool = False


ROTATIONS: dict[str, RotationCase] = {
    "forced": RotationCase(
        lambda s: replace(s, force_rotate=frozenset({"billing"})),
        lambda s: "forced (provisioner rotate)"),
    "certificate-missing-in-org": RotationCase(
        lambda s: s.with_live(certificate_fingerprint=None),
        lambda s: "certificate missing: the app in the org has no certificate"),
    "certificate-foreign": RotationCase(
        lambda s: s.with_live(
            certificate_fingerprint=key_material(which=1).certificate.fingerprint),
        lambda s: "certificate foreign: the org's certificate was not made by provisioner (or "
                  "its key was lost in an interrupted run), so its private key is unknown"),
    "rotate-before-days": RotationCase(
        _expiring,
        lambda s: f"due by policy: the certificate expires {_expires(s)}, inside the 30-day "
                  "rotateBeforeDays window"),
    "max-age-days": RotationCase(
        _older_than_max_age,
        lambda s: "due by policy: the key is older than maxAgeDays (30)",
        doc={"max_age_days": 30}),
    "key-size": RotationCase(
        lambda s: s,
        lambda s: "key size changes from 2048 to 3072 bits",
        doc={"key_size": 3072}, deployed_key_size=2048),
    "jwt-record-missing": RotationCase(
        lambda s: s.with_record(JWT, None),
        lambda s: f"the Workflow² JWT credential {JWT!r} is missing {NEEDS_KEY}"),
    "jwt-record-not-in-state": RotationCase(
        lambda s: s.with_credential_state(JWT, forget=True),
        lambda s: f"the Workflow² JWT credential {JWT!r} is not in state (adopting it means "
                  f"rewriting it) {NEEDS_KEY}"),
    "jwt-record-type-changed": RotationCase(
        lambda s: s.with_record(JWT, replace(s.record(JWT), type="httpHeaderAuth")),
        lambda s: f"the Workflow² JWT credential {JWT!r} changed type outside provisioner to "
                  f"'httpHeaderAuth' {NEEDS_KEY}"),
    "jwt-record-field-changes": RotationCase(
        _jwt_username_print,
        lambda s: f"the Workflow² JWT credential {JWT!r} has fields that change (username) "
                  f"{NEEDS_KEY}"),
    "jwt-record-other-key": RotationCase(
        _jwt_secret_print,
        lambda s: f"the Workflow² JWT credential {JWT!r} holds a privateKey that no longer "
                  f"matches the app {NEEDS_KEY}"),
    "oauth2-record-missing": RotationCase(
        lambda s: s.with_record(OAUTH, None),
        lambda s: f"the OAuth2 credential {OAUTH!r} is missing {NEEDS_SECRET}",
        new_certificate=False, new_consumer_secret=True),
    "oauth2-secret-unknown": RotationCase(
        lambda s: s.with_app_state(consumer_secret_fingerprint=None),
        lambda s: f"the OAuth2 credential {OAUTH!r} holds a clientSecret that no longer "
                  f"matches the app {NEEDS_SECRET}",
        new_certificate=False, new_consumer_secret=True),
}


@pytest.mark.parametrize("case", ROTATIONS.values(), ids=ROTATIONS.keys())
def test_rotation_reasons(tmp_path: Path, case: RotationCase) -> None:
    docs = (app_doc(**case.doc),) if case.doc else ()
    base = converged(tmp_path, *docs, key_size=case.deployed_key_size)
    scenario = case.change(base)
    change = app(plan_of(scenario))
    assert change.action == "rotate"
    assert change.rotate_reasons == (case.reason(scenario),)
    assert (change.new_certificate, change.new_consumer_secret) == (
        case.new_certificate, case.new_consumer_secret)
    assert change.changes == ()


def test_rotation_policy_edges(tmp_path: Path) -> None:
    """The window's edge rotates; a day before it does not; maxAgeDays counts from the last
    rotation when there is one."""
    s = converged(tmp_path, app_doc(max_age_days=30))
    cert = s.app_state().certificate
    assert cert is not None
    edge = cert.not_after - timedelta(days=30)
    assert app(plan_of(s.at(edge))).action == "rotate"
    assert app(plan_of(s.at(edge - timedelta(days=1)).with_app_state(
        last_rotation=rotation_at(s.at(edge), 1)))).action == "no-op"
    late = s.at(cert.not_before + timedelta(days=31))
    assert app(plan_of(late)).action == "rotate"
    recently = late.with_app_state(last_rotation=rotation_at(late, 10))
    assert app(plan_of(recently)).action == "no-op"


def test_two_reasons_are_listed_together(tmp_path: Path) -> None:
    s = replace(converged(tmp_path).with_live(certificate_fingerprint=None),
                force_rotate=frozenset({"billing"}))
    assert app(plan_of(s)).rotate_reasons == (
        "forced (provisioner rotate)",
        "certificate missing: the app in the org has no certificate")


def test_a_missing_oauth2_record_with_a_due_key_renews_both(tmp_path: Path) -> None:
    s = _expiring(converged(tmp_path)).with_record(OAUTH, None)
    change = app(plan_of(s))
    assert len(change.rotate_reasons) == 2
    assert (change.new_certificate, change.new_consumer_secret) == (True, True)


# -- app actions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppCase:
    change: Change
    action: str
    changes: tuple[FieldChange, ...] = ()
    notes: tuple[str, ...] = ()


def _cert_fp(which: int = 0) -> str:
    return key_material(which=which).certificate.fingerprint


APP_CASES: dict[str, AppCase] = {
    "label-drift": AppCase(
        lambda s: s.with_live(label="Billing (old)"), "update",
        (FieldChange("label", "Billing (old)", "Billing"),)),
    "scope-added-in-org": AppCase(
        lambda s: s.with_live(scopes=("Api", "Full", "OpenID", "RefreshToken")), "update",
        (FieldChange("scopes", "Api, Full, OpenID, RefreshToken", "Api, Full, RefreshToken"),)),
    "permission-set-removed-in-org": AppCase(
        lambda s: s.with_live(permission_sets=()), "update",
        (FieldChange("permissionSets", None, "Workflow_Integration"),)),
    "new-app": AppCase(
        lambda s: s.without_live().without_state(), "create"),
    "deleted-outside": AppCase(
        lambda s: s.without_live(), "create",
        notes=("the app is in state but missing from the org (deleted outside provisioner): "
               "it is created again",)),
    "app-type-changes": AppCase(
        lambda s: s.without_live().with_app_state(app_type="connectedApp"), "replace",
        notes=("the connectedApp billing is replaced by a new externalClientApp; its "
               "credentials are switched to the new app once its login is verified; the old "
               "app is left in place",)),
}


@pytest.mark.parametrize("case", APP_CASES.values(), ids=APP_CASES.keys())
def test_app_actions(tmp_path: Path, case: AppCase) -> None:
    change = app(plan_of(case.change(converged(tmp_path))))
    assert change.action == case.action
    assert change.notes == case.notes
    if case.action in ("create", "replace"):
        assert (change.new_certificate, change.new_consumer_secret) == (True, True)
        assert FieldChange("label", None, "Billing") in change.changes
    else:
        assert change.changes == case.changes and change.rotate_reasons == ()


SECRET_NOTE = (
    "Salesforce generates the new consumer secret (shouldRotateConsumerSecret) and provisioner "
    "reads it back through the Metadata API, which needs the org setting 'Allow Access to OAuth "
    "Consumer Secrets via Metadata API'")


def test_adopting_an_app_rotates_its_unknown_certificate(tmp_path: Path) -> None:
    s = converged(tmp_path).without_state()
    change = app(plan_of(s))
    assert change.action == "rotate"
    assert change.notes == ("adopting an app that exists in the org but not in state", SECRET_NOTE)
    assert change.rotate_reasons[0].startswith("certificate foreign")
    assert (change.new_certificate, change.new_consumer_secret) == (True, True)


def test_certificate_dropped_from_the_spec_is_removed(tmp_path: Path) -> None:
    s = converged(tmp_path)
    no_cert = converged(tmp_path / "b", app_doc(certificate=False))
    s = replace(no_cert, state=s.state, live_apps=s.live_apps)
    change = app(plan_of(s))
    assert change.action == "update"
    assert FieldChange("certificate", _cert_fp(), None) in change.changes


# -- refusals ---------------------------------------------------------------------------------


def test_creation_refused_is_a_planning_error(tmp_path: Path) -> None:
    s = replace(converged(tmp_path, app_doc(app_type="connectedApp")).without_live()
                .without_state(), creation_refused={"billing": "creation is disabled"})
    with pytest.raises(PlanError) as info:
        plan_of(s)
    assert ("org 'prod' refuses to create the Connected App billing (creation is disabled); "
            "set appType: externalClientApp") in info.value.message


def test_connected_app_secret_cannot_be_set_after_create(tmp_path: Path) -> None:
    s = converged(tmp_path, app_doc(app_type="connectedApp")).with_record(OAUTH, None)
    with pytest.raises(PlanError) as info:
        plan_of(s)
    assert (f"the OAuth2 credential {OAUTH!r} is missing and writing it needs the consumer "
            "secret, which provisioner never stores; the Metadata API gives an existing "
            "Connected App no new consumer secret: move the app to appType: externalClientApp"
            ) in info.value.message


def test_destroy_refuses_an_app_it_does_not_manage(tmp_path: Path) -> None:
    s = replace(converged(tmp_path).without_state(), destroy=frozenset({"billing"}))
    with pytest.raises(PlanError, match="was not created or adopted by provisioner"):
        plan_of(s)


# -- deletions --------------------------------------------------------------------------------


def test_destroy_deletes_the_app_and_its_records(tmp_path: Path) -> None:
    plan = plan_of(replace(converged(tmp_path), destroy=frozenset({"billing"})))
    assert app(plan).action == "delete"
    assert app(plan).notes == ("destroy (provisioner destroy)",)
    assert [(c.key, c.action, c.notes) for c in plan.credentials] == [
        (JWT, "delete", ("its app is deleted",)), (OAUTH, "delete", ("its app is deleted",))]


def test_destroy_of_an_app_gone_everywhere_is_nothing(tmp_path: Path) -> None:
    s = replace(converged(tmp_path).without_live().without_state(),
                destroy=frozenset({"billing"}))
    change = app(plan_of(s))
    assert (change.action, change.notes) == (
        "no-op", ("not in the org and not in state: nothing to delete",))


def test_destroy_of_an_app_already_gone_from_the_org_clears_state(tmp_path: Path) -> None:
    s = replace(converged(tmp_path).without_live(), destroy=frozenset({"billing"}))
    assert app(plan_of(s)).notes == ("destroy (provisioner destroy)",
                                     "already gone from the org: only state is cleared")


def test_an_app_left_out_of_the_specs_is_kept_unless_pruned(tmp_path: Path) -> None:
    both = converged(tmp_path, app_doc(), app_doc("old", label="Old"))
    only_billing = converged(tmp_path / "b")
    s = replace(only_billing, state=both.state, live_apps=both.live_apps,
                live_credentials=both.live_credentials)
    kept = plan_of(s)
    assert [a.app for a in kept.apps] == ["billing"]
    assert kept.warnings == (
        "app 'old' (externalClientApp old in org prod) is in state but no longer in the specs: "
        "it is left alone (plan/apply --prune deletes it)",)
    pruned = plan_of(replace(s, prune=True))
    assert [(a.app, a.action) for a in pruned.apps] == [("billing", "no-op"), ("old", "delete")]
    assert app(pruned, "old").notes == ("in state but no longer in the specs (--prune)",)
    assert sorted((c.key, c.action) for c in pruned.credentials if c.app == "old") == [
        ("wf/old (JWT)", "delete"), ("wf/old (OAuth2)", "delete")]


# -- credential writes ------------------------------------------------------------------------


def test_rotation_rewrites_the_jwt_secret_only(tmp_path: Path) -> None:
    plan = plan_of(replace(converged(tmp_path), force_rotate=frozenset({"billing"})))
    jwt = cred(plan, JWT)
    assert (jwt.action, jwt.changes) == (
        "update", (FieldChange("privateKey", "old", "new", sensitive=True),))
    assert not jwt.reconnect_required
    assert cred(plan, OAUTH).action == "no-op"


def test_a_new_consumer_secret_asks_for_a_reconnect(tmp_path: Path) -> None:
    plan = plan_of(converged(tmp_path).with_app_state(consumer_secret_fingerprint=None))
    oauth = cred(plan, OAUTH)
    assert oauth.action == "update" and oauth.reconnect_required
    assert FieldChange("clientSecret", "old", "new", sensitive=True) in oauth.changes


@dataclass(frozen=True)
class RecordCase:
    change: Change
    action: str
    notes: tuple[str, ...]
    fields: tuple[str, ...]


RECORD_CASES: dict[str, RecordCase] = {
    "missing": RecordCase(
        lambda s: s.with_record(OAUTH, None), "create",
        ("deleted outside provisioner: written again",),
        ("environment", "clientId", "clientSecret")),
    "renamed": RecordCase(
        lambda s: s.with_record(OAUTH, replace(s.record(OAUTH), name="Billing (renamed)")),
        "update",
        ("renamed outside provisioner to 'Billing (renamed)': renamed back, its data untouched",),
        ("name",)),
    "retyped": RecordCase(
        lambda s: s.with_record(OAUTH, replace(s.record(OAUTH), type="oAuth2Api")), "replace",
        ("type changed outside provisioner to 'oAuth2Api': replaced",), ("clientSecret",)),
    "adopted": RecordCase(
        lambda s: s.with_credential_state(OAUTH, forget=True).with_record(
            OAUTH, LiveCredential("pvexisting000001", "billing (OAuth2)", "salesforceOAuth2Api",
                                  adopted=True)),
        "update",
        ("adopting the existing record pvexisting000001 (same name and type); it is rewritten "
         "with the app's values",),
        ("environment", "clientId", "clientSecret")),
}


@pytest.mark.parametrize("case", RECORD_CASES.values(), ids=RECORD_CASES.keys())
def test_record_changes(tmp_path: Path, case: RecordCase) -> None:
    change = cred(plan_of(case.change(converged(tmp_path))), OAUTH)
    assert change.action == case.action
    assert change.notes == case.notes
    assert tuple(f.field for f in change.changes) == case.fields


def test_new_app_records_wait_for_the_consumer_key(tmp_path: Path) -> None:
    plan = plan_of(converged(tmp_path).without_live().without_state().with_record(JWT, None)
                   .with_record(OAUTH, None))
    jwt = cred(plan, JWT)
    assert jwt.action == "create"
    assert FieldChange("clientId", None, "(known after apply)") in jwt.changes
    assert FieldChange("myDomainUrl", None, "https://acme.my.salesforce.com") in jwt.changes
    assert cred(plan, OAUTH).connection_status == "not connected"


def test_plan_is_stamped_with_the_injected_clock(tmp_path: Path) -> None:
    assert plan_of(converged(tmp_path)).created_at == NOW.isoformat().replace("+00:00", "Z")


def test_prune_never_touches_an_org_the_specs_do_not_name(tmp_path: Path) -> None:
    """Specs for one org, state for two: the other org's app was not read, so --prune neither
    deletes nor forgets it (forgetting it made the next full run rotate it)."""
    s = converged(tmp_path)
    elsewhere = replace(s.app_state(), org="emea", api_name="billing_emea")
    s = replace(s, state=replace(s.state, apps={**s.state.apps, "billing-emea": elsewhere}))
    assert "billing-emea" not in s.live_apps  # its org is not in the specs: not read
    for prune in (False, True):
        plan = plan_of(replace(s, prune=prune))
        assert [a.app for a in plan.apps] == ["billing"] and not plan.has_changes
        assert plan.warnings == (
            "app 'billing-emea' (externalClientApp billing_emea in org emea) is in state but org "
            "'emea' is not in these specs, so it was not read and is left alone"
            + (" (--prune deletes only in the orgs of the specs)" if prune else ""),)


def test_an_org_that_returns_no_certificates_is_planned_from_state(tmp_path: Path) -> None:
    """Reads of some orgs never return an app's certificate: its absence alone is no reason to
    rotate; state decides (policy still applies), and the plan says what it assumes."""
    s = replace(converged(tmp_path).with_live(certificate_fingerprint=None),
                certificates_readable=False)
    change = app(plan_of(s))
    assert change.action == "no-op" and change.rotate_reasons == ()
    assert len(change.notes) == 1 and change.notes[0].startswith(
        "org 'prod' returns no certificate on read: the one in state (sha256:")
    assert app(plan_of(_expiring(s))).rotate_reasons[0].startswith("due by policy")
    # Without state, nothing proves which key the app holds: a new one, as before.
    assert app(plan_of(s.without_state())).rotate_reasons[0].startswith("certificate missing")
    # An org that does return certificates: absence means missing.
    readable = replace(s, certificates_readable=True)
    assert app(plan_of(readable)).rotate_reasons == (
        "certificate missing: the app in the org has no certificate",)


# -- targeting (--org / --app) ----------------------------------------------------------------


def test_targeting_keeps_only_the_targeted_changes_and_names_the_rest(tmp_path: Path) -> None:
    from provisioner.engine.selection import restrict_plan

    s = converged(tmp_path, app_doc(), app_doc("payroll", label="Payroll"))
    s = s.with_live("billing", label="old").with_live("payroll", label="old")
    full = plan_of(s)
    only = restrict_plan(full, (), ("billing",))
    assert [(a.app, a.action) for a in only.apps] == [("billing", "update")]
    assert {c.app for c in only.credentials} == {"billing"}
    assert only.warnings == (
        "1 change(s) outside --org/--app are not applied: app.payroll update",)
    assert only.to_json()["targets"] == {"orgs": [], "apps": ["billing"]}
    assert "targets" not in full.to_json()
    assert restrict_plan(full, (), ()) is full
    by_org = restrict_plan(full, ("prod",), ())
    assert by_org.apps == full.apps and by_org.credentials == full.credentials


def test_unknown_targets_are_usage_errors(tmp_path: Path) -> None:
    from provisioner.engine.selection import check_targets
    from provisioner.errors import UsageError

    s = converged(tmp_path)
    check_targets(s.desired, s.state, ("prod",), ("billing",))
    with pytest.raises(UsageError, match="no org named emea in the specs"):
        check_targets(s.desired, s.state, ("emea",), ())
    with pytest.raises(UsageError, match="no app named nope in the specs or the state"):
        check_targets(s.desired, s.state, (), ("nope",))


def test_a_state_of_another_deployment_is_refused(tmp_path: Path) -> None:
    """The state's consumer key is not the org's app's: a foreign state file (or an app made
    again outside provisioner) is refused instead of rotated over."""
    s = converged(tmp_path).with_live(consumer_key="3MVG9OTHERDEPLOYMENTKEY0001")
    with pytest.raises(PlanError) as info:
        plan_of(s)
    assert "this state belongs to another deployment" in info.value.message
    assert "provisioner state rm app.billing" in info.value.message
