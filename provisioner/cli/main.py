"""The ``provisioner`` command: global options, lazy sub-commands, and the one error handler.

Sub-commands live in their own modules and are imported only when invoked (or listed by
``--help``); those modules import heavy libraries (simple-salesforce, zeep) inside their
functions, so ``--help`` and ``validate`` stay fast and offline.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from provisioner import __version__
from provisioner.errors import EXIT_ERROR, EXIT_USAGE, ProvisionerError

if TYPE_CHECKING:
    from provisioner.engine.services import Services

#: command name -> "module:attribute" of its click command.
COMMANDS: dict[str, str] = {
    "validate": "provisioner.cli.cmd_validate:validate",
    "check": "provisioner.cli.cmd_check:check",
    "schema": "provisioner.cli.cmd_validate:schema",
    "render": "provisioner.cli.cmd_render:render",
    "plan": "provisioner.cli.cmd_plan:plan",
    "apply": "provisioner.cli.cmd_plan:apply",
    "rotate": "provisioner.cli.cmd_plan:rotate",
    "destroy": "provisioner.cli.cmd_plan:destroy",
    "force-unlock": "provisioner.cli.cmd_state:force_unlock",
    "import": "provisioner.cli.cmd_import:import_",
    "state": "provisioner.cli.cmd_state_inspect:state",
    "sandbox": "provisioner.sandbox.cli:sandbox",
}

#: The one-line help ``provisioner --help`` lists, so listing imports no command module
#: (a test keeps these equal to each command's own short help).
SHORT_HELP: dict[str, str] = {
    "validate": "Check spec files and directories offline: schema and semantic checks.",
    "check": "Sign in to every org and Workflow² instance and list what an apply needs, "
             "read-only.",
    "schema": "Print the JSON Schema of the spec language: the bundle, or one KIND's.",
    "render": "Render deploy packages and Workflow² credential records for review, offline.",
    "plan": "Show what apply would change: desired (specs) vs live (orgs, Workflow²) vs state.",
    "apply": "Make Salesforce and Workflow² match the specs: deploy, verify, write credentials.",
    "rotate": "Force a new key and certificate now (verified, rolled back if the login fails), "
              "or with --consumer-secret a new consumer secret.",
    "force-unlock": "Release the state lock LOCK_ID held by a run that no longer runs.",
    "import": "Adopt apps that exist in their org, and their credential records, into state "
              "without rotating, where the current key can be proven to work; previewed like a "
              "plan.",
    "state": "Inspect the state, or forget a resource deliberately.",
    "destroy": "Delete apps from their orgs and their credential records from Workflow².",
    "sandbox": "Run and inspect the embedded Salesforce org emulator (HTTPS on 127.0.0.1).",
}

EPILOG = """\b
Exit codes: 0 ok, 1 error, 2 usage error. With plan --detailed-exitcode: 0 no changes,
1 any error (usage errors too), 2 changes present.

\b
Examples:
  provisioner validate specs/
  provisioner plan specs/quickstart.yaml
  provisioner apply specs/quickstart.yaml --auto-approve
"""


@dataclass(frozen=True)
class GlobalOptions:
    """Options every command sees through ``click.get_current_context().obj``."""

    verbose: bool
    color: bool
    #: What runs take from outside; None: the standard services.
    services: Services | None = None


def _environment_names(command: click.Command, name: str) -> None:
    """Give every option without one the environment variable PROVISIONER_<COMMAND>_<FLAG>
    (``apply --verify-timeout`` -> ``PROVISIONER_APPLY_VERIFY_TIMEOUT``)."""
    prefix = "PROVISIONER_" + name.upper().replace("-", "_")
    for param in command.params:
        if isinstance(param, click.Option) and not param.envvar and not param.hidden:
            flags = [o for o in param.opts if o.startswith("--")]
            if flags and param.name != "help":
                param.envvar = f"{prefix}_{flags[0][2:].upper().replace('-', '_')}"
    if isinstance(command, click.Group):
        for sub_name, sub_command in command.commands.items():
            _environment_names(sub_command, f"{name}_{sub_name}")


class LazyGroup(click.Group):
    """A group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SHORT_HELP[name]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        _environment_names(command, cmd_name)
        return command


@click.group(cls=LazyGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="provisioner")
@click.option("-v", "--verbose", is_flag=True, envvar="PROVISIONER_VERBOSE",
              help="Show progress details and the cause of errors.")
@click.option("--no-color", is_flag=True, help="Plain output without ANSI colors (also NO_COLOR=1).")
@click.option("-C", "--chdir", "chdir", type=click.Path(exists=True, file_okay=False),
              envvar="PROVISIONER_CHDIR",
              help="Run as if started in this folder (paths, state, caches are relative to it).")
@click.pass_context
def cli(ctx: click.Context, verbose: bool, no_color: bool, chdir: str | None) -> None:
    """Salesforce apps and Workflow² credentials as code.

    Describe apps in YAML specs; validate and render them offline; plan and apply them to
    Salesforce orgs and Workflow² servers; rerun to converge and to rotate keys.

    Every option can also come from the environment: PROVISIONER_<COMMAND>_<OPTION> (e.g.
    PROVISIONER_APPLY_VERIFY_TIMEOUT=900), and PROVISIONER_STATE, PROVISIONER_LOCK_TIMEOUT,
    PROVISIONER_CHDIR, PROVISIONER_VERBOSE for every command. Global options may also follow
    the command (provisioner plan specs/ -v).
    """
    if chdir:
        os.chdir(chdir)  # before the command's arguments are checked against the file system
    color = not no_color and "NO_COLOR" not in os.environ
    given = ctx.obj if isinstance(ctx.obj, GlobalOptions) else None
    ctx.obj = GlobalOptions(verbose=verbose, color=color,
                            services=given.services if given is not None else None)


def current_options() -> GlobalOptions:
    """The global options of the running command (defaults outside a command)."""
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if isinstance(ctx.obj, GlobalOptions):
            return ctx.obj
        ctx = ctx.parent
    return GlobalOptions(verbose=False, color=False)


#: Whether the running command already printed its JSON document (then an error adds none).
_JSON_WRITTEN = [False]


def json_document_written() -> None:
    """Called by a command once its ``--format json`` document is on stdout."""
    _JSON_WRITTEN[0] = True


def _wants_json(args: list[str]) -> bool:
    for i, arg in enumerate(args):
        if arg == "--format=json" or (arg == "--format" and args[i + 1:i + 2] == ["json"]):
            return True
    return False


def _error_document(args: list[str], code: str, message: str, hint: str | None,
                    exit_code: int) -> None:
    """The error envelope (``provisioner schema error``) on stdout, for ``--format json``."""
    import json

    if not _wants_json(args) or _JSON_WRITTEN[0]:
        return
    command = next((a for a in args if a in COMMANDS), None)
    click.echo(json.dumps({
        "formatVersion": 1, "command": command, "status": "error",
        "error": {"code": code, "message": message, "hint": hint, "exitCode": exit_code},
    }, indent=2, sort_keys=True, ensure_ascii=False))


def report_error(exc: ProvisionerError, verbose: bool) -> None:
    """Print a project error as ``Error: ...`` plus its hint (and its cause with --verbose)."""
    from provisioner.textsafety import visible

    click.secho(f"Error: {visible(exc.message)}", err=True, fg="red")
    if exc.hint:
        click.echo(f"hint: {visible(exc.hint)}", err=True)
    if verbose and exc.__cause__ is not None:
        # The cause's type only: vendor exception texts may echo request data.
        click.echo(f"cause: {type(exc.__cause__).__module__}.{type(exc.__cause__).__name__}", err=True)


_GLOBAL_FLAGS = {"-v", "--verbose", "--no-color"}
_GLOBAL_VALUES = {"-C", "--chdir"}


def _globals_first(args: list[str]) -> list[str]:
    """``args`` with global options that follow the command moved before it, so pipelines may
    write ``provisioner apply plan.json -v -C infra``. Stops at ``--``."""
    command = next((i for i, a in enumerate(args) if a in COMMANDS), None)
    if command is None:
        return list(args)
    front, rest, moved = list(args[:command + 1]), list(args[command + 1:]), []
    kept: list[str] = []
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg == "--":
            kept += rest[i:]
            break
        if arg in _GLOBAL_FLAGS:
            moved.append(arg)
        elif arg in _GLOBAL_VALUES and i + 1 < len(rest):
            moved += [arg, rest[i + 1]]
            i += 1
        elif arg.startswith("--chdir="):
            moved.append(arg)
        else:
            kept.append(arg)
        i += 1
    return front[:command] + moved + front[command:] + kept


def main(argv: list[str] | None = None, services: Services | None = None) -> None:
    """Entry point of the console script: runs the CLI and maps errors to exit codes.

    ``services`` replace the standard connector, key maker, clock and observer of every run the
    command makes (a program embedding provisioner, the end-to-end tests).
    """
    args = _globals_first(sys.argv[1:] if argv is None else argv)
    verbose = "-v" in args or "--verbose" in args
    # With --detailed-exitcode, 2 means "changes present": a usage error must not say so.
    usage_code = EXIT_ERROR if "--detailed-exitcode" in args else EXIT_USAGE
    _JSON_WRITTEN[0] = False
    try:
        code = cli.main(args=args, prog_name="provisioner", standalone_mode=False,
                        obj=GlobalOptions(verbose=False, color=False, services=services))
    except ProvisionerError as exc:
        report_error(exc, verbose)
        code = usage_code if exc.exit_code == EXIT_USAGE else exc.exit_code
        _error_document(args, type(exc).__name__, exc.message, exc.hint, code)
        sys.exit(code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(EXIT_ERROR)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        code = usage_code if isinstance(exc, click.UsageError) else exc.exit_code
        _error_document(args, "UsageError" if isinstance(exc, click.UsageError)
                        else type(exc).__name__, exc.format_message(), None, code)
        sys.exit(code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except OSError as exc:
        # A file system refusal no check caught (a folder that cannot be made, a read-only or
        # full disk, permissions): the path and the fix, never a traceback. Every write is
        # atomic, so what was there before is untouched.
        error = file_system_error(exc)
        report_error(error, verbose)
        _error_document(args, "FileSystemError", error.message, error.hint, EXIT_ERROR)
        sys.exit(EXIT_ERROR)
    sys.exit(code if isinstance(code, int) else 0)


def file_system_error(exc: OSError) -> ProvisionerError:
    """The project error for a file system refusal: what failed, on which path, and the fix."""
    import errno

    path = exc.filename if exc.filename is not None else "a file"
    reason = exc.strerror or type(exc).__name__
    fixes = {
        errno.ENOSPC: "free space on that disk (or point --state/-C elsewhere), then run again",
        errno.EDQUOT: "free space within your quota, then run again",
        errno.EFBIG: "the file would pass this process's file-size limit (ulimit -f) or the "
                     "file system's: raise the limit or free space, then run again",
        errno.EROFS: "the file system is read-only: point --state (or -C) at a writable folder",
        errno.EACCES: "give this user access to it and its folder, or point --state (or -C) "
                      "elsewhere",
        errno.EPERM: "give this user access to it and its folder, or point --state (or -C) "
                     "elsewhere",
        errno.ENOTDIR: "a part of the path is a file, not a folder: fix the path",
        errno.ENOENT: "a folder on the path does not exist: fix the path or create the folder",
    }
    hint = fixes.get(exc.errno or 0, "check the path, its permissions and the free space")
    return ProvisionerError(f"cannot use {path}: {reason}; nothing there was changed", hint)
