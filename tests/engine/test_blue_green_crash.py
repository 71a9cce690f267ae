"""Crash safety of a blue/green rotation: ``provisioner rotate`` SIGKILLed right after each journal
intent in turn (new points: the standby's deploy, its verification, the JWT record switch, the
retire deploy); the next apply finishes or settles it, and then the credential uses exactly one
live key, the other side's key is retired, and the plan is empty."""

from __future__ import annotations

import pytest

from provisioner.salesforce.token_errors import TokenRejected
from provisioner.secret import Secret
from tests.engine.conftest import (
    Workspace,
    app_yaml,
    assert_no_secret,
    cli,
    jwt_login,
    kill_at_every_point,
    records,
    running_org,
    secrets_in_records,
    state_doc,
)

MAX_POINTS = 14


def _check_converged(ws: Workspace, killed_at: int, old_key: Secret) -> None:
    what = f"after a kill at journal point {killed_at}"
    recovered = cli("apply", ws.specs, "--state", ws.state_path, "--auto-approve")
    assert recovered.code == 0, f"{what}: {recovered.all}"
    plan = cli("plan", ws.specs, "--state", ws.state_path, "--detailed-exitcode")
    assert plan.code == 0, f"{what}: the plan after recovery is not empty:\n{plan.all}"

    apps = state_doc(ws)["apps"]
    login = apps["billing"]["loginApp"] or "billing"
    standby = "billing.green" if login == "billing" else "billing"
    recs = records(ws)
    jwt = recs["billing (JWT)"]["data"]
    assert jwt["clientId"] == apps[login]["consumerKey"], what
    assert not apps[login]["keyRetired"] and apps[standby]["keyRetired"], what
    # The OAuth2 record stays on the spec app whatever the JWT side.
    assert recs["billing (OAuth2)"]["data"]["clientId"] == apps["billing"]["consumerKey"], what
    assert Secret(recs["billing (OAuth2)"]["data"]["clientSecret"]).fingerprint() == apps[
        "billing"]["consumerSecretFingerprint"], what
    key = Secret(jwt["privateKey"])
    with running_org(ws) as org:
        org.org.settle_propagation()
        jwt_login(org, jwt["clientId"], key)
        with pytest.raises(TokenRejected):  # the key Workflow² does not hold signs in nowhere
            jwt_login(org, apps[standby]["consumerKey"], key)
        if key != old_key:
            for side in ("billing", "billing.green"):
                with pytest.raises(TokenRejected):
                    jwt_login(org, apps[side]["consumerKey"], old_key)
    for text, where in ((recovered.all, "output"), (plan.all, "plan output"),
                        (ws.state_path.read_text(), "state")):
        assert_no_secret(text, *secrets_in_records(ws), *ws.env.values(), where=where)


@pytest.mark.slow
def test_rotate_killed_at_every_journal_point_converges(ws: Workspace) -> None:
    ws.write_apps(app_yaml("billing", rotation="blueGreen"))
    first = cli("apply", ws.specs, "--state", ws.state_path, "--auto-approve")
    assert first.code == 0, first.all
    old_key = Secret(records(ws)["billing (JWT)"]["data"]["privateKey"])
    killed = kill_at_every_point(
        ws, lambda w: ("rotate", w.specs, "--app", "billing", "--state", w.state_path,
                       "--auto-approve"),
        lambda w, point: _check_converged(w, point, old_key), max_points=MAX_POINTS)
    # deploy, verify, the JWT record switch and the retire deploy at least.
    assert len(killed) >= 4, killed
    print(f"killed at journal points {killed}")
