"""connect() and OrgConnection.call against the embedded sandbox over HTTPS, verification on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests

from provisioner.errors import AuthError
from provisioner.model import (
    AccessTokenAuth,
    JwtBearerAuth,
    OrgSpec,
    SecretRef,
    SfdxAuthUrlAuth,
    SourceLocation,
)
from provisioner.salesforce.auth import jwt_bearer_token
from provisioner.salesforce.connection import MetadataCallError, OrgConnection, RetryPolicy, connect
from provisioner.sandbox import SandboxOptions, SandboxServer
from provisioner.secret import Secret
from tests.salesforce.conftest import assert_no_canary, error_text, sandbox_org
from tests.tls_trust import trust_ca


def _ops(server: SandboxServer, endpoint: str | None = None) -> list[str]:
    return [
        r["operation"]
        for r in server.org.request_log
        if endpoint is None or r["endpoint"] == endpoint
    ]


def _read_bootstrap(conn: OrgConnection) -> str:
    record = conn.call(
        "readMetadata ExternalClientApplication",
        lambda sf: sf.mdapi.ExternalClientApplication.read(["Provisioner_Bootstrap"]),
    )
    return str(record.fullName)


@pytest.fixture
def server(tmp_path: Path) -> SandboxServer:
    state_dir = sandbox_org(tmp_path / "standalone").sandbox.state_dir  # type: ignore[union-attr]
    with SandboxServer(SandboxOptions(state_dir=state_dir)) as s:
        trust_ca(s.ca_file)  # what connect() does for an embedded org; here the org is "real"
        yield s


def _real_org(**kw: object) -> OrgSpec:
    return OrgSpec(
        name="remote",
        environment="sandbox",
        api_version="63.0",
        source=SourceLocation(Path("o.yaml")),
        **kw,
    )  # type: ignore[arg-type]


def test_embedded_sandbox_signs_in_by_jwt_and_its_ca_is_trusted_by_its_connection_only(
    tmp_path: Path,
) -> None:
    before = os.environ.get("REQUESTS_CA_BUNDLE")
    with connect(sandbox_org(tmp_path / "sb")) as conn:
        assert conn.sandbox is not None
        assert conn.instance_url == conn.sandbox.url == conn.my_domain_url
        assert conn.login_host == "https://test.salesforce.com"
        assert _read_bootstrap(conn) == "Provisioner_Bootstrap"
        assert _ops(conn.sandbox) == ["urn:ietf:params:oauth:grant-type:jwt-bearer", "readMetadata"]
        # Pinned: the connection (REST and SOAP share its session) trusts the sandbox CA...
        assert conn.verify == str(conn.sandbox.ca_file) == conn.sf.session.verify
        # ... and nothing else in the process does: the environment is untouched, and a plain
        # client refuses the sandbox's certificate.
        assert os.environ.get("REQUESTS_CA_BUNDLE") == before
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(conn.sandbox.url + "/services/data", timeout=30)
        server = conn.sandbox
    with pytest.raises(RuntimeError):
        _ = server.url  # close() stopped it


def test_jwt_bearer_spec_against_a_running_org(server: SandboxServer, tmp_path: Path) -> None:
    creds = server.deploy_credentials()
    org = _real_org(
        auth=JwtBearerAuth(
            client_id=creds.client_id,
            username=SecretRef("env", "DEPLOY_USER"),
            private_key=SecretRef("file", str(creds.private_key_path)),
            token_url=server.url,  # a My Domain: the deploy app is an External Client App
        )
    )
    with connect(org, environ={"DEPLOY_USER": creds.username}) as conn:
        assert _read_bootstrap(conn) == "Provisioner_Bootstrap"
        assert conn.sandbox is None


def test_an_eca_deploy_app_signs_in_with_my_domain_without_token_url(
    server: SandboxServer,
) -> None:
    """The production example's shape: myDomainUrl set, no tokenUrl. The bootstrap app is an
    External Client App, so only the My Domain audience is accepted, and it is tried first."""
    creds = server.deploy_credentials()
    org = _real_org(
        my_domain_url=server.url,
        auth=JwtBearerAuth(
            client_id=creds.client_id,
            username=creds.username,
            private_key=SecretRef("file", str(creds.private_key_path)),
        ),
    )
    before = len(_ops(server, "token"))
    with connect(org) as conn:
        assert _read_bootstrap(conn) == "Provisioner_Bootstrap"
    assert len(_ops(server, "token")) == before + 1  # accepted at the first audience


def test_sfdx_auth_url_refresh_grant(server: SandboxServer) -> None:
    seed = server.org.data["bootstrap"]
    creds = server.deploy_credentials()
    refresh = server.org.issue_refresh_token(creds.username, creds.client_id)
    url = f"force://{creds.client_id}:SandboxBootstrapSecret0001:{refresh}@127.0.0.1:{server.port}"
    org = _real_org(auth=SfdxAuthUrlAuth(auth_url=SecretRef("env", "SFDX_URL")))
    with connect(org, environ={"SFDX_URL": url}) as conn:
        assert _read_bootstrap(conn) == "Provisioner_Bootstrap"
        server.org.expire_sessions()
        assert _read_bootstrap(conn) == "Provisioner_Bootstrap"  # renewed with the refresh token
        assert conn.sign_in_count == 2
    assert _ops(server, "token").count("refresh_token") == 2
    assert seed["consumerKey"] == creds.client_id


def test_revoked_refresh_token_names_the_fix(server: SandboxServer) -> None:
    creds = server.deploy_credentials()
    url = f"force://{creds.client_id}::5AepNOTAREALTOKENcanary@127.0.0.1:{server.port}"
    org = _real_org(auth=SfdxAuthUrlAuth(auth_url=SecretRef("env", "SFDX_URL")))
    with pytest.raises(AuthError) as info:
        connect(org, environ={"SFDX_URL": url})
    assert "org 'remote': refresh-token (sfdx auth URL) login" in info.value.message
    assert "sf org display" in (info.value.hint or "")
    assert_no_canary(error_text(info.value), "5AepNOTAREALTOKENcanary")


def test_access_token_as_given_cannot_be_renewed(server: SandboxServer) -> None:
    creds = server.deploy_credentials()
    session = jwt_bearer_token(
        server.url,
        creds.client_id,
        creds.username,
        Secret(creds.private_key_path.read_text()),
        server.url,
    )
    token = session.access_token.reveal()
    org = _real_org(
        auth=AccessTokenAuth(access_token=SecretRef("env", "SF_TOKEN"), instance_url=server.url)
    )
    with connect(org, environ={"SF_TOKEN": token}) as conn:
        assert _read_bootstrap(conn) == "Provisioner_Bootstrap"
        server.org.expire_sessions()
        with pytest.raises(AuthError, match="access token was refused") as info:
            _read_bootstrap(conn)
    assert_no_canary(error_text(info.value), token)


def test_signs_in_again_once_on_invalid_session_id(tmp_path: Path) -> None:
    with connect(sandbox_org(tmp_path / "sb")) as conn:
        assert conn.sandbox is not None
        conn.sandbox.org.expire_sessions()
        assert _read_bootstrap(conn) == "Provisioner_Bootstrap"
        assert conn.sign_in_count == 2
        assert _ops(conn.sandbox).count("readMetadata") == 2


def test_injected_invalid_session_twice_is_an_error(tmp_path: Path) -> None:
    with (
        connect(
            sandbox_org(tmp_path / "sb"), sandbox_faults=["readMetadata:INVALID_SESSION_ID@count=2"]
        ) as conn,
        pytest.raises(MetadataCallError) as info,
    ):
        _read_bootstrap(conn)
    assert info.value.code == "INVALID_SESSION_ID"
    assert conn.sign_in_count == 2
    assert (
        "org 'sb'" in info.value.message
        and "readMetadata ExternalClientApplication" in info.value.message
    )


@pytest.mark.parametrize(
    "fault",
    [
        "readMetadata:REQUEST_LIMIT_EXCEEDED@count=2",
        "soap:http503@count=2",
        "readMetadata:drop@count=2",
    ],
)
def test_throttling_5xx_and_drops_are_retried(tmp_path: Path, fault: str) -> None:
    sleeps: list[float] = []
    retry = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, sleep=sleeps.append)
    with connect(sandbox_org(tmp_path / "sb"), retry=retry, sandbox_faults=[fault]) as conn:
        assert _read_bootstrap(conn) == "Provisioner_Bootstrap"
        assert sleeps == [0.01, 0.02]
        assert conn.request_count == 3


def test_retries_are_bounded(tmp_path: Path) -> None:
    retry = RetryPolicy(max_attempts=2, base_delay=0.01, sleep=lambda _s: None)
    with (
        connect(
            sandbox_org(tmp_path / "sb"),
            retry=retry,
            sandbox_faults=["readMetadata:REQUEST_LIMIT_EXCEEDED@count=5"],
        ) as conn,
        pytest.raises(MetadataCallError, match="after 2 attempts") as info,
    ):
        _read_bootstrap(conn)
    assert info.value.code == "REQUEST_LIMIT_EXCEEDED"


def test_unsupported_api_version_is_explained(tmp_path: Path) -> None:
    org = sandbox_org(tmp_path / "sb")
    old = OrgSpec(**{**org.__dict__, "api_version": "30.0"})
    with connect(old) as conn, pytest.raises(MetadataCallError) as info:
        _read_bootstrap(conn)
    assert info.value.code == "UNSUPPORTED_API_VERSION"
    assert "apiVersion" in (info.value.hint or "")


def test_wrong_deploy_key_from_env_is_named_without_leaking(
    server: SandboxServer, canary_key_pem: str
) -> None:
    creds = server.deploy_credentials()
    org = _real_org(
        auth=JwtBearerAuth(
            client_id=creds.client_id,
            username=creds.username,
            private_key=SecretRef("env", "DEPLOY_KEY"),
            token_url=server.url,
        )
    )
    with pytest.raises(AuthError) as info:
        connect(org, environ={"DEPLOY_KEY": canary_key_pem})
    assert info.value.message.startswith(
        f"org 'remote': JWT bearer login as {creds.username} at {server.url}"
    )
    assert "does not match" in info.value.message
    assert_no_canary(error_text(info.value), canary_key_pem)


def test_orgs_share_the_parsed_wsdl_but_never_a_session(tmp_path: Path) -> None:
    # The WSDL is parsed once per process; each org's client, service and session header are
    # its own. The known trap: a shared zeep client sent one org's session to another org.
    with connect(sandbox_org(tmp_path / "one", name="one")) as one, \
            connect(sandbox_org(tmp_path / "two", name="two")) as two:
        assert one.sf.mdapi._client.wsdl is two.sf.mdapi._client.wsdl
        assert one.sf.mdapi._client is not two.sf.mdapi._client
        assert one.sf.mdapi._session_header.sessionId == one.sf.session_id
        assert two.sf.mdapi._session_header.sessionId == two.sf.session_id
        assert one.sf.session_id != two.sf.session_id
        # Each org accepts only its own session: reads in both prove neither was crossed.
        for _ in range(2):
            assert _read_bootstrap(one) == _read_bootstrap(two) == "Provisioner_Bootstrap"
        assert one.sign_in_count == two.sign_in_count == 1  # no session was refused
        # Calls go through each connection's own bounded session, to its own org.
        assert one.sf.mdapi._client.transport.session is one.sf.session
        assert _ops(one.sandbox)[-2:] == _ops(two.sandbox)[-2:] == ["readMetadata"] * 2
