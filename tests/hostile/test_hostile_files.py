"""A FIFO, a device, a folder or a huge file where a spec, a secret, a state or an import file
is expected: a clear error naming the path, never a hang (each test is bounded by a thread
that would open the FIFO's other end only if the reader blocked)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner.errors import SecretReferenceError, StateError
from provisioner.fsutil import FileTooLarge, NotARegularFile, read_regular_file
from provisioner.model import SecretRef
from provisioner.spec import check_paths
from provisioner.state import StateStore
from provisioner.workflow2.importfile import ImportFileSink


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    """A FIFO nobody writes to; released at teardown so a blocked reader (a bug) would end."""
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    yield path

    def unblock() -> None:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
        except OSError:
            pass

    threading.Thread(target=unblock, daemon=True).start()


def test_the_reader_refuses_what_is_not_a_regular_file(fifo: Path, tmp_path: Path) -> None:
    with pytest.raises(NotARegularFile, match="is a FIFO"):
        read_regular_file(fifo, 1024)
    with pytest.raises(NotARegularFile, match="is a device"):
        read_regular_file(Path("/dev/zero"), 1024)
    with pytest.raises(NotARegularFile, match="is a folder"):
        read_regular_file(tmp_path, 1024)
    big = tmp_path / "big"
    big.write_bytes(b"x" * 2048)
    with pytest.raises(FileTooLarge, match="2048 bytes, more than the 1024"):
        read_regular_file(big, 1024)


def test_a_fifo_or_device_as_spec_is_a_problem_not_a_hang(fifo: Path) -> None:
    result = check_paths([fifo, Path("/dev/zero")])
    messages = [p.format() for p in result.problems]
    assert any(f"{fifo} is a FIFO, not a regular file" in m for m in messages), messages
    assert any("/dev/zero is a device" in m for m in messages), messages


def test_secret_references_to_fifos_devices_and_huge_files(fifo: Path, tmp_path: Path) -> None:
    with pytest.raises(SecretReferenceError, match="is a FIFO, not a regular file"):
        SecretRef("file", str(fifo), tmp_path).resolve()
    with pytest.raises(SecretReferenceError, match="is a device"):
        SecretRef("file", "/dev/urandom", tmp_path).resolve()
    huge = tmp_path / "huge.key"
    with huge.open("wb") as fh:
        fh.truncate(2 * 1024 * 1024)
    with pytest.raises(SecretReferenceError, match="more than the 1048576 accepted"):
        SecretRef("file", str(huge), tmp_path).resolve()


def test_state_and_import_files_that_are_fifos(fifo: Path) -> None:
    with pytest.raises(StateError, match="is a FIFO"):
        StateStore(fifo).load()
    with pytest.raises(StateError, match="is a FIFO"):
        ImportFileSink(fifo, allow_plaintext=True).load_items()
