"""``provisioner plan``, ``apply`` and ``rotate``: parse flags, call the engine, render results.

Heavy imports (the engine pulls in simple-salesforce and zeep) happen inside the commands.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from provisioner.cli.main import current_options, json_document_written
from provisioner.errors import EXIT_CHANGES, ProvisionerError, UsageError

if TYPE_CHECKING:
    from provisioner.engine.context import RunOptions
    from provisioner.engine.executor import ApplyResult
    from provisioner.events import Event, Observer
    from provisioner.model import Desired
    from provisioner.plan.types import Plan

PATHS = click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path)
)


def state_location(_ctx: click.Context, _param: click.Parameter, value: str) -> Path | str:
    """``--state``: a local file (a Path), or ``git+URL[#BRANCH]`` kept as text."""
    from provisioner.gitstate import is_git_location

    return value if is_git_location(value) else Path(value)


def _state_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--state", "state_path", default=".provisioner/state.json", show_default=True,
        envvar="PROVISIONER_STATE", callback=state_location,
        help="The state: a local file (secret-free JSON; its lock and journal sit next to it), "
             "or git+URL[#BRANCH] for state shared through a git remote, one file and one lock "
             "per org (env: PROVISIONER_STATE).",
    )(f)


def _run_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = _state_option(f)
    f = click.option("--org", "orgs", multiple=True,
                     help="Only this org's changes (metadata.name); repeatable. Other pending "
                          "changes are listed and not applied.")(f)
    f = click.option("--prune", is_flag=True,
                     help="Delete apps that are in state but no longer in the specs.")(f)
    f = click.option("--allow-plaintext-secrets", is_flag=True,
                     help="Let an importFile sink without encryptionKey write plain secrets.")(f)
    return f


_TARGET_APPS = click.option(
    "--app", "target_apps", multiple=True,
    help="Only this app's changes (metadata.name) and its credentials'; repeatable. Other "
         "pending changes are listed and not applied.")


def _options(state_path: Path | str, prune: bool, plaintext: bool, orgs: tuple[str, ...] = (),
             **extra: Any) -> RunOptions:
    from provisioner.engine.context import RunOptions
    from provisioner.engine.services import Services

    services = current_options().services or Services()
    return RunOptions(state_path=state_path, prune=prune, allow_plaintext_secrets=plaintext,
                      services=services, target_orgs=frozenset(orgs), **extra)


def _progress() -> Observer:
    """Progress on stderr: deploy polls overwritten in place on a terminal, plain lines in CI
    logs; with --verbose also the requests sent to credential servers."""
    from provisioner.events import DeployPolled, RequestSent

    tty = sys.stderr.isatty()
    verbose = current_options().verbose
    last_poll = [False]

    def show(event: Event) -> None:
        if not event.shown and not (verbose and isinstance(event, RequestSent)):
            return
        from provisioner.textsafety import visible

        if tty and isinstance(event, DeployPolled) and not verbose:
            click.echo("\r\033[K" + visible(str(event)), err=True, nl=False)
            last_poll[0] = True
            return
        if last_poll[0]:
            click.echo("", err=True)
            last_poll[0] = False
        click.echo(visible(str(event)), err=True)

    return show


def _style() -> Callable[[str, str], str]:
    color = current_options().color and sys.stdout.isatty()

    def style(text: str, name: str) -> str:
        if not color:
            return text
        if name == "bold":
            return click.style(text, bold=True)
        return click.style(text, fg=name)

    return style


def _render(plan: Plan, fmt: str) -> str:
    from provisioner.plan.render import render_json, render_markdown, render_text

    if fmt == "json":
        return render_json(plan)
    if fmt == "markdown":
        return render_markdown(plan, commit=_commit())
    return render_text(plan, _style())


def _commit() -> str | None:
    """The commit the specs come from, for the PR comment's header: the CI's variable
    (GITHUB_SHA, CI_COMMIT_SHA), else the checkout's HEAD; None when unknown."""
    import os
    import subprocess

    for name in ("PROVISIONER_COMMIT", "GITHUB_SHA", "CI_COMMIT_SHA"):
        if os.environ.get(name):
            return os.environ[name][:12]
    try:
        done = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


@click.command(epilog="""\b
Examples:
  provisioner plan specs/
  provisioner plan specs/ --format markdown > plan.md     # a pull-request comment
  provisioner plan specs/ --out plan.json                  # apply exactly this later
  provisioner plan specs/ --detailed-exitcode               # 0 no changes, 1 error, 2 changes
""")
@PATHS
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text",
              show_default=True, help="How to print the plan.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also save the plan as versioned JSON, for `provisioner apply PLANFILE`.")
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 2 when the plan has changes, 0 when it has none, 1 on error.")
@click.option("--show-unchanged", is_flag=True, help="List unchanged resources too.")
@_TARGET_APPS
@_run_options
def plan(paths: tuple[Path, ...], fmt: str, out: Path | None, detailed_exitcode: bool,
         show_unchanged: bool, target_apps: tuple[str, ...], state_path: Path, prune: bool,
         allow_plaintext_secrets: bool, orgs: tuple[str, ...]) -> None:
    """Show what apply would change: desired (specs) vs live (orgs, Workflow²) vs state.

    Reads only; writes nothing remote. Secrets appear as (sensitive), certificates as
    fingerprints.
    """
    from provisioner.engine.run import compute_plan
    from provisioner.plan.render import render_json, render_text

    options = _options(state_path, prune, allow_plaintext_secrets, orgs,
                       target_apps=frozenset(target_apps))
    outcome = compute_plan(list(paths), options, _progress())
    if fmt == "text" and show_unchanged:
        click.echo(render_text(outcome.plan, _style(), show_unchanged=True), nl=False)
    else:
        click.echo(_render(outcome.plan, fmt), nl=False)
        if fmt == "json":
            json_document_written()
    if out is not None:
        _write_plan_file(out, render_json(outcome.plan))
        click.echo(f"Saved the plan to {out}; apply it with: provisioner apply {out}", err=True)
    if detailed_exitcode and outcome.plan.has_changes:
        sys.exit(EXIT_CHANGES)


def _write_plan_file(path: Path, text: str) -> None:
    from provisioner.fsutil import atomic_write

    try:
        atomic_write(path, text)
    except OSError as exc:
        raise ProvisionerError(f"cannot write the plan file {path}: {exc.strerror}",
                               "check the directory exists and is writable") from exc


def _confirm(auto_approve: bool) -> Callable[[Plan], bool]:
    def confirm(_plan: Plan) -> bool:
        if auto_approve:
            return True
        if not sys.stdin.isatty():
            raise UsageError(
                "apply needs confirmation, and there is no terminal to ask on",
                "review the plan, then rerun with --auto-approve (pipelines: apply a saved "
                "PLANFILE made by plan --out)",
            )
        return click.confirm("Apply these changes?", default=False, err=True)

    return confirm


def _report(result: ApplyResult, err: bool = False) -> None:
    """What the apply did, on stdout (on stderr when stdout carries the JSON document)."""
    def echo(line: str) -> None:
        click.echo(line, err=err)

    for name in result.verified:
        echo(f"verified: app {name}: JWT login with the new key works")
    for name in result.rolled_back:
        echo(f"rolled back: app {name}: the previous certificate is deployed again")
    for key in result.records_written:
        echo(f"wrote: Workflow² credential {key}")
    for key in result.records_deleted:
        echo(f"deleted: Workflow² credential {key}")
    for key, verdict in sorted(result.tests.items()):
        echo(f"tested by Workflow²: {key}: {verdict}")
    for name in result.retired:
        echo(f"retired: app {name}: its old key was retired after the JWT credentials switched "
             "(blue/green)")
    for key, link in sorted(result.connect_links.items()):
        echo(f"connect: {key}: open {link} and click Connect once (OAuth consent needs "
                   "a person)")
    done = (f"{result.deploys} deploy(s), {result.components} component(s), "
            f"{len(result.records_written)} credential record(s) written")
    if not result.failures:
        echo(f"Apply complete: {done}.")
    else:
        # Never a success line when a step failed: say what was done, then the error (stderr).
        echo(f"Apply incomplete: {done}; {len(result.failures)} step(s) failed.")
        first = result.failures[0]
        # Each failure indented as a block (a deploy failure lists its components below it).
        lines = ["  " + line for f in result.failures for line in f.message.splitlines()]
        raise ProvisionerError(
            f"{len(result.failures)} step(s) failed:\n" + "\n".join(lines),
            first.hint,
        )


def _apply(paths: tuple[Path, ...], options: RunOptions, auto_approve: bool, fmt: str,
           command: str = "apply", confirm: Callable[[Plan], bool] | None = None) -> None:
    """Run apply (rotate and destroy are applies with options) and report it.

    With ``--format json`` stdout carries exactly one document (``provisioner schema
    result``): the plan and what the run did; the report lines and errors go to stderr.
    """
    import json

    from provisioner.engine.run import apply as run_apply
    from provisioner.engine.run import is_plan_file

    plan_file = None
    if len(paths) == 1 and is_plan_file(paths[0]):
        plan_file = paths[0]
        auto_approve = True  # the saved plan is what was reviewed
    as_json = fmt == "json"

    def show(p: Plan) -> None:
        if as_json:
            if not auto_approve:  # a person is asked: show them the plan, on stderr
                click.echo(_render(p, "text"), err=True, nl=False)
            return
        click.echo(_render(p, fmt), nl=False)

    plan, result = run_apply(list(paths), options, _progress(), confirm or _confirm(auto_approve),
                             plan_file=plan_file, on_plan=show)
    if as_json:
        status = ("no-changes" if result is None else "failed" if result.failures
                  else "applied")
        doc = {"formatVersion": 1, "command": command, "status": status,
               "plan": plan.to_json(), "result": result.to_json() if result else None}
        click.echo(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False))
        json_document_written()
    if result is None:
        click.echo("Nothing to do: no writes were made.", err=as_json)
        return
    _report(result, err=as_json)


_APPLY_FLAGS = [
    click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation."),
    click.option("--verify-timeout", type=click.FloatRange(min=0), default=600.0,
                 show_default=True,
                 help="Seconds to keep retrying the JWT login while Salesforce propagates."),
    click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]),
                 default="text", show_default=True, help="How to print the plan first."),
]


_LOCK_TIMEOUT = click.option(
    "--lock-timeout", type=click.FloatRange(min=0), default=0.0, show_default=True,
    envvar="PROVISIONER_LOCK_TIMEOUT",
    help="Seconds to wait for a state lock another run holds (0: fail at once).")


def _apply_flags(f: Callable[..., Any]) -> Callable[..., Any]:
    for flag in reversed(_APPLY_FLAGS):
        f = flag(f)
    return _LOCK_TIMEOUT(_run_options(f))


@click.command(epilog="""\b
Examples:
  provisioner apply specs/ --auto-approve
  provisioner plan specs/ --out plan.json && provisioner apply plan.json
  provisioner apply specs/ --verify-timeout 900      # wait longer for Salesforce to propagate
""")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@_TARGET_APPS
@_apply_flags
def apply(paths: tuple[Path, ...], target_apps: tuple[str, ...], auto_approve: bool,
          verify_timeout: float, fmt: str, state_path: Path, prune: bool,
          allow_plaintext_secrets: bool, orgs: tuple[str, ...], lock_timeout: float) -> None:
    """Make Salesforce and Workflow² match the specs: deploy, verify, write credentials.

    PATHS are spec files/directories, or one PLANFILE saved by `plan --out` (refused when the
    specs, the state or the org changed since). Rotates keys that policy says are due.
    """
    options = _options(state_path, prune, allow_plaintext_secrets, orgs,
                       verify_timeout=verify_timeout, target_apps=frozenset(target_apps),
                       lock_timeout=lock_timeout)
    _apply(paths, options, auto_approve, fmt)


def _desired(paths: tuple[Path, ...]) -> Desired:
    from provisioner.engine.run import load_specs

    return load_specs(list(paths))


@click.command(epilog="""\b
Examples:
  provisioner rotate specs/ --app workflow-integration
  provisioner rotate specs/ --all --auto-approve
  provisioner rotate specs/ --app workflow-integration --consumer-secret
  provisioner rotate specs/ --app workflow-integration --now   # the key leaked
""")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--app", "apps", multiple=True, help="The app (metadata.name) to rotate; repeatable.")
@click.option("--all", "rotate_all", is_flag=True, help="Rotate every app that has a certificate.")
@click.option("--consumer-secret", "consumer_secret", is_flag=True,
              help="Rotate the consumer secret instead of the key: Salesforce generates it, "
                   "provisioner reads it back and writes it to the OAuth2 credentials (which "
                   "then need Connect again).")
@click.option("--now", "revoke", is_flag=True,
              help="The key leaked: revoke it in the first deploy, then rotate. Logins fail "
                   "until Workflow² holds the new key (the plan says so), even with blueGreen; "
                   "the old key is never deployed back.")
@_apply_flags
def rotate(paths: tuple[Path, ...], apps: tuple[str, ...], rotate_all: bool,
           consumer_secret: bool, revoke: bool, auto_approve: bool,
           verify_timeout: float, fmt: str, state_path: Path, prune: bool,
           allow_plaintext_secrets: bool, orgs: tuple[str, ...], lock_timeout: float) -> None:
    """Force a new key and certificate now (verified, rolled back if the login fails), or with
    --consumer-secret a new consumer secret.

    With rotation strategy blueGreen the partner app gets the new key and the old one is retired
    after Workflow² holds the new one: no failed login. --now revokes the old key first.

    Apply rotates on its own when rotateBeforeDays or maxAgeDays says a key is due; use rotate
    after a suspected leak or to test the procedure.
    """
    from provisioner.engine.selection import select_rotation, select_secret_rotation

    desired = _desired(paths)
    if consumer_secret:
        chosen = select_secret_rotation(desired, apps, every=rotate_all)
    else:
        chosen = select_rotation(desired, apps, every=rotate_all)
    for name, why in chosen.skipped:
        click.echo(f"not rotating app {name}: {why}", err=True)
    if not chosen.apps:
        if consumer_secret:
            raise UsageError("no app to rotate: none of the apps can get a new consumer secret",
                             "use appType: externalClientApp")
        raise UsageError("no app to rotate: none of the apps has a certificate",
                         "add spec.certificate to an app")
    # Only the rotated apps are touched: other pending changes wait for apply.
    if revoke and consumer_secret:
        raise UsageError("--now revokes a leaked key; a consumer secret is replaced at once anyway",
                         "drop --now, or drop --consumer-secret")
    forced = {"force_secret" if consumer_secret else "force_rotate": chosen.apps}
    if revoke:
        forced["revoke"] = chosen.apps
    options = _options(state_path, prune, allow_plaintext_secrets, orgs,
                       verify_timeout=verify_timeout, target_apps=chosen.apps,
                       lock_timeout=lock_timeout, **forced)
    _apply(paths, options, auto_approve, fmt, command="rotate")


@click.command(epilog="""\b
Examples:
  provisioner destroy specs/ --app old-integration
  provisioner destroy specs/ --all                  # asks you to type 'destroy'
  provisioner destroy specs/ --app old-integration --auto-approve
""")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--app", "apps", multiple=True, help="The app (metadata.name) to delete; repeatable.")
@click.option("--all", "destroy_all", is_flag=True, help="Delete every app of the specs.")
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]),
              default="text", show_default=True, help="How to print the plan first.")
@_LOCK_TIMEOUT
@_run_options
def destroy(paths: tuple[Path, ...], apps: tuple[str, ...], destroy_all: bool, auto_approve: bool,
            fmt: str, state_path: Path, prune: bool, allow_plaintext_secrets: bool,
            orgs: tuple[str, ...], lock_timeout: float) -> None:
    """Delete apps from their orgs and their credential records from Workflow².

    Only apps provisioner created or adopted (they are in state) are deleted; all of an org's
    deletions go in one transactional deploy. Asks you to type 'destroy' unless --auto-approve.
    """
    from provisioner.engine.selection import select_apps

    chosen = select_apps(_desired(paths), apps, every=destroy_all, verb="delete")
    if not chosen.apps:
        raise UsageError("no app to delete: the specs define none", "name an app with --app")
    # Only the destroyed apps are touched: other pending changes wait for apply.
    options = _options(state_path, prune, allow_plaintext_secrets, orgs, destroy=chosen.apps,
                       target_apps=chosen.apps, lock_timeout=lock_timeout)

    def confirm(_plan: Plan) -> bool:
        if auto_approve:
            return True
        if not sys.stdin.isatty():
            raise UsageError("destroy needs confirmation, and there is no terminal to ask on",
                             "review the plan, then rerun with --auto-approve")
        typed: str = click.prompt("This deletes the apps and records above. Type 'destroy' to go on",
                                  err=True)
        return typed.strip() == "destroy"

    _apply(paths, options, auto_approve, fmt, command="destroy", confirm=confirm)
