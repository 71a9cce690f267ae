"""The one atomic write: whole content or the previous one, 0600 files, 0700 folders."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import BinaryIO

import pytest

from provisioner.fsutil import atomic_write


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
