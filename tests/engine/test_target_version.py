"""An import file written for a named Workflow² version (targetVersion) refuses at plan what
that version cannot hold: a JWT record for an External Client App on a server without
myDomainUrl (added in 2.20.0); nothing is deployed or written."""

from __future__ import annotations

from tests.engine.conftest import Workspace, app_yaml, cli, running_org


def _target(ws: Workspace, version: str) -> None:
    ws.write_org()
    org = ws.specs / "org.yaml"
    org.write_text(org.read_text().replace(
        "  baseUrl: http://localhost:5678\n",
        f"  baseUrl: http://localhost:5678\n  targetVersion: \"{version}\"\n"))


def test_an_old_target_version_refuses_the_eca_jwt_record_at_plan(ws: Workspace) -> None:
    _target(ws, "2.8.4")
    ws.write_apps(app_yaml("billing"))
    result = cli("plan", ws.specs, "--state", ws.state_path)
    assert result.code == 1, result.all
    assert ("Workflow² 'wf' has no field myDomainUrl in its 'salesforceJwtApi' credential"
            in result.stderr)
    assert "apps.yaml:" in result.stderr  # at the credential's line
    assert cli("apply", ws.specs, "--state", ws.state_path, "--auto-approve").code == 1
    assert not ws.import_file.exists()
    with running_org(ws) as server:
        assert server.org.app("billing") is None


def test_a_target_version_with_my_domain_plans_and_one_below_support_is_refused(
    ws: Workspace,
) -> None:
    ws.write_apps(app_yaml("billing"))
    _target(ws, "2.20.0")
    assert cli("plan", ws.specs, "--state", ws.state_path).code == 0
    _target(ws, "1.9.0")
    result = cli("validate", ws.specs)
    assert result.code == 1 and "invalid: 1 error" in result.stdout, result.all
    assert "Workflow² 1.9.0 is older than the oldest supported version 2.8.4" in result.stdout
