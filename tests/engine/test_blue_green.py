"""Blue/green rotation: a pair of apps behind one Workflow² JWT credential, switched without a
failed login, against the sandbox org (import-file sink)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from provisioner.engine.run import apply, compute_plan
from provisioner.events import LoginWaiting
from provisioner.salesforce.token_errors import TokenRejected
from provisioner.secret import Secret
from tests.engine.conftest import (
    REPO,
    Lines,
    Workspace,
    app_yaml,
    approve,
    cli,
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


#: Changes propagate only when a test settles them (an hour otherwise): no load makes one early.
DELAY = 3600.0


class Prober(Lines):
    """At every event of a run (each deploy poll, login wait, record write, progress line), a
    JWT login with exactly what Workflow² holds at that moment: the client id and private key of
    the import file's JWT record. The first verification wait lets the org's propagation end."""

    def __init__(self, ws: Workspace) -> None:
        super().__init__()
        self.ws = ws
        self.probes = 0
        self.failed: list[str] = []
        self.waits = 0

    def __call__(self, event: Any) -> None:
        super().__call__(event)
        if not self.ws.recorder.connections:
            return
        server = self.ws.recorder.connections[-1].sandbox
        assert server is not None
        try:
            server.url  # noqa: B018 (started yet? the first event comes before the start)
        except RuntimeError:
            return
        if isinstance(event, LoginWaiting):
            self.waits += 1
            if self.waits == 1:
                server.org.settle_propagation()
        client, key, _ = _jwt(self.ws)
        self.probes += 1
        try:
            jwt_login(server, client, key)
        except TokenRejected as exc:
            self.failed.append(f"{event}: {exc.code}")


def _rotate_probed(ws: Workspace, cutover: str) -> tuple[Any, Prober]:
    """``rotate --app billing`` on an org with an hour's propagation delay and the given
    certificate cutover model, probed at every event."""
    ws.write_org(delay=DELAY)
    with running_org(ws) as org:
        org.org.set_setting("certificateCutover", cutover)
        org.org.settle_propagation()
    ws.recorder.reset()
    prober = Prober(ws)
    _plan, result = apply(ws.paths(), ws.options(force_rotate=frozenset({"billing"}),
                                                 verify_timeout=120), prober, approve)
    assert result is not None and not result.failures, result and result.failures
    return result, prober


@pytest.mark.parametrize("cutover", ["propagated", "immediate"])
def test_no_login_fails_during_a_blue_green_rotation(pair: Workspace, cutover: str) -> None:
    result, prober = _rotate_probed(pair, cutover)
    assert result.retired == ["billing"]
    assert prober.waits >= 1 and prober.probes >= 10, prober.text()
    assert prober.failed == [], prober.text()


@pytest.mark.parametrize("cutover", ["propagated", "immediate"])
def test_a_cutover_rotation_has_a_window_the_prober_sees(ws: Workspace, cutover: str) -> None:
    # The same prober on the default strategy: logins with what Workflow² holds do fail, so the
    # blue/green test above would see failures if there were any.
    _apply(ws)
    _result, prober = _rotate_probed(ws, cutover)
    assert prober.failed, prober.text()


def test_switching_strategy_there_and_back_keeps_every_login(applied: Workspace) -> None:
    ws = applied  # a cutover app, applied
    client, key, record_id = _jwt(ws)
    ws.write_apps(app_yaml("billing", rotation="blueGreen"))
    plan = compute_plan(ws.paths(), ws.options(), Lines()).plan
    by_app = {a.app: a for a in plan.apps}
    assert by_app["billing"].action == "no-op" and by_app["billing"].pair_role == "active"
    assert by_app["billing.green"].action == "create"
    assert by_app["billing.green"].retired_certificate
    assert not by_app["billing.green"].new_certificate
    assert all(c.action == "no-op" for c in plan.credentials)
    _apply(ws)
    assert _jwt(ws) == (client, key, record_id)  # the credential did not move
    assert not compute_plan(ws.paths(), ws.options(), Lines()).plan.has_changes

    # Rotate once, so the credentials use the partner; then go back to cutover.
    _apply(ws, force_rotate=frozenset({"billing"}))
    green_client, green_key, _ = _jwt(ws)
    ws.write_apps(app_yaml("billing"))
    plan = compute_plan(ws.paths(), ws.options(), Lines()).plan
    by_app = {a.app: a for a in plan.apps}
    assert by_app["billing"].action == "rotate" and by_app["billing"].new_certificate
    assert by_app["billing.green"].action == "delete" and by_app["billing.green"].after_records
    ws.recorder.reset()
    prober = Prober(ws)
    _plan, result = apply(ws.paths(), ws.options(), prober, approve)
    assert result is not None and not result.failures, result and result.failures
    assert prober.failed == [], prober.text()
    assert result.retired == ["billing.green"]
    client2, key2, rid2 = _jwt(ws)
    assert rid2 == record_id and client2 == client
    apps = state_doc(ws)["apps"]
    assert set(apps) == {"billing"} and apps["billing"]["loginApp"] is None
    with running_org(ws) as org:
        jwt_login(org, client2, key2)
        assert org.org.app("billing_green") is None
        with pytest.raises(TokenRejected):
            jwt_login(org, green_client, green_key)
    assert not compute_plan(ws.paths(), ws.options(), Lines()).plan.has_changes


def test_rotate_now_revokes_first_and_says_so(pair: Workspace) -> None:
    ws = pair
    old_client, old_key, _ = _jwt(ws)
    options = ws.options(force_rotate=frozenset({"billing"}), revoke=frozenset({"billing"}))
    plan = compute_plan(ws.paths(), options, Lines()).plan
    by_app = {a.app: a for a in plan.apps}
    assert by_app["billing"].action == "retire" and not by_app["billing"].after_records
    assert by_app["billing"].revoke_first and by_app["billing.green"].revoke_first
    from provisioner.plan.render import render_text

    text = render_text(plan)
    assert "window: the old key is revoked first; logins fail until Workflow² holds" in text
    result = _apply(ws, force_rotate=frozenset({"billing"}), revoke=frozenset({"billing"}))
    assert result.deploys == 1 and result.retired == []  # one deploy: revoked with the switch
    client, key, _ = _jwt(ws)
    with running_org(ws) as org:
        jwt_login(org, client, key)
        with pytest.raises(TokenRejected):
            jwt_login(org, old_client, old_key)
    assert not compute_plan(ws.paths(), ws.options(), Lines()).plan.has_changes


def test_rotate_now_on_a_cutover_app_never_deploys_the_leaked_key_back(applied: Workspace) -> None:
    ws = applied
    ws.write_org(delay=DELAY)  # the new key never signs in during this run: verification fails
    options = ws.options(force_rotate=frozenset({"billing"}), revoke=frozenset({"billing"}),
                         verify_timeout=0.5)
    plan = compute_plan(ws.paths(), options, Lines()).plan
    (app,) = plan.apps
    assert app.action == "rotate" and app.revoke_first
    _plan, result = apply(ws.paths(), options, Lines(), approve)
    assert result is not None and result.failures and result.rolled_back == []
    assert result.deploys == 1  # a normal rotation would deploy the previous certificate back


def test_a_blue_green_rotation_as_json_follows_the_plan_and_result_schemas(
        pair: Workspace) -> None:
    ws = pair
    rotated = cli("rotate", ws.specs, "--app", "billing.green", "--state", ws.state_path,
                  "--auto-approve", "--format", "json")  # either side names the pair
    assert rotated.code == 0, rotated.all
    doc = json.loads(rotated.stdout)
    schema = json.loads((REPO / "schemas" / "result.schema.json").read_text())
    jsonschema.validate(doc, schema, format_checker=jsonschema.FormatChecker())
    by_app = {a["app"]: a for a in doc["plan"]["apps"]}
    assert by_app["billing"]["pair"] == {"side": "blue", "role": "active",
                                         "roleAfter": "standby"}
    assert (by_app["billing"]["action"], by_app["billing"]["afterRecords"]) == ("retire", True)
    assert by_app["billing.green"]["pair"] == {"side": "green", "role": "standby",
                                               "roleAfter": "active"}
    jwt = next(c for c in doc["plan"]["credentials"] if c["type"] == "salesforceJwtApi")
    oauth = next(c for c in doc["plan"]["credentials"] if c["type"] == "salesforceOAuth2Api")
    assert (jwt["usesApp"], oauth["usesApp"]) == ("billing.green", "billing")
    assert doc["result"]["retired"] == ["billing"]
    assert doc["result"]["verified"] == ["billing.green"]


def test_import_of_a_lost_pair_follows_the_side_the_record_holds(pair: Workspace) -> None:
    # The credentials use green when the state is lost. import reads the record's client id,
    # so the next apply retires blue's unknown key instead of giving green, whose key Workflow²
    # holds, a new certificate under it.
    ws = pair
    _apply(ws, force_rotate=frozenset({"billing"}))
    held_client, _key, _rid = _jwt(ws)
    ws.state_path.unlink()
    done = cli("import", ws.specs, "--state", ws.state_path, "--app", "billing.green",
               "--auto-approve")
    assert done.code == 0, done.all
    assert "+ credential.wf/billing (JWT) adopt: record" in done.stdout
    apps = state_doc(ws)["apps"]
    assert apps["billing"]["loginApp"] == "billing.green"
    assert apps["billing.green"]["consumerKey"] == held_client
    assert apps["billing.green"]["partnerOf"] == "billing"
    plan = compute_plan(ws.paths(), ws.options(), Lines()).plan
    by_app = {a.app: a for a in plan.apps}
    assert (by_app["billing"].action, by_app["billing"].pair_role) == ("retire", "standby")
    assert by_app["billing.green"].action == "no-op"
    assert all(c.action == "no-op" for c in plan.credentials)
    ws.recorder.reset()
    prober = Prober(ws)
    _plan, result = apply(ws.paths(), ws.options(), prober, approve)
    assert result is not None and not result.failures, result and result.failures
    assert prober.failed == [] and prober.probes >= 3, prober.text()
    assert _jwt(ws)[0] == held_client
    assert not compute_plan(ws.paths(), ws.options(), Lines()).plan.has_changes
