"""The one atomic write: whole content or the previous one, 0600 files, 0700 folders."""

from __future__ import annotations

import errno
import stat
from pathlib import Path
from typing import BinaryIO

import pytest

from provisioner.fsutil import atomic_write
from provisioner.journal import Journal, JournalStep
from provisioner.lock import StateLock
from tests.faults import file_size_limit


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_text_bytes_and_streamed_content(tmp_path: Path) -> None:
    target = tmp_path / "new" / "deeper" / "state.json"
    atomic_write(target, "héllo\n")
    assert target.read_bytes() == "héllo\n".encode()
    assert _mode(target) == 0o600
    assert _mode(target.parent) == 0o700 and _mode(target.parent.parent) == 0o700
    atomic_write(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"

    def stream(handle: BinaryIO) -> None:
        for part in (b"a", b"b", b"c"):
            handle.write(part)

    atomic_write(target, stream, mode=0o644)
    assert target.read_bytes() == b"abc" and _mode(target) == 0o644


def test_a_failing_writer_leaves_the_previous_content_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "plan.json"
    atomic_write(target, "before")

    def half_then_fail(handle: BinaryIO) -> None:
        handle.write(b"half of the new")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        atomic_write(target, half_then_fail)
    assert target.read_text() == "before"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]


def test_an_existing_folder_keeps_its_mode(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    atomic_write(folder / "f", "x")
    assert _mode(folder) == 0o755


def test_a_write_the_disk_refuses_names_its_file(tmp_path: Path) -> None:
    # A failed write() carries no file name; the user must still be told which file it was
    # (the CLI prints "cannot use PATH: ..."). RLIMIT_FSIZE fails the write as a full disk does.
    target, journal, lock = tmp_path / "state.json", tmp_path / "j", tmp_path / "state.json.lock"
    atomic_write(target, "before")
    with file_size_limit(0):
        with pytest.raises(OSError) as info:
            atomic_write(target, "after")
        assert (info.value.errno, info.value.filename) == (errno.EFBIG, str(target))
        with pytest.raises(OSError) as info:
            Journal(journal).record_intent(JournalStep("verify", org="acme", app="a"))
        assert (info.value.errno, info.value.filename) == (errno.EFBIG, str(journal))
        with pytest.raises(OSError) as info, StateLock(lock, target).hold("me", "apply"):
            pass
        assert (info.value.errno, info.value.filename) == (errno.EFBIG, str(lock))
    assert target.read_text() == "before"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["j", "state.json"]  # no lock, no temp
