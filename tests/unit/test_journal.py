"""The write-ahead journal: intents before steps, done marks, no secrets, crash survival."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from provisioner.errors import StateError
from provisioner.journal import KILL_AT_ENV, Journal, JournalStep
from provisioner.secret import Secret

FP = "sha256:" + "ab" * 32
KEY_PEM = (
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
)


def _deploy(app: str = "acme-sync") -> JournalStep:
    return JournalStep(
        "deploy",
        org="acme",
        app=app,
        facts={"certificateFingerprint": FP, "previousCertificateFingerprint": None, "attempt": 1},
    )


def test_intent_is_pending_until_done(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "state" / "state.json.journal")
    assert journal.pending() == []
    first = journal.record_intent(_deploy())
    assert stat.S_IMODE(journal.path.stat().st_mode) == 0o600
    second = journal.record_intent(JournalStep("verify", org="acme", app="acme-sync"))
    assert [e.id for e in journal.pending()] == [first, second]
    assert journal.pending()[0].step == _deploy()

    journal.mark_done(first, {"deployId": "0Af000000000001"})
    pending = journal.pending()
    assert [e.id for e in pending] == [second] and pending[0].step.kind == "verify"
    entries = journal.entries()
    assert entries[0].done and entries[0].outcome == {"deployId": "0Af000000000001"}

    journal.mark_done(second)
    assert journal.pending() == []
    journal.clear()
    assert not journal.path.exists() and journal.pending() == []
    journal.clear()  # clearing twice is harmless


def test_intent_is_on_disk_when_record_intent_returns(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j")
    step_id = journal.record_intent(_deploy())
    lines = journal.path.read_text().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["id"] == step_id and record["type"] == "intent"
    assert record["step"]["facts"]["certificateFingerprint"] == FP
    # A second Journal object on the same file (the next run) sees it.
    assert [e.id for e in Journal(journal.path).pending()] == [step_id]


def test_counter_counts_every_intent(tmp_path: Path) -> None:
    before = Journal.points_written
    journal = Journal(tmp_path / "j")
    journal.record_intent(_deploy("a"))
    Journal(tmp_path / "other").record_intent(_deploy("b"))
    assert Journal.points_written == before + 2


@pytest.mark.parametrize(
    "facts",
    [
        {"key": Secret("s3cret-value")},
        {"key": b"bytes"},
        {"key": ["list"]},
        {"key": KEY_PEM},
        {"key": "prefix " + KEY_PEM.replace("PRIVATE KEY", "RSA PRIVATE KEY")},
    ],
)
def test_secrets_are_refused(tmp_path: Path, facts: dict[str, object]) -> None:
    with pytest.raises((TypeError, ValueError)) as info:
        JournalStep("deploy", org="acme", facts=facts)  # type: ignore[arg-type]
    text = str(info.value)
    assert "s3cret-value" not in text and "MIIEvQ" not in text
    journal = Journal(tmp_path / "j")
    step_id = journal.record_intent(_deploy())
    with pytest.raises((TypeError, ValueError)):
        journal.mark_done(step_id, facts)
    assert "MIIEvQ" not in journal.path.read_text()


def test_bad_kind_and_location(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is not one of deploy, delete"):
        JournalStep("Deploy Now")
    with pytest.raises(ValueError, match="private key"):
        JournalStep("deploy", app=KEY_PEM)


def test_torn_last_line_is_ignored_and_repaired(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j")
    kept = journal.record_intent(_deploy())
    with journal.path.open("ab") as handle:
        handle.write(b'{"type":"intent","id":"torn","st')  # crash mid-write
    assert [e.id for e in journal.pending()] == [kept]
    later = journal.record_intent(_deploy("b"))  # the next run appends after the fragment
    assert [e.id for e in journal.pending()] == [kept, later]
    assert all(json.loads(line) for line in journal.path.read_text().splitlines())


def test_damaged_middle_line_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "j"
    path.write_text('{"type":"intent"\n{"type":"done","id":"x","outcome":{}}\n')
    with pytest.raises(StateError, match="damaged at line 1") as info:
        Journal(path).pending()
    assert "delete the journal" in (info.value.hint or "")


def test_non_numeric_kill_value_does_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KILL_AT_ENV, "list")
    Journal(tmp_path / "j").record_intent(_deploy())  # still alive


SCRIPT = textwrap.dedent(
    """
    import sys
    from provisioner.journal import Journal, JournalStep
    journal = Journal(sys.argv[1])
    for n in range(1, 4):
        step_id = journal.record_intent(JournalStep("deploy", org="acme", app=f"app{n}"))
        journal.mark_done(step_id, {"n": n})
    journal.clear()
    print("finished")
    """
)


@pytest.mark.parametrize("kill_at", [1, 2, 3])
def test_survives_sigkill_at_each_point(tmp_path: Path, kill_at: int) -> None:
    path = tmp_path / "state.json.journal"
    env = {**os.environ, KILL_AT_ENV: str(kill_at)}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "finished" not in proc.stdout
    journal = Journal(path)
    pending = journal.pending()
    assert [e.step.app for e in pending] == [f"app{kill_at}"]
    assert [e.outcome for e in journal.entries() if e.done] == [{"n": n} for n in range(1, kill_at)]


def test_run_without_kill_finishes_and_clears(tmp_path: Path) -> None:
    path = tmp_path / "state.json.journal"
    env = {k: v for k, v in os.environ.items() if k != KILL_AT_ENV}
    env[KILL_AT_ENV] = "4"  # beyond the last point: the run ends normally
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and "finished" in proc.stdout
    assert not path.exists()


def test_steps_that_start_together_are_one_write_and_one_kill_point(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j")
    before = Journal.points_written
    ids = journal.record_intents([_deploy(f"app{i}") for i in range(500)])
    assert Journal.points_written == before + 1  # one fsynced write, one crash point
    assert [e.id for e in journal.pending()] == ids
    journal.mark_all_done([(i, {"deployId": "0Af1"}) for i in ids[:499]])
    assert [e.id for e in journal.pending()] == ids[499:]
    assert journal.entries()[0].outcome == {"deployId": "0Af1"}
    # A crash in the middle of the write of a group leaves whole lines and a torn tail: the
    # whole ones count (their steps were not started yet: intents, or done), the tail is cut.
    text = journal.path.read_bytes()
    journal.path.write_bytes(text[: len(text) - 40])
    assert len(journal.pending()) == 2  # the last two done marks are gone or torn
    journal.mark_all_done([(ids[-1], None)])
    assert len(journal.pending()) == 1
    assert journal.record_intents([]) == [] and Journal.points_written == before + 1
