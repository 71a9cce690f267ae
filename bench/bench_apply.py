"""Benchmark: apply N apps in one org, one deploy per org (provisioner) vs one deploy per app.

Both run in this process against their own fresh embedded sandbox org with the same latency
injected on every request (``*:latency=SECONDS``), over HTTPS with unmodified simple-salesforce:

- **provisioner**: ``provisioner.engine.run.apply``: read the org, generate the keys, one
  transactional deploy of every app, verify every JWT login (in parallel), write the records.
- **per-app deploys**: what tools that deploy app by app do, through the same adapters: read the
  org the same way, generate the keys the same way, then for each app: deploy its components in
  a deploy of its own, verify its JWT login, write its records.

Both end in the same place (N apps verified, 2N credential records written, checked). Reported:
HTTP requests the org answered (from the sandbox's request log), deploys, wall time, the ratios.

Run: ``.venv/bin/python bench/bench_apply.py [--apps 50] [--latency 0.1]``
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
import textwrap
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from provisioner.engine.context import RunOptions
from provisioner.engine.run import apply, load_specs
from provisioner.engine.services import Services
from provisioner.events import Observer, ignore
from provisioner.model import Desired, OrgSpec
from provisioner.salesforce.connection import OrgConnection, connect
from provisioner.sandbox import SandboxOptions, SandboxServer
from provisioner.secret import Secret

ENC_ENV = "BENCH_N8N_ENCRYPTION_KEY"
USER = "integration@sandbox.provisioner.test"
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


def write_specs(root: Path, apps: int) -> Path:
    """An org (embedded sandbox in ``root/sandbox``), an import-file instance and ``apps`` apps."""
    specs = root / "specs"
    specs.mkdir(parents=True)
    (specs / "org.yaml").write_text(textwrap.dedent(f"""\
        apiVersion: provisioner.dev/v1
        kind: SalesforceOrg
        metadata: {{name: bench}}
        spec:
          sandbox: {{stateDir: ../sandbox}}
        ---
        apiVersion: provisioner.dev/v1
        kind: WorkflowInstance
        metadata: {{name: wf}}
        spec:
          baseUrl: http://localhost:5678
          sink: {{type: importFile, path: ../out/credentials.json, encryptionKey: {{env: {ENC_ENV}}}}}
        """))
    docs = []
    for i in range(apps):
        name = f"app-{i:03d}"
        docs.append(textwrap.dedent(f"""\
            apiVersion: provisioner.dev/v1
            kind: SalesforceApp
            metadata: {{name: {name}}}
            spec:
              org: bench
              label: Bench App {i}
              contactEmail: bench@example.com
              callbackUrls: [{{workflowInstance: wf}}]
              scopes: [api, refresh_token, full]
              certificate: {{keySize: 2048, validityDays: 365}}
              preAuthorized: {{permissionSets: [Workflow_Integration]}}
              credentials:
                - {{type: jwt, instance: wf, name: {name} (JWT), username: {USER}}}
                - {{type: oauth2, instance: wf, name: {name} (OAuth2)}}
            """))
    (specs / "apps.yaml").write_text("---\n".join(docs))
    # The sandbox's CA, keys and org are made here, outside the timed part.
    SandboxServer(SandboxOptions(state_dir=root / "sandbox")).start().stop()
    return specs


class Recorder:
    """A run connector: the embedded org with latency injected, kept to read its request log."""

    def __init__(self, latency: float) -> None:
        self.faults = (f"*:latency={latency:g}",)
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




def run_provisioner(root: Path, latency: float) -> Outcome:
    """provisioner's apply: one deploy for the org."""
    specs = root / "specs"
    rec = Recorder(latency)
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


def run_per_app(root: Path, latency: float) -> Outcome:
    """The baseline: the same adapters, each app deployed (then verified and written) alone."""
    from provisioner.appkinds import build_components
    from provisioner.keys import (
        KeyRequest,
        generate_consumer_key,
        generate_consumer_secret,
        generate_many,
    )
    from provisioner.metadata.package import deploy_zip
    from provisioner.salesforce import endpoints
    from provisioner.salesforce.deploy import PollPolicy, deploy
    from provisioner.salesforce.reader import read_apps
    from provisioner.salesforce.verify import verify_jwt_login
    from provisioner.workflow2.importfile import ImportFileSink
    from provisioner.workflow2.records import (
        build_jwt_record,
        build_oauth2_record,
        derive_credential_id,
    )

    desired: Desired = load_specs([root / "specs"])
    org = desired.orgs["bench"]
    apps = sorted(desired.apps.values(), key=lambda a: a.name)
    rec = Recorder(latency)
    sink = ImportFileSink(root / "out" / "credentials.json",
                          encryption_key=Secret(os.environ[ENC_ENV]))
    start = time.perf_counter()
    conn = rec(org, RunOptions(), ignore)
    try:
        live = read_apps(conn, [(a.api_name, a.app_type) for a in apps])
        assert not any(live.values())
        keys = generate_many([KeyRequest(name=a.name, subject=a.api_name) for a in apps])
        verified = records = 0
        for app in apps:
            consumer_key, secret = generate_consumer_key(), generate_consumer_secret()
            components = build_components(
                app, org, desired.callback_urls(app),
                certificate_pem=keys[app.name].certificate_pem,
                consumer_key=consumer_key, consumer_secret=secret,
            )
            deploy(conn, deploy_zip(components, org.api_version), poll=PollPolicy())
            verify_jwt_login(
                token_url=endpoints.token_url(org, conn),
                audience=endpoints.token_audience(org, app.app_type, conn),
                client_id=consumer_key, username=USER, private_key=keys[app.name].private_key,
                verify_tls=conn.verify, timeout=VERIFY_TIMEOUT,
            )
            verified += 1
            for cred in app.credentials:
                rid = derive_credential_id(cred.instance, cred.name)
                if cred.type == "jwt":
                    record = build_jwt_record(
                        id=rid, name=cred.name, environment=cred.environment,
                        client_id=consumer_key, username=USER,
                        private_key=keys[app.name].private_key, my_domain_url=conn.my_domain_url)
                else:
                    record = build_oauth2_record(id=rid, name=cred.name,
                                                 environment=cred.environment,
                                                 client_id=consumer_key, client_secret=secret)
                sink.write([record])
                records += 1
    finally:
        conn.close()
    seconds = time.perf_counter() - start
    ops = rec.operations()
    return Outcome(sum(ops.values()), ops["deploy"], ops, seconds, verified, records)


def main() -> None:
    """Run both approaches and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--apps", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds added per request")
    args = parser.parse_args()
    os.environ.setdefault(ENC_ENV, secrets.token_hex(16))
    with tempfile.TemporaryDirectory(prefix="bench-apply-") as tmp:
        base = Path(tmp)
        for name in ("provisioner", "per-app"):
            write_specs(base / name, args.apps)
        ours = run_provisioner(base / "provisioner", args.latency)
        theirs = run_per_app(base / "per-app", args.latency)
    for label, out in (("provisioner", ours), ("per-app", theirs)):
        assert (out.verified, out.records) == (args.apps, 2 * args.apps), (label, out)

    print(f"apply of {args.apps} apps in one org, {args.latency * 1000:.0f} ms injected per request")
    print(f"{'approach':<30} {'requests':>9} {'deploys':>8} {'status polls':>13} {'wall s':>8}")
    for label, out in (("provisioner (1 deploy/org)", ours), ("per-app deploys (baseline)", theirs)):
        print(f"{label:<30} {out.requests:>9} {out.deploys:>8} "
              f"{out.operations['checkDeployStatus']:>13} {out.seconds:>8.1f}")
    print(f"{'ratio baseline/provisioner':<30} {theirs.requests / ours.requests:>8.1f}x "
          f"{theirs.deploys / ours.deploys:>7.1f}x "
          f"{theirs.operations['checkDeployStatus'] / ours.operations['checkDeployStatus']:>12.1f}x "
          f"{theirs.seconds / ours.seconds:>7.1f}x")
    for label, out in (("provisioner", ours), ("per-app", theirs)):
        detail = ", ".join(f"{op} {n}" for op, n in sorted(out.operations.items()))
        print(f"  {label} requests by operation: {detail}")


if __name__ == "__main__":
    main()
