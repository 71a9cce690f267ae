"""``provisioner sandbox`` commands: help with examples, users/apps inspection, serve until
SIGTERM, and no secret in any output."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from sandbox_helpers import BOOTSTRAP_SECRET, DEPLOY_PASSWORD

from provisioner.sandbox import SandboxServer
from provisioner.sandbox.cli import sandbox


@pytest.mark.parametrize("command", [[], ["serve"], ["users"], ["apps"]])
def test_help_has_examples(command: list[str]) -> None:
    result = CliRunner().invoke(sandbox, [*command, "--help"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "Example" in result.output


def test_serve_help_documents_fault_syntax() -> None:
    out = CliRunner().invoke(sandbox, ["serve", "--help"], terminal_width=200).output
    for example in ["token:latency=0.1", "soap:http500@rate=0.2",
                    "soap:REQUEST_LIMIT_EXCEEDED@count=2", "deploy:fail", "*:drop@count=1"]:
        assert example in out


def test_bad_fault_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(sandbox, ["serve", "--state-dir", str(tmp_path),
                                          "--fault", "soap:explode"])
    assert result.exit_code == 2
    assert "bad fault spec" in result.output


def test_users_and_apps(make_sandbox: Callable[..., SandboxServer]) -> None:
    srv = make_sandbox()
    runner = CliRunner()
    users = runner.invoke(sandbox, ["users", "--state-dir", str(srv.state_dir)],
                          catch_exceptions=False)
    assert users.exit_code == 0
    assert users.output.splitlines()[1].split()[:3] == ["deploy@sandbox.provisioner.test", "System",
                                                        "Administrator"]
    assert "Workflow_Integration" in users.output
    apps = runner.invoke(sandbox, ["apps", "--state-dir", str(srv.state_dir), "--json"],
                         catch_exceptions=False)
    listed = json.loads(apps.output)
    assert [a["fullName"] for a in listed] == ["Provisioner_Bootstrap"]
    table = runner.invoke(sandbox, ["apps", "--state-dir", str(srv.state_dir)]).output
    assert "PROVISIONERSANDBOXBOOTSTRAP0001" in table and "sha256:" in table
    key = srv.deploy_credentials().private_key_path.read_text()
    for out in (users.output, apps.output, table):
        assert BOOTSTRAP_SECRET not in out and DEPLOY_PASSWORD not in out
        assert key.splitlines()[1] not in out


def test_inspecting_a_missing_state_dir_says_what_to_do(tmp_path: Path) -> None:
    result = CliRunner().invoke(sandbox, ["users", "--state-dir", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert "provisioner sandbox serve --state-dir" in result.output


def test_serve_runs_until_sigterm(template_dir: Path, tmp_path: Path) -> None:
    import shutil

    state = tmp_path / "served"
    shutil.copytree(template_dir, state)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from provisioner.sandbox.cli import sandbox; sandbox()", "serve",
         "--state-dir", str(state), "--port", "0", "--deploy-seconds", "0.25"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(4)]
        url = lines[0].rsplit(" ", 1)[1].strip()
        assert url.startswith("https://127.0.0.1:")
        assert f"CA bundle: {state / 'ca.pem'}" in lines[2]
        assert "REQUESTS_CA_BUNDLE" in lines[3]
        resp = requests.get(f"{url}/services/data", verify=str(state / "ca.pem"), timeout=10)
        assert resp.status_code == 200
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Sandbox stopped." in out
    saved = json.loads((state / "org.json").read_text())
    assert saved["org"]["settings"]["deployProcessingSeconds"] == 0.25
    key = (state / "bootstrap-key.pem").read_text().splitlines()[1]
    assert key not in out + err + "".join(lines)
