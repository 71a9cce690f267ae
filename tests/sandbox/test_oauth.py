"""The token endpoint and userinfo: JWT bearer with real signature checks, audience rules,
pre-authorization, every documented error body, refresh and password grants."""

from __future__ import annotations

import time

import pytest
import requests
from sandbox_helpers import (
    BOOTSTRAP_SECRET,
    DEPLOY_PASSWORD,
    DEPLOY_USER,
    INTEGRATION_USER,
    client_for,
    connected_app,
    create_eca,
    jwt_login,
    keypair,
    token_request,
)

from provisioner.sandbox import SandboxServer


def error_of(resp: requests.Response) -> tuple[int, str, str]:
    body = resp.json()
    return resp.status_code, body["error"], body["error_description"]


def test_jwt_bearer_login_returns_a_salesforce_token_response(sandbox: SandboxServer) -> None:
    resp = jwt_login(sandbox)
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"access_token", "scope", "instance_url", "id", "token_type",
                         "issued_at", "signature"}
    assert body["instance_url"] == sandbox.url
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "api web refresh_token"
    assert body["id"].startswith(f"{sandbox.url}/id/{sandbox.org.org_id}/005")
    assert "refresh_token" not in body


def test_exp_may_be_a_numeric_string(sandbox: SandboxServer) -> None:
    assert jwt_login(sandbox, exp=str(int(time.time()) + 60)).status_code == 200


def test_an_expired_assertion_is_refused(sandbox: SandboxServer) -> None:
    resp = jwt_login(sandbox, exp=int(time.time()) - 300)
    assert error_of(resp) == (400, "invalid_grant", "expired authorization code")


def test_an_exp_far_ahead_is_accepted_as_orgs_accept_the_cli(sandbox: SandboxServer) -> None:
    # The Salesforce CLI sends Date.now() + 300: milliseconds, so ages ahead.
    assert jwt_login(sandbox, exp=int(time.time() * 1000) + 300).status_code == 200


def test_a_list_audience_is_refused(sandbox: SandboxServer) -> None:
    # RFC 7519 allows a list; the guide describes one URL, so the model accepts only that.
    resp = jwt_login(sandbox, aud=[sandbox.url])  # the bootstrap app is an ECA
    assert error_of(resp) == (400, "app_not_found",
                              "External client app is not installed in this org")


def test_unknown_consumer_key_is_invalid_client_id(sandbox: SandboxServer) -> None:
    resp = jwt_login(sandbox, client_id="NoSuchConsumerKey123")
    assert error_of(resp) == (400, "invalid_client_id", "client identifier invalid")


def test_signature_from_another_key_is_invalid_assertion(sandbox: SandboxServer) -> None:
    other_key, _ = keypair(3)
    resp = jwt_login(sandbox, key_pem=other_key)
    assert error_of(resp) == (400, "invalid_grant", "invalid assertion")


def test_garbage_assertion_is_invalid_assertion(sandbox: SandboxServer) -> None:
    resp = token_request(sandbox.url, {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                       "assertion": "not.a.jwt"})
    assert error_of(resp) == (400, "invalid_grant", "invalid assertion")


@pytest.mark.parametrize(("setting", "aud", "ok"), [
    ("myDomain", "my", True),
    ("myDomain", "https://test.salesforce.com", False),
    ("loginHost", "https://test.salesforce.com", True),
    ("loginHost", "my", False),
    ("either", "https://test.salesforce.com", True),
    ("either", "my", True),
    ("either", "https://login.salesforce.com", False),  # the seed org is a sandbox org
])
def test_eca_audience_follows_the_org_setting(sandbox: SandboxServer, setting: str, aud: str,
                                              ok: bool) -> None:
    sandbox.org.set_setting("ecaJwtAudience", setting)
    resp = jwt_login(sandbox, aud=sandbox.url if aud == "my" else aud)
    if ok:
        assert resp.status_code == 200, resp.text
    else:  # what orgs answer an External Client App login with the wrong audience
        assert error_of(resp) == (400, "app_not_found",
                                  "External client app is not installed in this org")


def test_connected_app_audience_is_the_login_host(sandbox: SandboxServer) -> None:
    sf = client_for(sandbox)
    sandbox.org.set_setting("connectedAppCreationDisabled", False)
    key, cert = keypair(1)
    sf.mdapi.ConnectedApp.create([connected_app(sf, "Legacy_App", key="LegacyKey0001",
                                                cert=cert)])
    ok = jwt_login(sandbox, "LegacyKey0001", INTEGRATION_USER, key, "https://test.salesforce.com")
    assert ok.status_code == 200, ok.text
    bad = jwt_login(sandbox, "LegacyKey0001", INTEGRATION_USER, key, sandbox.url)
    assert error_of(bad) == (400, "invalid_grant", "audience is invalid")
    sandbox.org.set_setting("environment", "production")
    prod = jwt_login(sandbox, "LegacyKey0001", INTEGRATION_USER, key,
                     "https://login.salesforce.com")
    assert prod.status_code == 200


def test_pre_authorization_by_profile_and_permission_set(sandbox: SandboxServer) -> None:
    sf = client_for(sandbox)
    key, cert = keypair(1)
    create_eca(sf, "By_Permset", key="ByPermsetKey01", cert=cert, profiles="",
               permission_sets="Workflow_Integration")
    assert jwt_login(sandbox, "ByPermsetKey01", INTEGRATION_USER, key).status_code == 200
    # the deploy user has neither the profile nor the permission set listed
    resp = jwt_login(sandbox, "ByPermsetKey01", DEPLOY_USER, key)
    assert error_of(resp) == (400, "invalid_app_access",
                              "user is not admin approved to access this app")


def test_self_authorized_app_needs_the_users_approval(sandbox: SandboxServer) -> None:
    sf = client_for(sandbox)
    key, cert = keypair(1)
    # A Connected App: the user's own approval lets a JWT login in.
    sandbox.org.set_setting("connectedAppCreationDisabled", False)
    app = connected_app(sf, "Self_Auth", key="SelfAuthKey001", cert=cert)
    app.oauthConfig.isAdminApproved = False
    sf.mdapi.ConnectedApp.create([app])
    resp = jwt_login(sandbox, "SelfAuthKey001", INTEGRATION_USER, key,
                     "https://test.salesforce.com")
    assert error_of(resp) == (400, "invalid_grant", "user hasn't approved this consumer")
    sandbox.org.approve_app(INTEGRATION_USER, "Self_Auth")
    assert jwt_login(sandbox, "SelfAuthKey001", INTEGRATION_USER, key,
                     "https://test.salesforce.com").status_code == 200


def test_unknown_and_inactive_users(sandbox: SandboxServer) -> None:
    resp = jwt_login(sandbox, username="nobody@sandbox.provisioner.test")
    assert error_of(resp) == (400, "invalid_grant", "user hasn't approved this consumer")
    sandbox.org.update_user(DEPLOY_USER, active=False)
    assert error_of(jwt_login(sandbox)) == (400, "invalid_grant", "inactive user")


def test_app_with_oauth_plugin_disabled_is_unknown(sandbox: SandboxServer) -> None:
    sf = client_for(sandbox)
    key, cert = keypair(1)
    create_eca(sf, "Plugin_Off", key="PluginOffKey01", cert=cert)
    sf.mdapi.ExtlClntAppConfigurablePolicies.update([sf.mdapi.ExtlClntAppConfigurablePolicies(
        fullName="Plugin_Off_plcy", externalClientApplication="Plugin_Off", isEnabled=True,
        isOauthPluginEnabled=False)])
    resp = jwt_login(sandbox, "PluginOffKey01", INTEGRATION_USER, key)
    assert error_of(resp) == (400, "invalid_client_id", "client identifier invalid")


def test_password_grant_for_the_deploy_user(sandbox: SandboxServer) -> None:
    client_id = sandbox.deploy_credentials().client_id
    form = {"grant_type": "password", "client_id": client_id, "client_secret": BOOTSTRAP_SECRET,
            "username": DEPLOY_USER, "password": DEPLOY_PASSWORD}
    resp = token_request(sandbox.url, form)
    assert resp.status_code == 200, resp.text
    client_for(sandbox, resp.json()["access_token"]).mdapi.ExternalClientApplication.read(["x"])
    assert error_of(token_request(sandbox.url, form | {"password": "wrong"})) == (
        400, "invalid_grant", "authentication failure")
    assert error_of(token_request(sandbox.url, form | {"client_secret": "wrong"})) == (
        400, "invalid_client", "invalid client credentials")


def test_refresh_token_grant(sandbox: SandboxServer) -> None:
    client_id = sandbox.deploy_credentials().client_id
    refresh = sandbox.org.issue_refresh_token(DEPLOY_USER, client_id)
    resp = token_request(sandbox.url, {"grant_type": "refresh_token", "client_id": client_id,
                                       "refresh_token": refresh})
    assert resp.status_code == 200, resp.text
    assert resp.json()["instance_url"] == sandbox.url
    bad = token_request(sandbox.url, {"grant_type": "refresh_token", "client_id": client_id,
                                      "refresh_token": "5Aepnope"})
    assert error_of(bad) == (400, "invalid_grant", "expired access/refresh token")


def test_unsupported_grant_type(sandbox: SandboxServer) -> None:
    resp = token_request(sandbox.url, {"grant_type": "client_credentials"})
    assert error_of(resp) == (400, "unsupported_grant_type", "grant type not supported")


def test_userinfo_with_and_without_a_valid_token(sandbox: SandboxServer) -> None:
    token = jwt_login(sandbox).json()["access_token"]
    resp = requests.get(f"{sandbox.url}/services/oauth2/userinfo",
                        headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert resp.status_code == 200
    info = resp.json()
    assert info["preferred_username"] == DEPLOY_USER
    assert info["organization_id"] == sandbox.org.org_id
    bad = requests.get(f"{sandbox.url}/services/oauth2/userinfo",
                       headers={"Authorization": "Bearer nope"}, timeout=10)
    assert (bad.status_code, bad.text) == (403, "Bad_OAuth_Token")


def test_tls_is_verified_against_the_sandbox_ca(sandbox: SandboxServer,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{sandbox.url}/services/data", timeout=10, verify=True)
    assert requests.get(f"{sandbox.url}/services/data", timeout=10,
                        verify=str(sandbox.ca_file)).status_code == 200


def test_an_eca_answers_app_not_found_for_a_wrong_audience_or_self_authorization(
        sandbox: SandboxServer) -> None:
    not_found = (400, "app_not_found", "External client app is not installed in this org")
    sandbox.org.set_setting("ecaJwtAudience", "myDomain")
    assert error_of(jwt_login(sandbox, aud="https://test.salesforce.com")) == not_found
    key, cert = keypair(4)
    create_eca(client_for(sandbox), "Self_App", key="SelfAppKey001", cert=cert,
               policy="AllSelfAuthorized")
    assert error_of(jwt_login(sandbox, "SelfAppKey001", key_pem=key)) == not_found
