"""The planner on blue/green pairs: which side is active, when the credentials switch, what is
retired, and strategy switches, one difference at a time (no network)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from provisioner.engine.inputs import OrgFacts, public_fields, value_fingerprint
from provisioner.engine.planner import make_plan
from provisioner.plan.types import AppChange, CredentialChange, Plan
from provisioner.state import CertificateRecord
from provisioner.targets import target_for
from tests.planner.builder import (
    LOGIN_HOST,
    MY_DOMAIN,
    NOW,
    Scenario,
    app_doc,
    converged_from,
    from_nothing,
    load,
    view,
)

GREEN = "billing.green"


def blue_green_doc(strategy: str = "blueGreen") -> str:
    return app_doc().replace("  preAuthorized:", f"  rotation: {{strategy: {strategy}}}\n"
                             "  preAuthorized:")


def converged_pair(tmp_path: Path) -> Scenario:
    """A pair applied: blue active, green holding a certificate whose key was thrown away."""
    return converged_from(load(tmp_path, blue_green_doc()))


def green_active(tmp_path: Path) -> Scenario:
    """A pair applied and rotated once: the JWT credentials use green; blue's key is retired."""
    s = converged_pair(tmp_path)
    s = s.with_app_state("billing", login_app=GREEN, key_retired=True)
    s = s.with_app_state(GREEN, key_retired=False)
    st_green = s.app_state(GREEN)
    return converged_states_jwt_on(s, st_green.consumer_key, st_green.certificate)


def apps(plan: Plan) -> dict[str, AppChange]:
    return {a.app: a for a in plan.apps}


def creds(plan: Plan) -> dict[str, CredentialChange]:
    return {c.name: c for c in plan.credentials}


def roles(change: AppChange) -> tuple[str | None, str | None, str | None]:
    return change.pair_side, change.pair_role, change.pair_role_after


def test_a_converged_pair_plans_nothing(tmp_path: Path) -> None:
    plan = make_plan(converged_pair(tmp_path).inputs())
    assert not plan.has_changes
    assert roles(apps(plan)["billing"]) == ("blue", "active", "active")
    assert roles(apps(plan)[GREEN]) == ("green", "standby", "standby")
    assert creds(plan)["billing (JWT)"].uses_app == "billing"


def test_a_new_pair_creates_the_standby_with_a_retired_certificate(tmp_path: Path) -> None:
    plan = make_plan(from_nothing(load(tmp_path, blue_green_doc())).inputs())
    blue, green = apps(plan)["billing"], apps(plan)[GREEN]
    assert (blue.action, blue.new_certificate, blue.retired_certificate) == ("create", True, False)
    assert (green.action, green.new_certificate, green.retired_certificate) == (
        "create", False, True)
    assert green.api_name == "billing_green"
    assert creds(plan)["billing (JWT)"].action == "create"
    assert creds(plan)["billing (JWT)"].uses_app == "billing"


def test_a_due_key_switches_to_the_standby_and_retires_after_the_records(tmp_path: Path) -> None:
    plan = make_plan(converged_pair(tmp_path).at(NOW + timedelta(days=340)).inputs())
    blue, green = apps(plan)["billing"], apps(plan)[GREEN]
    assert (green.action, green.new_certificate) == ("rotate", True)
    assert green.rotate_reasons[0].startswith("blue/green: takes over the JWT login from "
                                              "'billing' (due by policy")
    assert roles(green) == ("green", "standby", "active")
    assert (blue.action, blue.after_records, blue.retired_certificate, blue.new_certificate) == (
        "retire", True, True, False)
    assert roles(blue) == ("blue", "active", "standby")
    jwt, oauth = creds(plan)["billing (JWT)"], creds(plan)["billing (OAuth2)"]
    assert jwt.uses_app == GREEN and jwt.action == "update"
    assert sorted(f.field for f in jwt.changes) == ["clientId", "privateKey"]
    assert oauth.action == "no-op" and oauth.uses_app is None  # OAuth2 stays on the spec app


def test_with_the_credentials_on_green_a_rotation_goes_back_to_blue(tmp_path: Path) -> None:
    s = green_active(tmp_path)
    assert not make_plan(s.inputs()).has_changes
    plan = make_plan(replace(s, force_rotate=frozenset({"billing"})).inputs())
    blue, green = apps(plan)["billing"], apps(plan)[GREEN]
    assert (blue.action, blue.new_certificate) == ("rotate", True)
    assert (green.action, green.after_records) == ("retire", True)
    assert creds(plan)["billing (JWT)"].uses_app == "billing"


def converged_states_jwt_on(s: Scenario, consumer_key: str, cert: CertificateRecord | None
                            ) -> Scenario:
    """The JWT record recorded as holding ``consumer_key`` and the key of ``cert``."""

    app = s.desired.apps["billing"]
    (cred,) = app.jwt_credentials
    target = target_for(s.desired.instances[cred.instance])
    prints = {k: value_fingerprint(v) for k, v in public_fields(
        target, app, cred, consumer_key, OrgFacts(MY_DOMAIN, LOGIN_HOST)).items()}
    assert cert is not None
    prints["privateKey"] = cert.public_key_fingerprint
    return s.with_credential_state("wf/billing (JWT)", field_fingerprints=prints)


@pytest.mark.parametrize("why", ["not retired", "changed outside"])
def test_a_standby_that_may_hold_a_live_key_is_retired_at_once(tmp_path: Path, why: str) -> None:
    s = converged_pair(tmp_path)
    if why == "not retired":
        s = s.with_app_state(GREEN, key_retired=False)
    else:
        s = s.with_live(GREEN, certificate_fingerprint="sha256:" + "0" * 64)
    plan = make_plan(s.inputs())
    green = apps(plan)[GREEN]
    assert (green.action, green.retired_certificate, green.after_records) == (
        "retire", True, False)
    assert apps(plan)["billing"].action == "no-op"
    assert creds(plan)["billing (JWT)"].action == "no-op"


def test_a_standby_deleted_outside_is_created_again_without_a_usable_key(tmp_path: Path) -> None:
    plan = make_plan(converged_pair(tmp_path).without_live(GREEN).inputs())
    green = apps(plan)[GREEN]
    assert (green.action, green.retired_certificate, green.new_certificate) == (
        "create", True, False)
    assert creds(plan)["billing (JWT)"].action == "no-op"


def test_rotate_now_revokes_in_the_first_deploy(tmp_path: Path) -> None:
    s = replace(converged_pair(tmp_path), force_rotate=frozenset({"billing"}),
                revoke=frozenset({"billing"}))
    plan = make_plan(s.inputs())
    blue, green = apps(plan)["billing"], apps(plan)[GREEN]
    assert blue.revoke_first and green.revoke_first
    assert (blue.action, blue.after_records, blue.retired_certificate) == ("retire", False, True)
    assert green.action == "rotate" and any("window" in n or "fail" in n for n in green.notes)


def test_back_to_cutover_with_blue_active_deletes_green_at_once(tmp_path: Path) -> None:
    s = converged_pair(tmp_path)
    s = replace(s, desired=load(tmp_path / "cut", app_doc()))
    plan = make_plan(s.inputs())
    assert apps(plan)["billing"].action == "no-op"
    green = apps(plan)[GREEN]
    assert (green.action, green.after_records) == ("delete", False)
    assert creds(plan)["billing (JWT)"].action == "no-op"


def test_back_to_cutover_with_green_active_gives_blue_a_key_first(tmp_path: Path) -> None:
    s = replace(green_active(tmp_path), desired=load(tmp_path / "cut", app_doc()))
    plan = make_plan(s.inputs())
    blue, green = apps(plan)["billing"], apps(plan)[GREEN]
    assert (blue.action, blue.new_certificate) == ("rotate", True)
    assert "blue/green partner 'billing.green'" in blue.rotate_reasons[0]
    assert (green.action, green.after_records) == ("delete", True)
    jwt = creds(plan)["billing (JWT)"]
    assert jwt.action == "update" and sorted(f.field for f in jwt.changes) == [
        "clientId", "privateKey"]


def test_destroying_a_pair_deletes_both_apps_and_the_records(tmp_path: Path) -> None:
    s = replace(converged_pair(tmp_path), destroy=frozenset({"billing", GREEN}))
    plan = make_plan(s.inputs())
    assert {a.app: a.action for a in plan.apps} == {"billing": "delete", GREEN: "delete"}
    assert {c.name: c.action for c in plan.credentials} == {
        "billing (JWT)": "delete", "billing (OAuth2)": "delete"}


def test_view_of_both_sides_follows_the_one_spec(tmp_path: Path) -> None:
    s = converged_pair(tmp_path)
    blue, green = view(s, "billing"), view(s, GREEN)
    assert blue.scopes == green.scopes and blue.callback_urls == green.callback_urls
