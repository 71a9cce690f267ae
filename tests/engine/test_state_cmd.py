"""``provisioner state list | show | rm`` on a local file and on the git backend."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.engine.conftest import Workspace, cli


def test_list_show_and_rm_forget_deliberately(applied: Workspace) -> None:
    ws = applied
    state = ("--state", str(ws.state_path))
    listed = cli("state", "list", *state)
    assert listed.code == 0, listed.all
    lines = listed.stdout.splitlines()
    assert lines[0] == "app.billing  (externalClientApp billing in org sb)"
    assert any(line.startswith("credential.wf/billing (JWT)  (salesforceJwtApi, record ")
               for line in lines)
    shown = json.loads(cli("state", "show", "app.billing", *state).stdout)
    assert shown["org"] == "sb" and shown["certificate"]["fingerprint"].startswith("sha256:")
    missing = cli("state", "show", "app.nobody", *state)
    assert missing.code == 2 and "use one of: app.billing" in missing.stderr

    serial = json.loads(ws.state_path.read_text())["serial"]
    removed = cli("state", "rm", "credential.wf/billing (OAuth2)", *state)
    assert removed.code == 0, removed.all
    assert "nothing was deleted in Salesforce or Workflow²" in removed.stdout
    doc = json.loads(ws.state_path.read_text())
    assert doc["serial"] == serial + 1
    assert list(doc["apps"]["billing"]["credentials"]) == ["wf/billing (JWT)"]
    assert cli("state", "rm", "app.billing", *state).code == 0
    assert json.loads(ws.state_path.read_text())["apps"] == {}
    assert json.loads(cli("state", "list", *state, "--format", "json").stdout)["resources"] == []


def test_state_commands_read_the_git_backend(ws: Workspace, tmp_path: Path) -> None:
    bare = tmp_path / "state.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(bare)], check=True)
    remote = f"git+file://{bare}"
    assert cli("apply", ws.specs, "--state", remote, "--auto-approve", cwd=ws.root).code == 0
    listed = cli("state", "list", "--state", remote, cwd=ws.root)
    assert listed.code == 0 and listed.stdout.startswith("app.billing  (externalClientApp")
