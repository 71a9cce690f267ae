"""Fixtures for the hostile-peer tests: a real private key planted as a canary."""

from __future__ import annotations

import pytest

from provisioner.keys import generate_key_material


@pytest.fixture(scope="session")
def canary_private_key() -> str:
    """A freshly generated RSA private key (PEM): it must never reach a redirect target."""
    return generate_key_material("hostile peer canary", 2048, 30).private_key.reveal()
