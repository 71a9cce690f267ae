"""Benchmark: failed logins during key rotation, cutover vs blue/green, measured by a prober.

One embedded sandbox org with a propagation delay of a few seconds (a certificate change takes
effect only after it), one import-file Workflow² instance (encrypted as the server stores it),
and two apps built from the same spec except ``rotation.strategy``: ``cut`` (cutover) and ``bg``
(blueGreen). Each is rotated ``--rotations`` times with ``provisioner.engine.run.apply`` (as
``provisioner rotate`` does), in the same process, for each sandbox cutover mode:

- ``propagated``: the previous certificate serves until the change takes effect (the sandbox's
  default model of Salesforce);
- ``immediate``: the previous certificate stops at once, the new one works after the delay.

During every rotation a prober signs in every ``--interval`` seconds (100 ms) with exactly the
client id and private key that Workflow² holds at that moment: it decrypts the import file's JWT
record of the app being rotated, as the server would. Reported per strategy and mode: failed
logins per rotation, the longest window of consecutive failures, rotation time, and the ratios
of blue/green to cutover (the baseline, run in the same process).

Run: ``.venv/bin/python bench/bench_rotation.py [--rotations 20] [--delay 2] [--interval 0.1]``
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from provisioner.engine.context import RunOptions
from provisioner.engine.run import apply
from provisioner.engine.services import Services
from provisioner.events import Observer, ignore
from provisioner.model import OrgSpec
from provisioner.salesforce.auth import jwt_bearer_token
from provisioner.salesforce.connection import OrgConnection, connect
from provisioner.salesforce.token_errors import TokenEndpointUnavailable, TokenRejected
from provisioner.sandbox import SandboxOptions, SandboxServer
from provisioner.secret import Secret
from provisioner.workflow2.atrest import decrypt_data

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchspecs
from benchspecs import ENC_ENV, USER

APPS = {"cut": "cutover", "bg": "blueGreen"}


def write_specs(root: Path, delay: float) -> Path:
    """The org (embedded sandbox, ``delay`` s propagation), the import-file instance, both apps."""
    return benchspecs.write_specs(root, [
        benchspecs.embedded_org_doc(propagation_delay=delay), benchspecs.instance_doc(),
        *(benchspecs.app_doc(name, "bench", oauth2=False, strategy=strategy)
          for name, strategy in APPS.items())])


class Connector:
    """A run connector that keeps the embedded org's server, for the prober to sign in to."""

    def __init__(self) -> None:
        self.server: SandboxServer | None = None

    def __call__(self, org: OrgSpec, options: RunOptions, _observer: Observer) -> OrgConnection:
        conn = connect(org, environ=options.environ)
        self.server = conn.sandbox
        return conn


@dataclass
class Probe:
    """The logins of one rotation: (monotonic time, ok) each."""

    results: list[tuple[float, bool]] = field(default_factory=list)

    @property
    def failures(self) -> int:
        """Logins refused."""
        return sum(1 for _, ok in self.results if not ok)

    @property
    def longest_window(self) -> float:
        """The longest time from a first refused login to the next accepted one (0: none)."""
        longest, start = 0.0, None
        for at, ok in self.results:
            if not ok and start is None:
                start = at
            elif ok and start is not None:
                longest, start = max(longest, at - start), None
        if start is not None:
            longest = max(longest, self.results[-1][0] - start)
        return longest


class Prober:
    """Signs in every ``interval`` seconds with what the import file's record of ``app`` holds."""

    def __init__(self, root: Path, connector: Connector, app: str, interval: float) -> None:
        self.file = root / "out" / "credentials.json"
        self.connector = connector
        self.name = f"{app} (JWT)"
        self.interval = interval
        self.key = Secret(os.environ[ENC_ENV])
        self.probe = Probe()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self.probe

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _held(self) -> tuple[str, Secret]:
        for item in json.loads(self.file.read_text()):
            if item["name"] == self.name:
                data = decrypt_data(item["data"], self.key)
                return str(data["clientId"]), Secret(str(data["privateKey"]))
        raise LookupError(self.name)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            server = self.connector.server
            try:
                url, ca = server.url, str(server.ca_file)  # type: ignore[union-attr]
            except (AttributeError, RuntimeError):
                continue  # between runs, or the org is not served yet: nothing to sign in to
            client, key = self._held()
            try:
                jwt_bearer_token(url, client, USER, key, url, verify=ca, timeout=10, who="probe")
                ok = True
            except TokenRejected:
                ok = False
            except (TokenEndpointUnavailable, OSError):
                continue  # the run stopped the org mid-probe: not a refusal
            self.probe.results.append((time.monotonic(), ok))


def set_cutover(root: Path, mode: str) -> None:
    """The sandbox org's ``certificateCutover`` setting (the org is not running)."""
    server = SandboxServer(SandboxOptions(state_dir=root / "sandbox")).start()
    try:
        server.org.set_setting("certificateCutover", mode)
        server.org.settle_propagation()
    finally:
        server.stop()


@dataclass
class Figures:
    """One strategy in one mode, over its rotations."""

    failures: list[int] = field(default_factory=list)
    windows: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    probes: int = 0


def rotate(root: Path, connector: Connector, app: str, interval: float) -> tuple[Probe, float]:
    """One ``provisioner rotate --app APP`` with the prober running."""
    options = RunOptions(state_path=root / "state.json", verify_timeout=120.0,
                         force_rotate=frozenset({app}), target_apps=frozenset({app}),
                         services=Services(connector=connector))
    with Prober(root, connector, app, interval) as probe:
        start = time.monotonic()
        _plan, result = apply([root / "specs"], options, ignore, lambda _p: True)
        seconds = time.monotonic() - start
    assert result is not None and not result.failures, result and result.failures[0].message
    return probe, seconds


def main() -> None:
    """Rotate both apps, in both sandbox modes, and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rotations", type=int, default=20)
    parser.add_argument("--delay", type=float, default=2.0, help="propagation delay, seconds")
    parser.add_argument("--interval", type=float, default=0.1, help="prober interval, seconds")
    parser.add_argument("--modes", default="propagated,immediate")
    args = parser.parse_args()
    os.environ.setdefault(ENC_ENV, secrets.token_hex(16))
    table: dict[tuple[str, str], Figures] = {}
    with tempfile.TemporaryDirectory(prefix="bench-rotation-") as tmp:
        root = Path(tmp)
        write_specs(root, args.delay)
        connector = Connector()
        first = RunOptions(state_path=root / "state.json", verify_timeout=120.0,
                           services=Services(connector=connector))
        _plan, result = apply([root / "specs"], first, ignore, lambda _p: True)
        assert result is not None and not result.failures
        for mode in args.modes.split(","):
            set_cutover(root, mode)
            for i in range(args.rotations):
                for app, strategy in APPS.items():
                    probe, seconds = rotate(root, connector, app, args.interval)
                    figures = table.setdefault((mode, strategy), Figures())
                    figures.failures.append(probe.failures)
                    figures.windows.append(probe.longest_window)
                    figures.seconds.append(seconds)
                    figures.probes += len(probe.results)
                print(f"{mode}: rotation {i + 1}/{args.rotations} of each app done", flush=True)
    print()
    print(f"key rotation, {args.rotations} per strategy and mode; propagation delay "
          f"{args.delay:g} s; a login every {args.interval * 1000:.0f} ms with what Workflow² holds")
    print(f"{'mode':<11} {'strategy':<10} {'logins':>7} {'failed':>7} {'failed/rot':>11} "
          f"{'max/rot':>8} {'longest window s':>17} {'median rotation s':>18}")
    for (mode, strategy), f in table.items():
        print(f"{mode:<11} {strategy:<10} {f.probes:>7} {sum(f.failures):>7} "
              f"{statistics.mean(f.failures):>11.1f} {max(f.failures):>8} "
              f"{max(f.windows):>17.2f} {statistics.median(f.seconds):>18.2f}")
    for mode in args.modes.split(","):
        cut, bg = table[(mode, "cutover")], table[(mode, "blueGreen")]
        print(f"{mode}: blueGreen/cutover failed logins {sum(bg.failures)}/{sum(cut.failures)} "
              f"= {sum(bg.failures) / max(1, sum(cut.failures)):.2f}x; rotation time "
              f"{statistics.median(bg.seconds) / statistics.median(cut.seconds):.2f}x")


if __name__ == "__main__":
    main()
