"""Kill fuzz: create, rotate and destroy runs SIGKILLed at seeded-random journal points; after
the next run, nothing is lost or left over.

Each trial copies a workspace (fresh for create, applied for rotate and destroy), runs the
command in a child process that kills itself right after the chosen journal intent
(``PROVISIONER_TEST_KILL_AT``), then runs the same command again normally and checks:

- create/rotate: the plan is ``No changes``; the JWT record's key signs in to the org; the
  OAuth2 record's client secret is the one the org holds for the app (its hash) and the one
  state fingerprints; the org has exactly the app, the import file exactly its two records;
- destroy: the app is gone from the org, its records from the import file, it from state.

The same fuzz runs on a blue/green app (``rotation.strategy: blueGreen``): then the org must
hold exactly the pair, the JWT record the keys of the side state says is active (its key signs
in there), the other side a retired key, and a destroy must leave neither app.

The seed is printed and can be set with ``PROVISIONER_FUZZ_SEED``; the figures (mismatched
secrets, orphans, failed logins) are printed with ``-s`` and must all be 0.
"""

from __future__ import annotations

import os
import random
import signal
from collections import Counter
from typing import Any

import pytest

from provisioner.journal import KILL_AT_ENV
from provisioner.salesforce.token_errors import TokenRejected
from provisioner.secret import Secret
from tests.engine.conftest import (
    Workspace,
    app_yaml,
    cli,
    cli_subprocess,
    jwt_login,
    records,
    running_org,
    state_doc,
)

TRIALS = 21
#: Journal points drawn from 1..MAX_POINT; a run with fewer simply finishes (also checked).
MAX_POINT = 7
COMMANDS: dict[str, tuple[str, ...]] = {
    "create": ("apply", "--auto-approve"),
    "rotate": ("rotate", "--app", "billing", "--auto-approve"),
    "destroy": ("destroy", "--app", "billing", "--auto-approve"),
}


def _org_app(ws: Workspace) -> tuple[list[str], dict[str, Any] | None]:
    """Every app the org holds (by API name), and the global OAuth record of ``billing``."""
    from provisioner.sandbox.catalog import ECA, ECA_GLOBAL

    with running_org(ws) as server:
        comps = server.org.data["components"]
        boot = server.org.data["bootstrap"]["app"]
        apps = sorted(a for a in comps.get(ECA, {}) if a != boot)
        glob = next((rec for rec in comps.get(ECA_GLOBAL, {}).values()
                     if rec["metadata"].get("externalClientApplication") == "billing"), None)
        return apps, glob


def _check(ws: Workspace, op: str, figures: Counter[str], what: str, pair: bool) -> None:
    from provisioner.sandbox.seed import secret_hash

    apps, glob = _org_app(ws)
    recs = records(ws) if ws.import_file.exists() else {}
    if op == "destroy":
        figures["orphan apps"] += len(apps)
        figures["orphan records"] += len(recs)
        figures["orphan state"] += len(state_doc(ws)["apps"])
        if apps or recs:
            print(f"{what}: left {apps} {sorted(recs)}")
        return
    plan = cli("plan", ws.specs, "--state", ws.state_path, "--detailed-exitcode")
    assert plan.code == 0, f"{what}: the plan after recovery is not empty:\n{plan.all}"
    figures["orphan apps"] += len(set(apps) ^ ({"billing", "billing_green"} if pair
                                               else {"billing"}))
    figures["orphan records"] += max(0, len(recs) - 2)
    states = state_doc(ws)["apps"]
    st = states["billing"]
    side = states[st.get("loginApp") or "billing"]  # whose keys the JWT record holds
    if pair:
        other = states["billing.green" if side is st else "billing"]
        assert other["keyRetired"] and not side["keyRetired"], what
    secret = recs["billing (OAuth2)"]["data"]["clientSecret"]
    assert glob is not None, what
    if secret_hash(secret) != glob["secretHash"] or Secret(secret).fingerprint() != st[
            "consumerSecretFingerprint"]:
        figures["mismatched secrets"] += 1
    try:
        assert recs["billing (JWT)"]["data"]["clientId"] == side["consumerKey"], what
        with running_org(ws) as org:
            jwt_login(org, side["consumerKey"],
                      Secret(recs["billing (JWT)"]["data"]["privateKey"]))
    except TokenRejected:
        figures["failed logins"] += 1


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["cutover", "blueGreen"])
def test_kill_fuzz_over_create_rotate_and_destroy(
    ws: Workspace, applied_template: Workspace, capsys: pytest.CaptureFixture[str],
    strategy: str,
) -> None:
    seed = int(os.environ.get("PROVISIONER_FUZZ_SEED", "20261204"))
    rng = random.Random(seed)
    pair = strategy == "blueGreen"
    fresh = ws
    if pair:
        fresh.write_apps(app_yaml("billing", rotation="blueGreen"))
    with running_org(fresh):
        pass  # the sandbox state dir, made once for all copies
    if pair:  # an applied pair to rotate and destroy
        applied_template = fresh.copy_to(fresh.root.parent / "applied-pair")
        assert cli("apply", applied_template.specs, "--state", applied_template.state_path,
                   "--auto-approve").code == 0
    figures: Counter[str] = Counter()
    killed = Counter()
    for trial in range(TRIALS):
        op = rng.choice(sorted(COMMANDS))
        point = rng.randint(1, MAX_POINT)
        base = fresh if op == "create" else applied_template
        run = base.copy_to(fresh.root.parent / f"trial{trial}")
        for key, value in run.env.items():
            os.environ[key] = value
        args = (*COMMANDS[op][:1], run.specs, *COMMANDS[op][1:], "--state", run.state_path)
        proc = cli_subprocess(*args, env={**run.env, KILL_AT_ENV: str(point)}, timeout=300)
        what = f"trial {trial} (seed {seed}): {op} killed at journal point {point}"
        if proc.returncode == -signal.SIGKILL:
            killed[op] += 1
        else:
            assert proc.returncode == 0, f"{what}: {proc.stderr}"
        again = cli(*args)  # the same command again: recovers, then finishes the work
        assert again.code == 0, f"{what}: {again.all}"
        _check(run, op, figures, what, pair)
    with capsys.disabled():
        print(f"\nkill fuzz ({strategy}), seed {seed}: {TRIALS} trials, killed {dict(sorted(killed.items()))}; "
              f"mismatched secrets {figures['mismatched secrets']}, orphan apps "
              f"{figures['orphan apps']}, orphan records {figures['orphan records']}, orphan "
              f"state {figures['orphan state']}, failed logins {figures['failed logins']}")
    assert sum(killed.values()) >= TRIALS // 2, killed  # the fuzz really kills
    assert set(killed) == set(COMMANDS), killed
    assert all(v == 0 for v in figures.values()), figures
