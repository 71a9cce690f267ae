"""The top-level command: lazy sub-commands, help that cannot drift, one error handler."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from provisioner import __version__
from provisioner.cli.main import COMMANDS, SHORT_HELP, LazyGroup, cli, main
from provisioner.errors import EXIT_USAGE


def test_short_help_table_matches_each_command() -> None:
    assert set(SHORT_HELP) == set(COMMANDS)
    group = cli
    assert isinstance(group, LazyGroup)
    ctx = click.Context(group)
    for name in COMMANDS:
        command = group.get_command(ctx, name)
        assert command is not None
        assert command.get_short_help_str(limit=200) == SHORT_HELP[name], name


def test_top_level_help_imports_no_heavy_module() -> None:
    code = (
        "import sys\n"
        "from provisioner.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('simple_salesforce', 'zeep', 'lxml')]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout


def test_version_and_unknown_command() -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["--version"]).output.strip() == f"provisioner, version {__version__}"
    result = runner.invoke(cli, ["frobnicate"])
    assert result.exit_code == EXIT_USAGE
    assert "No such command 'frobnicate'" in result.output


def test_project_errors_print_message_and_hint_with_exit_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["rotate", "specs/quickstart.yaml"])  # neither --app nor --all
    assert info.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert "Error: say which apps to rotate" in err
    assert "hint: pass --app NAME (repeatable) or --all" in err


@pytest.mark.parametrize("argv", [
    ["plan", "specs/quickstart.yaml", "--detailed-exitcode", "--format", "yaml"],  # click's
    ["plan", "no/such/specs", "--detailed-exitcode"],  # click's: the path does not exist
], ids=["bad-choice", "missing-path"])
def test_a_usage_error_with_detailed_exitcode_exits_1_not_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """With --detailed-exitcode, 2 means "changes present"; a pipeline must never read a usage
    error as that."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 1
    assert "Error" in capsys.readouterr().err
    with pytest.raises(SystemExit) as plain:
        main([a for a in argv if a != "--detailed-exitcode"])
    assert plain.value.code == EXIT_USAGE


def test_every_command_but_the_emulator_and_schema_speaks_json() -> None:
    from click.testing import CliRunner

    from provisioner.cli.main import COMMANDS, cli

    for name in sorted(set(COMMANDS) - {"sandbox", "schema"}):
        args = [name, "list", "--help"] if name == "state" else [name, "--help"]
        shown = CliRunner().invoke(cli, args).output
        assert "--format" in shown and "json" in shown, name
