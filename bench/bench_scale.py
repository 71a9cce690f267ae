"""Benchmark: how apply and a no-op plan scale with the number of apps in one org.

For each size, a fresh sandbox org served by this process (its request counters read here) and
``provisioner apply`` then ``provisioner plan --detailed-exitcode`` run as child processes, as a
pipeline runs them, signing in to the org as a real one (JWT bearer, CA through
``REQUESTS_CA_BUNDLE``). Reported per size: wall time, time per app, the requests the org
answered, the deploys, and the child's peak memory (its own ``ru_maxrss``, the org not included).
The ratio column is the time per app against the 50-app run of the same invocation (the
baseline), so a superlinear step shows as a ratio that grows.

Run: ``.venv/bin/python bench/bench_scale.py [--sizes 10,50,200,500,2000] [--latency 0]``
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_plan import write_specs
from benchspecs import ENC_ENV

from provisioner.sandbox import SandboxOptions, SandboxServer


@dataclass
class Run:
    """One command at one size."""

    seconds: float
    requests: int
    deploys: int
    peak_mib: float


def _peak(cmd: list[str], env: dict[str, str], server: SandboxServer, expect: int) -> Run:
    """Run ``cmd``: its wall time, the org's requests during it, and the child's own peak
    resident memory (``wait4``: this process and the org are not counted)."""
    before = dict(server.org.counters)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    if proc.returncode != expect:
        raise RuntimeError(f"{' '.join(cmd[2:4])} exited {proc.returncode}:\n"
                           f"{err.decode()[-3000:]}")
    after = server.org.counters
    requests = sum(after[k] - before.get(k, 0) for k in after if k != "writes")
    return Run(seconds, requests, after["deploy"] - before.get("deploy", 0),
               usage.ru_maxrss / 1024)


def measure(size: int, latency: float, root: Path) -> tuple[Run, Run]:
    """Apply ``size`` apps to a fresh org, then plan with nothing to do."""
    faults = (f"*:latency={latency:g}", f"connect:latency={latency:g}") if latency else ()
    server = SandboxServer(SandboxOptions(state_dir=root / "org", faults=faults)).start()
    try:
        creds = server.deploy_credentials()
        org = {"url": server.url, "client_id": creds.client_id, "username": creds.username,
               "key_file": str(creds.private_key_path)}
        specs = write_specs(root, [org], size)
        env = {**os.environ, ENC_ENV: secrets.token_hex(16),
               "REQUESTS_CA_BUNDLE": str(server.ca_file)}
        cli = [sys.executable, "-m", "provisioner"]
        state = ["--state", str(root / "state.json")]
        applied = _peak([*cli, "apply", str(specs), *state, "--auto-approve"], env, server, 0)
        planned = _peak([*cli, "plan", str(specs), *state, "--detailed-exitcode"], env,
                        server, 0)
    finally:
        server.stop()
    return applied, planned


def main() -> None:
    """Measure every size and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10,50,200,500,2000")
    parser.add_argument("--latency", type=float, default=0.0,
                        help="seconds added per request and per new connection")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows: dict[int, tuple[Run, Run]] = {}
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix=f"bench-scale-{size}-") as tmp:
            rows[size] = measure(size, args.latency, Path(tmp))
        apply_run, plan_run = rows[size]
        print(f"{size} apps: apply {apply_run.seconds:.1f} s, plan {plan_run.seconds:.1f} s",
              flush=True)
    base = 50 if 50 in rows else sizes[0]
    print()
    print(f"one org, {args.latency * 1000:.0f} ms per request and connection, "
          f"{os.cpu_count()} cores; ratio: time per app against the {base}-app run; marginal: "
          "time per app added since the size before (a run's fixed cost taken out)")
    print(f"{'apps':>6} | {'apply s':>8} {'ms/app':>7} {'ratio':>6} {'marginal':>9} "
          f"{'requests':>9} {'deploys':>8} {'peak MiB':>9} | {'plan s':>7} {'ms/app':>7} "
          f"{'ratio':>6} {'marginal':>9} {'requests':>9} {'peak MiB':>9}")
    a0 = rows[base][0].seconds / base
    p0 = rows[base][1].seconds / base
    previous: tuple[int, Run, Run] | None = None
    for size, (a, p) in rows.items():
        if previous is None:
            a_marginal = p_marginal = "-"
        else:
            n, pa, pp = previous
            a_marginal = f"{(a.seconds - pa.seconds) / (size - n) * 1000:.1f}"
            p_marginal = f"{(p.seconds - pp.seconds) / (size - n) * 1000:.1f}"
        previous = (size, a, p)
        print(f"{size:>6} | {a.seconds:>8.1f} {a.seconds / size * 1000:>7.1f} "
              f"{a.seconds / size / a0:>5.2f}x {a_marginal:>9} {a.requests:>9} {a.deploys:>8} "
              f"{a.peak_mib:>9.0f} | {p.seconds:>7.2f} {p.seconds / size * 1000:>7.1f} "
              f"{p.seconds / size / p0:>5.2f}x {p_marginal:>9} {p.requests:>9} "
              f"{p.peak_mib:>9.0f}")


if __name__ == "__main__":
    main()
