"""Record building, redaction, fingerprints, change detection and secret-free validation."""

from __future__ import annotations

import re

import pytest

from provisioner.errors import PlanError, SpecError
from provisioner.secret import Secret
from provisioner.workflow2.bundled import bundled_schema
from provisioner.workflow2.records import (
    JWT_TYPE,
    OAUTH2_TYPE,
    CredentialRecord,
    build_jwt_record,
    build_oauth2_record,
    derive_credential_id,
    validate_record,
    validation_problems,
)

# n8n 2.8.4's OAuth2 schema wrongly requires the extra fields.
SCHEMA_284_OAUTH2 = {
    "additionalProperties": False,
    "type": "object",
    "properties": {
        "environment": {"type": "string", "enum": ["production", "sandbox"]},
        "clientId": {"type": "string"},
        "clientSecret": {"type": "string"},
        "serverUrl": {"type": "string"},
        "sendAdditionalBodyProperties": {"type": "boolean"},
        "additionalBodyProperties": {"type": "json"},
    },
    "required": ["serverUrl", "sendAdditionalBodyProperties", "additionalBodyProperties"],
}
# As n8n 2.41.1 serves it (captured): serverUrl is required only under dynamic registration.
SCHEMA_2411_OAUTH2 = {
    "additionalProperties": False,
    "type": "object",
    "properties": {
        "serverUrl": {"type": "string"},
        "clientId": {"type": "string"},
        "clientSecret": {"type": "string"},
        "sendAdditionalBodyProperties": {"type": "boolean"},
        "additionalBodyProperties": {"type": "json"},
        "allowedHttpRequestDomains": {"type": "string", "enum": ["all", "domains", "none"]},
        "allowedDomains": {"type": "string"},
        "oauthTokenData": {"type": "json"},
        "environment": {"type": "string", "enum": ["production", "sandbox"]},
    },
    "required": [],
    "allOf": [
        {
            "if": {
                "properties": {"useDynamicClientRegistration": {"enum": [True]}},
                "required": ["useDynamicClientRegistration"],
            },
            "then": {"allOf": [{"required": ["serverUrl"]}]},
        },
        {
            "if": {
                "properties": {"useDynamicClientRegistration": {"enum": [False]}},
                "required": ["useDynamicClientRegistration"],
            },
            "then": {"allOf": [{"required": ["clientId"]}, {"required": ["clientSecret"]}]},
        },
    ],
}
SCHEMA_284_JWT = {k: v for k, v in bundled_schema(JWT_TYPE).items()}
SCHEMA_284_JWT["properties"] = {
    k: v for k, v in SCHEMA_284_JWT["properties"].items() if k != "myDomainUrl"
}


def jwt(private_key: Secret, **kw: object) -> CredentialRecord:
    args: dict = dict(
        id=derive_credential_id("prod", "sf-jwt"),
        name="Salesforce JWT (acme)",
        environment="sandbox",
        client_id="3MVG9-consumer-key",
        username="integration@acme.test",
        private_key=private_key,
    )
    args.update(kw)
    return build_jwt_record(**args)


def test_derived_ids_are_stable_valid_and_distinct() -> None:
    a = derive_credential_id("prod", "sf-jwt")
    assert a == derive_credential_id("prod", "sf-jwt")
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,36}", a)
    assert a != derive_credential_id("prod", "sf-oauth")
    assert a != derive_credential_id("staging", "sf-jwt")


def test_invalid_id_is_a_spec_error() -> None:
    with pytest.raises(SpecError):
        CredentialRecord(id="has spaces", name="x", type=JWT_TYPE)
    with pytest.raises(SpecError):
        CredentialRecord(id="x" * 37, name="x", type=JWT_TYPE)


def test_jwt_record_fields_and_redaction(private_key: Secret, assert_no_canary) -> None:
    rec = jwt(private_key, my_domain_url="https://acme.my.salesforce.com/")
    assert rec.type == JWT_TYPE
    assert rec.revealed_data() == {
        "environment": "sandbox",
        "clientId": "3MVG9-consumer-key",
        "username": "integration@acme.test",
        "privateKey": private_key.reveal(),
        "myDomainUrl": "https://acme.my.salesforce.com",
    }
    red = rec.redacted()
    assert red["data"]["privateKey"] == "(sensitive)"
    assert red["data"]["clientId"] == "3MVG9-consumer-key"
    assert_no_canary(red, rec, rec.fingerprints(), str(rec.data))


def test_my_domain_url_only_when_given_and_supported(private_key: Secret) -> None:
    assert "myDomainUrl" not in jwt(private_key).data
    assert (
        "myDomainUrl"
        in jwt(
            private_key,
            my_domain_url="https://a.my.salesforce.com",
            schema=bundled_schema(JWT_TYPE),
        ).data
    )
    with pytest.raises(PlanError, match="myDomainUrl"):
        jwt(private_key, my_domain_url="https://a.my.salesforce.com", schema=SCHEMA_284_JWT)


def test_oauth2_extra_fields_only_when_schema_requires(client_secret: Secret) -> None:
    args = dict(
        id="pvo",
        name="Salesforce OAuth2",
        environment="production",
        client_id="3MVG9-oauth",
        client_secret=client_secret,
    )
    for schema in (bundled_schema(OAUTH2_TYPE), SCHEMA_2411_OAUTH2, None):
        modern = build_oauth2_record(**args, schema=schema)  # type: ignore[arg-type]
        assert set(modern.data) == {"environment", "clientId", "clientSecret"}
        assert validation_problems(modern, SCHEMA_2411_OAUTH2) == []
    legacy = build_oauth2_record(**args, schema=SCHEMA_284_OAUTH2)  # type: ignore[arg-type]
    assert legacy.revealed_data() == {
        "environment": "production",
        "clientId": "3MVG9-oauth",
        "clientSecret": client_secret.reveal(),
        "serverUrl": "",
        "sendAdditionalBodyProperties": False,
        "additionalBodyProperties": {},
    }
    assert validation_problems(legacy, SCHEMA_284_OAUTH2) == []
    assert validation_problems(legacy, bundled_schema(OAUTH2_TYPE)) == []


def test_fingerprints_are_per_secret_field(private_key: Secret) -> None:
    prints = jwt(private_key).fingerprints()
    assert set(prints) == {"privateKey"}
    assert prints["privateKey"] == private_key.fingerprint()
    assert prints["privateKey"].startswith("sha256:")



def test_validation_quotes_no_secret(private_key: Secret, assert_no_canary) -> None:
    bad = CredentialRecord(
        "pv-bad",
        "bad",
        JWT_TYPE,
        {"environment": "moon", "clientId": "c", "privateKey": private_key, "foo": "bar"},
    )
    problems = validation_problems(bad, bundled_schema(JWT_TYPE))
    text = "\n".join(problems)
    assert "username" in text and "required" in text
    assert "foo" in text
    assert "must be one of ['production', 'sandbox']" in text
    with pytest.raises(SpecError) as info:
        validate_record(bad, bundled_schema(JWT_TYPE))
    assert_no_canary(text, info.value.diagnostics())
    wrong_type = CredentialRecord(
        "pv-bad",
        "bad",
        JWT_TYPE,
        {"clientId": "c", "username": "u", "privateKey": {"k": private_key.reveal()}},
    )
    assert_no_canary("\n".join(validation_problems(wrong_type, bundled_schema(JWT_TYPE))))


def test_bundled_schema_unknown_type() -> None:
    with pytest.raises(SpecError, match="does not know"):
        bundled_schema("slackApi")
