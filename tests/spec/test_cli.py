"""``provisioner validate`` and ``provisioner schema`` through click's CliRunner: exact exit codes
and output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from provisioner.cli.main import cli, main
from provisioner.spec.schemas import bundle_schema, kind_schema, render_json

HERE = Path(__file__).parent
REPO = HERE.parents[1]
SPECS = REPO / "specs"


def run(*args: str) -> Result:
    """The CLI with separate streams; exceptions propagate so failures show their cause."""
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_validate_example_specs() -> None:
    result = run("validate", str(SPECS))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[-1] == "valid: 2 files, 2 orgs, 2 instances, 3 apps (1 blue/green pair) (1 warning)"
    assert lines[0].startswith(
        f"{SPECS}/examples/production.yaml:84:3: warning: Salesforce blocks creating"
    )
    assert result.stderr == ""


def test_validate_quickstart_is_clean() -> None:
    result = run("validate", str(SPECS / "quickstart.yaml"))
    assert (result.exit_code, result.stdout) == (0, "valid: 1 file, 1 org, 1 instance, 1 app\n")


def test_validate_reports_every_problem_and_exits_1() -> None:
    file = HERE / "invalid" / "many-problems.yaml"
    result = run("validate", str(file))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{file}:4:3: error: name must use lowercase letters, digits and '-', and start and end with "
        "a letter or digit (got 'Org') (metadata.name)",
        f"{file}:13:3: error: baseUrl must be an https:// URL without a #fragment (http:// only for "
        "localhost or 127.0.0.1) (got 'http://wf.example.com') (spec.baseUrl)",
        f"{file}:25:12: error: unknown OAuth scope 'apii' (spec.scopes[0]) hint: did you mean 'api'?",
        f"{file}:26:17: error: keySize must be one of 2048, 3072, 4096, not 1000 (spec.certificate.keySize)",
        "invalid: 4 errors, 0 warnings in 1 file",
    ]


def test_validate_json_format() -> None:
    file = HERE / "invalid" / "app-unknown-org.yaml"
    result = run("validate", "--format", "json", str(file), str(SPECS / "quickstart.yaml"))
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc == {
        "version": 1,
        "valid": False,
        "files": [str(file), str(SPECS / "quickstart.yaml")],
        "errors": 1,
        "warnings": 0,
        "problems": [
            {
                "severity": "error",
                "file": str(file),
                "line": 13,
                "column": 3,
                "message": "unknown SalesforceOrg 'orgg'",
                "jsonPath": "spec.org",
                "hint": "did you mean 'org'?",
            }
        ],
    }


def test_validate_json_success() -> None:
    result = run("validate", "--format", "json", str(SPECS / "quickstart.yaml"))
    assert result.exit_code == 0
    assert json.loads(result.stdout)["valid"] is True


@pytest.mark.parametrize(
    "args",
    [
        ["validate"],
        ["validate", "no/such/file.yaml"],
        ["validate", "--format", "xml", "specs"],
        ["schema", "SalesforceThing"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "Error:" in result.stderr


def test_console_entry_point_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ok:
        main(["validate", str(SPECS / "quickstart.yaml")])
    assert ok.value.code == 0
    with pytest.raises(SystemExit) as bad:
        main(["validate", str(HERE / "invalid" / "empty.yaml")])
    assert bad.value.code == 1
    assert f"{HERE / 'invalid' / 'empty.yaml'}:1:1: error: file is empty" in capsys.readouterr().out


def test_schema_prints_the_bundle() -> None:
    result = run("schema")
    assert result.exit_code == 0
    assert result.stdout == render_json(bundle_schema())
    assert result.stdout == (REPO / "schemas" / "provisioner.schema.json").read_text()


@pytest.mark.parametrize("spelling", ["SalesforceApp", "salesforceapp"])
def test_schema_prints_one_kind(spelling: str) -> None:
    result = run("schema", spelling)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == kind_schema("SalesforceApp")


def test_unknown_kind_names_the_kinds() -> None:
    result = CliRunner().invoke(cli, ["schema", "app"])
    assert result.exit_code == 2
    assert (
        "'app' is not a kind or document; choose from SalesforceOrg, WorkflowInstance, "
        "SalesforceApp, plan, state, result" in result.stderr
    )


@pytest.mark.parametrize(
    "command, example",
    [
        ("validate", "provisioner validate specs/"),
        ("validate", "provisioner validate --format json specs/ > problems.json"),
        ("schema", "provisioner schema SalesforceApp"),
        ("schema", "# yaml-language-server: $schema="),
    ],
)
def test_help_has_examples(command: str, example: str) -> None:
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "Examples:" in result.stdout and example in result.stdout


def test_validate_does_not_import_salesforce_clients() -> None:
    code = (
        "import sys\n"
        "from provisioner.cli.main import main\n"
        "try:\n"
        f"    main(['validate', {str(SPECS)!r}])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('simple_salesforce', 'zeep', 'lxml'))\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=REPO,
    )
    assert out.stdout.splitlines()[-1] == "HEAVY []"
