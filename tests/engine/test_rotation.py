"""Rotation: due by policy (time frozen inside the window) and forced with ``provisioner rotate``."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from provisioner.engine.run import apply, compute_plan
from provisioner.salesforce.token_errors import TokenRejected
from provisioner.secret import Secret
from tests.engine.conftest import (
    Lines,
    Workspace,
    app_yaml,
    approve,
    cli,
    frozen,
    jwt_login,
    now,
    records,
    running_org,
    state_doc,
)


def test_certificate_inside_rotation_window_is_rotated_and_verified(applied: Workspace) -> None:
    ws = applied
    before = state_doc(ws)["apps"]["billing"]
    old_records = records(ws)
    old_key = Secret(old_records["billing (JWT)"]["data"]["privateKey"])
    # 340 days on, the 365-day certificate has 25 days left: inside rotateBeforeDays (30).
    later = frozen(now() + timedelta(days=340))
    options = ws.options(clock=later)

    plan = compute_plan(ws.paths(), options, Lines()).plan
    (app,) = plan.apps
    assert app.action == "rotate" and app.new_certificate and not app.new_consumer_secret
    (reason,) = app.rotate_reasons
    assert reason.startswith("due by policy: the certificate expires ")
    assert "inside the 30-day rotateBeforeDays window" in reason
    creds = {c.name: c for c in plan.credentials}
    assert creds["billing (JWT)"].action == "update"
    assert [(f.field, f.sensitive) for f in creds["billing (JWT)"].changes] == [("privateKey", True)]
    assert creds["billing (OAuth2)"].action == "no-op"
    # The plan without the frozen clock has nothing to do: only time makes it due.
    assert not compute_plan(ws.paths(), ws.options(), Lines()).plan.has_changes

    ws.recorder.reset()
    _plan, result = apply(ws.paths(), options, Lines(), approve)
    assert result is not None and not result.failures
    assert result.verified == ["billing"] and result.records_written == ["wf/billing (JWT)"]
    assert [r["operation"] for r in ws.recorder.writes()] == ["deploy"]

    after = state_doc(ws)["apps"]["billing"]
    assert after["certificate"]["fingerprint"] != before["certificate"]["fingerprint"]
    assert after["previousCertificate"]["fingerprint"] == before["certificate"]["fingerprint"]
    assert after["lastRotation"]["reason"] == reason
    assert after["consumerKey"] == before["consumerKey"]
    new_records = records(ws)
    # Updated in place: same record id, new key; the OAuth2 record is untouched.
    assert new_records["billing (JWT)"]["id"] == old_records["billing (JWT)"]["id"]
    new_key = Secret(new_records["billing (JWT)"]["data"]["privateKey"])
    assert new_key != old_key
    assert new_records["billing (OAuth2)"] == old_records["billing (OAuth2)"]

    with running_org(ws) as org:
        with pytest.raises(TokenRejected) as refused:
            jwt_login(org, before["consumerKey"], old_key)
        assert refused.value.code == "invalid_grant"
        jwt_login(org, before["consumerKey"], new_key)

    # Converged at the frozen time too.
    assert not compute_plan(ws.paths(), options, Lines()).plan.has_changes


def test_rotate_command_forces_one_app(applied: Workspace) -> None:
    ws = applied
    before = state_doc(ws)["apps"]["billing"]
    old_key = Secret(records(ws)["billing (JWT)"]["data"]["privateKey"])

    result = cli("rotate", ws.specs, "--state", ws.state_path, "--app", "billing",
                 "--auto-approve")
    assert result.code == 0, result.all
    assert "forced (provisioner rotate)" in result.stdout
    assert "verified: app billing: JWT login with the new key works" in result.stdout
    assert "wrote: Workflow² credential wf/billing (JWT)" in result.stdout

    after = state_doc(ws)["apps"]["billing"]
    assert after["certificate"]["fingerprint"] != before["certificate"]["fingerprint"]
    assert after["lastRotation"]["reason"] == "forced (provisioner rotate)"
    new_key = Secret(records(ws)["billing (JWT)"]["data"]["privateKey"])
    assert new_key != old_key
    with running_org(ws) as org:
        with pytest.raises(TokenRejected):
            jwt_login(org, before["consumerKey"], old_key)
        jwt_login(org, before["consumerKey"], new_key)
    assert cli("plan", ws.specs, "--state", ws.state_path, "--detailed-exitcode").code == 0


def test_rotate_refuses_unknown_app_and_missing_selection(applied: Workspace) -> None:
    ws = applied
    state_bytes = ws.state_path.read_bytes()
    unknown = cli("rotate", ws.specs, "--state", ws.state_path, "--app", "nope", "--auto-approve")
    assert unknown.code == 2
    assert "no app named nope in the specs" in unknown.stderr
    assert "billing" in unknown.stderr  # the hint lists the apps there are
    nothing = cli("rotate", ws.specs, "--state", ws.state_path, "--auto-approve")
    assert nothing.code == 2 and "--app NAME" in nothing.stderr
    assert ws.state_path.read_bytes() == state_bytes


def test_rotate_and_destroy_of_one_app_leave_other_pending_changes_alone(ws: Workspace) -> None:
    """The reproduction: with a change pending on app payroll, rotate --app billing deployed
    it too, and destroy --app billing updated payroll. Now each touches only its app, lists the
    rest as not applied, and plan --org/--app narrows the same way."""
    ws.write_apps(app_yaml("billing"), app_yaml("payroll"))
    assert cli("apply", ws.specs, "--state", ws.state_path, "--auto-approve").code == 0
    ws.write_apps(app_yaml("billing"), app_yaml("payroll", scopes="[api, refresh_token, full, openid]"))
    payroll_before = state_doc(ws)["apps"]["payroll"]

    rotated = cli("rotate", ws.specs, "--state", ws.state_path, "--app", "billing",
                  "--auto-approve")
    assert rotated.code == 0, rotated.all
    assert "1 change(s) outside --org/--app are not applied: app.payroll update" in rotated.stdout
    with running_org(ws) as org:
        app = org.org.app("payroll")
        assert app is not None
        scopes = app["components"]["ExtlClntAppOauthSettings"]["commaSeparatedOauthScopes"]
        assert "OpenID" not in scopes  # not deployed
    assert state_doc(ws)["apps"]["payroll"] == payroll_before

    narrowed = cli("plan", ws.specs, "--state", ws.state_path, "--app", "billing",
                   "--detailed-exitcode")
    assert narrowed.code == 0, narrowed.all  # billing has nothing pending
    assert cli("plan", ws.specs, "--state", ws.state_path, "--org", "sb",
               "--detailed-exitcode").code == 2
    unknown = cli("plan", ws.specs, "--state", ws.state_path, "--org", "emea")
    assert unknown.code == 2 and "no org named emea in the specs" in unknown.stderr

    destroyed = cli("destroy", ws.specs, "--state", ws.state_path, "--app", "billing",
                    "--auto-approve")
    assert destroyed.code == 0, destroyed.all
    assert "app.payroll update" in destroyed.stdout
    assert set(state_doc(ws)["apps"]) == {"payroll"}
    assert state_doc(ws)["apps"]["payroll"] == payroll_before

    # A saved targeted plan applies with the targets it was reviewed with.
    planfile = ws.root / "payroll.plan.json"
    assert cli("plan", ws.specs, "--state", ws.state_path, "--app", "payroll",
               "--out", planfile).code == 0
    assert json.loads(planfile.read_text())["targets"] == {"orgs": [], "apps": ["payroll"]}
    applied = cli("apply", planfile, "--state", ws.state_path)
    assert applied.code == 0, applied.all
    assert "app.billing create" in applied.stdout  # listed, not applied (it was destroyed)
    assert set(state_doc(ws)["apps"]) == {"payroll"}
    assert cli("plan", ws.specs, "--state", ws.state_path, "--app", "payroll",
               "--detailed-exitcode").code == 0
