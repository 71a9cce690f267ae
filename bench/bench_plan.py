"""Benchmark: a no-op ``provisioner plan`` of many apps over several orgs, each org a separate
sandbox process, every request and every new connection charged a latency.

The orgs are ``provisioner sandbox serve`` processes (``*:latency`` per request,
``connect:latency`` per new connection), signed in to as real orgs are (JWT bearer with the
sandbox's deploy app, CA trusted through ``REQUESTS_CA_BUNDLE``); the Workflow² instance is an
import file. The apps are applied once, then ``provisioner plan --detailed-exitcode`` is run as a
whole command (interpreter start-up included) ``--runs`` times and must find nothing to do.

Printed: the median and spread of the plan, and the floor it is measured against: the start-up
of the same interpreter importing provisioner's CLI (measured here, same process tree), plus the
round trips a plan cannot avoid when orgs are read in parallel: a handshake, the sign-in and one
read (describe and the read batches of every org at once).

Run: ``.venv/bin/python bench/bench_plan.py [--apps 200] [--orgs 4] [--latency 0.1] [--runs 5]``
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchspecs
from benchspecs import ENC_ENV


@contextmanager
def sandbox_process(state_dir: Path, latency: float) -> Iterator[dict[str, str]]:
    """A ``provisioner sandbox serve`` process; yields its URL, CA file and deploy credentials."""
    cmd = [sys.executable, "-m", "provisioner", "sandbox", "serve", "--state-dir",
           str(state_dir), "--fault", f"*:latency={latency:g}",
           "--fault", f"connect:latency={latency:g}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    info: dict[str, str] = {}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if m := re.search(r"listening on (https://\S+)", line):
                info["url"] = m[1]
            elif m := re.search(r"CA bundle: (\S+)", line):
                info["ca"] = m[1]
            elif m := re.search(r"Deploy user: (\S+) .*client id (\S+), key file (\S+)\)", line):
                info["username"], info["client_id"], info["key_file"] = m[1], m[2], m[3]
            if "Press Ctrl-C" in line:
                break
        else:
            raise RuntimeError(f"the sandbox did not start: {proc.returncode}")
        yield info
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def write_specs(root: Path, orgs: list[dict[str, str]], apps: int) -> Path:
    """``apps`` apps spread over the orgs (signed in to as real ones), one import-file instance."""
    return benchspecs.write_specs(root, [
        benchspecs.instance_doc(),
        *(benchspecs.remote_org_doc(f"org{i}", org) for i, org in enumerate(orgs)),
        *(benchspecs.app_doc(f"app-{n:04d}", f"org{n % len(orgs)}") for n in range(apps))])


def timed(cmd: list[str], env: dict[str, str], expect: int = 0) -> float:
    """Seconds one command takes; it must exit with ``expect``."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != expect:
        raise RuntimeError(f"{' '.join(cmd[2:5])}... exited {proc.returncode}:\n"
                           f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return seconds


def main() -> None:
    """Set up the orgs, apply once, time the no-op plans, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--apps", type=int, default=200)
    parser.add_argument("--orgs", type=int, default=4)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-plan-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        orgs = [stack.enter_context(sandbox_process(root / f"org{i}", args.latency))
                for i in range(args.orgs)]
        bundle = root / "ca.pem"
        bundle.write_text("".join(Path(o["ca"]).read_text() for o in orgs))
        env = {**os.environ, ENC_ENV: secrets.token_hex(16), "REQUESTS_CA_BUNDLE": str(bundle)}
        specs = write_specs(root, orgs, args.apps)
        provisioner = [sys.executable, "-m", "provisioner"]
        state = ["--state", str(root / "state.json")]
        applied = timed([*provisioner, "apply", str(specs), *state, "--auto-approve"], env)
        plans = [timed([*provisioner, "plan", str(specs), *state, "--detailed-exitcode"], env)
                 for _ in range(args.runs)]
        startup = statistics.median(
            timed([sys.executable, "-c", "import provisioner.cli.main"], env)
            for _ in range(args.runs))
    floor = startup + 3 * args.latency
    median = statistics.median(plans)
    print(f"no-op plan of {args.apps} apps over {args.orgs} orgs (separate sandbox processes), "
          f"{args.latency * 1000:.0f} ms per request and per new connection; "
          f"{os.cpu_count()} cores")
    print(f"apply (once, to set up): {applied:.2f} s")
    print(f"plan: median {median:.2f} s over {args.runs} runs "
          f"(min {min(plans):.2f}, max {max(plans):.2f})")
    print(f"floor: start-up {startup:.2f} s + 3 round trips = {floor:.2f} s; "
          f"plan / floor = {median / floor:.2f}x")


if __name__ == "__main__":
    main()
