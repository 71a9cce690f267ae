"""The composition seam: ``main(argv, services=...)`` runs with the connector, keys, clock and
observer it is given, against the sandbox org (no patching of provisioner's internals)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from provisioner.engine.run import compute_plan
from provisioner.engine.services import Services, StandardKeys
from provisioner.errors import PlanError
from provisioner.events import DeployPolled, Event, MaterialMade, SpecWarning, Step
from provisioner.keys import KeyMaterial, KeyRequest, generate_many
from provisioner.secret import Secret
from tests.engine.conftest import Lines, Workspace, app_yaml, cli, records, state_doc

FROZEN = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


class PremadeKeys(StandardKeys):
    """Keys made before the run (a benchmark's or an HSM's), and a known consumer secret."""

    def __init__(self) -> None:
        self.pairs = generate_many([KeyRequest("billing", "premade billing", now=FROZEN)])
        self.secret = Secret("PREMADE" + secrets.token_hex(24).upper())
        self.asked: list[KeyRequest] = []

    def key_pairs(self, requests: Sequence[KeyRequest], *, max_workers: int
                  ) -> dict[str, KeyMaterial]:
        self.asked.extend(requests)
        return {r.name: self.pairs[r.name] for r in requests}

    def consumer_secret(self) -> Secret:
        return self.secret


def run_cli(services: Services, *args: str | Path) -> tuple[int, str]:
    from provisioner.cli.main import main

    with CliRunner().isolation() as (out, err, _):
        try:
            main([str(a) for a in args], services=services)
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        return code, out.getvalue().decode() + err.getvalue().decode()


def test_main_uses_the_given_connector_keys_clock_and_observer(ws: Workspace) -> None:
    keys = PremadeKeys()
    events: list[Event] = []
    services = Services(connector=ws.recorder, keys=keys, clock=lambda: FROZEN,
                        observer=events.append)
    code, output = run_cli(services, "apply", ws.specs, "--auto-approve", "--state",
                           ws.state_path, "--verify-timeout", "30")
    assert code == 0, output

    # The connector: the test's recorder signed in, and its org saw the one deploy.
    assert "signing in to org sb (test recorder)" in output
    assert [r["operation"] for r in ws.recorder.writes()] == ["deploy"]
    # The keys: the premade certificate is deployed and in state; the known secret is written.
    assert [r.name for r in keys.asked] == ["billing"] and keys.asked[0].now == FROZEN
    app = state_doc(ws)["apps"]["billing"]
    assert app["certificate"]["fingerprint"] == keys.pairs["billing"].certificate.fingerprint
    assert app["consumerSecretFingerprint"] == keys.secret.fingerprint()
    assert records(ws)["billing (OAuth2)"]["data"]["clientSecret"] == keys.secret.reveal()
    # The clock: every time the run recorded is the frozen one.
    assert app["createdAt"].startswith("2026-06-01T12:00:00")
    assert {c["updatedAt"][:19] for c in app["credentials"].values()} == {"2026-06-01T12:00:00"}
    # The observer: the CLI's own progress, plus what a person never sees.
    made = {(e.app, e.what): e.secret for e in events if isinstance(e, MaterialMade)}
    assert made == {("billing", "private key"): keys.pairs["billing"].private_key,
                    ("billing", "consumer secret"): keys.secret}
    assert any(isinstance(e, DeployPolled) and e.org == "sb" for e in events)
    assert any(isinstance(e, Step) and str(e).startswith("verifying the JWT login") for e in events)
    for secret in made.values():
        assert secret.reveal() not in output
        assert all(secret.reveal() not in str(e) for e in events)


def test_default_services_are_the_standard_ones() -> None:
    from provisioner.engine.services import sign_in, utc_now

    services = Services()
    assert services.connector is sign_in and services.clock is utc_now
    assert isinstance(services.keys, StandardKeys) and services.observer is None
    assert utc_now().tzinfo is timezone.utc


def test_plan_and_apply_show_the_spec_warnings_first(ws: Workspace) -> None:
    # The sandbox org refuses new Connected Apps: the warning said so before the refusal.
    ws.write_apps(app_yaml("billing", app_type="connectedApp"))
    lines = Lines()
    with pytest.raises(PlanError, match="refuses to create the Connected App"):
        compute_plan(ws.paths(), ws.options(), lines)
    (warning,) = [e for e in lines.events if isinstance(e, SpecWarning)]
    assert str(warning).startswith(f"{ws.specs / 'apps.yaml'}:7:3: warning: Salesforce blocks")
    assert lines.events[0] == warning
    for command in ("plan", "apply"):
        shown = cli(command, ws.specs, "--state", ws.state_path)
        assert shown.code == 1 and str(warning) in shown.stderr.splitlines(), shown.stderr
        assert str(warning) not in shown.stdout  # the plan document stays what it was
