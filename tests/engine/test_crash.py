"""Crash safety: an apply SIGKILLed right after each journal intent in turn; the next run converges.

``PROVISIONER_TEST_KILL_AT=n`` makes the process kill itself right after the n-th intent is on
disk. For n = 1, 2, ... on a copy of the same untouched workspace until the run survives (n is
then one past the number of journal points of a fresh apply), each killed run is followed by a
normal apply (which takes over the dead run's lock), a plan with no changes, and a JWT login with
the key the credential record holds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.secret import Secret
from tests.engine.conftest import (
    Workspace,
    assert_no_secret,
    cli,
    jwt_login,
    kill_at_every_point,
    records,
    running_org,
    secrets_in_records,
    state_doc,
)

MAX_POINTS = 12  # a fresh apply of one app has a handful; more means a runaway loop


def _check_converged(ws: Workspace, killed_at: int) -> None:
    what = f"after a kill at journal point {killed_at}"
    recovered = cli("apply", ws.specs, "--state", ws.state_path, "--auto-approve")
    assert recovered.code == 0, f"{what}: {recovered.all}"
    assert "taking it over" in recovered.stderr, what
    assert not Path(str(ws.state_path) + ".lock").exists(), what
    assert not Path(str(ws.state_path) + ".journal").exists(), what

    plan = cli("plan", ws.specs, "--state", ws.state_path, "--detailed-exitcode")
    assert plan.code == 0, f"{what}: the plan after recovery is not empty:\n{plan.all}"

    st = state_doc(ws)["apps"]["billing"]
    recs = records(ws)
    assert set(recs) == {"billing (JWT)", "billing (OAuth2)"}, what
    assert recs["billing (JWT)"]["data"]["clientId"] == st["consumerKey"], what
    assert recs["billing (OAuth2)"]["data"]["clientId"] == st["consumerKey"], what
    assert Secret(recs["billing (OAuth2)"]["data"]["clientSecret"]).fingerprint() == st[
        "consumerSecretFingerprint"], what
    with running_org(ws) as org:
        jwt_login(org, st["consumerKey"], Secret(recs["billing (JWT)"]["data"]["privateKey"]))
    for text, where in ((recovered.all, "output"), (plan.all, "plan output"),
                        (ws.state_path.read_text(), "state")):
        assert_no_secret(text, *secrets_in_records(ws), *ws.env.values(), where=where)


@pytest.mark.slow
def test_apply_killed_at_every_journal_point_is_finished_by_the_next_run(ws: Workspace) -> None:
    template = ws
    with running_org(template):
        pass  # create the sandbox state dir (CA, keys, org) once for all copies
    killed = kill_at_every_point(
        template, lambda w: ("apply", w.specs, "--state", w.state_path, "--auto-approve"),
        _check_converged, max_points=MAX_POINTS)
    # deploy, verify, and one write per credential record at least.
    assert len(killed) >= 4, killed
