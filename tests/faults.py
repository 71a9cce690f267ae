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
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
