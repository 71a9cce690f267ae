"""``provisioner check`` against the sandbox org: a checklist with a fix for every miss, and
nothing written anywhere."""

from __future__ import annotations

import json

from tests.engine.conftest import Workspace, app_yaml, cli, running_org


def test_check_passes_on_a_ready_org_and_writes_nothing(ws: Workspace) -> None:
    ws.write_apps(app_yaml("billing"))
    result = cli("check", ws.specs)
    assert result.code == 0, result.all
    lines = result.stdout.splitlines()
    assert lines[0] == "org sb"
    for requirement in ("sign-in", "API version", "My Domain URL", "External Client App metadata",
                        "consumer secrets through the Metadata API", "permission sets exist",
                        "profiles exist", "JWT users exist and are active"):
        assert any(line.startswith(f"  [ok  ] {requirement}") for line in lines), requirement
    assert "Workflow² wf" in lines
    assert lines[-1].startswith("check: ") and " 0 failed" in lines[-1]
    assert not ws.state_path.exists() and not ws.import_file.exists()
    with running_org(ws) as server:
        assert server.org.app("billing") is None


def test_each_miss_is_a_failure_with_its_fix(ws: Workspace) -> None:
    ws.write_apps(app_yaml("billing", permission_sets="[Workflow_Integration, Missing_Set]"))
    with running_org(ws) as server:
        server.org.set_setting("oauthConsumerSecretsViaMetadataApi", False)
    result = cli("check", ws.specs, "--format", "json")
    assert result.code == 1
    doc = json.loads(result.stdout)
    assert doc["formatVersion"] == 1 and doc["ok"] is False
    by_requirement = {c["requirement"]: c for c in doc["checks"] if c["target"] == "org sb"}
    secrets = by_requirement["consumer secrets through the Metadata API"]
    assert secrets["status"] == "fail"
    assert "Allow Access to OAuth Consumer Secrets via Metadata API" in secrets["fix"]
    permsets = by_requirement["permission sets exist"]
    assert permsets["status"] == "fail"
    assert "permission set 'Missing_Set' does not exist" in permsets["detail"]
    assert "apps.yaml:" in permsets["detail"] and "permissionSets[1]" in permsets["detail"]
    assert permsets["fix"].startswith("create or deploy the permission set")
    assert by_requirement["profiles exist"]["status"] == "pass"
    assert doc["summary"]["fail"] == 2
