"""Durable file writes: the one atomic-write helper every file provisioner keeps goes through.

A reader never sees half a file, and a crash never leaves one: the content goes to a temporary
file in the same folder (mode 0600 from the start), is flushed and fsync'd, renamed over the
target, and the folder is fsync'd so the rename itself survives a power cut. Folders provisioner
creates are 0700: they hold state, journals, plans and import files that only their owner reads.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

#: Files provisioner writes: readable by their owner only.
FILE_MODE = 0o600
#: Folders provisioner creates.
FOLDER_MODE = 0o700


def private_folder(folder: Path) -> None:
    """Create ``folder`` and every missing parent with mode 0700; existing ones are left as is."""
    missing: list[Path] = []
    while not folder.exists():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    for each in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made by another process meanwhile
            each.mkdir(mode=FOLDER_MODE)


@contextlib.contextmanager
def naming(path: Path) -> Iterator[None]:
    """Give an ``OSError`` raised in the block the name ``path`` when it names no file: a failed
    ``write``/``fsync`` (a full disk, a file-size limit) does not, and the user must be told
    which file the disk refused."""
    try:
        yield
    except OSError as exc:
        # Only the OS's own errors: a project subclass carries its own message.
        if exc.filename is not None or exc.errno is None or type(exc).__module__ != "builtins":
            raise
        raise OSError(exc.errno, exc.strerror, str(path)) from exc


def fsync_dir(folder: Path) -> None:
    """fsync a folder, making a file's creation, rename or removal in it durable."""
    # Not every OS can open a folder; there the rename is as durable as the OS makes it.
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def atomic_write(path: Path, content: str | bytes | Callable[[BinaryIO], None], *,
                 mode: int = FILE_MODE) -> None:
    """Replace ``path`` with ``content`` atomically and durably.

    ``content`` is text (written as UTF-8), bytes, or a function that writes to the open binary
    file (for content streamed by a serialiser). On any failure, the temporary file is removed,
    ``path`` keeps its previous content, and the exception propagates.
    """
    folder = path.parent
    with naming(path):
        private_folder(folder)
        remove_stale_temporaries(path)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
        try:
            os.fchmod(fd, mode)
            with os.fdopen(fd, "wb") as handle:
                if callable(content):
                    content(handle)
                else:
                    handle.write(content.encode("utf-8") if isinstance(content, str) else content)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    fsync_dir(folder)


#: A temporary file of atomic_write older than this was left by a killed writer.
STALE_TEMPORARY_SECONDS = 600.0


def remove_stale_temporaries(path: Path, *, now: float | None = None) -> list[Path]:
    """Remove the temporaries of ``path`` that a writer killed mid-write left behind (older
    than :data:`STALE_TEMPORARY_SECONDS`: a live writer's own is younger); returns them."""
    import time

    limit = (time.time() if now is None else now) - STALE_TEMPORARY_SECONDS
    removed: list[Path] = []
    try:
        candidates = list(path.parent.glob(f".{path.name}.*.tmp"))
    except OSError:
        return removed
    for tmp in candidates:
        try:
            if tmp.is_file() and not tmp.is_symlink() and tmp.stat().st_mtime < limit:
                tmp.unlink()
                removed.append(tmp)
        except OSError:
            continue
    return removed


__all__ = ["FILE_MODE", "FOLDER_MODE", "atomic_write", "fsync_dir", "naming", "private_folder",
           "read_regular_file", "remove_stale_temporaries"]


class NotARegularFile(OSError):
    """A path that names a FIFO, a device, a socket or a folder where a file is expected."""


class FileTooLarge(OSError):
    """A file larger than what its reader accepts."""


def read_regular_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of ``path``, which must be a regular file of at most ``max_bytes``.

    Opened without blocking (a FIFO named where a spec, a secret or a state file is expected
    would otherwise wait for a writer forever), checked with ``fstat`` on the open descriptor
    (no race with a swap of the path), and read no further than the cap.
    """
    import stat

    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = ("a folder" if stat.S_ISDIR(info.st_mode) else
                    "a FIFO" if stat.S_ISFIFO(info.st_mode) else
                    "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
                    else "not a regular file")
            raise NotARegularFile(f"{path} is {kind}, not a regular file")
        if info.st_size > max_bytes:
            raise FileTooLarge(f"{path} is {info.st_size} bytes, more than the {max_bytes} "
                               "accepted")
        chunks: list[bytes] = []
        total = 0
        while total <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > max_bytes:
            raise FileTooLarge(f"{path} grew past the {max_bytes} bytes accepted while read")
        return b"".join(chunks)
    finally:
        os.close(fd)
