"""Secrets in the log records of zeep, urllib3 and simple-salesforce are replaced."""

from __future__ import annotations

import logging

import pytest

from provisioner import logredact

SECRET = "091933DDA1BA7DC6692611E26B0A7E71"


@pytest.mark.parametrize("text", [
    f"<records><consumerSecret>{SECRET}</consumerSecret></records>",
    f'<ns0:sessionId xmlns:ns0="urn:x">{SECRET}</ns0:sessionId>',
    f'{{"access_token": "{SECRET}", "instance_url": "https://x"}}',
    f'{{"client_secret":"a\\"{SECRET}"}}',
    f"grant_type=urn%3Aietf&assertion={SECRET}&x=1",
    f"Authorization: Bearer {SECRET}",
])
def test_redact_removes_each_known_shape(text: str) -> None:
    cleaned = logredact.redact(text)
    assert SECRET not in cleaned and logredact.REDACTED in cleaned


def test_redact_keeps_what_is_not_secret() -> None:
    text = "<consumerKey>3MVG9abc</consumerKey><label>x</label>"
    assert logredact.redact(text) == text


def test_filter_rewrites_zeep_records(caplog: pytest.LogCaptureFixture) -> None:
    logredact.install()
    logredact.install()  # idempotent
    assert logging.getLogger("zeep.transports").filters.count(logredact._FILTER) == 1
    caplog.set_level(logging.DEBUG)
    logging.getLogger("zeep.transports").debug(
        "HTTP Response from %s (status: %d):\n%s", "https://org", 200,
        f"<consumerSecret>{SECRET}</consumerSecret>")
    assert SECRET not in caplog.text and "HTTP Response from https://org (status: 200)" in caplog.text
