"""The import-file sink, end to end: apply writes an encrypted file next to the API records,
``n8n import:credentials`` loads it into the real server, and what n8n decrypts is exactly the
intended fields; the imported JWT credential signs in to the org from the server's own test.
"""

from __future__ import annotations

import json
import stat

import pytest

from tests.e2e.conftest import APP, E2E, INTEGRATION_USER
from tests.e2e.observe import Api

pytestmark = pytest.mark.workflow2


def test_import_file_round_trip_through_n8n(e2e: E2E, api: Api) -> None:
    e2e.write_specs(file_sink=True)
    applied = e2e.apply()
    assert applied.code == 0, applied
    file_jwt = e2e.name("JWT", e2e.file_instance)
    file_oauth = e2e.name("OAuth2", e2e.file_instance)
    assert f"wrote: Workflow² credential {e2e.file_instance}/{file_jwt}" in applied.stdout
    assert f"wrote: Workflow² credential {e2e.file_instance}/{file_oauth}" in applied.stdout

    # The file: mode 0600, our deterministic ids, data encrypted in n8n's at-rest format.
    assert stat.S_IMODE(e2e.import_file.stat().st_mode) == 0o600
    items = json.loads(e2e.import_file.read_text())
    jwt_id = e2e.record_id(file_jwt, e2e.file_instance)
    oauth_id = e2e.record_id(file_oauth, e2e.file_instance)
    assert sorted((i["id"], i["name"], i["type"]) for i in items) == sorted([
        (jwt_id, file_jwt, "salesforceJwtApi"), (oauth_id, file_oauth, "salesforceOAuth2Api")])
    assert all(isinstance(i["data"], str) and i["data"].startswith("U2FsdGVkX1") for i in items)

    e2e.server.run_cli("import:credentials", f"--input={e2e.import_file}")
    exported = e2e.export_decrypted()
    st = e2e.app_state()
    with e2e.org() as org:
        assert exported[jwt_id]["name"] == file_jwt
        assert exported[jwt_id]["data"] == {
            "environment": "production", "clientId": st["consumerKey"],
            "username": INTEGRATION_USER, "privateKey": exported[jwt_id]["data"]["privateKey"],
            "myDomainUrl": org.url,
        }
        assert exported[jwt_id]["data"]["privateKey"].startswith("-----BEGIN PRIVATE KEY-----")
        secret = exported[oauth_id]["data"]["clientSecret"]
        assert exported[oauth_id]["data"] == {
            "environment": "production", "clientId": st["consumerKey"], "clientSecret": secret}
        # The same app's key and secret went to both instances.
        api_jwt = exported[e2e.record_id(e2e.jwt_name)]["data"]
        assert exported[jwt_id]["data"]["privateKey"] == api_jwt["privateKey"]
        assert exported[e2e.record_id(e2e.oauth_name)]["data"]["clientSecret"] == secret
        from provisioner.secret import Secret

        assert Secret(secret).fingerprint() == st["consumerSecretFingerprint"]

        # The imported record has no cached session: the server signs a JWT with the key.
        e2e.recorder.sessions.clear()
        assert api.test(jwt_id) == {"status": "OK", "message": "Connection successful!"}
        assert e2e.recorder.sessions == [(INTEGRATION_USER, APP)]

    # A rerun leaves the file as it is; importing it again upserts (no duplicates).
    before = e2e.import_file.read_bytes()
    again = e2e.apply()
    assert again.code == 0 and "Nothing to do" in again.stdout, again
    assert e2e.import_file.read_bytes() == before
    e2e.server.run_cli("import:credentials", f"--input={e2e.import_file}")
    assert [len(api.named(n)) for n in (file_jwt, file_oauth)] == [1, 1]
