"""The restore path the damaged-state hint offers: putting the .backup (the state before the
last save) back is safe; the next apply rotates what it no longer matches and converges."""

from __future__ import annotations

import json
import shutil

from provisioner.secret import Secret
from tests.engine.conftest import Workspace, cli, jwt_login, records, running_org, state_doc


def test_restoring_the_backup_after_a_rotation_converges(applied: Workspace) -> None:
    ws = applied
    state = ("--state", str(ws.state_path))
    assert cli("rotate", ws.specs, *state, "--app", "billing", "--auto-approve").code == 0
    backup = ws.state_path.with_name(ws.state_path.name + ".backup")
    # The backup is the state before the last save (one serial older).
    assert json.loads(backup.read_text())["serial"] == state_doc(ws)["serial"] - 1

    ws.state_path.write_text("{ damaged")
    damaged = cli("plan", ws.specs, *state)
    assert damaged.code == 1 and "restore it from its .backup copy" in damaged.stderr
    shutil.copy(backup, ws.state_path)

    plan = json.loads(cli("plan", ws.specs, *state, "--format", "json").stdout)
    assert [a["action"] for a in plan["apps"]] in (["no-op"], ["rotate"])  # never an error
    assert cli("apply", ws.specs, *state, "--auto-approve").code == 0
    assert cli("plan", ws.specs, *state, "--detailed-exitcode").code == 0
    st = state_doc(ws)["apps"]["billing"]
    with running_org(ws) as org:
        jwt_login(org, st["consumerKey"], Secret(records(ws)["billing (JWT)"]["data"]["privateKey"]))


def test_restoring_a_state_from_before_a_rotation_rotates_and_converges(
    applied: Workspace,
) -> None:
    ws = applied
    state = ("--state", str(ws.state_path))
    older = ws.state_path.read_text()  # as version control would hold it
    assert cli("rotate", ws.specs, *state, "--app", "billing", "--auto-approve").code == 0
    ws.state_path.write_text(older)
    plan = json.loads(cli("plan", ws.specs, *state, "--format", "json").stdout)
    (app,) = plan["apps"]
    # The org's certificate is not the one this state knows: its key is not held, so a new
    # one is made and verified (nothing breaks, nothing is trusted blindly).
    assert app["action"] == "rotate" and app["rotateReasons"][0].startswith("certificate foreign")
    assert cli("apply", ws.specs, *state, "--auto-approve").code == 0
    assert cli("plan", ws.specs, *state, "--detailed-exitcode").code == 0
    st = state_doc(ws)["apps"]["billing"]
    with running_org(ws) as org:
        jwt_login(org, st["consumerKey"], Secret(records(ws)["billing (JWT)"]["data"]["privateKey"]))
