"""Failures against the real server are clear and lose nothing: a wrong API key, a record the
server's schema refuses, and the server going down in the middle of an apply.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import API_KEY_ENV, APP, E2E
from tests.e2e.observe import Api

pytestmark = pytest.mark.workflow2


def test_wrong_api_key_fails_before_any_write_and_names_the_key(
    e2e: E2E, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "n8n_api_CANARYWRONGKEY" + "0123456789abcdef" * 2
    e2e.canaries.add("the wrong API key", wrong)
    monkeypatch.setenv(API_KEY_ENV, wrong)
    for run in (e2e.plan(), e2e.apply()):
        assert run.code == 1, run
        assert (f"Error: Workflow² instance {e2e.instance!r} ({e2e.server.base_url}) rejected "
                "the API key (HTTP 401)") in run.stderr
        assert "hint: check the API key the spec references" in run.stderr
        assert "Traceback" not in run.all
        assert run.org_writes() == [] and run.record_writes() == []
    assert api.named(e2e.jwt_name) == [] and api.named(e2e.oauth_name) == []
    assert not e2e.state_path.exists() or "apps\": {}" in e2e.state_path.read_text()

    monkeypatch.setenv(API_KEY_ENV, e2e.server.api_key)  # the key fixed: apply converges
    fixed = e2e.apply()
    assert fixed.code == 0, fixed
    assert len(api.named(e2e.jwt_name)) == 1


def _with_unknown_field(real: Any) -> Any:
    """``build_oauth2_record`` as a build for another server version would make it: one field
    (``organizationId``) that this server's schema does not have."""

    def build(**kw: Any) -> Any:
        from provisioner.workflow2.records import CredentialRecord

        record = real(**kw)
        return CredentialRecord(record.id, record.name, record.type,
                                {**record.data, "organizationId": "00D000000000001"})

    return build


def test_schema_rejection_locally_then_by_the_server_then_converges(
    e2e: E2E, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    import provisioner.workflow2.records as records
    from provisioner.workflow2.api import Workflow2Client

    jwt_id, oauth_id = e2e.record_id(e2e.jwt_name), e2e.record_id(e2e.oauth_name)
    with monkeypatch.context() as patch:
        patch.setattr(records, "build_oauth2_record", _with_unknown_field(records.build_oauth2_record))
        # 1. provisioner checks each record against the server's own schema before sending it.
        local = e2e.apply()
        assert local.code == 1, local
        assert "Error: 1 step(s) failed:" in local.stderr
        assert (f"credential {e2e.oauth_name!r} (salesforceOAuth2Api) does not match the "
                f"Workflow² instance {e2e.instance!r} ({e2e.server.base_url}) schema: data: "
                "Additional properties are not allowed ('organizationId' was unexpected)"
                in local.stderr)
        assert "hint: fix the credential fields" in local.stderr
        assert "Traceback" not in local.all
        assert not [c for c in local.calls if c.name == e2e.oauth_name]  # never sent
        # The JWT record, written before, is kept, reported and recorded.
        assert f"wrote: Workflow² credential {e2e.instance}/{e2e.jwt_name}" in local.stdout
        assert f"tested by Workflow²: {e2e.instance}/{e2e.jwt_name}: OK" in local.stdout
        jwt_stamp = api.get(jwt_id)["updatedAt"]  # type: ignore[index]
        assert f"{e2e.instance}/{e2e.jwt_name}" in e2e.app_state()["credentials"]

        # 2. Skip that check: the server itself refuses the record, in its own words.
        patch.setattr(Workflow2Client, "validate", lambda self, record: None)
        remote = e2e.apply()
        assert remote.code == 1, remote
        assert (f"Workflow² instance {e2e.instance!r} ({e2e.server.base_url}) refused to "
                f"create credential {e2e.oauth_name!r} (HTTP 400)") in remote.stderr
        assert 'additional property "organizationId"' in remote.stderr
        assert "hint: the record does not match the server's schema" in remote.stderr
        assert [(c.method, c.name) for c in remote.record_writes()] == [("POST", e2e.oauth_name)]
    assert api.get(oauth_id) is None  # nothing half-made on the server
    assert api.get(jwt_id)["updatedAt"] == jwt_stamp  # type: ignore[index]

    # 3. A normal run converges: the OAuth2 record under its id; the JWT record untouched.
    plan = e2e.plan()
    assert plan.code == 2, plan
    assert f"credential.{e2e.instance}/{e2e.oauth_name} create" in plan.stdout
    assert f"credential.{e2e.instance}/{e2e.jwt_name}" not in plan.stdout.split("connection")[0]
    fixed = e2e.apply()
    assert fixed.code == 0, fixed
    assert [(c.method, c.name) for c in fixed.record_writes()] == [("POST", e2e.oauth_name)]
    assert api.get(oauth_id)["name"] == e2e.oauth_name  # type: ignore[index]
    assert api.get(jwt_id)["updatedAt"] == jwt_stamp  # type: ignore[index]
    assert [len(api.named(n)) for n in (e2e.jwt_name, e2e.oauth_name)] == [1, 1]
    assert e2e.plan().code == 0


def test_server_down_mid_apply_is_clear_and_the_next_apply_converges(
    e2e: E2E, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from provisioner.workflow2.sink import ApiSink

    saved = e2e.root / "plan.json"
    planned = e2e.plan("--out", saved)
    assert planned.code == 2, planned
    jwt_id, oauth_id = e2e.record_id(e2e.jwt_name), e2e.record_id(e2e.oauth_name)
    real_write = ApiSink.write
    server = e2e.server

    def write(self: ApiSink, records: Any, previous: Any = None) -> Any:
        if any(r.name == e2e.oauth_name for r in records):
            server.stop()  # the server goes away after the JWT record, before the OAuth2 one
        return real_write(self, records, previous)

    try:
        with monkeypatch.context() as patch:
            patch.setattr(ApiSink, "write", write)
            failed = e2e.cli("apply", saved)
        assert failed.code == 1, failed
        assert "Error: 1 step(s) failed:" in failed.stderr
        assert (f"Workflow² instance {e2e.instance!r} ({server.base_url}) is unreachable while "
                "trying to read credential") in failed.stderr
        assert "rerun when it is up (records already written are kept" in failed.stderr
        assert "Traceback" not in failed.all
        assert failed.org_writes() == ["deploy"]
        assert f"wrote: Workflow² credential {e2e.instance}/{e2e.jwt_name}" in failed.stdout
        # The unfinished write is journaled next to the state (scanned for secrets at the end).
        assert e2e.state_path.with_name("state.json.journal").exists()
    finally:
        server.start()

    # Nothing was lost: the JWT record written before the outage is on the server and in state.
    assert api.get(jwt_id)["name"] == e2e.jwt_name  # type: ignore[index]
    jwt_stamp = api.get(jwt_id)["updatedAt"]  # type: ignore[index]
    assert api.get(oauth_id) is None
    assert e2e.app_state()["credentials"][f"{e2e.instance}/{e2e.jwt_name}"]["recordId"] == jwt_id

    again = e2e.apply()
    assert again.code == 0, again
    assert "recovered:" in again.stderr  # the interrupted run's journal was read first
    assert [(c.method, c.name) for c in again.record_writes()] == [("POST", e2e.oauth_name)]
    assert api.get(jwt_id)["updatedAt"] == jwt_stamp  # type: ignore[index]
    assert [len(api.named(n)) for n in (e2e.jwt_name, e2e.oauth_name)] == [1, 1]
    assert {c["id"] for c in api.credentials() if c["name"] in (e2e.jwt_name, e2e.oauth_name)} == {
        jwt_id, oauth_id}
    with e2e.org():
        assert api.test(jwt_id)["status"] == "OK"
    assert e2e.app_state()["consumerKey"]
    assert e2e.plan().code == 0
    assert APP in e2e.state()["apps"]
