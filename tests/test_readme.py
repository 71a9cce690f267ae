"""README's two commands stay true: the quick start runs as written, the test command is CI's."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from provisioner.cli.main import COMMANDS, cli
from provisioner.spec import check_paths

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")


def _block_after(marker: str) -> str:
    match = re.search(re.escape(marker) + r"\s*```sh\n(.*?)```", README, re.S)
    assert match, f"README has no ```sh block after {marker}"
    return match.group(1).strip()


def test_quickstart_is_one_command_that_installs_and_runs_plan_and_apply() -> None:
    command = _block_after("<!-- quickstart-command -->")
    assert "\n" not in command
    steps = [s.strip() for s in command.split("&&")]
    assert steps[0] == "python3 -m venv .venv"
    assert steps[1].startswith(".venv/bin/pip install") and steps[1].endswith(" .")
    assert ".venv/bin/provisioner plan specs/quickstart.yaml" in steps
    assert ".venv/bin/provisioner apply specs/quickstart.yaml --auto-approve" in steps


def _run_quickstart(workdir: Path) -> list[subprocess.CompletedProcess[str]]:
    """Run the README's quick start after its install steps, with this environment's CLI."""
    steps = [s.strip() for s in _block_after("<!-- quickstart-command -->").split("&&")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("REQUESTS_CA")}
    runs = []
    for step in steps[2:]:
        argv = shlex.split(step)
        if argv[0] == "export":
            name, _, value = argv[1].partition("=")
            env[name] = value
            continue
        assert argv[0] == ".venv/bin/provisioner", step
        runs.append(subprocess.run(
            [sys.executable, "-m", "provisioner", *argv[1:]], cwd=workdir, env=env,
            capture_output=True, text=True, timeout=300, check=False,
        ))
    return runs


def test_quickstart_runs_and_converges(tmp_path: Path) -> None:
    shutil.copytree(REPO / "specs", tmp_path / "specs")
    plan, apply = _run_quickstart(tmp_path)
    assert plan.returncode == 0, plan.stderr
    assert "Plan: 1 app(s) to create, 2 credential(s) to create." in plan.stdout
    assert apply.returncode == 0, apply.stderr
    assert "verified: app workflow-integration: JWT login with the new key works" in apply.stdout
    assert (tmp_path / ".provisioner" / "quickstart-credentials.json").stat().st_mode & 0o777 == 0o600
    again_plan, again_apply = _run_quickstart(tmp_path)
    assert "No changes." in again_plan.stdout
    assert "Nothing to do: no writes were made." in again_apply.stdout


def test_test_command_is_what_ci_runs() -> None:
    assert _block_after("<!-- test-command -->") == "bash .ci/run"
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    last = [ln for ln in ci.splitlines() if ln.strip() and not ln.lstrip().startswith("#")][-1]
    assert last == ".venv/bin/python -m pytest -q"
    assert f"`{last}`" in README


def test_readme_spec_example_validates(tmp_path: Path) -> None:
    match = re.search(r"A production setup.*?```yaml\n(.*?)```", README, re.S)
    assert match
    spec = tmp_path / "prod.yaml"
    spec.write_text(match.group(1), encoding="utf-8")
    result = check_paths([spec])
    assert result.errors == [], [p.format() for p in result.errors]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_is_documented_with_examples(name: str) -> None:
    assert f"provisioner {name}" in README
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output


def test_the_supported_versions_table_matches_the_code_and_ci() -> None:
    from provisioner.workflow2.versions import MY_DOMAIN_SINCE, NEWEST_SUPPORTED, OLDEST_SUPPORTED
    from tests.n8n_server import N8N_VERSION, OLDEST_N8N_VERSION

    text = (REPO / "README.md").read_text(encoding="utf-8")
    table = text.split("<!-- workflow2-versions -->", 1)[1].split("\n\n", 1)[0]
    assert f"| {NEWEST_SUPPORTED} | newest supported, tested in CI |" in table
    assert f"| {OLDEST_SUPPORTED} | oldest supported, tested in CI |" in table
    assert f"| {MY_DOMAIN_SINCE} and later |" in table
    assert (N8N_VERSION, OLDEST_N8N_VERSION) == (NEWEST_SUPPORTED, OLDEST_SUPPORTED)
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert f"PROVISIONER_N8N_VERSION={OLDEST_SUPPORTED} bash .ci/install-n8n.sh" in ci
    assert f'DEFAULT_N8N_VERSION={NEWEST_SUPPORTED}' in (
        REPO / ".ci" / "install-n8n.sh").read_text(encoding="utf-8")
