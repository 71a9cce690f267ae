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
from collections.abc import Callable
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
    private_folder(folder)
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


__all__ = ["FILE_MODE", "FOLDER_MODE", "atomic_write", "fsync_dir", "private_folder"]
