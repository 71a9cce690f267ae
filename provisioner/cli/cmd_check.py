"""``provisioner check``: a read-only preflight against the real orgs and Workflow² instances."""

from __future__ import annotations

import json
from pathlib import Path

import click

from provisioner.cli.main import current_options, json_document_written
from provisioner.errors import EXIT_ERROR

_MARK = {"pass": "ok  ", "fail": "FAIL", "skip": "skip"}


@click.command(epilog="""\b
Examples:
  provisioner check specs/
  provisioner check specs/ --format json > check.json

\b
Exit codes: 0 every requirement holds, 1 one or more fail (or an error), 2 usage error.
""")
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="text: a checklist; json: one document on stdout.")
def check(paths: tuple[Path, ...], fmt: str) -> None:
    """Sign in to every org and Workflow² instance and list what an apply needs, read-only.

    Each requirement is shown as ok, FAIL (with the fix) or skip: the API version, My Domain,
    the deploy user's access to External Client App metadata and consumer secrets, the
    permission sets, profiles and JWT users the specs name, and each Workflow² instance's API
    key, capabilities and credential schemas.
    """
    from provisioner.cli.cmd_plan import _options, _progress
    from provisioner.engine.check import CHECK_FORMAT_VERSION, run_checks
    from provisioner.engine.context import preflight
    from provisioner.engine.run import load_specs

    desired = load_specs(list(paths))
    options = _options(Path(".provisioner/state.json"), False, True)
    preflight(desired, options.environ)
    items = run_checks(desired, options, _progress())
    failed = [i for i in items if i.status == "fail"]
    if fmt == "json":
        doc = {"formatVersion": CHECK_FORMAT_VERSION, "ok": not failed,
               "checks": [i.to_json() for i in items],
               "summary": {s: sum(1 for i in items if i.status == s)
                           for s in ("pass", "fail", "skip")}}
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        json_document_written()
    else:
        color = current_options().color
        target = None
        for item in items:
            if item.target != target:
                target = item.target
                click.echo(target)
            mark = _MARK[item.status]
            if color:
                mark = click.style(mark, fg={"pass": "green", "fail": "red"}.get(item.status))
            click.echo(f"  [{mark}] {item.requirement}: {item.detail}")
            if item.fix:
                click.echo(f"         fix: {item.fix}")
        passed = sum(1 for i in items if i.status == "pass")
        click.echo(f"check: {passed} ok, {len(failed)} failed, "
                   f"{sum(1 for i in items if i.status == 'skip')} skipped")
    if failed:
        raise click.exceptions.Exit(EXIT_ERROR)
