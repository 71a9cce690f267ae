"""Failures against the real server are clear and lose nothing: a wrong API key, a record the
server's schema refuses, and the server going down in the middle of an apply.
"""

from __future__ import annotations

from typing import Any

import pytest

from provisioner.model import WorkflowInstanceSpec
from provisioner.sinks import SinkFactory, SinkOptions, WriteOp, sink_registered
from provisioner.targets import target_registered
from provisioner.workflow2 import OAUTH2_TYPE, CredentialRecord, Workflow2Client, Workflow2Target
from provisioner.workflow2.sink import ApiSink, build_api_sink
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


class UnknownFieldTarget(Workflow2Target):
    """Workflow² records as a build for another server version would make OAuth2 ones: with one
    field (``organizationId``) that this server's schema does not have."""

    def build_record(self, **kw: Any) -> CredentialRecord:
        record = super().build_record(**kw)
        if record.type != OAUTH2_TYPE:
            return record
        return CredentialRecord(record.id, record.name, record.type,
                                {**record.data, "organizationId": "00D000000000001"})


class TrustingClient(Workflow2Client):
    """A client that leaves every schema check to the server."""

    def validate(self, record: CredentialRecord) -> None:
        return None


def trusting_api_sink(spec: WorkflowInstanceSpec, target: Any, options: SinkOptions) -> ApiSink:
    """The API sink, with a client that skips provisioner's own schema check."""
    assert spec.api_key is not None
    return ApiSink(TrustingClient(spec.base_url, spec.api_key.resolve(options.environ),
                                  instance_name=spec.name, observer=options.observer))


def test_schema_rejection_locally_then_by_the_server_then_converges(
    e2e: E2E, api: Api
) -> None:
    jwt_id, oauth_id = e2e.record_id(e2e.jwt_name), e2e.record_id(e2e.oauth_name)
    with target_registered(UnknownFieldTarget()):
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
        with sink_registered(SinkFactory("api", trusting_api_sink, remote=True)):
            remote = e2e.apply()
            assert remote.code == 1, remote
            assert (f"Workflow² instance {e2e.instance!r} ({e2e.server.base_url}) refused to "
                    f"create credential {e2e.oauth_name!r} (HTTP 400)") in remote.stderr
            assert 'additional property "organizationId"' in remote.stderr
            assert "hint: the record does not match the server's schema" in remote.stderr
            assert [(c.method, c.name) for c in remote.record_writes()] == [
                ("POST", e2e.oauth_name)]
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
    e2e: E2E, api: Api
) -> None:
    saved = e2e.root / "plan.json"
    planned = e2e.plan("--out", saved)
    assert planned.code == 2, planned
    jwt_id, oauth_id = e2e.record_id(e2e.jwt_name), e2e.record_id(e2e.oauth_name)
    server = e2e.server

    class OutageSink(ApiSink):
        """The server goes away after the JWT record, before the OAuth2 one."""

        def write(self, record: CredentialRecord, op: WriteOp) -> str:
            if record.name == e2e.oauth_name:
                server.stop()
            return super().write(record, op)

    def build(spec: WorkflowInstanceSpec, target: Any, options: SinkOptions) -> ApiSink:
        return OutageSink(build_api_sink(spec, target, options).client)

    try:
        with sink_registered(SinkFactory("api", build, remote=True)):
            failed = e2e.cli("apply", saved)
        assert failed.code == 1, failed
        assert "Error: 1 step(s) failed:" in failed.stderr
        assert (f"Workflow² instance {e2e.instance!r} ({server.base_url}) is unreachable while "
                "trying to create credential") in failed.stderr  # the plan decided: no re-read
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
