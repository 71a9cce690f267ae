"""Fixtures: a production org, apps with every option, and a real self-signed certificate."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from provisioner.model import (
    ApiSinkSpec,
    AppSpec,
    CallbackRef,
    CertificateSpec,
    CredentialSpec,
    Desired,
    ImportFileSinkSpec,
    OAuthPolicies,
    OrgSpec,
    RefreshTokenPolicy,
    SecretRef,
    SourceLocation,
    WorkflowInstanceSpec,
)

SRC = SourceLocation(Path("specs/test.yaml"), 1, 1)
CANARY_SECRET = "CANARY-consumer-secret-7f3a9d0c2b"


def make_org(name: str = "acme", environment: str = "production") -> OrgSpec:
    """An org with a My Domain URL."""
    return OrgSpec(
        name=name,
        environment=environment,  # type: ignore[arg-type]
        api_version="63.0",
        source=SRC,
        my_domain_url=f"https://{name}.my.salesforce.com",
    )


def make_app(app_type: str = "externalClientApp", **overrides: object) -> AppSpec:
    """An app using every option the tool manages."""
    values: dict[str, object] = dict(
        name="billing-sync",
        api_name="Billing_Sync",
        org="acme",
        app_type=app_type,
        label="Billing Sync & Reports",
        contact_email="integrations@example.com",
        contact_phone="+1 555 0100",
        description="Workflow² <-> Salesforce billing sync",
        source=SRC,
        callback_urls=("https://ops.example.com/oauth/callback", CallbackRef("wf")),
        scopes=("Api", "RefreshToken", "OfflineAccess", "Profile", "Email", "OpenID"),
        certificate=CertificateSpec(key_size=2048, validity_days=365),
        policies=OAuthPolicies(
            permitted_users="adminApprovedPreAuthorized",
            ip_relaxation="bypass2fa",
            refresh_token=RefreshTokenPolicy("specificLifetime", 90, "days"),
            session_timeout_minutes=120,
        ),
        pre_authorized_profiles=("System Administrator", "Integration User"),
        pre_authorized_permission_sets=("Billing_Integration", "API_Only"),
        credentials=(
            CredentialSpec(
                "jwt",
                "wf",
                "Salesforce JWT (billing)",
                "production",
                SRC,
                username="integration@acme.example",
            ),
            CredentialSpec("oauth2", "wf", "Salesforce OAuth2 (billing)", "production", SRC),
        ),
    )
    values.update(overrides)
    return AppSpec(**values)  # type: ignore[arg-type]


def make_desired(*apps: AppSpec) -> Desired:
    """A Desired with org ``acme``, sandbox org ``acme-sbx`` and Workflow² instances."""
    wf = WorkflowInstanceSpec(
        "wf", "https://wf.example.com/", ApiSinkSpec(), SRC, api_key=SecretRef("env", "WF_API_KEY")
    )
    wf2 = WorkflowInstanceSpec(
        "wf-files",
        "https://files.example.com",
        ImportFileSinkSpec(Path("out/creds.json"), SecretRef("env", "WF_ENC_KEY")),
        SRC,
    )
    orgs = {"acme": make_org("acme"), "acme-sbx": make_org("acme-sbx", "sandbox")}
    return Desired(orgs=orgs, instances={"wf": wf, "wf-files": wf2}, apps={a.name: a for a in apps})


@pytest.fixture(scope="session")
def certificate_pem() -> str:
    """A real self-signed certificate (RSA 2048, SHA-256), generated once per session."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "provisioner test")])
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()
