"""Transport rules and error translation, against a scripted session (no network)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from provisioner.errors import AuthError, ProvisionerError, RemoteError
from provisioner.secret import Secret
from provisioner.workflow2.transport import Transport, normalize_base_url
from provisioner.workflow2.urls import derive_callback_url

API_KEY = "CANARY-API-KEY-0123456789abcdef"


def response(status: int, body: Any = None, *, html: bool = False) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    if html:
        resp._content = b"<html><body>Internal error</body></html>"
        resp.headers["Content-Type"] = "text/html"
    else:
        resp._content = json.dumps(body if body is not None else {}).encode()
        resp.headers["Content-Type"] = "application/json"
    return resp


class ScriptedSession(requests.Session):
    """Answers each request with the next scripted response or exception."""

    def __init__(self, script: list[Any]) -> None:
        super().__init__()
        self.script: Iterator[Any] = iter(script)
        self.calls: list[dict[str, Any]] = []

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.calls.append({"method": method, "url": url, **kwargs})
        item = next(self.script)
        if isinstance(item, BaseException):
            raise item
        return item


def transport(
    script: list[Any], sleeps: list[float] | None = None
) -> tuple[Transport, ScriptedSession]:
    session = ScriptedSession(script)
    sleeps = sleeps if sleeps is not None else []
    t = Transport(
        "http://127.0.0.1:5678/api/v1/",
        Secret(API_KEY),
        instance_name="ci",
        session=session,
        sleep=sleeps.append, rand=lambda: 1.0,
    )
    return t, session


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:5678/", "http://127.0.0.1:5678"),
        ("http://localhost:5678/api/v1", "http://localhost:5678"),
        ("http://[::1]:5678", "http://[::1]:5678"),
        ("https://n8n.example.com/base/", "https://n8n.example.com/base"),
    ],
)
def test_normalize(url: str, expected: str) -> None:
    assert normalize_base_url(url) == expected


@pytest.mark.parametrize("url", ["http://n8n.example.com", "ftp://127.0.0.1", "127.0.0.1:5678"])
def test_rejected_urls(url: str) -> None:
    with pytest.raises(ProvisionerError):
        normalize_base_url(url)


def test_callback_url_derivation() -> None:
    assert (
        derive_callback_url("https://n8n.example.com/base/")
        == "https://n8n.example.com/base/rest/oauth2-credential/callback"
    )


@pytest.mark.parametrize("base", ["https://host.example.com/api/v1", "https://host.example.com/api/v1/",
                                  "https://host.example.com/"])
def test_one_callback_rule_for_an_api_url_everywhere(base: str) -> None:
    """``baseUrl: https://host/api/v1`` names the server at ``https://host``: validate, render, the
    import file and the REST client all derive the same callback URL from it."""
    from pathlib import Path

    from provisioner.model import ApiSinkSpec, SourceLocation, WorkflowInstanceSpec
    from provisioner.targets import target_for
    from provisioner.workflow2.callback import resolve_callback_url

    expected = "https://host.example.com/rest/oauth2-credential/callback"
    spec = WorkflowInstanceSpec("wf", base, ApiSinkSpec(), SourceLocation(Path("s.yaml")))
    assert spec.callback_url == expected  # validate, render and the import file use this
    assert target_for(spec).callback_url(spec) == expected
    assert derive_callback_url(base) == expected
    # The REST client's derivation (when the server does not publish one) agrees.
    session = ScriptedSession([response(404, {})])
    assert resolve_callback_url(base, session=session).url == expected
    assert session.calls[0]["url"] == "https://host.example.com/rest/settings"


def test_key_is_sent_as_header_and_tls_verified() -> None:
    t, session = transport([response(200, {"data": []})])
    t.request("GET", "/api/v1/credentials", op="list")
    call = session.calls[0]
    assert call["headers"]["X-N8N-API-KEY"] == API_KEY
    assert call["verify"] is True


def test_401_is_auth_error_without_key() -> None:
    t, _ = transport([response(401, {"message": f"bad key {API_KEY}"})])
    with pytest.raises(AuthError) as info:
        t.request("POST", "/api/v1/credentials", op="create", record="SF JWT")
    text = info.value.diagnostics()
    assert "'ci'" in text and "SF JWT" in text and "API key" in text
    assert API_KEY not in text


def test_403_names_the_scopes() -> None:
    t, _ = transport([response(403, {"message": "Forbidden"})])
    with pytest.raises(AuthError) as info:
        t.request("PATCH", "/api/v1/credentials/x", op="update", record="SF JWT")
    assert "credential:update" in (info.value.hint or "")


def test_400_quotes_the_server_but_scrubs_secrets() -> None:
    secret = "CANARY-CLIENT-SECRET-zz"
    msg = f'request.body.data requires property "username" near {secret}'
    t, _ = transport([response(400, {"message": msg})])
    with pytest.raises(RemoteError) as info:
        t.request("POST", "/api/v1/credentials", op="create", record="SF", secrets=[secret])
    assert 'requires property "username"' in info.value.message
    assert secret not in info.value.diagnostics()


def test_5xx_retried_with_backoff_then_clear_error() -> None:
    sleeps: list[float] = []
    t, session = transport([response(503, html=True)] * 4, sleeps)
    with pytest.raises(RemoteError) as info:
        t.request("GET", "/api/v1/credentials/x", op="read", record="x")
    assert len(session.calls) == 4
    assert sleeps == [1.0, 2.0, 4.0]
    assert "HTTP 503" in info.value.message and "4 attempts" in info.value.message


def test_5xx_then_success() -> None:
    t, session = transport([response(502, html=True), response(200, {"ok": 1})])
    assert t.request("GET", "/x", op="read").json() == {"ok": 1}
    assert len(session.calls) == 2


def test_non_idempotent_is_not_retried() -> None:
    t, session = transport([response(500, html=True), response(200)])
    with pytest.raises(RemoteError, match="without a message"):
        t.request("POST", "/api/v1/credentials", op="create", idempotent=False)
    assert len(session.calls) == 1


def test_unreachable_is_clear() -> None:
    boom = requests.ConnectionError("Connection refused")
    t, _ = transport([boom] * 4)
    with pytest.raises(RemoteError, match="unreachable") as info:
        t.request("GET", "/api/v1/credentials", op="list")
    assert "running" in (info.value.hint or "")
    assert isinstance(info.value.__cause__, requests.ConnectionError)


@pytest.fixture(scope="module")
def private_key() -> str:
    from provisioner.keys import generate_key_material

    return generate_key_material("scrub canary", 2048, 30).private_key.reveal()


@pytest.mark.parametrize("reshape", ["spaces", "joined", "crlf", "rewrapped-body", "tail"])
def test_a_server_quoting_the_private_key_reshaped_is_scrubbed(
    private_key: str, reshape: str
) -> None:
    from tests.engine.conftest import assert_no_secret

    body = "".join(ln for ln in private_key.splitlines() if not ln.startswith("-----"))
    quoted = {
        "spaces": private_key.replace("\n", " "),  # the case the issue reproduced
        "joined": private_key.replace("\n", ""),
        "crlf": private_key.replace("\n", "\r\n"),
        "rewrapped-body": " ".join(body[i:i + 76] for i in range(0, len(body), 76)),
        "tail": body[-300:],  # a server that cut the front of its message off
    }[reshape]
    msg = f'request.body.data.privateKey must match format "pem", got {quoted} (see docs)'
    t, _ = transport([response(400, {"message": msg})])
    with pytest.raises(RemoteError) as info:
        t.request("POST", "/api/v1/credentials", op="create", record="SF JWT",
                  secrets=[private_key])
    text = info.value.diagnostics()
    assert_no_secret(text, private_key, where=f"a 400 quoting the key ({reshape})")
    # Nor any part of it, whitespace aside (the message is cut at 500 characters, where a
    # key's public modulus comes first; the key is not to be quoted at all).
    flat = "".join(text.split())
    assert not [i for i in range(60, len(body) - 20, 20) if body[i:i + 20] in flat], reshape
    assert 'request.body.data.privateKey must match format "pem", got' in text
