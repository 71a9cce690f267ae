"""Every unresolvable secret reference is reported at once, before anything remote is touched."""

from __future__ import annotations

import pytest

from tests.engine.conftest import API_KEY_ENV, ENC_ENV, Workspace, cli


def test_missing_secrets_are_all_reported_before_any_remote_call(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENC_ENV)
    for command in ("plan", "apply"):
        out = cli(command, ws.specs, "--state", ws.state_path, "--auto-approve"
                  if command == "apply" else "--show-unchanged")
        assert out.code == 1, out.all
        assert "secret references cannot be resolved" in out.stderr
        assert f"WorkflowInstance 'wf': environment variable {ENC_ENV} is not set" in out.stderr
        assert "org.yaml:" in out.stderr  # the spec that references it
        assert API_KEY_ENV not in out.stderr  # an importFile instance needs no API key
    # Nothing remote was touched: the embedded org was never started, nothing was written.
    assert not ws.sandbox_dir.exists()
    assert not ws.state_path.exists() and not ws.import_file.exists()
