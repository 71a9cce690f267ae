"""Shared fixtures: the real Workflow² server plugin and a loopback-only network guard."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

pytest_plugins = ["tests.n8n_server"]

_real_connect = socket.socket.connect


def _is_loopback(address: Any) -> bool:
    if not isinstance(address, tuple) or not address:
        return True  # unix sockets and the like
    host = address[0]
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests may talk to servers on this machine only: anything else is a test bug."""

    def guarded(self: socket.socket, address: Any) -> Any:
        if not _is_loopback(address):
            raise ConnectionRefusedError(f"test tried to reach {address!r}: only loopback is allowed")
        return _real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    yield


@pytest.fixture(autouse=True)
def restore_ca_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    """connect() points REQUESTS_CA_BUNDLE at a combined bundle (sandbox CA + the usual ones)
    for the process; restore the variable after each test so tests stay independent."""
    value = os.environ.get("REQUESTS_CA_BUNDLE")
    if value is None:
        monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    else:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", value)
