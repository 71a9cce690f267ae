"""Token exchange: the sfdx auth URL parser, key checks, and Salesforce's refusals mapped to hints."""

from __future__ import annotations

import datetime as dt
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from provisioner.errors import AuthError
from provisioner.salesforce.auth import (
    GRANT_JWT_BEARER,
    jwt_bearer_token,
    jwt_bearer_token_trying,
    load_rsa_key,
    parse_sfdx_auth_url,
    refresh_token_grant,
    session_from_access_token,
)
from provisioner.salesforce.token_errors import TokenEndpointUnavailable, TokenRejected
from provisioner.secret import Secret
from tests.salesforce.conftest import assert_no_canary, error_text
from tests.salesforce.scripted_server import Script, token_ok

# -- sfdx auth URL -------------------------------------------------------------------------------


def test_sfdx_url_full_form() -> None:
    url = parse_sfdx_auth_url(
        Secret("force://3MVG9abc:SECRET123:5Aep861.x.y==@acme.my.salesforce.com\n")
    )
    assert url.client_id == "3MVG9abc"
    assert url.client_secret.reveal() == "SECRET123"
    assert url.refresh_token.reveal() == "5Aep861.x.y=="
    assert url.instance_url == "https://acme.my.salesforce.com"


def test_sfdx_url_empty_secret_and_colon_in_token() -> None:
    url = parse_sfdx_auth_url(
        Secret("force://PlatformCLI::tok:with:colons@https://acme.my.salesforce.com/")
    )
    assert url.client_id == "PlatformCLI"
    assert not url.client_secret
    assert url.refresh_token.reveal() == "tok:with:colons"
    assert url.instance_url == "https://acme.my.salesforce.com"


def test_sfdx_url_short_form_defaults_to_cli_client() -> None:
    url = parse_sfdx_auth_url(Secret("force://5Aep861TOKEN@127.0.0.1:8443"))
    assert (url.client_id, url.refresh_token.reveal()) == ("PlatformCLI", "5Aep861TOKEN")
    assert url.instance_url == "https://127.0.0.1:8443"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("https://x:y:z@host", "does not start with force://"),
        ("force://a:b:CANARYTOKEN", "no '@<instance>'"),
        ("force://a:CANARYTOKEN@host", "2 ':'-separated parts"),
        ("force://:s:CANARYTOKEN@host", "empty client id"),
        ("force://a:s:@host", "empty refresh token"),
        ("force://a:s:CANARYTOKEN@http://evil.example.com", "plain http"),
        ("force://a:s:CANARYTOKEN@ftp://host", "not an http(s) URL"),
    ],
)
def test_sfdx_url_errors_say_what_and_never_quote_the_token(text: str, fragment: str) -> None:
    with pytest.raises(AuthError) as info:
        parse_sfdx_auth_url(Secret(text))
    assert fragment in info.value.message
    assert info.value.hint
    assert "CANARYTOKEN" not in error_text(info.value)


# -- keys ------------------------------------------------------------------------------------------


def test_key_not_pem_encrypted_or_not_rsa() -> None:
    with pytest.raises(AuthError, match="not a PEM private key"):
        load_rsa_key(Secret("hello"), what="x")
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    with pytest.raises(AuthError, match="not an RSA key"):
        load_rsa_key(Secret(ec_pem), what="x")


def test_encrypted_and_damaged_keys(rsa_key: rsa.RSAPrivateKey, canary_key_pem: str) -> None:
    enc = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    ).decode()
    with pytest.raises(AuthError, match="encrypted with a passphrase") as info:
        load_rsa_key(Secret(enc), what="x")
    assert "openssl pkey" in (info.value.hint or "")
    damaged = canary_key_pem.replace(canary_key_pem.splitlines()[5], "!!!!")
    with pytest.raises(AuthError, match="cannot be parsed as a PEM private key") as info:
        load_rsa_key(Secret(damaged), what="x")
    assert_no_canary(error_text(info.value), canary_key_pem)


def _cert(key: rsa.RSAPrivateKey, not_after: dt.datetime) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(not_after - dt.timedelta(days=30))
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_key_bundled_with_expired_certificate_is_refused(
    rsa_key: rsa.RSAPrivateKey, canary_key_pem: str
) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    load_rsa_key(Secret(canary_key_pem + _cert(rsa_key, now + dt.timedelta(days=5))), what="x")
    with pytest.raises(AuthError, match="expired on") as info:
        load_rsa_key(Secret(canary_key_pem + _cert(rsa_key, now - dt.timedelta(days=1))), what="x")
    assert "rotate" in (info.value.hint or "")


# -- JWT bearer exchange ---------------------------------------------------------------------------


def test_jwt_bearer_sends_a_valid_assertion(
    script: Script, rsa_key: rsa.RSAPrivateKey, canary_key_pem: str
) -> None:
    script.on("/services/oauth2/token", token_ok(script.base_url))
    session = jwt_bearer_token(
        script.base_url,
        "CK123",
        "user@example.com",
        Secret(canary_key_pem),
        "https://login.salesforce.com",
    )
    assert session.instance_url == script.base_url
    assert session.access_token.reveal() == "00DTESTTOKEN!canary-access-token"
    assert "canary-access-token" not in repr(session)
    assert session.user is not None and session.user.org_id == "00D000000000001AAA"
    assert session.issued_at.year == 2023
    form = script.forms()[0]
    assert form["grant_type"] == GRANT_JWT_BEARER
    claims = jwt.decode(
        form["assertion"],
        rsa_key.public_key(),
        algorithms=["RS256"],
        audience="https://login.salesforce.com",
    )
    assert claims["iss"] == "CK123" and claims["sub"] == "user@example.com"
    assert isinstance(claims["exp"], int)
    assert 170 <= claims["exp"] - dt.datetime.now(dt.timezone.utc).timestamp() <= 181


REFUSALS = [
    (
        "app_not_found",
        "External client app is not installed in this org",
        "is not installed (app_not_found",
        "not the org's My Domain URL",
    ),
    (
        "invalid_grant",
        "user hasn't approved this consumer",
        "not pre-authorized",
        "profile or a permission set",
    ),
    (
        "invalid_grant",
        "audience is invalid",
        "audience https://login.salesforce.com",
        "My Domain URL",
    ),
    (
        "invalid_client_id",
        "client identifier invalid",
        "does not know the consumer key CK123",
        "propagate",
    ),
    (
        "invalid_app_access",
        "user is not admin approved to access this app",
        "may not use",
        "pre-authorized list",
    ),
    ("invalid_grant", "invalid assertion", "does not match", "matching key"),
    ("invalid_grant", "expired access/refresh token", "expired or was revoked", "sf org display"),
    (
        "invalid_client",
        "invalid client credentials",
        "client secret is wrong",
        "client id and secret",
    ),
    ("unsupported_grant_type", "grant type not supported", "not enabled", "certificate"),
]


@pytest.mark.parametrize(("code", "description", "message", "hint"), REFUSALS)
def test_each_refusal_maps_to_its_hint(
    script: Script, canary_key_pem: str, code: str, description: str, message: str, hint: str
) -> None:
    script.on("/services/oauth2/token", (400, {"error": code, "error_description": description}))
    with pytest.raises(TokenRejected) as info:
        jwt_bearer_token(
            script.base_url,
            "CK123",
            "user@example.com",
            Secret(canary_key_pem),
            "https://login.salesforce.com",
            who="org 'prod'",
        )
    err = info.value
    assert isinstance(err, AuthError)
    assert (err.code, err.description, err.status) == (code, description, 400)
    assert err.message.startswith(
        "org 'prod': JWT bearer login as user@example.com at http://127.0.0.1"
    )
    assert message in err.message
    assert hint in (err.hint or "")
    assert_no_canary(error_text(err), canary_key_pem, script.forms()[0]["assertion"])


AUDIENCE_REFUSED = (400, {"error": "invalid_grant", "error_description": "audience is invalid"})
APP_NOT_FOUND = (400, {"error": "app_not_found",
                       "error_description": "External client app is not installed in this org"})
AUDIENCES = ("https://acme.my.salesforce.com", "https://login.salesforce.com")


def _sent_audiences(script: Script, rsa_key: rsa.RSAPrivateKey) -> list[str]:
    return [jwt.decode(f["assertion"], rsa_key.public_key(), algorithms=["RS256"],
                       options={"verify_aud": False})["aud"] for f in script.forms()]


@pytest.mark.parametrize("refusal", [AUDIENCE_REFUSED, APP_NOT_FOUND], ids=["audience", "eca"])
def test_audiences_are_tried_in_turn(
    script: Script, rsa_key: rsa.RSAPrivateKey, canary_key_pem: str, refusal: tuple[int, Any]
) -> None:
    script.on("/services/oauth2/token", refusal, token_ok(script.base_url))
    session = jwt_bearer_token_trying(script.base_url, "CK", "u@example.com",
                                      Secret(canary_key_pem), AUDIENCES)
    assert session.instance_url == script.base_url
    assert _sent_audiences(script, rsa_key) == list(AUDIENCES)


def test_only_an_audience_refusal_moves_on(
    script: Script, rsa_key: rsa.RSAPrivateKey, canary_key_pem: str
) -> None:
    script.on("/services/oauth2/token",
              (400, {"error": "invalid_grant", "error_description": "user hasn't approved"}))
    with pytest.raises(TokenRejected, match="not pre-authorized"):
        jwt_bearer_token_trying(script.base_url, "CK", "u", Secret(canary_key_pem), AUDIENCES)
    assert _sent_audiences(script, rsa_key) == [AUDIENCES[0]]


def test_every_audience_refused_names_them_all(
    script: Script, rsa_key: rsa.RSAPrivateKey, canary_key_pem: str
) -> None:
    script.on("/services/oauth2/token", AUDIENCE_REFUSED)
    with pytest.raises(TokenRejected) as info:
        jwt_bearer_token_trying(script.base_url, "CK", "u", Secret(canary_key_pem), AUDIENCES,
                                who="org 'prod'")
    assert info.value.message.endswith(
        "; tried the audiences https://acme.my.salesforce.com, https://login.salesforce.com "
        "in turn")
    assert "the JWT audience https://acme.my.salesforce.com is not accepted" in info.value.message
    assert _sent_audiences(script, rsa_key) == list(AUDIENCES)
    assert_no_canary(error_text(info.value), canary_key_pem)


def test_audience_hint_names_what_was_sent(script: Script, canary_key_pem: str) -> None:
    script.on(
        "/services/oauth2/token",
        (400, {"error": "invalid_grant", "error_description": "audience is invalid"}),
    )
    with pytest.raises(TokenRejected) as info:
        jwt_bearer_token(
            script.base_url, "CK", "u", Secret(canary_key_pem), "https://acme.my.salesforce.com"
        )
    assert "sent was https://acme.my.salesforce.com" in (info.value.hint or "")
    assert "login.salesforce.com" in (info.value.hint or "")


@pytest.mark.parametrize(("answer", "status"), [((503, "<html>down</html>"), 503), ((0, ""), None)])
def test_unavailable_endpoint_is_a_remote_error(
    script: Script, canary_key_pem: str, answer: tuple[int, str], status: int | None
) -> None:
    script.on("/services/oauth2/token", answer)
    with pytest.raises(TokenEndpointUnavailable) as info:
        jwt_bearer_token(script.base_url, "CK", "u", Secret(canary_key_pem), "aud", timeout=5)
    assert info.value.status == status
    assert "unavailable" in info.value.message


def test_non_json_refusal_and_missing_fields(script: Script, canary_key_pem: str) -> None:
    script.on("/services/oauth2/token", (401, "nope"), (200, {"token_type": "Bearer"}))
    with pytest.raises(TokenRejected, match="http_401"):
        jwt_bearer_token(script.base_url, "CK", "u", Secret(canary_key_pem), "aud")
    with pytest.raises(Exception, match="lacks access_token"):
        jwt_bearer_token(script.base_url, "CK", "u", Secret(canary_key_pem), "aud")


def test_plain_http_token_url_refused_off_loopback(canary_key_pem: str) -> None:
    with pytest.raises(AuthError, match="plain http"):
        jwt_bearer_token("http://login.example.com", "CK", "u", Secret(canary_key_pem), "aud")


# -- refresh token and access token ----------------------------------------------------------------


def test_refresh_grant_sends_secret_only_when_present(script: Script, canary_token: str) -> None:
    script.on("/services/oauth2/token", token_ok(script.base_url))
    host = script.base_url.split("://", 1)[1]
    with_secret = parse_sfdx_auth_url(Secret(f"force://CID:SEC:{canary_token}@http://{host}"))
    without = parse_sfdx_auth_url(Secret(f"force://CID::{canary_token}@http://{host}"))
    refresh_token_grant(with_secret)
    refresh_token_grant(without)
    first, second = script.forms()
    assert first == {
        "grant_type": "refresh_token",
        "client_id": "CID",
        "refresh_token": canary_token,
        "client_secret": "SEC",
    }
    assert "client_secret" not in second


def test_refresh_refusal_never_shows_the_token(script: Script, canary_token: str) -> None:
    script.on(
        "/services/oauth2/token",
        (400, {"error": "invalid_grant", "error_description": "expired access/refresh token"}),
    )
    host = script.base_url.split("://", 1)[1]
    with pytest.raises(TokenRejected) as info:
        refresh_token_grant(
            parse_sfdx_auth_url(Secret(f"force://CID::{canary_token}@http://{host}")),
            who="org 'dev'",
        )
    assert "refresh-token (sfdx auth URL) login" in info.value.message
    assert_no_canary(error_text(info.value), canary_token)


def test_access_token_session_as_given(canary_token: str) -> None:
    session = session_from_access_token(
        Secret(canary_token + "\n"), "https://acme.my.salesforce.com/"
    )
    assert session.instance_url == "https://acme.my.salesforce.com"
    assert session.access_token.reveal() == canary_token
    with pytest.raises(AuthError, match="empty"):
        session_from_access_token(Secret("  "), "https://acme.my.salesforce.com")


@pytest.mark.parametrize(("my_domain", "token_url", "expected"), [
    ("https://acme.my.salesforce.com", None,
     ("https://acme.my.salesforce.com", "https://login.salesforce.com")),
    (None, None, ("https://login.salesforce.com",)),
    ("https://acme.my.salesforce.com/", "https://login.salesforce.com",
     ("https://acme.my.salesforce.com", "https://login.salesforce.com")),
    (None, "https://acme--uat.sandbox.my.salesforce.com",
     ("https://acme--uat.sandbox.my.salesforce.com", "https://login.salesforce.com")),
], ids=["my-domain-first", "login-host-only", "login-token-url", "explicit-my-domain"])
def test_deploy_audiences(my_domain: str | None, token_url: str | None,
                          expected: tuple[str, ...]) -> None:
    from pathlib import Path

    from provisioner.model import JwtBearerAuth, OrgSpec, SecretRef, SourceLocation
    from provisioner.salesforce.endpoints import deploy_audiences

    org = OrgSpec(name="prod", environment="production", api_version="63.0",
                  source=SourceLocation(Path("o.yaml")), my_domain_url=my_domain)
    auth = JwtBearerAuth(client_id="CK", username="u", private_key=SecretRef("env", "K"),
                         token_url=token_url)
    assert deploy_audiences(org, auth) == expected
