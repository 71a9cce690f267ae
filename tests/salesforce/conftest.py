"""Fixtures for the Salesforce adapter tests: keys, canaries, a scripted token server, the sandbox."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from provisioner.model import AppSpec, CertificateSpec, EmbeddedSandbox, OrgSpec, SourceLocation
from provisioner.salesforce.connection import OrgConnection, connect
from tests.salesforce.scripted_server import Script, scripted_server


def pem_of(key: rsa.RSAPrivateKey) -> str:
    """PKCS#8 PEM text of ``key``."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    """One RSA key for the whole session (generation is the slow part)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def canary_key_pem(rsa_key: rsa.RSAPrivateKey) -> str:
    """The planted private key: no exception text may ever contain any line of its body."""
    return pem_of(rsa_key)


@pytest.fixture(scope="session")
def canary_token() -> str:
    """A planted refresh/access token."""
    return "CANARYTOKEN" + secrets.token_hex(16)


@pytest.fixture
def script() -> Iterator[Script]:
    """A scripted token endpoint on loopback."""
    with scripted_server() as s:
        yield s


def assert_no_canary(text: str, *canaries: str) -> None:
    """Fail when ``text`` contains a canary or any 20-character run of a canary PEM body."""
    for canary in canaries:
        assert canary not in text
        body = "".join(line for line in canary.splitlines() if not line.startswith("-----"))
        for i in range(60, max(0, len(body) - 20), 20):  # past the structure all keys share
            assert body[i : i + 20] not in text


def error_text(exc: BaseException) -> str:
    """Everything an exception chain could show a user: messages, hints, reprs, causes."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts += [
            str(current),
            repr(current),
            str(getattr(current, "hint", "")),
            repr(current.args),
        ]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


# -- the embedded sandbox --------------------------------------------------------------------------



_template: list[Path] = []


@pytest.fixture(scope="session", autouse=True)
def _sandbox_template(tmp_path_factory: pytest.TempPathFactory) -> None:
    """One freshly seeded sandbox state dir (CA, server and bootstrap keys) that tests copy.

    Generating three RSA keys per test would dominate the run; a copy is an identical fresh org.
    """
    from provisioner.sandbox import SandboxOptions, SandboxServer

    path = tmp_path_factory.mktemp("sandbox-template") / "state"
    SandboxServer(SandboxOptions(state_dir=path))  # seeds the state dir without serving
    _template.append(path)


def sandbox_org(state_dir: Path, *, name: str = "sb", propagation_delay: float = 0.0) -> OrgSpec:
    """An org spec of the embedded-sandbox form, its state dir a copy of the seeded template."""
    if _template and not state_dir.exists():
        shutil.copytree(_template[0], state_dir)
    return OrgSpec(
        name=name,
        environment="sandbox",
        api_version="63.0",
        source=SourceLocation(state_dir / "org.yaml"),
        sandbox=EmbeddedSandbox(state_dir=state_dir, propagation_delay=propagation_delay),
    )


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[OrgConnection]:
    """A connection to a fresh embedded sandbox (stopped afterwards)."""
    with connect(sandbox_org(tmp_path / "sandbox")) as c:
        yield c


def app_spec(api_name: str, **kw: Any) -> AppSpec:
    """An External Client App spec pre-authorizing the sandbox's integration user's profile."""
    defaults: dict[str, Any] = {
        "name": api_name.lower(),
        "api_name": api_name,
        "org": "sb",
        "app_type": "externalClientApp",
        "label": api_name.replace("_", " "),
        "contact_email": "team@example.com",
        "source": SourceLocation(Path(f"specs/{api_name}.yaml"), 3, 1),
        "callback_urls": ("https://workflow.example.com/rest/oauth2-credential/callback",),
        "scopes": ("Api", "RefreshToken"),
        "certificate": CertificateSpec(),
        "pre_authorized_profiles": ("Integration User",),
    }
    defaults.update(kw)
    return AppSpec(**defaults)


INTEGRATION_USER = "integration@sandbox.provisioner.test"
