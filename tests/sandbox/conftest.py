"""Fixtures: a fresh sandbox per test (from a pre-built template, so keys are generated once),
a pyjwt-signed JWT bearer login, and an unmodified simple-salesforce client on top of it."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sandbox_helpers import client_for
from simple_salesforce import Salesforce

from provisioner.sandbox import SandboxOptions, SandboxServer


@pytest.fixture(scope="session")
def template_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state dir with CA, server certificate and bootstrap key, made once per session."""
    path = tmp_path_factory.mktemp("sandbox-template")
    SandboxServer(SandboxOptions(state_dir=path))  # generates keys and certificates
    (path / "org.json").unlink()  # each test seeds its own org (fresh ids)
    return path


@pytest.fixture(autouse=True)
def _trust_sandbox_ca(template_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # zeep has its own requests session: the environment is how both sessions learn the CA.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(template_dir / "ca.pem"))


@pytest.fixture
def make_sandbox(template_dir: Path, tmp_path: Path) -> Iterator[Callable[..., SandboxServer]]:
    """Start sandboxes on copies of the template; all are stopped at the end of the test."""
    started: list[SandboxServer] = []

    def make(state_dir: Path | None = None, **options: Any) -> SandboxServer:
        state = state_dir or tmp_path / f"state{len(started)}"
        if not state.exists():
            shutil.copytree(template_dir, state)
        srv = SandboxServer(SandboxOptions(state_dir=state, **options)).start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture
def sandbox(make_sandbox: Callable[..., SandboxServer]) -> SandboxServer:
    """A running sandbox with the default seed."""
    return make_sandbox()


@pytest.fixture
def sf(sandbox: SandboxServer) -> Salesforce:
    """simple-salesforce logged in to the default sandbox as the deploy user."""
    return client_for(sandbox)
