"""From nothing to converged, then one field changed: plan and apply against the sandbox org."""

from __future__ import annotations

from provisioner.engine.run import apply, compute_plan
from provisioner.secret import Secret
from tests.engine.conftest import (
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


def test_from_nothing_plan_apply_login_then_nothing_to_do(ws: Workspace) -> None:
    lines = Lines()
    outcome = compute_plan(ws.paths(), ws.options(), lines)
    plan = outcome.plan
    assert [(a.app, a.action, a.new_certificate, a.new_consumer_secret) for a in plan.apps] == [
        ("billing", "create", True, True)
    ]
    assert sorted((c.name, c.action) for c in plan.credentials) == [
        ("billing (JWT)", "create"), ("billing (OAuth2)", "create")]
    # Planning reads only.
    assert ws.recorder.writes() == []
    assert not ws.state_path.exists() and not ws.import_file.exists()

    ws.recorder.reset()
    plan, result = apply(ws.paths(), ws.options(), lines, approve)
    assert result is not None and not result.failures
    assert (result.deploys, result.verified) == (1, ["billing"])
    assert sorted(result.records_written) == ["wf/billing (JWT)", "wf/billing (OAuth2)"]
    # One deploy for the org, no CRUD writes.
    assert [r["operation"] for r in ws.recorder.writes()] == ["deploy"]

    st = state_doc(ws)["apps"]["billing"]
    recs = records(ws)
    jwt_rec, oauth_rec = recs["billing (JWT)"], recs["billing (OAuth2)"]
    assert jwt_rec["type"] == "salesforceJwtApi" and oauth_rec["type"] == "salesforceOAuth2Api"
    assert jwt_rec["data"]["clientId"] == oauth_rec["data"]["clientId"] == st["consumerKey"]
    assert st["credentials"]["wf/billing (JWT)"]["recordId"] == jwt_rec["id"]
    key = Secret(jwt_rec["data"]["privateKey"])
    with running_org(ws) as org:
        app = org.org.app("billing")
        assert app is not None and app["consumerKey"] == st["consumerKey"]
        assert app["certificate"].strip() == st["certificate"]["pem"].strip()
        assert jwt_rec["data"]["myDomainUrl"] == org.url
        jwt_login(org, st["consumerKey"], key)

    # Second plan: nothing (through the CLI: --detailed-exitcode 0).
    result_cli = cli("plan", ws.specs, "--state", ws.state_path, "--detailed-exitcode")
    assert result_cli.code == 0, result_cli.all
    assert "No changes" in result_cli.stdout

    # Second apply: no deploy, no CRUD write, the import file and the state untouched.
    file_bytes = ws.import_file.read_bytes()
    state_bytes = ws.state_path.read_bytes()
    ws.recorder.reset()
    plan2, result2 = apply(ws.paths(), ws.options(), lines, approve)
    assert result2 is None and not plan2.has_changes
    log = ws.recorder.log()
    assert log, "the second apply must still read the org"
    assert [r for r in log if r["write"]] == []
    assert "deploy" not in ws.recorder.operations()
    assert ws.import_file.read_bytes() == file_bytes
    assert ws.state_path.read_bytes() == state_bytes


def test_changing_one_scope_updates_only_that_field(applied: Workspace) -> None:
    ws = applied
    state_before = state_doc(ws)
    records_before = records(ws)
    ws.write_apps(app_yaml("billing", scopes="[api, refresh_token, full, openid]"))

    plan = compute_plan(ws.paths(), ws.options(), Lines()).plan
    (app,) = plan.apps
    assert app.action == "update"
    assert not app.new_certificate and not app.new_consumer_secret and not app.rotate_reasons
    assert [(c.field, c.before, c.after) for c in app.changes] == [
        ("scopes", "Api, Full, RefreshToken", "Api, Full, OpenID, RefreshToken")]
    assert [c.action for c in plan.credentials] == ["no-op", "no-op"]

    ws.recorder.reset()
    _plan, result = apply(ws.paths(), ws.options(), Lines(), approve)
    assert result is not None and not result.failures
    assert result.deploys == 1 and result.records_written == [] and result.verified == []
    assert [r["operation"] for r in ws.recorder.writes()] == ["deploy"]

    # The state moved on (serial) but nothing about the app changed; records untouched.
    state_after = state_doc(ws)
    assert state_after["serial"] > state_before["serial"]
    assert state_after["apps"] == state_before["apps"]
    assert records(ws) == records_before
    with running_org(ws) as org:
        app_now = org.org.app("billing")
        assert app_now is not None
        assert app_now["certificate"].strip() == state_before["apps"]["billing"]["certificate"][
            "pem"].strip()
        jwt_login(org, state_before["apps"]["billing"]["consumerKey"],
                  Secret(records_before["billing (JWT)"]["data"]["privateKey"]))

    assert not compute_plan(ws.paths(), ws.options(), Lines()).plan.has_changes


def test_changes_past_the_files_limit_of_a_deploy_are_split_as_the_plan_says(
        ws: Workspace) -> None:
    # Salesforce takes at most 10,000 files per deploy; a smaller limit shows the split here.
    ws.write_apps(app_yaml("billing"), app_yaml("crm"), app_yaml("ops"))
    options = ws.options(max_deploy_files=13)  # 10 component files a deploy: two apps of 5
    plan = compute_plan(ws.paths(), options, Lines()).plan
    (note,) = [w for w in plan.warnings if "deploys of at most" in w]
    assert note.startswith("org 'sb': 3 apps (15 files) are deployed in 2 deploys of at most 13 ")
    lines = Lines()
    _plan, result = apply(ws.paths(), options, lines, approve)
    assert result is not None and not result.failures, result and result.failures
    assert result.deploys == 2 and len(result.deploy_ids["sb"].split(",")) == 2
    assert sorted(result.verified) == ["billing", "crm", "ops"]
    assert [ln for ln in lines.lines if "in one deploy (" in ln] == [
        "deploying 10 component(s) of 2 app(s) to org sb in one deploy (1 of 2)",
        "deploying 5 component(s) of 1 app(s) to org sb in one deploy (2 of 2)"]
    assert [op for op in ws.recorder.operations() if op == "deploy"] == ["deploy", "deploy"]
    assert not compute_plan(ws.paths(), options, Lines()).plan.has_changes


def test_keys_of_new_apps_are_made_while_the_org_is_read(ws: Workspace) -> None:
    # A new app certainly needs a key, so it is made in the background during the reads; an
    # app state knows gets one only when the plan says so.
    lines = Lines()
    _plan, result = apply(ws.paths(), ws.options(), lines, approve)
    assert result is not None and not result.failures and result.verified == ["billing"]
    assert "1 key pair(s) and certificate(s) were made while the org was read" in lines.lines
    assert not [ln for ln in lines.lines if ln.startswith("generating ")]
    forced = Lines()
    _plan, result = apply(ws.paths(), ws.options(force_rotate=frozenset({"billing"})), forced,
                          approve)
    assert result is not None and result.verified == ["billing"]
    assert "generating 1 key pair(s) and certificate(s)" in forced.lines
    assert not [ln for ln in forced.lines if "were made while the org was read" in ln]
