"""Fixtures for the Workflow² tests: canary secrets and a scanner that proves none leaked.

The real server fixture (``workflow2_server``) comes from ``tests/n8n_server.py``, which the root
conftest loads as a plugin.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from provisioner.secret import Secret

Scan = Callable[..., None]


@pytest.fixture(scope="session")
def canary_pem() -> str:
    """A fresh RSA private key, PKCS#8 PEM: the JWT credential's secret in these tests."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture(scope="session")
def canary_client_secret() -> str:
    """A recognisable OAuth2 consumer secret planted in the tests."""
    return "CANARY-CLIENT-SECRET-" + secrets.token_hex(12)


@pytest.fixture(scope="session")
def canary_encryption_key() -> str:
    """A recognisable n8n encryption key planted in the tests."""
    return "CANARY-ENC-KEY-" + secrets.token_hex(12)


@pytest.fixture
def canaries(canary_pem: str, canary_client_secret: str, canary_encryption_key: str) -> list[str]:
    """Strings that must never appear in any output: whole secrets and telling fragments."""
    body = [line for line in canary_pem.splitlines() if "-----" not in line]
    return [canary_client_secret, canary_encryption_key, *body[1:4]]


@pytest.fixture
def assert_no_canary(canaries: list[str]) -> Scan:
    """``assert_no_canary(*texts, extra=[...])`` fails if any canary is in any text."""

    def scan(*texts: object, extra: Iterable[str] = ()) -> None:
        needles = [*canaries, *extra]
        for text in texts:
            rendered = text if isinstance(text, str) else repr(text)
            for needle in needles:
                assert needle not in rendered, "a planted secret leaked into output"

    return scan


@pytest.fixture
def private_key(canary_pem: str) -> Secret:
    """The canary PEM as a Secret."""
    return Secret(canary_pem)


@pytest.fixture
def client_secret(canary_client_secret: str) -> Secret:
    """The canary consumer secret as a Secret."""
    return Secret(canary_client_secret)
