"""The Workflow² target's rules the engine asks: which changes replace a record's data, which
drop a connected OAuth token, and the fields a record holds (the planner decides each change
once from these; tests/engine covers the decisions end to end)."""

from __future__ import annotations

from provisioner.model import CredentialSpec, SourceLocation
from provisioner.secret import Secret
from provisioner.workflow2 import JWT_TYPE, OAUTH2_TYPE, TARGET

SRC = SourceLocation.__new__(SourceLocation)


def cred(kind: str, **kw: object) -> CredentialSpec:
    from pathlib import Path

    base: dict[str, object] = {"type": kind, "instance": "wf", "name": f"SF {kind}",
                               "environment": "production", "source": SourceLocation(Path("s"))}
    base.update(kw)
    return CredentialSpec(**base)  # type: ignore[arg-type]


def test_record_types_and_secret_fields() -> None:
    assert TARGET.record_type("jwt") == JWT_TYPE and TARGET.secret_field("jwt") == "privateKey"
    assert TARGET.record_type("oauth2") == OAUTH2_TYPE
    assert TARGET.secret_field("oauth2") == "clientSecret"


def test_a_changed_jwt_record_is_replaced_whole_to_drop_the_cached_session() -> None:
    assert TARGET.replaces_data("jwt", ["privateKey"])
    assert TARGET.replaces_data("jwt", ["username"])
    assert not TARGET.replaces_data("jwt", ["name"])  # a rename keeps the data
    assert not TARGET.reconnect_needed("jwt", ["privateKey"])  # nothing a person connected


def test_oauth2_token_is_kept_unless_the_client_changes() -> None:
    assert not TARGET.replaces_data("oauth2", ["environment"])
    assert not TARGET.reconnect_needed("oauth2", ["environment", "name"])
    for changed in (["clientSecret"], ["clientId"], ["environment", "clientSecret"]):
        assert TARGET.replaces_data("oauth2", changed)
        assert TARGET.reconnect_needed("oauth2", changed)


def test_public_fields_and_records() -> None:
    jwt = cred("jwt", username="int@acme.test")
    assert TARGET.public_fields(jwt, "ck", "https://acme.my.salesforce.com/") == {
        "environment": "production", "clientId": "ck", "username": "int@acme.test",
        "myDomainUrl": "https://acme.my.salesforce.com"}
    assert TARGET.public_fields(cred("oauth2"), "ck", None) == {
        "environment": "production", "clientId": "ck"}
    record = TARGET.build_record(record_id=TARGET.derive_record_id("wf", "SF jwt"), cred=jwt,
                                 client_id="ck", secret=Secret("k"), my_domain_url=None,
                                 schema=None)
    assert record.type == JWT_TYPE and record.secret_fields == {"privateKey"}
    assert len(record.id) == 16 and record.id == TARGET.derive_record_id("wf", "SF jwt")


def test_connect_link_and_connection() -> None:
    assert TARGET.connect_link("https://wf.example.com/", "pv1") == (
        "https://wf.example.com/home/credentials/pv1")
    assert TARGET.is_connected({"oauthTokenData": {"access_token": "x"}})
    assert not TARGET.is_connected({"clientId": "ck"})
