"""No secret in any output or file: canaries in the environment, generated keys and secrets.

The environment carries canary values (the import file's encryption key, a Workflow² API key).
Generated private keys and consumer secrets are random, so the test collects every one it can
obtain by decrypting the import file after each step. Then every stream of every command (with
``--verbose``), every log record (DEBUG, all loggers) and every file the runs left (state and its
backup, plan files, journal, the import file's raw bytes, the sandbox org's own files) is scanned.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.engine.conftest import (
    Workspace,
    app_yaml,
    assert_no_secret,
    cli,
    secrets_in_records,
)


def test_no_secret_appears_in_outputs_logs_or_files(
    ws: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    outputs: list[str] = []
    secrets: set[str] = set(ws.env.values())
    planfile = ws.root / "plan.json"

    def run(*args: str | Path, expect: int = 0) -> None:
        result = cli("-v", *args)
        outputs.append(result.all)
        assert result.code == expect, result.all
        secrets.update(secrets_in_records(ws))

    state = ("--state", ws.state_path)
    run("plan", ws.specs, *state, "--out", planfile)
    run("plan", ws.specs, *state, "--format", "json")
    run("plan", ws.specs, *state, "--format", "markdown")
    run("apply", planfile, *state)
    run("plan", ws.specs, *state, "--show-unchanged", "--detailed-exitcode")
    run("rotate", ws.specs, *state, "--app", "billing", "--auto-approve")
    # A rotation whose login fails (rollback), then specs the org refuses (a missing permission
    # set: refused at plan, before any deploy).
    ws.write_org(delay=3600.0)  # the new certificate never propagates within the timeout
    run("rotate", ws.specs, *state, "--app", "billing", "--auto-approve", "--verify-timeout", "0.3",
        expect=1)
    ws.write_org(delay=0.0)
    ws.write_apps(app_yaml("billing"), app_yaml("payroll", permission_sets="[Missing_Set]"))
    run("apply", ws.specs, *state, "--auto-approve", expect=1)
    run("plan", ws.specs, *state, "--out", planfile, expect=1)

    # Two applies produced two private keys and one consumer secret, all collected.
    assert len([s for s in secrets if "PRIVATE KEY" in s]) == 2
    assert len(secrets) >= 2 + 2 + 1

    for text in outputs:
        assert_no_secret(text, *secrets, where="command output")
    assert_no_secret(caplog.text, *secrets, where="log records")
    files = [p for p in ws.root.rglob("*") if p.is_file()]
    assert ws.state_path in files and planfile in files and ws.import_file in files
    for path in files:
        assert_no_secret(path.read_text(errors="replace"), *secrets, where=str(path))
