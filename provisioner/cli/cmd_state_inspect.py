"""``provisioner state list | show ADDRESS | rm ADDRESS``: read the state, forget deliberately.

Addresses are the ones plans print: ``app.NAME`` and ``credential.INSTANCE/NAME``. ``rm`` only
forgets (the app stays in its org, the record in Workflow²); the next plan adopts or recreates
what it finds, as it does for anything not in state.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import click

from provisioner.cli.main import json_document_written
from provisioner.errors import UsageError
from provisioner.state import DEFAULT_STATE_PATH, State

_STATE = click.option(
    "--state", "state_path", default=str(DEFAULT_STATE_PATH), show_default=True,
    envvar="PROVISIONER_STATE", help="A state file, or git+URL[#BRANCH] (env: PROVISIONER_STATE).")


def _entries(state: State) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for name in sorted(state.apps):
        app = state.apps[name]
        doc = app.to_json()
        out.append((f"app.{name}", doc))
        for key in sorted(app.credentials):
            out.append((f"credential.{key}", {"app": name, **app.credentials[key].to_json()}))
    return out


def _find(state: State, address: str) -> dict[str, Any]:
    for addr, doc in _entries(state):
        if addr == address:
            return doc
    known = ", ".join(a for a, _ in _entries(state)) or "(the state is empty)"
    raise UsageError(f"no {address!r} in the state", f"use one of: {known}")


@click.group("state", epilog="""\b
Examples:
  provisioner state list
  provisioner state show app.workflow-integration --state git+file:///srv/state.git
  provisioner state rm 'credential.workflow/Salesforce (JWT)'
""")
def state() -> None:
    """Inspect the state, or forget a resource deliberately."""


@state.command("list")
@_STATE
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def list_(state_path: str, fmt: str) -> None:
    """Every resource the state holds, by address."""
    from provisioner.gitstate import open_state

    loaded = open_state(state_path, ()).load()
    entries = _entries(loaded)
    if fmt == "json":
        click.echo(json.dumps({"formatVersion": 1, "serial": loaded.serial,
                               "lineage": loaded.lineage,
                               "resources": [a for a, _ in entries]}, indent=2))
        json_document_written()
        return
    for addr, doc in entries:
        if addr.startswith("app."):
            pair = ""
            if doc.get("partnerOf"):
                pair = f"; blue/green partner of app.{doc['partnerOf']}"
            if doc.get("loginApp"):
                pair += f"; its JWT credentials use app.{doc['loginApp']}"
            if doc.get("keyRetired"):
                pair += "; key retired"
            click.echo(f"{addr}  ({doc['appType']} {doc['apiName']} in org {doc['org']}{pair})")
        else:
            click.echo(f"{addr}  ({doc['type']}, record {doc['recordId']}, {doc['sink']} sink)")


@state.command("show")
@click.argument("address")
@_STATE
def show(address: str, state_path: str) -> None:
    """One resource's entry, as JSON (the state holds no secret)."""
    from provisioner.gitstate import open_state

    click.echo(json.dumps(_find(open_state(state_path, ()).load(), address), indent=2,
                          sort_keys=True))
    json_document_written()


@state.command("rm")
@click.argument("address")
@_STATE
@click.option("--lock-timeout", type=click.FloatRange(min=0), default=0.0, show_default=True,
              envvar="PROVISIONER_LOCK_TIMEOUT", help="Seconds to wait for the state lock.")
def rm(address: str, state_path: str, lock_timeout: float) -> None:
    """Forget a resource: app.NAME (with its credentials) or credential.INSTANCE/NAME. Nothing
    is deleted in Salesforce or Workflow²."""
    from provisioner.engine.run import locked
    from provisioner.events import ignore
    from provisioner.gitstate import open_state

    store = open_state(state_path, ())
    with locked(store, "state rm", ignore, timeout=lock_timeout):
        current = store.load()
        _find(current, address)
        apps = dict(current.apps)
        if address.startswith("app."):
            del apps[address[len("app."):]]
        else:
            key = address[len("credential."):]
            for name, app in apps.items():
                if key in app.credentials:
                    creds = {k: v for k, v in app.credentials.items() if k != key}
                    apps[name] = replace(app, credentials=creds)
        saved = store.save(State(lineage=current.lineage, serial=current.serial, apps=apps),
                           expected_serial=current.serial)
    click.echo(f"Removed {address} from the state (serial {saved.serial}); nothing was "
               "deleted in Salesforce or Workflow².")
