"""The whole flow against a real Workflow² (n8n 2.41.1) and the sandbox org, through the CLI:
apply creates both credential types and the server's own test passes, a rerun writes nothing,
a rotation updates the JWT record in place and retires the old key.
"""

from __future__ import annotations

import json

import pytest
import requests

from provisioner.salesforce.token_errors import TokenRejected
from provisioner.secret import Secret
from tests.e2e.conftest import APP, E2E, INTEGRATION_USER
from tests.e2e.observe import Api
from tests.n8n_server import Workflow2Server

pytestmark = pytest.mark.workflow2

JWT_TYPE = "salesforceJwtApi"
OAUTH_TYPE = "salesforceOAuth2Api"
SERVER_FILLED = ("accessToken", "instanceUrl")


def server_callback_url(server: Workflow2Server) -> str:
    """The OAuth2 callback URL the server itself advertises (signed-in ``/rest/settings``)."""
    http = requests.Session()
    login = {"emailOrLdapLoginId": server.owner_email, "password": server.owner_password}
    http.post(server.base_url + "/rest/login", json=login, timeout=30).raise_for_status()
    resp = http.get(server.base_url + "/rest/settings", timeout=30)
    resp.raise_for_status()
    url: str = resp.json()["data"]["oauthCallbackUrls"]["oauth2"]
    return url


def jwt_login(org_url: str, consumer_key: str, private_key: str) -> None:
    """A JWT bearer login as the integration user, My Domain audience (External Client App)."""
    from provisioner.salesforce.auth import jwt_bearer_token
    from tests.tls_trust import trusted_bundle

    jwt_bearer_token(org_url, consumer_key, INTEGRATION_USER, Secret(private_key), org_url,
                     verify=str(trusted_bundle()), timeout=10, who="test login")


def test_apply_writes_both_records_and_the_server_signs_in_with_the_jwt_one(
    e2e: E2E, api: Api
) -> None:
    callback = server_callback_url(e2e.server)
    plan = e2e.plan()
    assert plan.code == 2, plan
    # The plan shows the callback URL the server itself advertises, and both records.
    assert f"OAuth callback URL of {e2e.instance}: {callback}" in plan.stdout
    assert f"credential.{e2e.instance}/{e2e.jwt_name} create ({JWT_TYPE}" in plan.stdout
    assert f"credential.{e2e.instance}/{e2e.oauth_name} create ({OAUTH_TYPE}" in plan.stdout
    assert plan.mutations() == [] and plan.org_writes() == []  # planning only reads

    applied = e2e.apply()
    assert applied.code == 0, applied
    jwt_id, oauth_id = e2e.record_id(e2e.jwt_name), e2e.record_id(e2e.oauth_name)
    assert applied.org_writes() == ["deploy"]  # one deploy for the org
    assert f"verified: app {APP}: JWT login with the new key works" in applied.stdout
    # The server signed a JWT with the stored key, exchanged it at the org, and said so.
    assert f"tested by Workflow²: {e2e.instance}/{e2e.jwt_name}: OK" in applied.stdout
    assert (f"connect: {e2e.instance}/{e2e.oauth_name}: open "
            f"{e2e.server.base_url}/home/credentials/{oauth_id} and click Connect once"
            in applied.stdout)
    # Two sign-ins as the integration user through the new app: provisioner's verification,
    # then the server's own (it signed a JWT with the stored key: its cache was empty).
    assert applied.sessions.count((INTEGRATION_USER, APP)) == 2
    creates = [(c.method, c.path, c.name) for c in applied.record_writes()]
    assert creates == [("POST", "/api/v1/credentials", e2e.jwt_name),
                       ("POST", "/api/v1/credentials", e2e.oauth_name)]

    # Both records are on the server, under the ids provisioner chose and recorded.
    listed = {c["id"]: (c["name"], c["type"]) for c in api.credentials()}
    assert listed[jwt_id] == (e2e.jwt_name, JWT_TYPE)
    assert listed[oauth_id] == (e2e.oauth_name, OAUTH_TYPE)
    st = e2e.app_state()
    assert st["credentials"][f"{e2e.instance}/{e2e.jwt_name}"]["recordId"] == jwt_id
    assert st["credentials"][f"{e2e.instance}/{e2e.oauth_name}"]["recordId"] == oauth_id

    # What the server stored is what the org expects (read back decrypted by n8n itself).
    exported = e2e.export_decrypted()
    with e2e.org() as org:
        app = org.org.app(APP)
        assert app is not None
        # accessToken/instanceUrl are hidden fields the server fills itself when it signs in.
        jwt_data = {k: v for k, v in exported[jwt_id]["data"].items()
                    if k not in SERVER_FILLED}
        assert jwt_data == {
            "environment": "production", "clientId": st["consumerKey"],
            "username": INTEGRATION_USER, "privateKey": jwt_data["privateKey"],
            "myDomainUrl": org.url,
        }
        assert jwt_data["privateKey"].startswith("-----BEGIN PRIVATE KEY-----")
        assert sorted(exported[oauth_id]["data"]) == ["clientId", "clientSecret", "environment"]
        assert app["consumerKey"] == st["consumerKey"] == exported[oauth_id]["data"]["clientId"]
        oauth_settings = app["components"]["ExtlClntAppGlobalOauthSettings"]
        assert oauth_settings["callbackUrl"] == callback
        # The server's own test, asked directly, reaches the org (userinfo with its session).
        org.org.reset_request_log()
        assert api.test(jwt_id) == {"status": "OK", "message": "Connection successful!"}
        assert ("userinfo", 200) in [(r["operation"], r["status"]) for r in org.org.request_log]


def test_rerun_writes_nothing(e2e: E2E, api: Api) -> None:
    assert e2e.apply().code == 0
    ids = [e2e.record_id(e2e.jwt_name), e2e.record_id(e2e.oauth_name)]
    stamps = {i: api.get(i)["updatedAt"] for i in ids}  # type: ignore[index]
    state_bytes = e2e.state_path.read_bytes()

    plan = e2e.plan()
    assert plan.code == 0, plan
    assert "No changes." in plan.stdout
    # The OAuth2 record's connection status is shown (nobody clicked Connect).
    assert f"credential.{e2e.instance}/{e2e.oauth_name}: connection not connected" in plan.stdout

    again = e2e.apply()
    assert again.code == 0, again
    assert "Nothing to do: no writes were made." in again.stdout
    assert again.org_writes() == [] and again.org_requests  # the org was read, not written
    # No POST/PATCH/DELETE at all, but for the OAuth2 record's test (its connection status).
    assert again.mutations() == []
    assert [c.path for c in again.calls if c.is_test] == [
        f"/api/v1/credentials/{ids[1]}/test"]
    assert {i: api.get(i)["updatedAt"] for i in ids} == stamps  # type: ignore[index]
    assert e2e.state_path.read_bytes() == state_bytes
    assert [len(api.named(n)) for n in (e2e.jwt_name, e2e.oauth_name)] == [1, 1]


def test_rotation_updates_the_jwt_record_in_place_and_retires_the_old_key(
    e2e: E2E, api: Api
) -> None:
    assert e2e.apply().code == 0
    jwt_id, oauth_id = e2e.record_id(e2e.jwt_name), e2e.record_id(e2e.oauth_name)
    before = {i: api.get(i) for i in (jwt_id, oauth_id)}
    old = e2e.export_decrypted()[jwt_id]["data"]
    old_print = e2e.app_state()["certificate"]["fingerprint"]

    rotated = e2e.cli("rotate", e2e.specs, "--app", APP, "--auto-approve")
    assert rotated.code == 0, rotated
    assert "rotate: forced (provisioner rotate)" in rotated.stdout
    assert f"verified: app {APP}: JWT login with the new key works" in rotated.stdout
    assert f"tested by Workflow²: {e2e.instance}/{e2e.jwt_name}: OK" in rotated.stdout
    assert rotated.org_writes() == ["deploy"]
    # One PATCH of the JWT record, in place; the OAuth2 record is not touched.
    assert [(c.method, c.path) for c in rotated.record_writes()] == [
        ("PATCH", f"/api/v1/credentials/{jwt_id}")]
    after = {i: api.get(i) for i in (jwt_id, oauth_id)}
    assert after[jwt_id]["id"] == jwt_id  # type: ignore[index]
    assert after[jwt_id]["createdAt"] == before[jwt_id]["createdAt"]  # type: ignore[index]
    assert after[jwt_id]["updatedAt"] > before[jwt_id]["updatedAt"]  # type: ignore[index]
    assert after[oauth_id] == before[oauth_id]
    assert [len(api.named(n)) for n in (e2e.jwt_name, e2e.oauth_name)] == [1, 1]

    new = e2e.export_decrypted()[jwt_id]["data"]
    assert new["privateKey"] != old["privateKey"]
    unchanged = ("environment", "clientId", "username", "myDomainUrl")
    assert {k: new[k] for k in unchanged} == {k: old[k] for k in unchanged}
    assert e2e.app_state()["certificate"]["fingerprint"] != old_print
    with e2e.org() as org:
        assert api.test(jwt_id)["status"] == "OK"
        jwt_login(org.url, new["clientId"], new["privateKey"])  # the stored key signs in
        with pytest.raises(TokenRejected):  # the old key no longer does
            jwt_login(org.url, old["clientId"], old["privateKey"])
    assert e2e.plan().code == 0


def test_after_rotation_the_servers_test_signs_in_with_the_new_key(e2e: E2E) -> None:
    assert e2e.apply().code == 0
    jwt_id = e2e.record_id(e2e.jwt_name)
    cached = e2e.export_decrypted()[jwt_id]["data"].get("accessToken")
    assert cached  # the server's first test cached its session in the record

    rotated = e2e.cli("rotate", e2e.specs, "--app", APP, "--auto-approve")
    assert f"tested by Workflow²: {e2e.instance}/{e2e.jwt_name}: OK" in rotated.stdout
    # Provisioner's verification and the server's own sign-in with the new key.
    assert rotated.sessions.count((INTEGRATION_USER, APP)) == 2
    assert e2e.export_decrypted()[jwt_id]["data"].get("accessToken") != cached


def test_consumer_secret_rotation_goes_the_documented_route_and_reaches_the_oauth2_record(
    e2e: E2E, api: Api
) -> None:
    from provisioner.sandbox.seed import secret_hash

    assert e2e.apply().code == 0
    jwt_id, oauth_id = e2e.record_id(e2e.jwt_name), e2e.record_id(e2e.oauth_name)
    old = e2e.export_decrypted()[oauth_id]["data"]["clientSecret"]

    rotated = e2e.cli("rotate", e2e.specs, "--app", APP, "--consumer-secret", "--auto-approve")
    assert rotated.code == 0, rotated
    assert "consumer secret: forced (provisioner rotate --consumer-secret)" in rotated.stdout
    assert "shouldRotateConsumerSecret" in rotated.stdout
    assert rotated.org_writes() == ["deploy"]  # the key is not touched: one deploy, no rollback
    # Only the OAuth2 record is written, in place.
    assert [(c.method, c.path) for c in rotated.record_writes()] == [
        ("PATCH", f"/api/v1/credentials/{oauth_id}")]
    new = e2e.export_decrypted()[oauth_id]["data"]["clientSecret"]
    assert new != old
    with e2e.org() as org:
        glob = next(rec for rec in org.org.data["components"]["ExtlClntAppGlobalOauthSettings"]
                    .values() if rec["metadata"]["externalClientApplication"] == APP)
        # The org generated it (the deploy sent none) and the record holds exactly it.
        assert glob["secretHash"] == secret_hash(new) != secret_hash(old)
    assert e2e.app_state()["consumerSecretFingerprint"] == Secret(new).fingerprint()
    assert api.get(jwt_id) is not None and e2e.plan().code == 0


def test_import_adopts_the_jwt_record_the_servers_own_test_vouches_for(
    e2e: E2E, api: Api
) -> None:
    assert e2e.apply().code == 0
    jwt_id = e2e.record_id(e2e.jwt_name)
    key_before = e2e.export_decrypted()[jwt_id]["data"]["privateKey"]
    cert_before = e2e.app_state()["certificate"]["fingerprint"]
    e2e.state_path.unlink()  # the state is lost
    # The server's test signs in to the org the import's own embedded sandbox serves (at the
    # port it keeps: the one in the record's My Domain URL).
    done = e2e.cli("import", e2e.specs, "--app", APP, "--auto-approve")
    assert done.code == 0, done
    assert (f"+ credential.{e2e.instance}/{e2e.jwt_name} adopt: record {jwt_id}: proven, "
            "Workflow²'s own credential test signs in with it") in done.stdout
    assert "cannot be read through the Workflow² API" in done.stdout  # OAuth2: not proven
    assert done.record_writes() == [] and done.org_writes() == []  # only the state is written
    assert e2e.app_state()["certificate"]["fingerprint"] == cert_before
    plan = e2e.cli("plan", e2e.specs, "--format", "json")
    (app,) = json.loads(plan.stdout)["apps"]
    # The key is kept: only the OAuth2 record's secret, which could not be proven, is renewed.
    assert app["newCertificate"] is False and app["newConsumerSecret"] is True
    assert e2e.export_decrypted()[jwt_id]["data"]["privateKey"] == key_before
