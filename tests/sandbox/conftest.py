"""Fixtures: a fresh sandbox per test (from a pre-built template, so keys are generated once),
a pyjwt-signed JWT bearer login, and an unmodified simple-salesforce client on top of it."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from simple_salesforce import Salesforce

from provisioner.sandbox import SandboxOptions, SandboxServer

API_VERSION = "63.0"
DEPLOY_PASSWORD = "sandbox-deploy-Passw0rd"
BOOTSTRAP_SECRET = "SandboxBootstrapSecret0001"
INTEGRATION_USER = "integration@sandbox.provisioner.test"


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


def assertion(client_id: str, username: str, key_pem: bytes | str, aud: str,
              exp: Any = None) -> str:
    """A JWT bearer assertion, signed as the tool signs it."""
    claims = {"iss": client_id, "sub": username, "aud": aud,
              "exp": int(time.time()) + 120 if exp is None else exp}
    return jwt.encode(claims, key_pem, algorithm="RS256")


def token_request(url: str, data: dict[str, str]) -> requests.Response:
    """POST to the sandbox token endpoint (TLS verified through REQUESTS_CA_BUNDLE)."""
    return requests.post(f"{url}/services/oauth2/token", data=data, timeout=10)


def jwt_login(srv: SandboxServer, client_id: str | None = None, username: str | None = None,
              key_pem: bytes | None = None, aud: str | None = None,
              exp: Any = None) -> requests.Response:
    """A JWT bearer token exchange; defaults are the deploy credentials and My Domain audience."""
    creds = srv.deploy_credentials()
    return token_request(srv.url, {
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "assertion": assertion(client_id or creds.client_id, username or creds.username,
                               key_pem or creds.private_key_path.read_bytes(), aud or srv.url, exp),
    })


def client_for(srv: SandboxServer, token: str | None = None) -> Salesforce:
    """An unmodified simple-salesforce client with a session from a JWT bearer login."""
    if token is None:
        resp = jwt_login(srv)
        assert resp.status_code == 200, resp.text
        token = resp.json()["access_token"]
    return Salesforce(instance_url=srv.url, session_id=token, version=API_VERSION)


@pytest.fixture
def sf(sandbox: SandboxServer) -> Salesforce:
    """simple-salesforce logged in to the default sandbox as the deploy user."""
    return client_for(sandbox)
