"""``provisioner import``: adopt existing apps and their records into state without rotating."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from provisioner.cli.cmd_plan import state_location
from provisioner.cli.main import json_document_written
from provisioner.errors import UsageError


@click.command("import", epilog="""\b
Examples:
  provisioner import specs/ --app workflow-integration
  provisioner import specs/ --all --auto-approve --format json

\b
A JWT record is adopted when its key is proven to work: the import file's private key matches
the app's certificate, or Workflow²'s own credential test signs in with it. An OAuth2 record is
adopted when its client secret is the one the org returns. Anything not proven is left out and
the preview says what the next apply does about it (a rotation, or a new consumer secret).
""")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--app", "apps", multiple=True, help="The app (metadata.name) to import; repeatable.")
@click.option("--all", "every", is_flag=True, help="Import every app of the specs.")
@click.option("--auto-approve", is_flag=True, help="Record without asking.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--state", "state_path", default=".provisioner/state.json", show_default=True,
              envvar="PROVISIONER_STATE", callback=state_location,
              help="A state file, or git+URL[#BRANCH].")
@click.option("--lock-timeout", type=click.FloatRange(min=0), default=0.0, show_default=True,
              envvar="PROVISIONER_LOCK_TIMEOUT", help="Seconds to wait for the state lock.")
def import_(paths: tuple[Path, ...], apps: tuple[str, ...], every: bool, auto_approve: bool,
            fmt: str, state_path: Path | str, lock_timeout: float) -> None:
    """Adopt apps that exist in their org, and their credential records, into state without
    rotating, where the current key can be proven to work; previewed like a plan."""
    from provisioner.cli.cmd_plan import _desired, _options, _progress
    from provisioner.engine.importer import ImportPreview, import_apps
    from provisioner.engine.selection import select_apps

    if not apps and not every:
        raise UsageError("name the apps to import", "use --app NAME (repeatable) or --all")
    # A blue/green pair is one app of the specs: naming either side imports both.
    names = select_apps(_desired(paths), apps, every=every, verb="import").apps
    options = _options(state_path, False, True, lock_timeout=lock_timeout)

    def show(preview: ImportPreview, err: bool) -> None:
        for item in preview.items:
            mark = "+" if item.outcome == "adopt" else "-"
            click.echo(f"  {mark} {item.address} {item.outcome}: {item.detail}", err=err)

    def confirm(preview: ImportPreview) -> bool:
        show(preview, err=fmt == "json")
        if auto_approve:
            return True
        if not sys.stdin.isatty():
            raise UsageError("import needs confirmation, and there is no terminal to ask on",
                             "review the preview, then rerun with --auto-approve")
        return click.confirm("Record these in the state?", err=True)

    preview = import_apps(list(paths), options, _progress(), names, confirm)
    recorded = sorted(preview.apps) if preview.adopts else []
    if fmt == "json":
        click.echo(json.dumps({"formatVersion": 1, "command": "import",
                               "status": "imported" if recorded else "nothing-to-import",
                               "items": [i.to_json() for i in preview.items],
                               "recorded": recorded}, indent=2))
        json_document_written()
        return
    if not preview.adopts:
        show(preview, err=False)
        click.echo("Nothing to import: no state was written.")
        return
    click.echo(f"Import complete: {len(recorded)} app(s) recorded in the state "
               f"({', '.join(recorded)}); run plan to see what remains.")
