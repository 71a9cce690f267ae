"""Blue/green rotation against a real Workflow² (n8n) server and the sandbox org, through the CLI:
two rotations switch the JWT credential between the two apps in place (same record id), the
server's own credential test passes after each, and the key it held before is refused by the
org."""

from __future__ import annotations

import pytest

from provisioner.salesforce.token_errors import TokenRejected
from tests.e2e.conftest import APP, E2E
from tests.e2e.observe import Api
from tests.e2e.test_apply_flow import jwt_login

pytestmark = pytest.mark.workflow2


def test_two_blue_green_rotations_keep_the_record_and_retire_each_old_key(
    e2e: E2E, api: Api
) -> None:
    e2e.write_specs(rotation="blueGreen")
    first = e2e.apply()
    assert first.code == 0, first
    jwt_id, oauth_id = e2e.record_id(e2e.jwt_name), e2e.record_id(e2e.oauth_name)
    oauth_before = api.get(oauth_id)
    apps = e2e.state()["apps"]
    assert set(apps) == {APP, f"{APP}.green"}
    held = e2e.export_decrypted()[jwt_id]["data"]
    assert held["clientId"] == apps[APP]["consumerKey"]
    with e2e.org():
        assert api.test(jwt_id)["status"] == "OK"

    for turn, side in enumerate((f"{APP}.green", APP), start=1):
        rotated = e2e.cli("rotate", e2e.specs, "--app", APP, "--auto-approve")
        assert rotated.code == 0, rotated
        old_side = APP if side != APP else f"{APP}.green"
        assert f"verified: app {side}: JWT login with the new key works" in rotated.stdout
        assert f"tested by Workflow²: {e2e.instance}/{e2e.jwt_name}: OK" in rotated.stdout
        assert f"retired: app {old_side}:" in rotated.stdout
        # The new key's deploy, then (after the record and the server's test) the retirement.
        assert rotated.org_writes() == ["deploy", "deploy"], turn
        assert [(c.method, c.path) for c in rotated.record_writes()] == [
            ("PATCH", f"/api/v1/credentials/{jwt_id}")], turn
        assert e2e.record_id(e2e.jwt_name) == jwt_id  # the credential id never changes
        assert [len(api.named(n)) for n in (e2e.jwt_name, e2e.oauth_name)] == [1, 1]
        assert api.get(oauth_id) == oauth_before  # OAuth2 stays on the spec app, untouched

        apps = e2e.state()["apps"]
        now = e2e.export_decrypted()[jwt_id]["data"]
        assert now["clientId"] == apps[side]["consumerKey"] != held["clientId"]
        assert apps[old_side]["keyRetired"] and not apps[side]["keyRetired"]
        with e2e.org() as org:
            assert api.test(jwt_id)["status"] == "OK"  # Workflow²'s own test, after the switch
            jwt_login(org.url, now["clientId"], now["privateKey"])
            with pytest.raises(TokenRejected):  # the key the server held before is retired
                jwt_login(org.url, held["clientId"], held["privateKey"])
        held = now
        assert e2e.plan().code == 0, turn


def test_import_does_not_guess_which_side_a_write_only_record_holds(e2e: E2E) -> None:
    # Through the API the record's data cannot be read, and Workflow²'s own test passes for the
    # key of either app: recording a side would be a guess that a later rotation could make
    # wrong, so import leaves the JWT record out (the next apply rewrites it).
    e2e.write_specs(rotation="blueGreen")
    assert e2e.apply().code == 0
    e2e.state_path.unlink()
    done = e2e.cli("import", e2e.specs, "--app", APP, "--auto-approve")
    assert done.code == 0, done
    assert (f"- credential.{e2e.instance}/{e2e.jwt_name} skip: not proven: its data is "
            "write-only, so which app of the blue/green pair it holds cannot be told") in done.stdout
    apps = e2e.state()["apps"]
    assert set(apps) == {APP, f"{APP}.green"} and apps[APP]["loginApp"] is None
    assert f"{e2e.instance}/{e2e.jwt_name}" not in apps[APP]["credentials"]
