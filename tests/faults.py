"""Real faults for tests, injected through the operating system rather than by patching code."""

from __future__ import annotations

import resource
import signal
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def file_size_limit(size: int) -> Iterator[None]:
    """While the block runs, a write that makes any file longer than ``size`` bytes fails with
    EFBIG, as a full disk fails with ENOSPC (RLIMIT_FSIZE; SIGXFSZ ignored so the write fails
    instead of killing the process). Restored after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.getsignal(signal.SIGXFSZ)
    limit_file_size(size)
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def limit_file_size(size: int) -> None:
    """For the rest of this process (a child's ``preexec_fn``): a write that makes any file
    longer than ``size`` bytes fails with EFBIG, as on a full disk (see :func:`file_size_limit`)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    _soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))


#: prctl option and the capabilities that let root ignore permission bits: CAP_DAC_OVERRIDE,
#: CAP_DAC_READ_SEARCH, CAP_FOWNER (linux/capability.h).
_PR_CAPBSET_DROP = 24
_PERMISSION_OVERRIDES = (1, 2, 3)


def obey_permissions() -> None:
    """For a child's ``preexec_fn``: the program it executes is held to file permission bits,
    as any user is, even when it runs as root.

    As root this drops the permission-override capabilities from the bounding set, so the
    executed program (still uid 0, owning the files it made) has none of them: a folder chmod
    0555 is read-only and a file chmod 0000 unreadable to it. (Switching to ``nobody`` instead
    would need an interpreter and libraries that user can read; they may live under /root.)
    Raises OSError where the capabilities cannot be dropped; does nothing for other users.
    """
    import ctypes
    import os

    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in _PERMISSION_OVERRIDES:
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) refused")
