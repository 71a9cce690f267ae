"""The Metadata API's SOAP calls (zeep) go through the same policy session as every call."""

from __future__ import annotations

from pathlib import Path

from provisioner.httppolicy import PolicySession
from provisioner.salesforce.connection import connect
from tests.salesforce.conftest import sandbox_org


def test_zeep_sends_through_the_policy_session(tmp_path: Path) -> None:
    with connect(sandbox_org(tmp_path / "sb")) as conn:
        client = conn.sf.mdapi._client
        assert isinstance(client.transport.session, PolicySession)
        assert client.transport.session is conn.sf.session  # one session, one policy
        conn.call("listMetadata", lambda sf: sf.mdapi.list_metadata(
            [sf.mdapi.ListMetadataQuery(type="ExternalClientApplication")]))
