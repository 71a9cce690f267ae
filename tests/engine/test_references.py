"""Names a spec uses that the org lacks are refused at plan, at the file:line that names them,
before anything is deployed (the org answers through its REST API, one query per kind)."""

from __future__ import annotations

from tests.engine.conftest import Workspace, app_yaml, cli, running_org


def test_a_missing_permission_set_profile_or_user_is_named_at_its_line(ws: Workspace) -> None:
    doc = app_yaml("billing", permission_sets="[Workflow_Integration, Missing_Set]")
    doc = doc.replace("profiles: [System Administrator]", "profiles: [Systemadministrator]")
    ws.write_apps(doc)
    apps_file = next(p for p in ws.specs.rglob("*.yaml") if "billing" in p.read_text())
    lines = apps_file.read_text().splitlines()
    permset_line = next(i for i, line in enumerate(lines, 1) if "Missing_Set" in line)
    profile_line = next(i for i, line in enumerate(lines, 1) if "Systemadministrator" in line)

    result = cli("plan", ws.specs, "--state", ws.state_path)
    assert result.code == 1, result.all
    assert (f"{apps_file}:{permset_line}:" in result.stderr and "permission set 'Missing_Set' "
            "does not exist in org 'sb' (spec.preAuthorized.permissionSets[1])") in result.stderr
    assert f"{apps_file}:{profile_line}:" in result.stderr
    assert "profile 'Systemadministrator' does not exist" in result.stderr
    assert "localized" in result.stderr
    assert "Workflow_Integration" not in result.stderr  # the one that exists is not named

    # Nothing was deployed: apply refuses the same way and the org has no app.
    assert cli("apply", ws.specs, "--state", ws.state_path, "--auto-approve").code == 1
    with running_org(ws) as server:
        assert server.org.app("billing") is None


def test_an_inactive_jwt_user_is_refused_at_plan(ws: Workspace) -> None:
    ws.write_apps(app_yaml("billing"))
    with running_org(ws) as server:
        server.org.update_user("integration@sandbox.provisioner.test", active=False)
    result = cli("plan", ws.specs, "--state", ws.state_path)
    assert result.code == 1
    assert ("user 'integration@sandbox.provisioner.test' is inactive in org 'sb' "
            "(spec.credentials[0].username)") in result.stderr
