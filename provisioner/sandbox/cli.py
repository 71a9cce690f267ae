"""``provisioner sandbox``: run the org emulator in the foreground and inspect what it holds.

Registered in the main CLI by ``provisioner.cli``; only this module talks to the terminal.
"""

from __future__ import annotations

import hashlib
import json
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import click

from .faults import FaultSpec
from .org import STATE_FILE, Org
from .seed import SeedError
from .server import SandboxOptions, SandboxServer, default_state_dir

_STATE_DIR = click.option(
    "--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Where the org, CA and keys live [default: $PROVISIONER_SANDBOX_DIR or "
         "$XDG_STATE_HOME/provisioner/sandbox].")
_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


@click.group(name="sandbox")
def sandbox() -> None:
    """Run and inspect the embedded Salesforce org emulator (HTTPS on 127.0.0.1).

    \b
    Examples:
      provisioner sandbox serve
      provisioner sandbox serve --port 8443 --propagation-delay 5
      provisioner sandbox users
      provisioner sandbox apps --json
    """


def _parse_faults(values: tuple[str, ...]) -> tuple[FaultSpec, ...]:
    try:
        return tuple(FaultSpec.parse(v) for v in values)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--fault") from exc


@sandbox.command()
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port to listen on [default: the one used last time, else any free port].")
@_STATE_DIR
@click.option("--propagation-delay", type=click.FloatRange(0), default=0.0, show_default=True,
              metavar="SECONDS",
              help="How long a new app or changed certificate takes to work for token exchanges.")
@click.option("--fault", "faults", multiple=True, metavar="SPEC",
              help="Inject a fault (repeatable). SPEC is ENDPOINT:KIND[=VALUE][@count=N|@rate=R]"
                   "[,max=M]. ENDPOINT: token, userinfo, soap, a SOAP operation (deploy, "
                   "readMetadata, ...) or *. KIND: latency=SECONDS, http500..http599, drop, fail "
                   "(deploy fails), or a Salesforce code such as REQUEST_LIMIT_EXCEEDED or "
                   "INVALID_SESSION_ID. Without @count/@rate a fault fires once (latency always). "
                   "Examples: token:latency=0.1  soap:http500@rate=0.2  "
                   "soap:REQUEST_LIMIT_EXCEEDED@count=2  deploy:fail  *:drop@count=1")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed for random fault decisions (same seed, same faults).")
@click.option("--seed-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="YAML/JSON org seed, used when the state dir is new.")
@click.option("--deploy-seconds", type=click.FloatRange(0), default=None, metavar="SECONDS",
              help="How long the org takes to process a deploy (kept in the org; default 0.1 "
                   "for a new org).")
def serve(port: int | None, state_dir: Path | None, propagation_delay: float,
          faults: tuple[str, ...], seed: int, seed_file: Path | None,
          deploy_seconds: float | None) -> None:
    """Serve the sandbox org until Ctrl-C or SIGTERM.

    \b
    Examples:
      provisioner sandbox serve
      provisioner sandbox serve --state-dir ./.sandbox --fault soap:http503@count=2
      provisioner sandbox serve --fault '*:latency=0.1' --fault connect:latency=0.1 \
          --deploy-seconds 0.5     # what a remote org costs, for benchmarks
    """
    options = SandboxOptions(state_dir=state_dir or default_state_dir(), port=port,
                             propagation_delay=propagation_delay, faults=_parse_faults(faults),
                             seed=seed, seed_file=seed_file)
    try:
        srv = SandboxServer(options).start()
    except (SeedError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    if deploy_seconds is not None:
        srv.org.set_setting("deployProcessingSeconds", deploy_seconds)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    creds = srv.deploy_credentials()
    click.echo(f"Sandbox org listening on {srv.url}")
    click.echo(f"  My Domain / instance URL: {srv.url}")
    click.echo(f"  CA bundle: {srv.ca_file}")
    click.echo(f"  Trust it:  export REQUESTS_CA_BUNDLE={srv.ca_file} "
               f"NODE_EXTRA_CA_CERTS={srv.ca_file}")
    click.echo(f"  Deploy user: {creds.username} (JWT bearer, client id {creds.client_id}, "
               f"key file {creds.private_key_path})")
    click.echo(f"  State dir: {options.state_dir}")
    for spec in options.faults:
        click.echo(f"  Fault: {spec}")
    click.echo("Press Ctrl-C to stop.")
    try:
        while not stop.wait(0.5):
            pass
    finally:
        srv.stop()
        click.echo("Sandbox stopped.")


def _load(state_dir: Path | None) -> Org:
    path = state_dir or default_state_dir()
    if not (path / STATE_FILE).exists():
        raise click.ClickException(
            f"no sandbox org in {path}; start one with: provisioner sandbox serve --state-dir {path}")
    return Org(path, readonly=True)


def _table(rows: list[list[str]], headers: list[str]) -> None:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


@sandbox.command()
@_STATE_DIR
@_JSON
def users(state_dir: Path | None, as_json: bool) -> None:
    """List the org's users.

    \b
    Example:
      provisioner sandbox users --state-dir ./.sandbox
    """
    found = _load(state_dir).users()
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    _table([[u["username"], u["profile"], ",".join(u["permissionSets"]) or "-",
             "yes" if u["active"] else "no"] for u in found],
           ["USERNAME", "PROFILE", "PERMISSION SETS", "ACTIVE"])


def _fingerprint(pem: str | None) -> str:
    if not pem:
        return "-"
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    cert = x509.load_pem_x509_certificate(pem.strip().encode())
    return "sha256:" + hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()[:16]


@sandbox.command()
@_STATE_DIR
@_JSON
def apps(state_dir: Path | None, as_json: bool) -> None:
    """List the org's Connected Apps and External Client Apps (never a secret).

    \b
    Example:
      provisioner sandbox apps --json
    """
    found: list[dict[str, Any]] = _load(state_dir).apps()
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    _table([[a["fullName"], a["type"], a["consumerKey"] or "-", _fingerprint(a["certificate"])]
            for a in found], ["NAME", "TYPE", "CONSUMER KEY", "CERTIFICATE"])
