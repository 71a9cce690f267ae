"""Configuration for pipelines: -C/--chdir, global flags after the command, and every option
from PROVISIONER_* environment variables."""

from __future__ import annotations

import json

import pytest

from provisioner.cli.main import _globals_first
from tests.engine.conftest import Workspace, cli


def test_global_flags_after_the_command_move_before_it() -> None:
    assert _globals_first(["plan", "specs", "-v", "-C", "infra", "--no-color"]) == [
        "-v", "-C", "infra", "--no-color", "plan", "specs"]
    assert _globals_first(["apply", "p.json", "--chdir=x", "--", "-v"]) == [
        "--chdir=x", "apply", "p.json", "--", "-v"]
    assert _globals_first(["-v", "validate", "specs"]) == ["-v", "validate", "specs"]


def test_chdir_runs_from_another_folder(ws: Workspace) -> None:
    elsewhere = ws.root.parent
    result = cli("validate", "specs", "-C", str(ws.root), cwd=elsewhere)
    assert result.code == 0, result.all
    missing = cli("validate", "specs", cwd=elsewhere)
    assert missing.code == 2  # without -C the relative path does not exist there


def test_options_come_from_the_environment(ws: Workspace, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    monkeypatch.setenv("PROVISIONER_PLAN_FORMAT", "json")
    monkeypatch.setenv("PROVISIONER_STATE", str(ws.root / "env-state.json"))
    monkeypatch.setenv("PROVISIONER_CHDIR", str(ws.root))
    result = cli("plan", "specs", cwd=ws.root.parent)
    assert result.code == 0, result.all
    doc = json.loads(result.stdout)
    assert [a["action"] for a in doc["apps"]] == ["create"]
    result = cli("apply", "specs", "--auto-approve", cwd=ws.root.parent)
    assert result.code == 0, result.all
    assert (ws.root / "env-state.json").exists() and not ws.state_path.exists()
