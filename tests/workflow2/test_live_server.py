"""Against a real n8n 2.41.1 (``workflow2_server``): probe, writes, errors, import file, restart.

Every test plants canary secrets and scans what provisioner says (exceptions, results, logs)
for them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import requests

from provisioner.errors import AuthError, RemoteError, SpecError
from provisioner.secret import Secret
from provisioner.sinks import WriteOp
from provisioner.workflow2 import (
    JWT_TYPE,
    OAUTH2_TYPE,
    TARGET,
    ApiSink,
    Capabilities,
    CredentialRecord,
    ImportFileSink,
    RemoteCredential,
    Workflow2Client,
    build_jwt_record,
    build_oauth2_record,
    bundled_schema,
    derive_credential_id,
    resolve_callback_url,
)
from tests.n8n_server import Workflow2Server

pytestmark = pytest.mark.workflow2


@pytest.fixture(autouse=True)
def _debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # urllib3/requests debug lines are scanned too


@pytest.fixture
def client(workflow2_server: Workflow2Server) -> Workflow2Client:
    return Workflow2Client(
        workflow2_server.base_url, Secret(workflow2_server.api_key), instance_name="ci", backoff=0.2
    )


def jwt(client: Workflow2Client, name: str, key: Secret, **kw: Any) -> CredentialRecord:
    return build_jwt_record(
        id=derive_credential_id("ci", name),
        name=name,
        environment="sandbox",
        client_id="3MVG9-ck-" + name,
        username="int@acme.test",
        private_key=key,
        schema=client.schema(JWT_TYPE),
        **kw,
    )


def oauth(
    client: Workflow2Client, name: str, secret: Secret, env: str = "production"
) -> CredentialRecord:
    return build_oauth2_record(
        id=derive_credential_id("ci", name),
        name=name,
        environment=env,  # type: ignore[arg-type]
        client_id="3MVG9-oauth-" + name,
        client_secret=secret,
        schema=client.schema(OAUTH2_TYPE),
    )


def export_decrypted(server: Workflow2Server, tmp_path: Path) -> dict[str, dict[str, Any]]:
    out = tmp_path / "export.json"
    server.run_cli("export:credentials", "--all", "--decrypted", f"--output={out}")
    return {item["id"]: item for item in json.loads(out.read_text())}


def test_probe_on_2411(client: Workflow2Client) -> None:
    assert client.capabilities() == Capabilities(
        create_with_id=True, get_by_id=True, partial_update=True, credential_test=True
    )
    assert not [c for c in client.list_credentials() if c.id.startswith("pvprobe")]


def test_bundled_schemas_match_the_server(client: Workflow2Client) -> None:
    assert client.schema(JWT_TYPE)["properties"] == bundled_schema(JWT_TYPE)["properties"]
    assert client.schema(OAUTH2_TYPE)["properties"] == bundled_schema(OAUTH2_TYPE)["properties"]


CREATE = WriteOp(create=True)


def named(client: Workflow2Client, name: str, type_: str) -> list[RemoteCredential]:
    """The server's records of this name and type (names are not unique in Workflow²)."""
    return [c for c in client.iter_credentials() if c.name == name and c.type == type_]


def test_create_both_types_under_our_ids(
    client: Workflow2Client, private_key: Secret, client_secret: Secret, caplog, assert_no_canary
) -> None:
    records = [
        jwt(client, "create-jwt", private_key, my_domain_url="https://acme.my.salesforce.com"),
        oauth(client, "create-oauth", client_secret),
    ]
    sink = ApiSink(client)
    first = [sink.write(r, CREATE) for r in records]
    assert first == [r.id for r in records]  # our deterministic ids
    live = sink.read([r.id for r in records])
    assert [(v.name, v.type) for v in live.values() if v] == [
        ("create-jwt", JWT_TYPE),
        ("create-oauth", OAUTH2_TYPE),
    ]
    assert {(r.id, r.name, r.type) for r in sink.list_records()} >= {
        (r.id, r.name, r.type) for r in records}
    stamps = {r.id: client.get(r.id).updated_at for r in records}  # type: ignore[union-attr]
    assert [sink.connection_status(v) for v in live.values() if v] == ["not connected"] * 2
    # Reading, listing and the connection check write nothing.
    assert {r.id: client.get(r.id).updated_at for r in records} == stamps  # type: ignore[union-attr]
    assert_no_canary(caplog.text, first, [r.fingerprints() for r in records])


def test_retried_create_is_idempotent(
    client: Workflow2Client, private_key: Secret, caplog, assert_no_canary
) -> None:
    record = jwt(client, "idem-jwt", private_key)
    a = client.create(record)
    b = client.create(record)  # 409 -> recognised, brought up to date in place
    assert a.id == b.id == record.id
    assert len(named(client, "idem-jwt", JWT_TYPE)) == 1
    assert_no_canary(caplog.text)


def test_rotation_patches_in_place(
    client: Workflow2Client,
    workflow2_server: Workflow2Server,
    private_key: Secret,
    canary_pem: str,
    tmp_path: Path,
) -> None:
    sink = ApiSink(client)
    record = jwt(client, "rotate-jwt", private_key)
    created = sink.write(record, CREATE)
    new_key = Secret(canary_pem.replace("-----END", "\n-----END"))
    rotated = jwt(client, "rotate-jwt", new_key)
    op = WriteOp(create=False, replace_data=TARGET.replaces_data("jwt", ["privateKey"]))
    assert op.replace_data  # the server's cached session of the old key goes with it
    assert sink.write(rotated, op) == created
    assert len(named(client, "rotate-jwt", JWT_TYPE)) == 1
    stored = export_decrypted(workflow2_server, tmp_path)[record.id]
    assert stored["data"]["privateKey"] == new_key.reveal()


def test_oauth_token_kept_unless_client_secret_changes(
    client: Workflow2Client,
    workflow2_server: Workflow2Server,
    client_secret: Secret,
    tmp_path: Path,
) -> None:
    record = oauth(client, "token-oauth", client_secret)
    token = {"access_token": "tok", "refresh_token": "ref", "instance_url": "https://x"}
    seeded = tmp_path / "seed.json"
    seeded.write_text(
        json.dumps(
            [
                {
                    "id": record.id,
                    "name": record.name,
                    "type": record.type,
                    "data": {**record.revealed_data(), "oauthTokenData": token},
                }
            ]
        )
    )
    workflow2_server.run_cli("import:credentials", f"--input={seeded}")
    sink = ApiSink(client)
    moved = oauth(client, "token-oauth", client_secret, env="sandbox")
    assert not TARGET.reconnect_needed("oauth2", ["environment"])
    sink.write(moved, WriteOp(create=False,
                              replace_data=TARGET.replaces_data("oauth2", ["environment"])))
    data = export_decrypted(workflow2_server, tmp_path)[record.id]["data"]
    assert data["environment"] == "sandbox" and data["oauthTokenData"] == token
    new_secret = oauth(client, "token-oauth", Secret("CANARY-CLIENT-SECRET-2"), env="sandbox")
    assert TARGET.reconnect_needed("oauth2", ["clientSecret"])
    sink.write(new_secret, WriteOp(create=False,
                                   replace_data=TARGET.replaces_data("oauth2", ["clientSecret"])))
    data = export_decrypted(workflow2_server, tmp_path)[record.id]["data"]
    assert data["clientSecret"] == "CANARY-CLIENT-SECRET-2" and "oauthTokenData" not in data


def test_wrong_api_key_is_a_clear_auth_error(
    workflow2_server: Workflow2Server, caplog, assert_no_canary
) -> None:
    wrong = "CANARY-WRONG-API-KEY-1234567890"
    bad = Workflow2Client(workflow2_server.base_url, Secret(wrong), instance_name="ci")
    with pytest.raises(AuthError) as info:
        bad.list_credentials()
    text = info.value.diagnostics()
    assert "'ci'" in text and "HTTP 401" in text and "API key" in text
    assert_no_canary(text, caplog.text, extra=[wrong, workflow2_server.api_key])


def test_schema_rejection_locally_and_by_the_server(
    client: Workflow2Client,
    private_key: Secret,
    monkeypatch: pytest.MonkeyPatch,
    caplog,
    assert_no_canary,
) -> None:
    good = jwt(client, "bad-jwt", private_key)
    bad = CredentialRecord(good.id, good.name, JWT_TYPE, {**good.data, "color": "blue"})
    with pytest.raises(SpecError, match="color") as local:
        client.create(bad)
    monkeypatch.setattr(client, "validate", lambda record: None)  # let the server judge it
    with pytest.raises(RemoteError) as remote:
        client.create(bad)
    assert "HTTP 400" in remote.value.message
    assert 'additional property "color"' in remote.value.message  # the server's own words
    assert client.get(good.id) is None
    assert_no_canary(local.value.diagnostics(), remote.value.diagnostics(), caplog.text)


def test_server_credential_test_reports_verdict(
    client: Workflow2Client, private_key: Secret, assert_no_canary
) -> None:
    # A closed loopback port as token host: the server signs a JWT and fails to reach it.
    record = jwt(client, "test-jwt", private_key, my_domain_url="https://127.0.0.1:9")
    ApiSink(client).write(record, CREATE)
    verdict = ApiSink(client).test(record.id)
    assert verdict is not None and not verdict.ok
    assert_no_canary(verdict.message)


def test_import_file_round_trip_holds_exactly_the_fields(
    client: Workflow2Client,
    workflow2_server: Workflow2Server,
    private_key: Secret,
    client_secret: Secret,
    tmp_path: Path,
    assert_no_canary,
) -> None:
    records = [
        jwt(client, "file-jwt", private_key, my_domain_url="https://acme.my.salesforce.com"),
        oauth(client, "file-oauth", client_secret),
    ]
    path = tmp_path / "import.json"
    key = Secret(workflow2_server.encryption_key)
    file_sink = ImportFileSink(path, encryption_key=key)
    for record in records:
        file_sink.write(record, CREATE)
    file_sink.flush()
    assert_no_canary(path.read_text())
    workflow2_server.run_cli("import:credentials", f"--input={path}")
    workflow2_server.run_cli("import:credentials", f"--input={path}")  # upsert: no duplicate
    exported = export_decrypted(workflow2_server, tmp_path)
    for record in records:
        assert exported[record.id]["name"] == record.name
        assert exported[record.id]["type"] == record.type
        assert exported[record.id]["data"] == record.revealed_data()
        assert len(named(client, record.name, record.type)) == 1


def test_restart_mid_run_is_a_clear_error_and_loses_nothing(
    client: Workflow2Client,
    workflow2_server: Workflow2Server,
    private_key: Secret,
) -> None:
    record = jwt(client, "restart-jwt", private_key)
    created = ApiSink(client).write(record, CREATE)
    update = WriteOp(create=False, replace_data=True)
    workflow2_server.stop()
    try:
        with pytest.raises(RemoteError, match="unreachable") as info:
            ApiSink(client).write(record, update)
        assert "rerun" in (info.value.hint or "")
    finally:
        workflow2_server.start()
    assert ApiSink(client).write(record, update) == created == record.id
    assert len(named(client, record.name, JWT_TYPE)) == 1


def test_callback_url(workflow2_server: Workflow2Server) -> None:
    resolved = resolve_callback_url(workflow2_server.base_url)
    expected = workflow2_server.base_url + "/rest/oauth2-credential/callback"
    assert resolved.url == expected
    session = requests.Session()  # a signed-in session sees the server's own value
    session.post(
        workflow2_server.base_url + "/rest/login",
        json={
            "emailOrLdapLoginId": workflow2_server.owner_email,
            "password": workflow2_server.owner_password,
        },
        timeout=30,
    ).raise_for_status()
    from_server = resolve_callback_url(workflow2_server.base_url, session=session)
    assert (from_server.url, from_server.source) == (expected, "server")


def test_reads_and_tests_never_write(
    workflow2_server: Workflow2Server, client: Workflow2Client, canary_pem: str
) -> None:
    """A plan (reads, connection tests) leaves the server untouched: no capability probe."""
    record = jwt(client, "read-only check", Secret(canary_pem))
    ApiSink(client).write(record, CREATE)
    before = {c.id: c.updated_at for c in client.list_credentials()}
    fresh = Workflow2Client(
        workflow2_server.base_url, Secret(workflow2_server.api_key), instance_name="ci"
    )
    live = ApiSink(fresh).read([record.id, derive_credential_id("ci", "absent")])
    assert live[record.id] is not None and live[record.id].name == "read-only check"  # type: ignore[union-attr]
    assert live[derive_credential_id("ci", "absent")] is None
    assert fresh.test(record.id).status in ("OK", "Error")  # 2.41 has the test endpoint
    assert fresh._caps is None  # the write probe never ran
    after = {c.id: c.updated_at for c in client.list_credentials()}
    assert after == before
