"""plan_record: what converging a record takes, from state's snapshot and the live record."""

from __future__ import annotations

from provisioner.secret import Secret
from provisioner.workflow2 import (
    JWT_TYPE,
    OAUTH2_TYPE,
    CredentialRecord,
    LiveRecord,
    build_oauth2_record,
    plan_record,
)


def oauth(secret: str = "s1", client_id: str = "ck", env: str = "production") -> CredentialRecord:
    return build_oauth2_record(
        id="pvo",
        name="SF OAuth2",
        environment=env,
        client_id=client_id,  # type: ignore[arg-type]
        client_secret=Secret(secret),
    )


LIVE = LiveRecord("pvo", "SF OAuth2", OAUTH2_TYPE)


def test_create_when_absent() -> None:
    change = plan_record(oauth(), None, None)
    assert (change.action, change.drift) == ("create", None)
    again = plan_record(oauth(), oauth().snapshot(), None)
    assert again.action == "create" and again.drift == "deleted outside provisioner"


def test_no_change_when_snapshot_matches() -> None:
    assert plan_record(oauth(), oauth().snapshot(), LIVE).action == "none"


def test_unknown_state_writes_everything_but_keeps_token() -> None:
    change = plan_record(oauth(), None, LIVE)
    assert change.action == "update"
    assert not change.replace and not change.reconnect_required


def test_secret_change_replaces_and_requires_reconnect() -> None:
    change = plan_record(oauth("s2"), oauth().snapshot(), LIVE)
    assert change.fields == ("clientSecret",)
    assert change.replace and change.reconnect_required


def test_environment_change_keeps_token_when_server_merges() -> None:
    change = plan_record(oauth(env="sandbox"), oauth().snapshot(), LIVE)
    assert change.fields == ("environment",) and not change.reconnect_required
    old = plan_record(oauth(env="sandbox"), oauth().snapshot(), LIVE, partial_update=False)
    assert old.reconnect_required  # 2.8.4 replaces all data on PATCH


def test_rename_and_type_drift() -> None:
    renamed = plan_record(
        oauth(), oauth().snapshot(), LiveRecord("pvo", "Hand-renamed", OAUTH2_TYPE)
    )
    assert renamed.fields == ("name",) and renamed.drift and "Hand-renamed" in renamed.drift
    assert not renamed.reconnect_required
    retyped = plan_record(oauth(), oauth().snapshot(), LiveRecord("pvo", "SF OAuth2", JWT_TYPE))
    assert "type" in retyped.fields and retyped.replace and retyped.drift


def test_live_data_beats_state() -> None:
    rec = oauth()
    live = LiveRecord("pvo", "SF OAuth2", OAUTH2_TYPE, dict(oauth("other").data))
    assert plan_record(rec, rec.snapshot(), live).fields == ("clientSecret",)


def test_a_changed_jwt_record_is_replaced_whole_to_drop_the_cached_session() -> None:
    def jwt(key: str) -> CredentialRecord:
        return CredentialRecord("pvj", "SF JWT", JWT_TYPE, {
            "environment": "production", "clientId": "ck", "username": "u@x",
            "privateKey": Secret(key)})

    live = LiveRecord("pvj", "SF JWT", JWT_TYPE)
    rotated = plan_record(jwt("new"), jwt("old").snapshot(), live)
    assert rotated.action == "update" and rotated.replace
    assert not rotated.reconnect_required  # nothing a person connected is lost
    renamed = plan_record(jwt("old"), {**jwt("old").snapshot(), "name": "before"}, live)
    assert renamed.fields == ("name",) and not renamed.replace
