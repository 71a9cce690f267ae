"""``provisioner force-unlock``: release a state lock left behind by a run that died."""

from __future__ import annotations

import click

from provisioner.state import DEFAULT_STATE_PATH
from provisioner.timestamps import format_time

FORCE_UNLOCK_EPILOG = """\b
Examples:
  provisioner force-unlock 3f2b8c1e-5d0a-4e7b-9c61-2a8f0d4b7e90
  provisioner force-unlock 3f2b8c1e-5d0a-4e7b-9c61-2a8f0d4b7e90 --state envs/prod/state.json

\b
LOCK_ID is printed by the run that found the state locked:
  Error: the state .provisioner/state.json is locked by ci@runner-7 pid 4121 for 'apply' ...
  hint: ... release the lock with: provisioner force-unlock LOCK_ID
Only the lock with that ID is removed, so a lock taken since by a new run stays. Release a lock
only when its run is dead: two runs writing the same org and state at once can lose state.

\b
Takeover policy: a run takes a lock over by itself only when the lock's owner is a process on
the same host that no longer runs (it says so on its output). A lock held by a live process, by
another host (a CI runner, a container), or by an owner it cannot check is never taken over:
that is what this command is for.
"""


@click.command(
    "force-unlock",
    epilog=FORCE_UNLOCK_EPILOG,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.argument("lock_id", metavar="LOCK_ID")
@click.option(
    "--state",
    "state_path",
    default=str(DEFAULT_STATE_PATH),
    show_default=True,
    envvar="PROVISIONER_STATE",
    help="The state whose lock to release: a file, or git+URL[#BRANCH] (env: PROVISIONER_STATE).",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json: one document describing the lock released.")
def force_unlock(lock_id: str, state_path: str, fmt: str) -> None:
    """Release the state lock LOCK_ID held by a run that no longer runs.

    A run takes a lock over by itself only from a dead process on the same host; any other
    lock, however old, waits for a person to decide here.
    """
    from provisioner.gitstate import open_state

    removed = open_state(state_path, ()).force_unlock(lock_id)
    if fmt == "json":
        import json

        from provisioner.cli.main import json_document_written

        click.echo(json.dumps({"formatVersion": 1, "command": "force-unlock",
                               "status": "released", "lock": removed.to_json()}, indent=2))
        json_document_written()
        return
    click.echo(
        f"Released lock {removed.id} on {state_path} "
        f"(held by {removed.owner} for {removed.operation!r} since {format_time(removed.created)})."
    )
