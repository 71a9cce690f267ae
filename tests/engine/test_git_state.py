"""The git state backend with real git: a bare repository as the remote, runners with their
own caches (as two clones on two machines), locks as refs, saves as compare-and-swap pushes."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from provisioner.engine.run import apply, compute_plan
from provisioner.errors import StateError, StateLockedError
from provisioner.events import Event, Step
from provisioner.gitstate import CACHE_ENV, GitStateStore
from tests.engine.conftest import (
    API_KEY_ENV,
    ENC_ENV,
    ORG_AND_INSTANCE,
    Lines,
    Workspace,
    app_yaml,
    approve,
    cli,
)


def _remote(tmp_path: Path) -> str:
    bare = tmp_path / "state.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(bare)], check=True)
    return f"git+file://{bare}"


def _runner(ws: Workspace, remote: str, name: str, **kw: Any) -> Any:
    environ = dict(os.environ) | ws.env | {CACHE_ENV: str(ws.root / f"runner-{name}")}
    return ws.options(state_path=remote, environ=environ, **kw)


def _branch_log(remote: str) -> list[str]:
    bare = remote[len("git+file://"):]
    out = subprocess.run(["git", "-C", bare, "log", "--format=%s", "provisioner-state"],
                         capture_output=True, text=True, check=True).stdout
    return out.splitlines()


def _remote_doc(remote: str, org: str) -> dict[str, Any]:
    bare = remote[len("git+file://"):]
    out = subprocess.run(["git", "-C", bare, "show", f"provisioner-state:{org}.state.json"],
                         capture_output=True, text=True, check=True).stdout
    doc: dict[str, Any] = json.loads(out)
    return doc


def test_two_runners_exclude_each_other_and_state_stays_valid(ws: Workspace,
                                                             tmp_path: Path) -> None:
    remote = _remote(tmp_path)
    _plan, first = apply(ws.paths(), _runner(ws, remote, "a"), Lines(), approve)
    assert first is not None and not first.failures
    serial_before = _remote_doc(remote, "sb")["serial"]
    assert not ws.state_path.exists()  # nothing local: the state is on the remote

    holder = GitStateStore(remote, ["sb"], cache_root=ws.root / "runner-holder")
    with holder.lock("runner-a@ci pid 1", "apply") as held:
        # A second runner is refused at once with --lock-timeout 0 ...
        with pytest.raises(StateLockedError) as refused:
            apply(ws.paths(), _runner(ws, remote, "b"), Lines(), approve)
        assert "locked by runner-a@ci pid 1" in refused.value.message
        assert f"force-unlock {held.id} --state {remote}" in (refused.value.hint or "")
        # ... and with a timeout it waits, then proceeds once the lock is released.
        waiting = threading.Event()
        outcome: list[Any] = []

        def progress(event: Event) -> None:
            if isinstance(event, Step) and "waiting for the state lock" in event.text:
                waiting.set()

        def run_b() -> None:
            try:
                outcome.append(apply(ws.paths(), _runner(
                    ws, remote, "b", lock_timeout=120.0, force_rotate=frozenset({"billing"})),
                    progress, approve)[1])
            except BaseException as exc:  # reported by the assertion below
                outcome.append(exc)

        worker = threading.Thread(target=run_b)
        worker.start()
        assert waiting.wait(timeout=120), "runner b never waited for the lock"
    worker.join(timeout=300)
    assert not worker.is_alive()
    (second,) = outcome
    assert not isinstance(second, BaseException) and not second.failures, second
    doc = _remote_doc(remote, "sb")
    assert doc["serial"] > serial_before
    assert "billing" in doc["apps"] and doc["apps"]["billing"]["lastRotation"] is not None
    log = _branch_log(remote)
    assert log[0].startswith("provisioner: state of sb serial ")  # every save is a commit
    assert len(log) >= 3
    # Both runners see the same state now.
    assert not compute_plan(ws.paths(), _runner(ws, remote, "a"), Lines()).plan.has_changes


def test_jobs_for_different_orgs_do_not_wait_on_each_other(ws: Workspace,
                                                           tmp_path: Path) -> None:
    remote = _remote(tmp_path)
    # Specs for org sb2 only: its own org file, the instance, one app.
    specs_b = ws.root / "specs-b"
    specs_b.mkdir()
    org_and_instance = ORG_AND_INSTANCE.format(delay=0.0, enc_env=ENC_ENV, api_env=API_KEY_ENV)
    (specs_b / "org.yaml").write_text(org_and_instance.replace("name: sb\n", "name: sb2\n")
                                      .replace("../sandbox", "../sandbox2"))
    (specs_b / "apps.yaml").write_text(app_yaml("payroll").replace("org: sb\n", "org: sb2\n"))
    holder = GitStateStore(remote, ["sb"], cache_root=ws.root / "runner-holder")
    with holder.lock("job-sb", "apply"):
        _plan, result = apply([specs_b], _runner(ws, remote, "b"), Lines(), approve)
    assert result is not None and not result.failures
    assert _remote_doc(remote, "sb2")["apps"].keys() == {"payroll"}
    # The sb job now runs too; its save is rebuilt on sb2's commit, keeping both files.
    _plan, result = apply(ws.paths(), _runner(ws, remote, "a"), Lines(), approve)
    assert result is not None and not result.failures
    assert _remote_doc(remote, "sb")["apps"].keys() == {"billing"}
    assert _remote_doc(remote, "sb2")["apps"].keys() == {"payroll"}


def test_a_concurrent_save_of_the_same_org_is_refused_and_of_another_rebased(
    tmp_path: Path,
) -> None:
    from provisioner.state import AppState, State

    remote = _remote(tmp_path)

    def app(org: str) -> AppState:
        return AppState(org=org, api_name="A", app_type="externalClientApp", consumer_key="KEY0000001",
                        created_at=datetime(2026, 1, 1, tzinfo=timezone.utc))

    one = GitStateStore(remote, ["x"], cache_root=tmp_path / "one")
    two = GitStateStore(remote, ["x"], cache_root=tmp_path / "two")
    other = GitStateStore(remote, ["y"], cache_root=tmp_path / "three")
    base_one, base_two, base_other = one.load(), two.load(), other.load()
    saved = one.save(State(apps={"a": app("x")}), expected_serial=base_one.serial)
    assert saved.serial == 1
    with pytest.raises(StateError, match="changed while this run was working"):
        two.save(State(apps={"b": app("x")}), expected_serial=base_two.serial)
    # A save for another org is rebuilt on top and keeps the first one's file.
    assert other.save(State(apps={"c": app("y")}), expected_serial=base_other.serial).serial == 1
    assert _remote_doc(remote, "x")["apps"].keys() == {"a"}
    assert _remote_doc(remote, "y")["apps"].keys() == {"c"}


def test_cli_refuses_at_lock_timeout_zero_and_force_unlock_releases(ws: Workspace,
                                                                    tmp_path: Path) -> None:
    remote = _remote(tmp_path)
    holder = GitStateStore(remote, ["sb"], cache_root=ws.root / "runner-holder")
    with holder.lock("ci@runner-7 pid 4121", "apply") as held:
        result = cli("apply", ws.specs, "--state", remote, "--auto-approve",
                     "--lock-timeout", "0", cwd=ws.root)
        assert result.code == 1
        assert "is locked by ci@runner-7 pid 4121" in result.stderr
        released = cli("force-unlock", held.id, "--state", remote, cwd=ws.root)
        assert released.code == 0, released.all
        assert holder.read_lock() is None
