"""JWT verification through the org's propagation delay, and a rotation that fails it (rollback)."""

from __future__ import annotations

import pytest

from provisioner.engine.run import apply, compute_plan
from provisioner.events import Event, LoginWaiting
from provisioner.salesforce.token_errors import TokenRejected
from provisioner.secret import Secret
from tests.engine.conftest import (
    Lines,
    Workspace,
    approve,
    cli,
    jwt_login,
    login_eventually,
    records,
    running_org,
    state_doc,
)

#: Changes propagate only when a test settles them (an hour otherwise): no load makes one early.
DELAY = 3600.0


class SettlingLines(Lines):
    """Progress lines; the first "login not accepted yet" lets the org's propagation finish."""

    def __init__(self, ws: Workspace) -> None:
        super().__init__()
        self.ws = ws

    def __call__(self, event: Event) -> None:
        super().__call__(event)
        if isinstance(event, LoginWaiting) and self.waits() == 1:
            sandbox = self.ws.recorder.connections[-1].sandbox
            assert sandbox is not None and sandbox.org.settle_propagation() >= 1

    def waits(self) -> int:
        """How many waits were reported."""
        return sum(isinstance(e, LoginWaiting) for e in self.events)


def settle(ws: Workspace) -> None:
    """Let every pending change of the workspace's org propagate (between runs)."""
    with running_org(ws) as org:
        org.org.settle_propagation()


def test_verification_waits_through_propagation_and_succeeds(ws: Workspace) -> None:
    ws.write_org(delay=DELAY)
    lines = SettlingLines(ws)
    _plan, result = apply(ws.paths(), ws.options(verify_timeout=120), lines, approve)
    assert result is not None and not result.failures
    assert result.verified == ["billing"]
    waits = [ln for ln in lines.lines if "login not accepted yet" in ln]
    assert len(waits) == 1, lines.text()
    assert waits[0].startswith("app billing: login not accepted yet (")
    # The records were written only after the key was proven.
    assert lines.lines.index(waits[-1]) < next(
        i for i, ln in enumerate(lines.lines) if ln.startswith("writing Workflow² credential"))
    st = state_doc(ws)["apps"]["billing"]
    with running_org(ws) as org:
        jwt_login(org, st["consumerKey"], Secret(records(ws)["billing (JWT)"]["data"]["privateKey"]))


def test_rotation_failing_verification_restores_previous_certificate(applied: Workspace) -> None:
    ws = applied
    ws.write_org(delay=DELAY)
    before = state_doc(ws)["apps"]["billing"]
    old_records = records(ws)
    old_key = Secret(old_records["billing (JWT)"]["data"]["privateKey"])
    import_bytes = ws.import_file.read_bytes()

    result = cli("rotate", ws.specs, "--state", ws.state_path, "--app", "billing",
                 "--auto-approve", "--verify-timeout", "0.5")
    assert result.code == 1, result.all
    assert "rolled back: app billing: the previous certificate is deployed again" in result.stdout
    error = result.stderr[result.stderr.index("Error: "):]
    assert "app 'billing' in org 'sb'" in error
    assert "did not succeed within 0.5 s" in error
    assert "invalid assertion" in error  # the org's answer: the new certificate is not live yet
    assert "--verify-timeout" in error  # the fix: allow more time
    assert "wrote:" not in result.stdout

    # State: the old certificate is current again; the failed one is not remembered as current.
    after = state_doc(ws)["apps"]["billing"]
    assert after["certificate"]["fingerprint"] == before["certificate"]["fingerprint"]
    assert after["consumerKey"] == before["consumerKey"]
    # The failed rotation is not remembered as the last one (maxAgeDays counts from it).
    assert after.get("lastRotation") == before.get("lastRotation")
    assert after.get("previousCertificate") == before.get("previousCertificate")
    # The credential record was never touched: it still holds the old key, which works again.
    assert ws.import_file.read_bytes() == import_bytes
    with running_org(ws) as org:
        app = org.org.app("billing")
        assert app is not None
        assert app["certificate"].strip() == before["certificate"]["pem"].strip()
        org.org.settle_propagation()  # the rollback's certificate change, as time would
        login_eventually(org, before["consumerKey"], old_key, timeout=30)

    # Nothing left to do afterwards (the rollback is complete, not half-recorded).
    ws.write_org(delay=0)
    assert not compute_plan(ws.paths(), ws.options(), Lines()).plan.has_changes


def test_create_failing_verification_writes_no_jwt_record_and_next_apply_converges(
    ws: Workspace,
) -> None:
    ws.write_org(delay=DELAY)
    _plan, result = apply(ws.paths(), ws.options(verify_timeout=0.3), Lines(), approve)
    assert result is not None
    (failure,) = result.failures
    assert "app 'billing' in org 'sb'" in failure.message
    # The JWT record waits for a key that works; the OAuth2 record is written: its consumer
    # secret is set in the org already and would otherwise be lost with the run.
    assert result.verified == [] and result.records_written == ["wf/billing (OAuth2)"]
    assert set(records(ws)) == {"billing (OAuth2)"}
    # The app exists, but its key died with the run: state does not claim its certificate.
    st = state_doc(ws)["apps"]["billing"]
    assert st.get("certificate") is None
    assert Secret(records(ws)["billing (OAuth2)"]["data"]["clientSecret"]).fingerprint() == st[
        "consumerSecretFingerprint"]

    plan = compute_plan(ws.paths(), ws.options(), Lines()).plan
    (app,) = plan.apps
    assert app.action == "rotate" and app.new_certificate and not app.new_consumer_secret
    assert any(r.startswith("certificate foreign") for r in app.rotate_reasons)

    ws.write_org(delay=0)
    settle(ws)  # the app created above reaches the token endpoint, as it would in time
    _plan, result2 = apply(ws.paths(), ws.options(verify_timeout=120), Lines(), approve)
    assert result2 is not None and not result2.failures and result2.verified == ["billing"]
    st = state_doc(ws)["apps"]["billing"]
    key = Secret(records(ws)["billing (JWT)"]["data"]["privateKey"])
    with running_org(ws) as org:
        login_eventually(org, st["consumerKey"], key, timeout=30)
    assert not compute_plan(ws.paths(), ws.options(), Lines()).plan.has_changes


def test_wrong_key_is_refused_with_invalid_grant(applied: Workspace) -> None:
    """The login helper itself can fail: a key the org does not know is refused."""
    from provisioner.keys import generate_key_material

    st = state_doc(applied)["apps"]["billing"]
    stranger = generate_key_material("stranger", 2048, 30).private_key
    with running_org(applied) as org, pytest.raises(TokenRejected) as refused:
        jwt_login(org, st["consumerKey"], stranger)
    assert refused.value.code == "invalid_grant"
