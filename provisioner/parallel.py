"""Independent per-org (or per-instance) work side by side, with failures reported in order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from provisioner.errors import ProvisionerError

K = TypeVar("K")
V = TypeVar("V")


def each(names: Sequence[K], work: Callable[[K], V], *, max_workers: int,
         label: str = "work") -> dict[K, V]:
    """``work(name)`` for every name, at most ``max_workers`` at once. Every name is worked to
    the end; then the first project error, in the order of ``names``, is raised (so what a user
    sees does not depend on which thread finished first). One name runs in this thread."""
    if len(names) <= 1:
        return {n: work(n) for n in names}
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(names))),
                            thread_name_prefix=label) as pool:
        futures = {n: pool.submit(work, n) for n in names}
        results: dict[K, V] = {}
        failure: ProvisionerError | None = None
        for name in names:
            try:
                results[name] = futures[name].result()
            except ProvisionerError as exc:
                failure = failure or exc
    if failure is not None:
        raise failure
    return results
