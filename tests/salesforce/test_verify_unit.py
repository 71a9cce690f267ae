"""The verifier against a scripted token endpoint, with a fake clock: what it retries, when it stops."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.errors import VerificationError
from provisioner.model import OrgSpec, SourceLocation
from provisioner.salesforce import endpoints
from provisioner.salesforce.verify import VerifyWait, verify_jwt_login
from provisioner.secret import Secret
from tests.salesforce.conftest import assert_no_canary, error_text
from tests.salesforce.scripted_server import Script, token_ok

TOKEN = "/services/oauth2/token"
USERINFO = "/services/oauth2/userinfo"
NOT_YET = (400, {"error": "invalid_client_id", "error_description": "client identifier invalid"})
USERINFO_OK = (
    200,
    {"user_id": "005X", "organization_id": "00DX", "preferred_username": "int@x.test"},
)


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _verify(script: Script, key: str, t: FakeTime, timeout: float, **kw: object) -> object:
    return verify_jwt_login(
        token_url=script.base_url,
        audience="https://acme.my.salesforce.com",
        client_id="CK1",
        username="int@x.test",
        private_key=Secret(key),
        verify_tls=True,
        timeout=timeout,
        sleep=t.sleep,
        clock=t.clock,
        request_timeout=5,
        **kw,  # type: ignore[arg-type]
    )


def test_waits_through_propagation_then_proves_with_userinfo(
    script: Script, canary_key_pem: str
) -> None:
    bad_assertion = (400, {"error": "invalid_grant", "error_description": "invalid assertion"})
    script.on(TOKEN, NOT_YET, NOT_YET, bad_assertion, (503, "busy"), token_ok(script.base_url))
    script.on(USERINFO, USERINFO_OK)
    t = FakeTime()
    waits: list[VerifyWait] = []
    result = _verify(script, canary_key_pem, t, timeout=60, on_wait=waits.append)
    assert t.sleeps == [1.0, 2.0, 4.0, 8.0]
    assert [w.attempt for w in waits] == [1, 2, 3, 4]
    assert "does not know the consumer key CK1" in waits[0].cause
    assert result.attempts == 5 and result.waited_seconds == 15.0  # type: ignore[attr-defined]
    assert (result.user_id, result.org_id, result.username) == ("005X", "00DX", "int@x.test")  # type: ignore[attr-defined]
    userinfo = next(r for r in script.requests if r["path"] == USERINFO)
    assert userinfo["headers"]["Authorization"] == "Bearer 00DTESTTOKEN!canary-access-token"


def test_times_out_with_the_last_precise_cause(script: Script, canary_key_pem: str) -> None:
    script.on(TOKEN, NOT_YET)
    t = FakeTime()
    with pytest.raises(VerificationError) as info:
        _verify(script, canary_key_pem, t, timeout=10)
    err = info.value
    assert t.sleeps == [
        1.0,
        2.0,
        4.0,
        3.0,
    ]  # the last wait is cut to the deadline, then one last try
    assert "did not succeed within 10 s (5 attempts)" in err.message
    assert "does not know the consumer key CK1" in err.message
    assert "propagate" in (err.hint or "") and "--verify-timeout" in (err.hint or "")
    assert_no_canary(error_text(err), canary_key_pem)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"error": "invalid_grant", "error_description": "audience is invalid"}, "audience"),
        (
            {"error": "invalid_grant", "error_description": "user hasn't approved this consumer"},
            "not pre-authorized",
        ),
        (
            {
                "error": "invalid_app_access",
                "error_description": "user is not admin approved to access this app",
            },
            "may not use",
        ),
    ],
)
def test_refusals_that_cannot_be_propagation_fail_at_once(
    script: Script, canary_key_pem: str, body: dict[str, str], fragment: str
) -> None:
    script.on(TOKEN, (400, body))
    t = FakeTime()
    with pytest.raises(VerificationError, match=fragment):
        _verify(script, canary_key_pem, t, timeout=60)
    assert t.sleeps == [] and len(script.forms()) == 1


def test_userinfo_refusal_is_precise(script: Script, canary_key_pem: str) -> None:
    script.on(TOKEN, token_ok(script.base_url))
    script.on(USERINFO, (403, {"error": "insufficient_scope"}))
    with pytest.raises(VerificationError, match="userinfo refused it"):
        _verify(script, canary_key_pem, FakeTime(), timeout=60)


def test_unusable_key_fails_at_once(script: Script) -> None:
    with pytest.raises(VerificationError, match="not a PEM private key"):
        _verify(script, "garbage", FakeTime(), timeout=60)
    assert script.requests == []


def _org(**kw: object) -> OrgSpec:
    return OrgSpec(
        name="o",
        environment="sandbox",
        api_version="63.0",
        source=SourceLocation(Path("o.yaml")),
        **kw,
    )  # type: ignore[arg-type]


def test_endpoint_rules() -> None:
    plain = _org()
    assert endpoints.token_url(plain) == "https://test.salesforce.com"
    assert endpoints.token_audience(plain, "externalClientApp") == "https://test.salesforce.com"
    md = _org(my_domain_url="https://acme--dev.sandbox.my.salesforce.com/")
    assert endpoints.token_url(md) == "https://acme--dev.sandbox.my.salesforce.com"
    assert (
        endpoints.token_audience(md, "externalClientApp")
        == "https://acme--dev.sandbox.my.salesforce.com"
    )
    assert endpoints.token_audience(md, "connectedApp") == "https://test.salesforce.com"


def test_app_not_found_is_waited_through_like_propagation(
    script: Script, canary_key_pem: str
) -> None:
    """Real orgs answer app_not_found for a while after an External Client App is created."""
    not_installed = (400, {"error": "app_not_found",
                           "error_description": "External client app is not installed in this org"})
    script.on(TOKEN, not_installed, token_ok(script.base_url))
    script.on(USERINFO, USERINFO_OK)
    t = FakeTime()
    waits: list[VerifyWait] = []
    result = _verify(script, canary_key_pem, t, timeout=60, on_wait=waits.append)
    assert result.attempts == 2  # type: ignore[attr-defined]
    assert len(waits) == 1 and "is not installed" in waits[0].cause
