"""The state lock: a live run's lock is respected (a dead run's is taken over: see test_crash)."""

from __future__ import annotations

from provisioner.lock import default_owner
from provisioner.state import StateStore
from tests.engine.conftest import Workspace, cli


def test_apply_refuses_while_a_live_run_holds_the_lock(applied: Workspace) -> None:
    ws = applied
    ws.write_apps(ws.specs.joinpath("apps.yaml").read_text().replace("refresh_token, full]",
                                                                    "refresh_token, full, openid]"))
    state_bytes = ws.state_path.read_bytes()
    store = StateStore(ws.state_path)
    with store.lock(default_owner(), "apply") as held:  # this process: alive
        result = cli("apply", ws.specs, "--state", ws.state_path, "--auto-approve")
        assert result.code == 1
        assert f"is locked by {default_owner()} for 'apply'" in result.stderr
        assert f"provisioner force-unlock {held.id}" in result.stderr
        assert "taking it over" not in result.stderr
        assert store.read_lock() == held  # not stolen
    assert ws.state_path.read_bytes() == state_bytes
    # Released: the same apply goes through.
    assert cli("apply", ws.specs, "--state", ws.state_path, "--auto-approve").code == 0
