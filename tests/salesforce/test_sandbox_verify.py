"""JWT login verification and token-endpoint refusals, against the sandbox's real token endpoint."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from provisioner.appkinds import build_components
from provisioner.errors import VerificationError
from provisioner.keys import KeyMaterial, generate_consumer_key, generate_key_material
from provisioner.metadata import deploy_zip
from provisioner.model import OAuthPolicies
from provisioner.salesforce import endpoints
from provisioner.salesforce.auth import jwt_bearer_token
from provisioner.salesforce.connection import OrgConnection, connect
from provisioner.salesforce.deploy import PollPolicy, deploy
from provisioner.salesforce.token_errors import TokenRejected
from provisioner.salesforce.verify import VerifiedLogin, VerifyWait, verify_jwt_login
from provisioner.secret import Secret
from tests.salesforce.conftest import (
    INTEGRATION_USER,
    app_spec,
    assert_no_canary,
    error_text,
    sandbox_org,
)

FAST = PollPolicy(initial=0.05, max_interval=0.2, timeout=20)


@pytest.fixture
def slow_org(tmp_path: Path) -> Iterator[OrgConnection]:
    """A sandbox whose app changes reach the token endpoint only when the test settles them
    (:func:`settle_on_first_wait`): the delay is an hour, so no load can make one arrive early."""
    with connect(sandbox_org(tmp_path / "sb", propagation_delay=3600.0)) as c:
        yield c


def settle_on_first_wait(conn: OrgConnection, waits: list[VerifyWait]) -> Callable[[VerifyWait], None]:
    """An ``on_wait`` that records each wait and lets propagation finish at the first one."""
    assert conn.sandbox is not None
    org = conn.sandbox.org

    def on_wait(wait: VerifyWait) -> None:
        waits.append(wait)
        if len(waits) == 1:
            assert org.settle_propagation() >= 1
    return on_wait


def _deploy_app(
    conn: OrgConnection, api_name: str, *, consumer_key: str | None, **kw: object
) -> KeyMaterial:
    material = generate_key_material(api_name, 2048, 30)
    app = app_spec(api_name, **kw)
    components = build_components(
        app,
        conn.org,
        app.callback_urls,
        certificate_pem=material.certificate_pem,
        consumer_key=consumer_key,  # type: ignore[arg-type]
    )
    deploy(conn, deploy_zip(components, conn.org.api_version), poll=FAST)
    return material


def _verify(
    conn: OrgConnection, client_id: str, key: Secret, timeout: float, **kw: object
) -> VerifiedLogin:
    return verify_jwt_login(
        token_url=endpoints.token_url(conn.org, conn),
        audience=endpoints.token_audience(conn.org, "externalClientApp", conn),
        client_id=client_id,
        username=INTEGRATION_USER,
        private_key=key,
        verify_tls=conn.verify,
        timeout=timeout,
        initial_delay=0.2,
        max_delay=0.4,
        **kw,  # type: ignore[arg-type]
    )


def test_endpoint_rule_for_the_running_sandbox(conn: OrgConnection) -> None:
    assert conn.sandbox is not None
    assert endpoints.token_url(conn.org, conn) == conn.sandbox.url
    assert endpoints.token_audience(conn.org, "externalClientApp", conn) == conn.sandbox.url
    assert endpoints.token_audience(conn.org, "connectedApp", conn) == "https://test.salesforce.com"


def test_waits_through_propagation_then_succeeds(slow_org: OrgConnection) -> None:
    key = generate_consumer_key()
    material = _deploy_app(slow_org, "Fresh_App", consumer_key=key)
    waits: list[VerifyWait] = []
    login = _verify(slow_org, key, material.private_key, timeout=60,
                    on_wait=settle_on_first_wait(slow_org, waits))
    assert login.attempts == 2 and len(waits) == 1
    assert "is not installed (app_not_found" in waits[0].cause  # a new ECA propagating
    assert login.username == INTEGRATION_USER and login.org_id
    assert login.audience == login.token_url == slow_org.instance_url


def test_certificate_change_is_waited_for(slow_org: OrgConnection) -> None:
    key = generate_consumer_key()
    first = _deploy_app(slow_org, "Rotating_App", consumer_key=key)
    _verify(slow_org, key, first.private_key, timeout=60, on_wait=settle_on_first_wait(slow_org, []))
    second = _deploy_app(slow_org, "Rotating_App", consumer_key=None)  # update: key never resent
    waits: list[VerifyWait] = []
    login = _verify(slow_org, key, second.private_key, timeout=60,
                    on_wait=settle_on_first_wait(slow_org, waits))
    assert len(waits) == 1 and "does not match" in waits[0].cause
    assert login.attempts == 2


def test_short_timeout_fails_precisely(slow_org: OrgConnection, canary_key_pem: str) -> None:
    key = generate_consumer_key()
    material = _deploy_app(slow_org, "Too_Soon", consumer_key=key)
    with pytest.raises(VerificationError) as info:
        _verify(slow_org, key, material.private_key, timeout=0.3)
    err = info.value
    assert "did not succeed within 0.3 s" in err.message
    assert f"consumer key {key}" in err.message and "not installed" in err.message
    assert "--verify-timeout" in (err.hint or "")
    assert_no_canary(error_text(err), material.private_key.reveal())


# -- each refusal, as the sandbox's token endpoint answers it -------------------------------------


def _login(
    conn: OrgConnection, client_id: str, username: str, key: Secret, audience: str | None = None
) -> None:
    jwt_bearer_token(
        conn.instance_url,
        client_id,
        username,
        key,
        audience or conn.instance_url,
        verify=conn.verify,
        who="org 'sb'",
    )


def test_refusals_from_the_org_map_to_hints(conn: OrgConnection, canary_key_pem: str) -> None:
    assert conn.sandbox is not None
    boot = conn.sandbox.deploy_credentials()
    boot_key = Secret(boot.private_key_path.read_text())
    self_auth_key = generate_consumer_key()
    self_auth = _deploy_app(
        conn,
        "Self_Auth",
        consumer_key=self_auth_key,
        policies=OAuthPolicies(permitted_users="allSelfAuthorized"),
    )
    cases = [
        (
            lambda: _login(conn, "UNKNOWNKEY123", boot.username, boot_key),
            "invalid_client_id",
            "propagate",
        ),
        (
            lambda: _login(
                conn, boot.client_id, boot.username, boot_key, "https://test.salesforce.com"
            ),
            "is not installed (app_not_found",  # an External Client App's answer
            "My Domain URL",
        ),
        (
            lambda: _login(conn, boot.client_id, boot.username, Secret(canary_key_pem)),
            "invalid assertion",
            "matching key",
        ),
        (
            lambda: _login(conn, boot.client_id, INTEGRATION_USER, boot_key),
            "invalid_app_access",
            "pre-authorized list",
        ),
        (
            lambda: _login(conn, self_auth_key, INTEGRATION_USER, self_auth.private_key),
            "is not installed (app_not_found",  # an ECA that is not admin-approved
            "admin-approved",
        ),
    ]
    for attempt, fragment, hint in cases:
        with pytest.raises(TokenRejected) as info:
            attempt()
        assert fragment in info.value.message, info.value.message
        assert hint in (info.value.hint or ""), info.value.hint
        assert info.value.message.startswith("org 'sb': JWT bearer login as ")
        assert_no_canary(error_text(info.value), canary_key_pem, boot_key.reveal())


def test_inactive_user_is_named(conn: OrgConnection) -> None:
    assert conn.sandbox is not None
    boot = conn.sandbox.deploy_credentials()
    conn.sandbox.org.update_user(boot.username, active=False)
    with pytest.raises(TokenRejected, match="inactive") as info:
        _login(conn, boot.client_id, boot.username, Secret(boot.private_key_path.read_text()))
    assert "activate the user" in (info.value.hint or "")
