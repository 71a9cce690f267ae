"""Against the oldest supported Workflow² (n8n 2.8.4): a JWT record that server cannot use is
refused at plan, before anything is deployed; an OAuth2 record written through its API
converges (the second plan is clean)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import APP, E2E
from tests.e2e.observe import Api

pytestmark = pytest.mark.workflow2


def test_a_jwt_record_the_server_cannot_hold_is_refused_at_plan(e2e_oldest: E2E) -> None:
    lines = (e2e_oldest.specs / "specs.yaml").read_text().splitlines()
    cred_line = next(i for i, line in enumerate(lines, 1) if "- type: jwt" in line)
    result = e2e_oldest.plan()
    assert result.code == 1, result.all
    assert f"specs.yaml:{cred_line}:" in result.stderr
    assert ("has no field myDomainUrl in its 'salesforceJwtApi' credential (an older version); "
            "without it the server's JWT logins carry the login host as audience, which the "
            "External Client App refuses") in result.stderr
    assert "hint: upgrade Workflow²" in result.stderr
    # apply refuses the same way, before the deploy: the org has no app, the server no record.
    assert e2e_oldest.apply().code == 1
    with e2e_oldest.org() as org:
        assert org.org.app(APP) is None
    assert Api(e2e_oldest.server).named(e2e_oldest.jwt_name) == []


def test_an_oauth2_record_written_through_the_api_converges(e2e_oldest: E2E) -> None:
    e2e_oldest.write_specs(kinds=("oauth2",))
    first = e2e_oldest.apply()
    assert first.code == 0, first.all
    api = Api(e2e_oldest.server)
    assert len(api.named(e2e_oldest.oauth_name)) == 1
    again = e2e_oldest.plan()
    assert again.code == 0, again.all  # --detailed-exitcode: no changes
    assert "No changes." in again.stdout
    assert again.record_writes() == []
