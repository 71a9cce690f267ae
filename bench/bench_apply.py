"""Benchmark: apply N apps in one org, against the two ways people do it today, and the floor.

All three run in this process, each against its own fresh embedded sandbox org, over HTTPS with
unmodified simple-salesforce, with the same costs charged by the org: ``--latency`` on every
request (``*:latency``), ``--handshake`` on every new connection (``connect:latency``: what
reusing connections saves) and ``--deploy-seconds`` of deploy processing. Each ends with N apps
verified by a real JWT login and 2N credential records in the import file.

- **provisioner**: ``provisioner.engine.run.apply``.
- **per-app deploys** (baseline a): tools that deploy app by app: read the org, make the keys,
  then per app: a deploy of its own, its JWT login, its records.
- **one deploy, then one by one** (baseline b): what a person scripting the sf CLI does: make the
  keys one after another (``openssl`` per app), deploy the whole folder once, then sign in with
  each app one after another (``sf org login jwt``: a new connection each), write the records.

Printed: requests the org answered, deploys, wall time, and ratios; and the *floor*: the time no
approach can beat on this machine: making N keys on every core (measured here) plus six
sequential round trips (sign-in, read, deploy, deploy status, token, userinfo), one handshake
and the deploy processing time.

Run: ``.venv/bin/python bench/bench_apply.py [--apps 50] [--latency 0.1] [--handshake 0.1]
[--deploy-seconds 0.5]``
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner.engine.context import RunOptions
from provisioner.engine.run import apply, load_specs
from provisioner.engine.services import Services
from provisioner.events import Observer, ignore
from provisioner.model import AppSpec, Desired, OrgSpec
from provisioner.salesforce.connection import OrgConnection, connect
from provisioner.sandbox import SandboxOptions, SandboxServer
from provisioner.secret import Secret

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchspecs
from benchspecs import ENC_ENV, USER

VERIFY_TIMEOUT = 20.0


@dataclass
class Outcome:
    """What one approach cost."""

    requests: int
    deploys: int
    operations: Counter[str]
    seconds: float
    verified: int
    records: int


def write_specs(root: Path, apps: int, deploy_seconds: float = 0.1) -> Path:
    """An org (embedded sandbox in ``root/sandbox``), an import-file instance and ``apps`` apps."""
    specs = benchspecs.write_specs(root, [
        benchspecs.embedded_org_doc(), benchspecs.instance_doc(),
        *(benchspecs.app_doc(f"app-{i:03d}", "bench") for i in range(apps))])
    # The sandbox's CA, keys and org are made here, outside the timed part.
    server = SandboxServer(SandboxOptions(state_dir=root / "sandbox")).start()
    try:
        server.org.set_setting("deployProcessingSeconds", deploy_seconds)
    finally:
        server.stop()
    return specs


class Recorder:
    """A run connector: the embedded org with its costs charged, kept to read its request log."""

    def __init__(self, latency: float, handshake: float = 0.0) -> None:
        self.faults = (f"*:latency={latency:g}",) + (
            (f"connect:latency={handshake:g}",) if handshake else ())
        self.connections: list[OrgConnection] = []

    def __call__(self, org: OrgSpec, options: RunOptions, _observer: Observer) -> OrgConnection:
        conn = connect(org, environ=options.environ, sandbox_faults=self.faults)
        self.connections.append(conn)
        return conn

    def operations(self) -> Counter[str]:
        """Requests the org answered, by operation."""
        ops: Counter[str] = Counter()
        for conn in self.connections:
            assert conn.sandbox is not None
            ops.update(str(r["operation"]) for r in conn.sandbox.org.request_log)
        return ops




def run_provisioner(root: Path, latency: float, handshake: float) -> Outcome:
    """provisioner's apply: one deploy for the org."""
    specs = root / "specs"
    rec = Recorder(latency, handshake)
    options = RunOptions(state_path=root / "state.json", verify_timeout=VERIFY_TIMEOUT,
                         services=Services(connector=rec))
    start = time.perf_counter()
    _plan, result = apply([specs], options, ignore, lambda _p: True)
    seconds = time.perf_counter() - start
    assert result is not None, "the plan had no changes: the org was not fresh"
    assert not result.failures, result.failures[0].message
    ops = rec.operations()
    return Outcome(sum(ops.values()), ops["deploy"], ops, seconds, len(result.verified),
                   len(result.records_written))


def _records(app: AppSpec, consumer_key: str, secret: Secret, private_key: Secret,
             my_domain_url: str) -> list[Any]:
    """The app's two Workflow² records, as provisioner would write them."""
    from provisioner.workflow2.records import (
        build_jwt_record,
        build_oauth2_record,
        derive_credential_id,
    )

    out = []
    for cred in app.credentials:
        rid = derive_credential_id(cred.instance, cred.name)
        if cred.type == "jwt":
            out.append(build_jwt_record(
                id=rid, name=cred.name, environment=cred.environment, client_id=consumer_key,
                username=USER, private_key=private_key, my_domain_url=my_domain_url))
        else:
            out.append(build_oauth2_record(id=rid, name=cred.name, environment=cred.environment,
                                           client_id=consumer_key, client_secret=secret))
    return out


def _baseline(root: Path, latency: float, handshake: float, *, per_app: bool) -> Outcome:
    """A baseline through the same adapters (see the module docstring): per-app deploys (a), or
    keys one by one, one deploy, then logins one by one, each on a new connection (b)."""
    from provisioner.appkinds import build_components
    from provisioner.keys import (
        KeyRequest,
        generate_consumer_key,
        generate_consumer_secret,
        generate_key_material,
        generate_many,
    )
    from provisioner.metadata.package import deploy_zip
    from provisioner.salesforce import endpoints
    from provisioner.salesforce.deploy import PollPolicy, deploy
    from provisioner.salesforce.reader import read_apps
    from provisioner.salesforce.verify import verify_jwt_login
    from provisioner.sinks import WriteOp
    from provisioner.workflow2.importfile import ImportFileSink

    desired: Desired = load_specs([root / "specs"])
    org = desired.orgs["bench"]
    apps = sorted(desired.apps.values(), key=lambda a: a.name)
    rec = Recorder(latency, handshake)
    sink = ImportFileSink(root / "out" / "credentials.json",
                          encryption_key=Secret(os.environ[ENC_ENV]))
    start = time.perf_counter()
    conn = rec(org, RunOptions(), ignore)
    try:
        live = read_apps(conn, [(a.api_name, a.app_type) for a in apps])
        assert not any(live.values())
        if per_app:
            keys = generate_many([KeyRequest(name=a.name, subject=a.api_name) for a in apps])
        else:
            keys = {a.name: generate_key_material(a.api_name, 2048, 365) for a in apps}
        made = {a.name: (generate_consumer_key(), generate_consumer_secret()) for a in apps}

        def components(app: AppSpec) -> list[Any]:
            consumer_key, secret = made[app.name]
            return build_components(app, org, desired.callback_urls(app),
                                    certificate_pem=keys[app.name].certificate_pem,
                                    consumer_key=consumer_key, consumer_secret=secret)

        def login(app: AppSpec) -> None:
            verify_jwt_login(
                token_url=endpoints.token_url(org, conn),
                audience=endpoints.token_audience(org, app.app_type, conn),
                client_id=made[app.name][0], username=USER,
                private_key=keys[app.name].private_key, verify_tls=conn.verify,
                timeout=VERIFY_TIMEOUT)

        if not per_app:
            deploy(conn, deploy_zip([c for a in apps for c in components(a)], org.api_version),
                   poll=PollPolicy())
        verified = records = 0
        for app in apps:
            if per_app:
                deploy(conn, deploy_zip(components(app), org.api_version), poll=PollPolicy())
            login(app)
            verified += 1
            consumer_key, secret = made[app.name]
            for record in _records(app, consumer_key, secret, keys[app.name].private_key,
                                   conn.my_domain_url or conn.instance_url):
                sink.write(record, WriteOp(create=True))
                records += 1
        sink.flush()
    finally:
        conn.close()
    seconds = time.perf_counter() - start
    ops = rec.operations()
    return Outcome(sum(ops.values()), ops["deploy"], ops, seconds, verified, records)


def floor_seconds(apps: int, latency: float, handshake: float, deploy_seconds: float) -> float:
    """What no approach can beat here: N keys on every core (measured now), six sequential round
    trips, one handshake and the deploy's processing time."""
    from provisioner.keys import KeyRequest, generate_many

    start = time.perf_counter()
    generate_many([KeyRequest(name=f"k{i}", subject=f"floor {i}") for i in range(apps)])
    keys = time.perf_counter() - start
    return keys + 6 * latency + handshake + deploy_seconds


def main() -> None:
    """Run the three approaches and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--apps", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds added per request")
    parser.add_argument("--handshake", type=float, default=0.1,
                        help="seconds added per new connection")
    parser.add_argument("--deploy-seconds", type=float, default=0.5,
                        help="the org's deploy processing time")
    args = parser.parse_args()
    os.environ.setdefault(ENC_ENV, secrets.token_hex(16))
    runs: dict[str, Callable[[Path], Outcome]] = {
        "provisioner": lambda r: run_provisioner(r, args.latency, args.handshake),
        "one deploy, one by one (b)": lambda r: _baseline(r, args.latency, args.handshake,
                                                          per_app=False),
        "per-app deploys (a)": lambda r: _baseline(r, args.latency, args.handshake,
                                                   per_app=True),
    }
    out: dict[str, Outcome] = {}
    with tempfile.TemporaryDirectory(prefix="bench-apply-") as tmp:
        for n, (label, run) in enumerate(runs.items()):
            root = Path(tmp) / f"run{n}"
            write_specs(root, args.apps, args.deploy_seconds)
            out[label] = run(root)
    floor = floor_seconds(args.apps, args.latency, args.handshake, args.deploy_seconds)
    for label, o in out.items():
        assert (o.verified, o.records) == (args.apps, 2 * args.apps), (label, o)

    print(f"apply of {args.apps} apps in one org: {args.latency * 1000:.0f} ms per request, "
          f"{args.handshake * 1000:.0f} ms per new connection, {args.deploy_seconds:g} s deploy "
          f"processing; {os.cpu_count()} cores")
    print(f"floor (keys on every core + 6 round trips + 1 handshake + processing): {floor:.2f} s")
    ours = out["provisioner"]
    print(f"{'approach':<28} {'requests':>9} {'deploys':>8} {'wall s':>8} {'x floor':>8} "
          f"{'vs provisioner':>15}")
    for label, o in out.items():
        print(f"{label:<28} {o.requests:>9} {o.deploys:>8} {o.seconds:>8.2f} "
              f"{o.seconds / floor:>7.2f}x {o.seconds / ours.seconds:>14.2f}x")
    for label, o in out.items():
        detail = ", ".join(f"{op} {n}" for op, n in sorted(o.operations.items()))
        print(f"  {label} requests by operation: {detail}")


if __name__ == "__main__":
    main()
