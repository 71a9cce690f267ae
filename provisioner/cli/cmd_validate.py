"""``provisioner validate`` and ``provisioner schema``: offline checks of specs and the schemas.

Only the spec loader is imported here (PyYAML + jsonschema), never simple-salesforce or zeep, so
validation stays fast and works without network access.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import click

from provisioner.cli.main import current_options, json_document_written
from provisioner.errors import EXIT_ERROR
from provisioner.model import KINDS
from provisioner.spec import ValidationResult, check_paths
from provisioner.spec.schemas import bundle_schema, kind_schema, render_json

#: Version of the ``validate --format json`` document; bump on incompatible changes.
VALIDATE_JSON_VERSION = 1

VALIDATE_EPILOG = """\b
Examples:
  provisioner validate specs/
  provisioner validate specs/quickstart.yaml specs/examples/production.yaml
  provisioner validate --format json specs/ > problems.json

\b
Each problem is printed as
  FILE:LINE:COLUMN: error|warning: MESSAGE (JSON PATH) hint: HOW TO FIX
Warnings are shown but do not fail. Exit codes: 0 valid, 1 problems found, 2 usage error.
"""

SCHEMA_EPILOG = """\b
Examples:
  provisioner schema > provisioner.schema.json
  provisioner schema SalesforceApp
  provisioner schema plan        # also: state, result, error (what --format json prints)

\b
Point yaml-language-server at the bundle with a first line in each spec:
  # yaml-language-server: $schema=./provisioner.schema.json
"""


@dataclass(frozen=True)
class ValidateOptions:
    """What ``validate`` was asked to do."""

    paths: tuple[Path, ...]
    output_format: str
    color: bool


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def render_text(result: ValidationResult, color: bool) -> str:
    """Problems one per line, then a summary line."""
    lines: list[str] = []
    for problem in result.problems:
        line = problem.format()
        if color:
            line = click.style(line, fg="red" if problem.severity == "error" else "yellow")
        lines.append(line)
    files = _plural(len(result.files), "file")
    if result.desired is not None:
        d = result.desired
        spec_apps = [a for a in d.apps.values() if a.primary == a.name]
        pairs = sum(1 for a in spec_apps if a.blue_green)
        summary = (
            f"valid: {files}, {_plural(len(d.orgs), 'org')}, "
            f"{_plural(len(d.instances), 'instance')}, {_plural(len(spec_apps), 'app')}"
            + (f" ({_plural(pairs, 'blue/green pair')})" if pairs else "")
        )
        if result.warnings:
            summary += f" ({_plural(len(result.warnings), 'warning')})"
    else:
        summary = (
            f"invalid: {_plural(len(result.errors), 'error')}, "
            f"{_plural(len(result.warnings), 'warning')} in {files}"
        )
    lines.append(summary)
    return "\n".join(lines)


def render_json_result(result: ValidationResult) -> str:
    """The result as a versioned JSON document."""
    doc = {
        "version": VALIDATE_JSON_VERSION,
        "valid": result.ok,
        "files": [str(f) for f in result.files],
        "errors": len(result.errors),
        "warnings": len(result.warnings),
        "problems": [p.to_json() for p in result.problems],
    }
    return json.dumps(doc, indent=2)


@click.command(epilog=VALIDATE_EPILOG)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people, json for machines.",
)
def validate(paths: tuple[Path, ...], output_format: str) -> None:
    """Check spec files and directories offline: schema and semantic checks.

    Directories are searched recursively for *.yaml and *.yml files. Every problem is reported,
    not only the first.
    """
    options = ValidateOptions(paths, output_format, current_options().color)
    result = check_paths(list(options.paths))
    if options.output_format == "json":
        click.echo(render_json_result(result))
        json_document_written()
    else:
        click.echo(render_text(result, options.color))
    if not result.ok:
        raise click.exceptions.Exit(EXIT_ERROR)


def _kind_choice(value: str | None) -> str | None:
    from provisioner.spec.schemas import DOCUMENT_SCHEMAS

    if value is None:
        return None
    for kind in (*KINDS, *DOCUMENT_SCHEMAS):
        if value.lower() == kind.lower():
            return kind
    raise click.BadParameter(
        f"{value!r} is not a kind or document; choose from "
        f"{', '.join((*KINDS, *DOCUMENT_SCHEMAS))}", param_hint="KIND")


@click.command(epilog=SCHEMA_EPILOG)
@click.argument("kind", required=False)
def schema(kind: str | None) -> None:
    """Print the JSON Schema of the spec language: the bundle, or one KIND's.

    KIND is SalesforceOrg, WorkflowInstance or SalesforceApp (any letter case), or a document
    provisioner writes: plan (plan --out), state, result (apply/rotate/destroy --format json),
    error (any --format json command that fails before printing its own document).
    """
    from provisioner.spec.schemas import DOCUMENT_SCHEMAS, document_schema

    chosen = _kind_choice(kind)
    if chosen in DOCUMENT_SCHEMAS:
        click.echo(render_json(document_schema(chosen)), nl=False)
        return
    data = bundle_schema() if chosen is None else kind_schema(chosen)
    click.echo(render_json(data), nl=False)
