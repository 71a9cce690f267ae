"""provisioner destroy: deletes managed apps and their records, with protection."""

from __future__ import annotations

import json

from tests.engine.conftest import Workspace, cli, running_org, state_doc


def test_destroy_deletes_the_app_and_its_records_in_one_deploy(applied: Workspace) -> None:
    ws = applied
    ws.recorder.reset()
    out = cli("destroy", ws.specs, "--state", ws.state_path, "--app", "billing", "--auto-approve")
    assert out.code == 0, out.all
    assert "- app.billing delete" in out.stdout
    assert "Plan: 1 app(s) to delete, 2 credential(s) to delete." in out.stdout
    assert "deleted: Workflow² credential wf/billing (JWT)" in out.stdout
    assert json.loads(ws.import_file.read_text()) == []
    assert state_doc(ws)["apps"] == {}
    with running_org(ws) as server:
        assert server.org.app("billing") is None
    again = cli("destroy", ws.specs, "--state", ws.state_path, "--app", "billing", "--auto-approve")
    assert again.code == 0 and "Nothing to do" in again.stdout


def test_destroy_asks_and_refuses_without_a_terminal(applied: Workspace) -> None:
    ws = applied
    out = cli("destroy", ws.specs, "--state", ws.state_path, "--all")
    assert out.code == 2
    assert "destroy needs confirmation" in out.stderr
    assert state_doc(ws)["apps"].keys() == {"billing"}
    missing = cli("destroy", ws.specs, "--state", ws.state_path)
    assert missing.code == 2 and "say which apps to delete" in missing.stderr


def test_destroy_refuses_an_app_provisioner_does_not_manage(applied: Workspace) -> None:
    ws = applied
    ws.state_path.unlink()  # the app stays in the org, but provisioner no longer knows it
    out = cli("destroy", ws.specs, "--state", ws.state_path, "--app", "billing", "--auto-approve")
    assert out.code == 1
    assert "was not created or adopted by provisioner" in out.stderr
    with running_org(ws) as server:
        assert server.org.app("billing") is not None
