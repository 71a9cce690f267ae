"""Drift made behind provisioner's back on the real server: plan shows it, apply repairs it in
place under the same deterministic ids.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import APP, E2E
from tests.e2e.observe import Api

pytestmark = pytest.mark.workflow2


def test_deleted_jwt_record_is_planned_with_a_rotation_and_restored_under_its_id(
    e2e: E2E, api: Api
) -> None:
    assert e2e.apply().code == 0
    jwt_id, oauth_id = e2e.record_id(e2e.jwt_name), e2e.record_id(e2e.oauth_name)
    oauth_before = api.get(oauth_id)
    api.delete(jwt_id)

    plan = e2e.plan()
    assert plan.code == 2, plan
    out = plan.stdout
    assert (f"+ credential.{e2e.instance}/{e2e.jwt_name} create (salesforceJwtApi, record "
            f"{jwt_id}, api sink)") in out
    assert "note: deleted outside provisioner: written again" in out
    # The key is never stored, so writing the record again takes a new one: a rotation.
    assert f"↻ app.{APP} rotate" in out
    assert (f"rotate: the Workflow² JWT credential '{e2e.instance}/{e2e.jwt_name}' is missing "
            "and writing it needs the private key, which provisioner never stores") in out
    assert "certificate: new key and certificate (private key: (sensitive))" in out
    assert f"credential.{e2e.instance}/{e2e.oauth_name} update" not in out
    assert plan.mutations() == [] and plan.org_writes() == []

    applied = e2e.apply()
    assert applied.code == 0, applied
    assert [(c.method, c.name) for c in applied.record_writes()] == [("POST", e2e.jwt_name)]
    assert f"tested by Workflow²: {e2e.instance}/{e2e.jwt_name}: OK" in applied.stdout
    restored = api.get(jwt_id)
    assert restored is not None and restored["name"] == e2e.jwt_name
    assert api.get(oauth_id) == oauth_before
    assert [len(api.named(n)) for n in (e2e.jwt_name, e2e.oauth_name)] == [1, 1]
    with e2e.org():
        assert api.test(jwt_id)["status"] == "OK"
    assert e2e.plan().code == 0


def test_renamed_record_is_planned_and_renamed_back_in_place(e2e: E2E, api: Api) -> None:
    assert e2e.apply().code == 0
    jwt_id = e2e.record_id(e2e.jwt_name)
    created = api.get(jwt_id)["createdAt"]  # type: ignore[index]
    by_hand = f"Renamed by hand {e2e.instance}"
    api.rename(jwt_id, by_hand, "salesforceJwtApi")

    plan = e2e.plan()
    assert plan.code == 2, plan
    out = plan.stdout
    assert (f"~ credential.{e2e.instance}/{e2e.jwt_name} update (salesforceJwtApi, record "
            f"{jwt_id}, api sink)") in out
    assert f'name: "{by_hand}" -> "{e2e.jwt_name}"' in out
    assert (f"note: renamed outside provisioner to {by_hand!r}: renamed back, its data "
            "untouched") in out
    # A rename is undone without the secret: no key rotation, the app is not touched.
    assert "rotate" not in out and f"app.{APP}" not in out

    applied = e2e.apply()
    assert applied.code == 0, applied
    assert [(c.method, c.path) for c in applied.record_writes()] == [
        ("PATCH", f"/api/v1/credentials/{jwt_id}")]
    assert "deploying" not in applied.stderr
    back = api.get(jwt_id)
    assert back is not None and back["name"] == e2e.jwt_name and back["createdAt"] == created
    with e2e.org():
        assert api.test(jwt_id)["status"] == "OK"  # the same key, still working
    assert api.named(by_hand) == []
    assert e2e.plan().code == 0
