"""The secret-free state file: round trip, atomic 0600 saves, serial/lineage, lock."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jsonschema
import pytest

from provisioner.errors import StateError, StateLockedError
from provisioner.keys import KeyMaterial, generate_key_material
from provisioner.lock import Liveness, LockInfo, default_owner
from provisioner.state import (
    DEFAULT_STATE_PATH,
    AppState,
    CertificateRecord,
    CredentialState,
    Rotation,
    State,
    StateStore,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
FP = "sha256:" + "ab" * 32
SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "state.schema.json"


@pytest.fixture(scope="module")
def keys() -> tuple[KeyMaterial, KeyMaterial]:
    return (
        generate_key_material("acme-sync", 2048, 365, now=NOW),
        generate_key_material("acme-sync", 2048, 365, now=NOW - timedelta(days=300)),
    )


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / ".provisioner" / "state.json")


def _app(keys: tuple[KeyMaterial, KeyMaterial]) -> AppState:
    new, old = keys
    app = AppState(
        org="acme-prod",
        api_name="Acme_Sync",
        app_type="externalClientApp",
        consumer_key="PRV1" + "x" * 81,
        created_at=NOW - timedelta(days=300),
        consumer_secret_fingerprint=FP,
        certificate=CertificateRecord.from_pem(new.certificate_pem),
        previous_certificate=CertificateRecord.from_pem(old.certificate_pem),
        last_rotation=Rotation(NOW, "due by policy (expires in 20 days)"),
    )
    return app.with_credential(
        CredentialState(
            instance="wf-prod",
            name="Acme JWT",
            type="salesforceJwtApi",
            record_id="42",
            sink="api",
            field_fingerprints={"privateKey": FP, "clientId": "sha256:" + "cd" * 32},
            updated_at=NOW + timedelta(seconds=1, microseconds=500),
        )
    )


def test_missing_file_is_empty_state(store: StateStore) -> None:
    state = store.load()
    assert state == State() and state.lineage is None and state.serial == 0
    assert not store.path.exists()


def test_round_trip_serial_lineage_and_schema(
    store: StateStore, keys: tuple[KeyMaterial, KeyMaterial]
) -> None:
    app = _app(keys)
    first = store.save(State(apps={"acme-sync": app}), expected_serial=0)
    assert first.serial == 1
    assert re.fullmatch(r"[0-9a-f-]{36}", first.lineage or "")
    loaded = store.load()
    assert loaded == first
    assert loaded.apps["acme-sync"] == app
    assert loaded.apps["acme-sync"].credentials["wf-prod/Acme JWT"].record_id == "42"

    doc = json.loads(store.path.read_text())
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(doc)
    saved_app = doc["apps"]["acme-sync"]
    assert saved_app["certificate"]["pem"] == keys[0].certificate_pem
    assert saved_app["certificate"]["notAfter"] == "2027-03-01T12:00:00Z"
    assert saved_app["previousCertificate"]["fingerprint"] == keys[1].certificate.fingerprint
    assert saved_app["credentials"]["wf-prod/Acme JWT"]["fieldFingerprints"]["privateKey"] == FP

    second = store.save(loaded, expected_serial=1)
    assert (second.serial, second.lineage) == (2, first.lineage)
    assert store.load().serial == 2
    # The previous version is kept next to the file for recovery.
    assert json.loads(store.backup_path.read_text())["serial"] == 1


def test_file_mode_is_0600_and_no_temp_files_left(store: StateStore) -> None:
    old_umask = os.umask(0o000)  # even a permissive umask must not widen the mode
    try:
        store.save(State(), expected_serial=0)
        store.save(State(), expected_serial=1)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.backup_path.stat().st_mode) == 0o600
    assert sorted(p.name for p in store.path.parent.iterdir()) == [
        "state.json",
        "state.json.backup",
    ]


def test_failed_write_leaves_old_file_intact(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.save(State(), expected_serial=0)
    before = store.path.read_bytes()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        store.save(State(), expected_serial=1)
    monkeypatch.undo()
    assert store.path.read_bytes() == before
    assert not list(store.path.parent.glob(".*.tmp"))


def test_conflicting_serial_is_refused(store: StateStore) -> None:
    a = store.load()
    store.save(a, expected_serial=a.serial)  # another writer got there first
    with pytest.raises(StateError, match=r"serial 1, expected 0") as info:
        store.save(a, expected_serial=a.serial)
    assert "plan again" in (info.value.hint or "")


def test_other_lineage_is_refused(store: StateStore) -> None:
    store.save(State(), expected_serial=0)
    with pytest.raises(StateError, match="lineage"):
        store.save(State(lineage="00000000-0000-4000-8000-000000000000"), expected_serial=1)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "not a JSON object"),
        ('{"version": 1, "lineage": "x", "serial": 1, "apps": {}}', "invalid at lineage"),
        ('{"version": 1, "serial": 1, "apps": {}}', "'lineage' is a required property"),
    ],
)
def test_corrupted_file_is_a_state_error(store: StateStore, content: str, needle: str) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_text(content)
    with pytest.raises(StateError, match=re.escape(needle)) as info:
        store.load()
    assert str(store.path) in info.value.message
    assert ".backup" in (info.value.hint or "")


def test_newer_version_says_upgrade(store: StateStore) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_text(json.dumps({"version": 2, "whatever": True}))
    with pytest.raises(StateError, match="format version 2") as info:
        store.load()
    assert "upgrade provisioner" in (info.value.hint or "")


def test_private_key_never_written_nor_echoed(
    store: StateStore, keys: tuple[KeyMaterial, KeyMaterial]
) -> None:
    key_pem = keys[0].private_key.reveal()
    leaky = replace(_app(keys), api_name=key_pem)
    with pytest.raises(StateError, match="contains a PEM private key") as info:
        store.save(State(apps={"a": leaky}), expected_serial=0)
    assert key_pem.splitlines()[2] not in info.value.diagnostics()
    assert not store.path.exists()

    # A key pasted into the file by hand is refused on load without quoting it.
    good = store.save(State(apps={"a": _app(keys)}), expected_serial=0)
    doc = json.loads(store.path.read_text())
    doc["apps"]["a"]["certificate"]["pem"] = key_pem
    store.path.write_text(json.dumps(doc))
    with pytest.raises(StateError) as loaded:
        store.load()
    assert key_pem.splitlines()[2] not in loaded.value.diagnostics()
    assert good.serial == 1


def test_schema_errors_do_not_quote_values(store: StateStore) -> None:
    store.path.parent.mkdir(parents=True)
    canary = "CANARY" + "Z" * 20
    store.path.write_text(json.dumps({"version": 1, "lineage": canary, "serial": 1, "apps": {}}))
    with pytest.raises(StateError) as info:
        store.load()
    assert canary not in info.value.diagnostics()


def test_lock_contention_names_holder_and_command(store: StateStore) -> None:
    with store.lock("alice@ci pid 1", "apply") as held:
        assert store.read_lock() == held
        lock_doc = json.loads(store.lock_path.read_text())
        assert set(lock_doc) == {"id", "owner", "operation", "created", "bootId",
                                 "pidNamespace", "processStart"}
        assert stat.S_IMODE(store.lock_path.stat().st_mode) == 0o600
        with pytest.raises(StateLockedError) as info, store.lock("bob@laptop pid 2", "plan"):
            pytest.fail("a second holder must not get the lock")
        err = info.value
        assert "alice@ci pid 1" in err.message and "'apply'" in err.message
        assert re.search(r"\(\d+s ago\)", err.message)
        assert f"provisioner force-unlock {held.id} --state {store.path}" in (err.hint or "")
        assert store.read_lock() == held  # the failed attempt did not touch it
    assert store.read_lock() is None and not store.lock_path.exists()


def test_default_path_hint_omits_state_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = StateStore()
    assert store.path == DEFAULT_STATE_PATH
    with (
        store.lock("a@b pid 1", "apply") as held,
        pytest.raises(StateLockedError) as info,
        store.lock("c@d pid 2", "apply"),
    ):
        pass
    assert (info.value.hint or "").endswith(f"provisioner force-unlock {held.id}")


def _dead_owner() -> str:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return default_owner().rsplit(" pid ", 1)[0] + f" pid {proc.stdout.strip()}"


def test_dead_local_owner_is_reported_but_not_stolen(store: StateStore) -> None:
    with store.lock(_dead_owner(), "apply"):
        with (
            pytest.raises(StateLockedError, match="no longer running"),
            store.lock("me@here pid 3", "apply"),
        ):
            pass
        assert store.read_lock() is not None


@pytest.mark.parametrize(("owner", "liveness"), [
    (default_owner(), Liveness.ALIVE),
    ("ci@another-host-of-the-farm pid 1", Liveness.UNKNOWN),
    ("someone by hand", Liveness.UNKNOWN),
], ids=["this-process", "other-host", "not-ours"])
def test_liveness(owner: str, liveness: Liveness) -> None:
    info = LockInfo.taken_now("id", owner, "apply")
    assert info.liveness() is liveness and not info.may_be_taken_over


def test_a_pid_proves_nothing_across_boots_namespaces_or_reuse() -> None:
    """Same host name is not enough: another container (same boot id, other pid namespace) or
    another boot has other processes under the same pids; a reused pid has a new start time."""
    mine = LockInfo.taken_now("id", default_owner(), "apply")
    assert mine.boot_id and mine.pid_namespace and mine.process_start  # Linux tells
    assert replace(mine, boot_id="another-boot").liveness() is Liveness.UNKNOWN
    assert replace(mine, pid_namespace="pid:[1]").liveness() is Liveness.UNKNOWN
    assert replace(mine, boot_id=None).liveness() is Liveness.UNKNOWN  # an older lock file
    assert replace(mine, process_start="1").liveness() is Liveness.DEAD  # the pid was reused
    dead = LockInfo.taken_now("id", _dead_owner(), "apply")
    assert dead.liveness() is Liveness.DEAD and dead.may_be_taken_over


def test_takeover_policy_only_a_dead_process_on_this_host(store: StateStore) -> None:
    """The one takeover rule (provisioner.lock): with on_takeover, a dead local owner's lock is
    taken and reported; a live or unknown owner's never is."""
    reported: list[LockInfo] = []
    for owner in (default_owner(), "ci@another-host-of-the-farm pid 1"):
        with store.lock(owner, "apply") as held:
            with pytest.raises(StateLockedError), store.lock("me", "apply", reported.append):
                pass
            assert store.read_lock() == held
    assert reported == []
    dead = _dead_owner()
    with store.lock(dead, "apply") as left:
        assert left.liveness() is Liveness.DEAD
        with store.lock("me@here pid 3", "apply", reported.append) as mine:
            assert reported == [left] and store.read_lock() == mine
        assert store.read_lock() is None


def test_force_unlock_help_states_the_takeover_policy(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _err = _run_cli(["force-unlock", "--help"], capsys)
    text = " ".join(out.split())
    assert code == 0
    assert ("a run takes a lock over by itself only when the lock's owner is a process on the "
            "same host that no longer runs") in text.lower()
    assert "never takes over" not in text and "never taken over silently" not in text


def test_force_unlock_wrong_then_right_id(store: StateStore) -> None:
    with pytest.raises(StateError, match="not locked"):
        store.force_unlock("nope")
    with store.lock("alice@ci pid 1", "apply") as held:
        with pytest.raises(StateError, match="is not the lock") as info:
            store.force_unlock("00000000-0000-0000-0000-000000000000")
        assert held.id not in info.value.diagnostics()  # copy the id from the locked error
        assert store.read_lock() == held
        removed = store.force_unlock(held.id)
        assert removed == held and store.read_lock() is None
        # Someone else takes the lock; leaving the first block must not release theirs.
        other = store.lock("bob@ci pid 2", "apply")
        taken = other.__enter__()
    assert store.read_lock() == taken
    other.__exit__(None, None, None)
    assert store.read_lock() is None


def test_torn_lock_file_explains_manual_removal(store: StateStore) -> None:
    store.lock_path.parent.mkdir(parents=True)
    store.lock_path.write_text("")
    with pytest.raises(StateError, match="unreadable") as info, store.lock("a@b pid 1", "apply"):
        pass
    assert str(store.lock_path) in (info.value.hint or "")


def test_lock_info_age() -> None:
    info = LockInfo("id", "o", "apply", NOW)
    assert info.age(NOW + timedelta(seconds=5)) == "5s"
    assert info.age(NOW + timedelta(minutes=3, seconds=12)) == "3m12s"
    assert info.age(NOW + timedelta(hours=2, minutes=5)) == "2h05m"
    assert info.age(NOW + timedelta(days=3, hours=4)) == "3d4h"
    assert re.fullmatch(r".+@.+ pid \d+", default_owner())


def _run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from provisioner.cli.main import main

    with pytest.raises(SystemExit) as exited:
        main(args)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_force_unlock_command(store: StateStore, capsys: pytest.CaptureFixture[str]) -> None:
    state_opt = ["--state", str(store.path)]
    code, out, err = _run_cli(["force-unlock", "some-id", *state_opt], capsys)
    assert (code, out) == (1, "")
    assert err == f"Error: the state {store.path} is not locked\nhint: there is nothing to unlock\n"

    with store.lock("ci@runner pid 7", "apply") as held:
        code, out, err = _run_cli(["force-unlock", "wrong-id", *state_opt], capsys)
        assert code == 1 and "is not the lock" in err and store.read_lock() == held
        code, out, err = _run_cli(["force-unlock", held.id, *state_opt], capsys)
        assert code == 0 and err == ""
        assert out.startswith(f"Released lock {held.id} on {store.path} (held by ci@runner pid 7")
        assert store.read_lock() is None


def test_force_unlock_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run_cli(["force-unlock", "--help"], capsys)
    assert code == 0
    assert "Usage: provisioner force-unlock [OPTIONS] LOCK_ID" in out
    assert "Examples:" in out and "--state envs/prod/state.json" in out
    assert "[default: .provisioner/state.json]" in " ".join(out.split())


def test_save_refuses_to_overwrite_a_damaged_file(store: StateStore) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_text('{"version": 1, "serial": "seven"}')
    with pytest.raises(StateError, match="invalid"):
        store.save(State(), expected_serial=0)
    assert store.path.read_text() == '{"version": 1, "serial": "seven"}'
    assert not store.backup_path.exists()
