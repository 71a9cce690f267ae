"""``provisioner render PATHS --out DIR``: the deploy packages and credential records, offline.

Imports only the spec loader, the metadata builders and the record builders: no
simple-salesforce, no zeep, no network.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

from provisioner.render_package import MARKER, render_files, write_render
from provisioner.spec import load_desired

RENDER_EPILOG = f"""\b
Examples:
  provisioner render specs/ --out build/render
  provisioner render specs/quickstart.yaml --out /tmp/review --force

\b
Writes, for each org, DIR/ORG/package.xml and the component files of its deploy
package (the tree an apply deploys), and for each Workflow² instance
DIR/workflow2/INSTANCE/credentials.json (the records an apply writes). Keys,
certificates and consumer keys/secrets are generated at apply time: they appear
as XML comments or "(sensitive)" / "(generated at apply)" placeholders. No
secret reference is read. Same specs, same bytes.

\b
DIR is replaced as a whole (atomically). render refuses a non-empty DIR it did
not write (no {MARKER} file) unless --force is given.
Exit codes: 0 ok, 1 spec or write error, 2 usage error.
"""


@dataclass(frozen=True)
class RenderOptions:
    """What ``render`` was asked to do."""

    paths: tuple[Path, ...]
    out: Path
    force: bool


@click.command("render", epilog=RENDER_EPILOG)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    "-o",
    "out",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Output directory (replaced as a whole).",
)
@click.option("--force", is_flag=True, help="Replace DIR even if render did not write it.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json: one document listing the files written.")
def render(paths: tuple[Path, ...], out: Path, force: bool, fmt: str) -> None:
    """Render deploy packages and Workflow² credential records for review, offline."""
    options = RenderOptions(paths=paths, out=out, force=force)
    desired = load_desired(list(options.paths))
    files = render_files(desired)
    write_render(files, options.out, force=options.force)
    if fmt == "json":
        import json

        from provisioner.cli.main import json_document_written

        click.echo(json.dumps({"formatVersion": 1, "command": "render", "status": "rendered",
                               "out": str(options.out),
                               "files": [{"path": f.path, "summary": f.summary} for f in files]},
                              indent=2, ensure_ascii=False))
        json_document_written()
        return
    for f in files:
        click.echo(f"wrote {options.out / f.path}: {f.summary}")
    click.echo(
        f"rendered {len(files)} files for {len(desired.orgs)} org(s) and "
        f"{len(desired.instances)} Workflow² instance(s) into {options.out}"
    )
