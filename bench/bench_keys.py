"""Benchmark: 50 RSA-2048 keys with certificates, serially vs :func:`generate_many`.

Also times a process pool, the alternative :func:`generate_many` does not use, so the choice of
threads stays justified by numbers on the machine at hand.

Run: ``.venv/bin/python bench/bench_keys.py [--count 50] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

from provisioner.keys import KeyRequest, generate_key_material, generate_many


def _fingerprint_in_child(subject: str) -> str:
    # Only the public fingerprint crosses back: a Secret refuses to be pickled.
    return generate_key_material(subject, 2048, 365).certificate.fingerprint


def _serial(requests: list[KeyRequest]) -> int:
    return len([generate_key_material(r.subject, r.key_size, r.validity_days) for r in requests])


def _threads(requests: list[KeyRequest]) -> int:
    return len(generate_many(requests))


def _processes(requests: list[KeyRequest]) -> int:
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(os.cpu_count() or 1, mp_context=context) as pool:
        return len(list(pool.map(_fingerprint_in_child, [r.subject for r in requests])))


def _time_interleaved(
    methods: dict[str, Callable[[list[KeyRequest]], int]], requests: list[KeyRequest], rounds: int
) -> dict[str, float]:
    # Rounds interleave the methods so a change in machine load hits all of them alike; the
    # median, because RSA prime search time varies a lot from key to key.
    samples: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(rounds):
        for name, fn in methods.items():
            start = time.perf_counter()
            assert fn(requests) == len(requests)
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    """Print wall times and the serial/parallel ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    requests = [KeyRequest(f"app{i}", f"bench-app-{i}") for i in range(args.count)]
    print(f"{args.count} x RSA-2048 + certificate, {os.cpu_count()} CPUs, median of {args.rounds}")
    times = _time_interleaved(
        {"serial": _serial, "threads": _threads, "processes": _processes}, requests, args.rounds
    )
    serial, threads, processes = times["serial"], times["threads"], times["processes"]
    print(f"serial                    {serial:6.2f} s")
    print(
        f"generate_many (threads)   {threads:6.2f} s   serial/threads   = {serial / threads:.2f}x"
    )
    print(
        f"process pool (forkserver) {processes:6.2f} s   serial/processes = {serial / processes:.2f}x"
    )


if __name__ == "__main__":
    main()
