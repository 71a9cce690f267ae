"""Helpers the sandbox tests share: JWT logins, keys and certificates, app builders, zips."""

from __future__ import annotations

import base64
import datetime as dt
import functools
import io
import time
import zipfile
from typing import Any

import jwt
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from simple_salesforce import Salesforce

from provisioner.sandbox import SandboxServer

API_VERSION = "63.0"
DEPLOY_PASSWORD = "sandbox-deploy-Passw0rd"
BOOTSTRAP_SECRET = "SandboxBootstrapSecret0001"
INTEGRATION_USER = "integration@sandbox.provisioner.test"
DEPLOY_USER = "deploy@sandbox.provisioner.test"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def assertion(client_id: str, username: str, key_pem: bytes | str, aud: Any,
              exp: Any = None) -> str:
    """A JWT bearer assertion, signed as the tool signs it."""
    claims = {"iss": client_id, "sub": username, "aud": aud,
              "exp": int(time.time()) + 120 if exp is None else exp}
    return jwt.encode(claims, key_pem, algorithm="RS256")


_SESSION = requests.Session()  # keep-alive: a TLS handshake per token request is slow


def token_request(url: str, data: dict[str, str]) -> requests.Response:
    """POST to the sandbox token endpoint (TLS verified through REQUESTS_CA_BUNDLE)."""
    return _SESSION.post(f"{url}/services/oauth2/token", data=data, timeout=120)  # bounded, generous on a busy machine


def jwt_login(srv: SandboxServer, client_id: str | None = None, username: str | None = None,
              key_pem: bytes | None = None, aud: Any = None,
              exp: Any = None) -> requests.Response:
    """A JWT bearer token exchange; defaults are the deploy credentials and My Domain audience."""
    creds = srv.deploy_credentials()
    return token_request(srv.url, {
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "assertion": assertion(client_id or creds.client_id, username or creds.username,
                               key_pem or creds.private_key_path.read_bytes(), aud or srv.url, exp),
    })


def client_for(srv: SandboxServer, token: str | None = None) -> Salesforce:
    """An unmodified simple-salesforce client with a session from a JWT bearer login."""
    if token is None:
        resp = jwt_login(srv)
        assert resp.status_code == 200, resp.text
        token = resp.json()["access_token"]
    return Salesforce(instance_url=srv.url, session_id=token, version=API_VERSION)




@functools.lru_cache(maxsize=4)
def keypair(n: int = 0) -> tuple[bytes, str]:
    """(private key PEM, self-signed certificate PEM) number ``n``, generated once per session."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"test-{n}")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=365))
            .sign(key, hashes.SHA256()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return pem, cert.public_bytes(serialization.Encoding.PEM).decode()


def eca_components(sf: Salesforce, name: str, *, key: str, cert: str | None,
                   profiles: str = "Integration User", permission_sets: str = "",
                   policy: str = "AdminApprovedPreAuthorized",
                   scopes: str = "Api, RefreshToken, OfflineAccess") -> dict[str, Any]:
    """The five zeep objects of an External Client App, by type name."""
    md = sf.mdapi
    return {
        "ExternalClientApplication": md.ExternalClientApplication(
            fullName=name, label=name, contactEmail="team@example.com", distributionState="Local"),
        "ExtlClntAppOauthSettings": md.ExtlClntAppOauthSettings(
            fullName=f"{name}_oauth", externalClientApplication=name, label=name,
            commaSeparatedOauthScopes=scopes),
        "ExtlClntAppGlobalOauthSettings": md.ExtlClntAppGlobalOauthSettings(
            fullName=f"{name}_glbloauth", externalClientApplication=name, label=name,
            callbackUrl="https://workflow.example.com/rest/oauth2-credential/callback",
            certificate=cert, consumerKey=key, consumerSecret="Secret" + key),
        "ExtlClntAppOauthConfigurablePolicies": md.ExtlClntAppOauthConfigurablePolicies(
            fullName=f"{name}_oauthPlcy", externalClientApplication=name, label=name,
            permittedUsersPolicyType=policy, commaSeparatedProfile=profiles,
            commaSeparatedPermissionSet=permission_sets, ipRelaxationPolicyType="Enforce",
            refreshTokenPolicyType="Infinite"),
        "ExtlClntAppConfigurablePolicies": md.ExtlClntAppConfigurablePolicies(
            fullName=f"{name}_plcy", externalClientApplication=name, label=name, isEnabled=True,
            isOauthPluginEnabled=True),
    }


def create_eca(sf: Salesforce, name: str, **kwargs: Any) -> None:
    """Create a whole External Client App through createMetadata, parent first."""
    for type_name, obj in eca_components(sf, name, **kwargs).items():
        getattr(sf.mdapi, type_name).create([obj])


def connected_app(sf: Salesforce, name: str, *, key: str | None = None, cert: str | None = None,
                  profiles: tuple[str, ...] = ("Integration User",), admin: bool = True,
                  scopes: tuple[str, ...] = ("Api", "RefreshToken", "OfflineAccess")) -> Any:
    """A ConnectedApp zeep object."""
    md = sf.mdapi
    return md.ConnectedApp(
        fullName=name, label=name, contactEmail="team@example.com",
        oauthConfig=md.ConnectedAppOauthConfig(
            callbackUrl="https://workflow.example.com/rest/oauth2-credential/callback",
            certificate=cert, consumerKey=key, consumerSecret=("Secret" + key) if key else None,
            isAdminApproved=admin, scopes=list(scopes)),
        oauthPolicy=md.ConnectedAppOauthPolicy(ipRelaxation="ENFORCE",
                                               refreshTokenPolicy="infinite"),
        profileName=list(profiles))


def build_zip(files: dict[str, str], types: dict[str, list[str]] | None = None,
              destructive: dict[str, list[str]] | None = None) -> bytes:
    """A deploy zip with package.xml at its root."""
    def package(entries: dict[str, list[str]]) -> str:
        body = "".join("<types>" + "".join(f"<members>{m}</members>" for m in members)
                       + f"<name>{t}</name></types>" for t, members in entries.items())
        return ('<?xml version="1.0" encoding="UTF-8"?>'
                f'<Package xmlns="http://soap.sforce.com/2006/04/metadata">{body}'
                "<version>63.0</version></Package>")

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("package.xml", package(types or {}))
        if destructive:
            zf.writestr("destructiveChanges.xml", package(destructive))
        for path, text in files.items():
            zf.writestr(path, text)
    return buf.getvalue()


def md_file(type_name: str, body: str) -> str:
    """One metadata file of a deploy package."""
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            f'<{type_name} xmlns="http://soap.sforce.com/2006/04/metadata">{body}</{type_name}>')


def wait_deploy(sf: Salesforce, job_id: str, timeout: float = 120.0) -> dict[str, Any]:
    """Poll checkDeployStatus (bounded) until the deploy is done."""
    deadline = time.monotonic() + timeout
    while True:
        status = sf.checkDeployStatus(job_id)
        if status["state"] not in {"Pending", "InProgress"} or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def b64(data: bytes) -> str:
    """Base64 text."""
    return base64.b64encode(data).decode()
