"""Planning errors and deploy failures: clear messages naming file:line and app, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.engine.run import apply, compute_plan
from provisioner.errors import PlanError
from provisioner.secret import Secret
from tests.engine.conftest import (
    LOOKUP_REFUSED,
    Lines,
    Recorder,
    Workspace,
    app_yaml,
    approve,
    cli,
    jwt_login,
    records,
    running_org,
    state_doc,
)


def test_connected_app_create_on_creation_disabled_org_is_a_planning_error(ws: Workspace) -> None:
    spec = ws.write_apps(app_yaml("legacy", app_type="connectedApp"))
    with pytest.raises(PlanError) as caught:
        compute_plan(ws.paths(), ws.options(), Lines())
    message = caught.value.message
    assert f"{spec}:1:1: app 'legacy': org 'sb' refuses to create the Connected App legacy" in message
    assert "set appType: externalClientApp" in message
    # Asking the org is a check-only deploy: nothing is written.
    assert ws.recorder.writes() == []
    assert "checkDeployStatus" in ws.recorder.operations()

    result = cli("apply", ws.specs, "--state", ws.state_path, "--auto-approve")
    assert result.code == 1
    assert "Error: the specs cannot be applied:" in result.stderr
    assert "appType: externalClientApp" in result.stderr
    assert not ws.state_path.exists() and not ws.import_file.exists()
    with running_org(ws) as org:
        assert org.org.app("legacy") is None


def test_component_failure_changes_nothing_and_names_file_and_app(applied: Workspace) -> None:
    ws = applied
    state_bytes = ws.state_path.read_bytes()
    file_bytes = ws.import_file.read_bytes()
    before = state_doc(ws)["apps"]["billing"]
    # A scope change for the existing app, and a new app whose permission set the org lacks;
    # the org refuses plan's lookup of the names, so only the deploy finds out.
    spec = ws.write_apps(
        app_yaml("billing", scopes="[api, refresh_token, full, openid]"),
        app_yaml("payroll", permission_sets="[No_Such_Permission_Set]"),
    )
    result = cli("apply", ws.specs, "--state", ws.state_path, "--auto-approve",
                 faults=LOOKUP_REFUSED)
    assert result.code == 1
    assert "the names could not be looked up" in result.stdout
    assert "Apply incomplete: 0 deploy(s), 0 component(s), 0 credential record(s) written; 1 step(s) failed." in result.stdout
    assert "Apply complete" not in result.all
    error = result.stderr[result.stderr.index("Error: "):].splitlines()
    assert error[0] == "Error: 1 step(s) failed:"
    assert error[1].startswith("  org 'sb': deploy ") and "1 component failure(s)" in error[1]
    # payroll's document starts after billing's and the "---" separator: its line is named.
    assert error[2].startswith(f"    - {spec}:") and ": app 'payroll': " in error[2]
    assert "No_Such_Permission_Set" in error[2]
    line_no = int(error[2].split(f"{spec}:")[1].split(":")[0])
    assert spec.read_text().splitlines()[line_no - 1] == "apiVersion: provisioner.dev/v1"
    assert spec.read_text().splitlines()[line_no + 2].strip() == "name: payroll"
    assert error[3].startswith("hint: ")

    # Nothing changed: the deploy was one transaction; state, records and org are as before.
    assert ws.state_path.read_bytes() == state_bytes
    assert ws.import_file.read_bytes() == file_bytes
    with running_org(ws) as org:
        assert org.org.app("payroll") is None
        app = org.org.app("billing")
        assert app is not None
        oauth = app["components"]["ExtlClntAppOauthSettings"]
        assert "OpenID" not in str(oauth)
        jwt_login(org, before["consumerKey"],
                  Secret(records(ws)["billing (JWT)"]["data"]["privateKey"]))
    # The failure left no journal behind to confuse the next plan.
    assert not Path(str(ws.state_path) + ".journal").exists()
    ws.recorder = Recorder(faults=LOOKUP_REFUSED)
    plan = compute_plan(ws.paths(), ws.options(), Lines()).plan
    assert not any("interrupted" in w for w in plan.warnings)


def test_failed_org_does_not_lose_what_another_org_made(ws: Workspace) -> None:
    """Orgs are independent: one org's refused deploy must not cost the keys made for another."""
    (ws.specs / "org2.yaml").write_text(
        "apiVersion: provisioner.dev/v1\nkind: SalesforceOrg\nmetadata:\n  name: sb2\n"
        "spec:\n  sandbox:\n    stateDir: ../sandbox2\n"
    )
    bad = app_yaml("payroll", permission_sets="[No_Such_Permission_Set]").replace(
        "org: sb\n", "org: sb2\n")
    ws.write_apps(app_yaml("billing"), bad)
    ws.recorder = Recorder(faults=LOOKUP_REFUSED)  # so the deploy, not plan, finds the miss
    _plan, result = apply(ws.paths(), ws.options(), Lines(), approve)
    assert result is not None
    (failure,) = result.failures
    assert failure.message.startswith("org 'sb2': deploy ") and "app 'payroll'" in failure.message
    # billing (org sb) was deployed, verified and its records written: its key is not lost.
    assert result.verified == ["billing"]
    assert sorted(result.records_written) == ["wf/billing (JWT)", "wf/billing (OAuth2)"]
    assert set(state_doc(ws)["apps"]) == {"billing"}

    ws.write_apps(app_yaml("billing"), bad.replace("No_Such_Permission_Set", "Workflow_Integration"))
    plan = compute_plan(ws.paths(), ws.options(), Lines()).plan
    assert [(a.app, a.action) for a in plan.apps] == [("billing", "no-op"), ("payroll", "create")]
    _plan, result2 = apply(ws.paths(), ws.options(), Lines(), approve)
    assert result2 is not None and not result2.failures and result2.verified == ["payroll"]
    assert not compute_plan(ws.paths(), ws.options(), Lines()).plan.has_changes


def test_injected_deploy_failure_changes_nothing(ws: Workspace) -> None:
    ws.recorder = Recorder(faults=("deploy:fail",))
    _plan, failed = apply(ws.paths(), ws.options(), Lines(), approve)
    assert failed is not None and failed.deploys == 0 and failed.records_written == []
    (failure,) = failed.failures
    assert failure.message.startswith("org 'sb': deploy ")
    assert "sandbox fault injection" in failure.message
    assert not ws.import_file.exists() or records(ws) == {}
    state = state_doc(ws) if ws.state_path.exists() else {"apps": {}}
    assert state["apps"] == {}
    with running_org(ws) as org:
        assert org.org.app("billing") is None
    # The next run (no fault) creates everything.
    ws.recorder = Recorder()
    _plan, result = apply(ws.paths(), ws.options(), Lines(), approve)
    assert result is not None and not result.failures and result.verified == ["billing"]


def test_a_taken_sandbox_port_is_refused_not_moved(applied: Workspace) -> None:
    # The embedded org's URL (its port) is in the JWT records as their My Domain URL: moving it
    # would make the next plan rotate every app. A concurrent run holding the port, or anything
    # else, gets a clear refusal instead, and nothing changes.
    import json
    import socket

    ws = applied
    port = json.loads((ws.sandbox_dir / "server.json").read_text())["port"]
    state_before = ws.state_path.read_bytes()
    records_before = ws.import_file.read_bytes()
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", port))
        holder.listen(1)
        result = cli("plan", ws.specs, "--state", ws.state_path)
        assert result.code == 1, result.all
        assert f"port {port} is in use" in result.stderr
        assert "another provisioner run may be using this sandbox" in result.stderr
        assert "Traceback" not in result.all
        applied_result = cli("apply", ws.specs, "--state", ws.state_path, "--auto-approve")
        assert applied_result.code == 1 and f"port {port} is in use" in applied_result.stderr
    assert json.loads((ws.sandbox_dir / "server.json").read_text())["port"] == port
    assert ws.state_path.read_bytes() == state_before
    assert ws.import_file.read_bytes() == records_before
    again = cli("plan", ws.specs, "--state", ws.state_path, "--detailed-exitcode")
    assert again.code == 0, again.all  # the same URL: nothing to rotate
