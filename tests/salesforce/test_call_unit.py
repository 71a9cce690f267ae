"""OrgConnection.call without a server: classification, one re-login, bounded retries."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce.exceptions import SalesforceGeneralError
from zeep.exceptions import Fault, TransportError

from provisioner.errors import AuthError
from provisioner.model import OrgSpec, SourceLocation
from provisioner.salesforce.auth import OrgSession
from provisioner.salesforce.connection import MetadataCallError, OrgConnection, RetryPolicy
from provisioner.salesforce.faults import classify
from provisioner.secret import Secret

ORG = OrgSpec(
    name="prod",
    environment="production",
    api_version="63.0",
    source=SourceLocation(Path("org.yaml")),
)
SOAP_FAULT = (
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:sf="http://soap.sforce.com/2006/04/metadata"><soapenv:Body><soapenv:Fault>'
    "<faultcode>sf:{code}</faultcode><faultstring>{code}: {text}</faultstring>"
    "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
)


def _session(n: int) -> OrgSession:
    return OrgSession(
        "https://acme.my.salesforce.com", Secret(f"TOKEN-{n}-canary"), datetime.now(timezone.utc)
    )


class Harness:
    def __init__(self, *, can_sign_in_again: bool = True, max_attempts: int = 4) -> None:
        self.sign_ins = 0
        self.sleeps: list[float] = []
        self.conn = OrgConnection(
            ORG,
            self._sign_in,
            retry=RetryPolicy(
                max_attempts=max_attempts, base_delay=0.1, max_delay=0.3, sleep=self.sleeps.append
            ),
            can_sign_in_again=can_sign_in_again,
        )

    def _sign_in(self) -> OrgSession:
        self.sign_ins += 1
        return _session(self.sign_ins)

    def run(self, *outcomes: Any) -> Any:
        queue = list(outcomes)
        tokens: list[str] = []

        def fn(sf: Any) -> Any:
            tokens.append(sf.session_id)
            item = queue.pop(0)
            if isinstance(item, BaseException):
                raise item
            return item

        result = self.conn.call("readMetadata ExternalClientApplication", fn)
        return result, tokens


def test_classify_vendor_exceptions() -> None:
    assert (
        classify(Fault("INVALID_SESSION_ID: bad", code="sf:INVALID_SESSION_ID")).kind == "session"
    )  # type: ignore[union-attr]
    throttled = classify(
        SalesforceGeneralError(
            "u", 500, "r", SOAP_FAULT.format(code="REQUEST_LIMIT_EXCEEDED", text="x")
        )
    )
    assert throttled is not None and (throttled.kind, throttled.code) == (
        "throttle",
        "REQUEST_LIMIT_EXCEEDED",
    )
    assert classify(TransportError(status_code=503, content=b"<html/>")).kind == "transient"  # type: ignore[union-attr]
    assert classify(requests.exceptions.ConnectionError("reset")).kind == "transient"  # type: ignore[union-attr]
    assert classify(requests.exceptions.SSLError("bad cert")).kind == "tls"  # type: ignore[union-attr]
    item = classify(Exception("\nBilling_oauth: (INVALID_CROSS_REFERENCE_KEY, no such app), "))
    assert item is not None and (item.kind, item.code) == ("item", "INVALID_CROSS_REFERENCE_KEY")
    assert classify(KeyError("bug")) is None


def test_signs_in_again_once_on_invalid_session() -> None:
    h = Harness()
    result, tokens = h.run(Fault("INVALID_SESSION_ID: expired", code="sf:INVALID_SESSION_ID"), "ok")
    assert result == "ok"
    assert tokens == ["TOKEN-1-canary", "TOKEN-2-canary"]
    assert h.sign_ins == 2 and h.sleeps == []


def test_second_invalid_session_is_an_error_with_hint() -> None:
    h = Harness()
    fault = Fault("INVALID_SESSION_ID: expired", code="sf:INVALID_SESSION_ID")
    with pytest.raises(MetadataCallError) as info:
        h.run(fault, fault)
    assert h.sign_ins == 2
    assert info.value.code == "INVALID_SESSION_ID"
    assert info.value.message.startswith(
        "org 'prod' (acme.my.salesforce.com): readMetadata ExternalClientApplication failed"
    )
    assert "active" in (info.value.hint or "")


def test_access_token_cannot_sign_in_again() -> None:
    h = Harness(can_sign_in_again=False)
    with pytest.raises(AuthError, match="access token was refused") as info:
        h.run(Fault("INVALID_SESSION_ID: expired", code="sf:INVALID_SESSION_ID"))
    assert "sf org display" in (info.value.hint or "")


def test_throttle_and_5xx_retry_with_bounded_backoff() -> None:
    h = Harness(max_attempts=4)
    limit = SalesforceGeneralError(
        "u",
        500,
        "r",
        SOAP_FAULT.format(code="REQUEST_LIMIT_EXCEEDED", text="TotalRequests Limit exceeded."),
    )
    result, _ = h.run(
        limit,
        TransportError(status_code=502, content=b""),
        requests.exceptions.ConnectionError("x"),
        "done",
    )
    assert result == "done"
    assert h.sleeps == [0.1, 0.2, 0.3]
    assert h.conn.request_count == 4


def test_retries_stop_at_max_attempts() -> None:
    h = Harness(max_attempts=3)
    limit = Fault("REQUEST_LIMIT_EXCEEDED: limit", code="sf:REQUEST_LIMIT_EXCEEDED")
    with pytest.raises(MetadataCallError) as info:
        h.run(limit, limit, limit, "never")
    assert "after 3 attempts" in info.value.message
    assert "request limit" in (info.value.hint or "")
    assert len(h.sleeps) == 2


def test_fatal_fault_is_not_retried_and_names_code() -> None:
    h = Harness()
    with pytest.raises(MetadataCallError) as info:
        h.run(Fault("INSUFFICIENT_ACCESS: no", code="sf:INSUFFICIENT_ACCESS"), "never")
    assert h.sleeps == [] and h.conn.request_count == 1
    assert "INSUFFICIENT_ACCESS: no" in info.value.message
    assert "Modify Metadata" in (info.value.hint or "")


def test_echoed_token_is_scrubbed() -> None:
    h = Harness()
    with pytest.raises(MetadataCallError) as info:
        h.run(Fault("INVALID_FIELD: saw TOKEN-1-canary", code="sf:INVALID_FIELD"))
    assert "TOKEN-1-canary" not in info.value.message


def test_programming_errors_pass_through() -> None:
    h = Harness()
    with pytest.raises(KeyError):
        h.run(KeyError("bug"))
