"""Blue/green rotation: a pair of apps behind one Workflow² JWT credential, switched without a
failed login, against the sandbox org (import-file sink)."""

from __future__ import annotations

from typing import Any

import pytest

from provisioner.engine.run import apply, compute_plan
from provisioner.salesforce.token_errors import TokenRejected
from provisioner.secret import Secret
from tests.engine.conftest import (
    Lines,
    Workspace,
    app_yaml,
    approve,
    jwt_login,
    records,
    running_org,
    state_doc,
)


def _apply(ws: Workspace, **options: Any) -> Any:
    _plan, result = apply(ws.paths(), ws.options(**options), Lines(), approve)
    assert result is not None and not result.failures, result and result.failures
    return result


def _jwt(ws: Workspace) -> tuple[str, Secret, str]:
    rec = records(ws)["billing (JWT)"]
    return rec["data"]["clientId"], Secret(rec["data"]["privateKey"]), rec["id"]


@pytest.fixture
def pair(ws: Workspace) -> Workspace:
    ws.write_apps(app_yaml("billing", rotation="blueGreen"))
    _apply(ws)
    return ws


def test_a_blue_green_app_is_two_apps_and_the_standby_key_is_thrown_away(pair: Workspace) -> None:
    ws = pair
    apps = state_doc(ws)["apps"]
    assert set(apps) == {"billing", "billing.green"}
    assert apps["billing"]["loginApp"] is None and not apps["billing"]["keyRetired"]
    assert apps["billing.green"]["keyRetired"] and apps["billing.green"]["partnerOf"] == "billing"
    assert apps["billing.green"]["apiName"] == "billing_green"
    client_id, key, _ = _jwt(ws)
    assert client_id == apps["billing"]["consumerKey"]
    with running_org(ws) as org:
        jwt_login(org, client_id, key)
        # Nobody holds the standby's key: the key Workflow² has is refused there.
        with pytest.raises(TokenRejected):
            jwt_login(org, apps["billing.green"]["consumerKey"], key)
    assert not compute_plan(ws.paths(), ws.options(), Lines()).plan.has_changes


def test_rotation_switches_sides_and_retires_the_old_key(pair: Workspace) -> None:
    ws = pair
    before = state_doc(ws)["apps"]
    old_client, old_key, record_id = _jwt(ws)
    plan = compute_plan(ws.paths(), ws.options(force_rotate=frozenset({"billing"})), Lines()).plan
    by_app = {a.app: a for a in plan.apps}
    assert by_app["billing.green"].action == "rotate" and by_app["billing.green"].new_certificate
    assert (by_app["billing.green"].pair_role, by_app["billing.green"].pair_role_after) == (
        "standby", "active")
    assert by_app["billing"].action == "retire" and by_app["billing"].after_records
    (jwt,) = [c for c in plan.credentials if c.type == "salesforceJwtApi"]
    assert jwt.uses_app == "billing.green" and jwt.action == "update"
    assert sorted(f.field for f in jwt.changes) == ["clientId", "privateKey"]
    (oauth,) = [c for c in plan.credentials if c.type == "salesforceOAuth2Api"]
    assert oauth.action == "no-op"

    result = _apply(ws, force_rotate=frozenset({"billing"}))
    assert result.retired == ["billing"]
    client, key, rid = _jwt(ws)
    after = state_doc(ws)["apps"]
    assert rid == record_id and client == before["billing.green"]["consumerKey"] != old_client
    assert after["billing"]["loginApp"] == "billing.green" and after["billing"]["keyRetired"]
    assert not after["billing.green"]["keyRetired"]
    with running_org(ws) as org:
        jwt_login(org, client, key)
        with pytest.raises(TokenRejected):
            jwt_login(org, old_client, old_key)
    assert not compute_plan(ws.paths(), ws.options(), Lines()).plan.has_changes

    # And back: blue takes over again.
    _apply(ws, force_rotate=frozenset({"billing"}))
    client2, key2, rid2 = _jwt(ws)
    assert rid2 == record_id and client2 == old_client
    assert state_doc(ws)["apps"]["billing"]["loginApp"] is None
    with running_org(ws) as org:
        jwt_login(org, client2, key2)
        with pytest.raises(TokenRejected):
            jwt_login(org, client, key)
    assert not compute_plan(ws.paths(), ws.options(), Lines()).plan.has_changes
