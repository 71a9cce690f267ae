"""Seed loading: the readable YAML/JSON description of a fresh org, turned into org state.

The bootstrap External Client App is built here, with a private key generated on first start and
kept in the state dir, so the tool signs in to the sandbox with JWT bearer exactly as on a real org.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from .tlsgen import write_private

BOOTSTRAP_KEY_FILE = "bootstrap-key.pem"
SECRET_BOX_FILE = "secret-box.key"


class SeedError(ValueError):
    """The seed file cannot be read or lacks what the org needs."""


def load_seed(path: Path | None = None) -> dict[str, Any]:
    """Read a seed file (YAML or JSON), or the packaged default seed."""
    if path is None:
        text = resources.files("provisioner.sandbox").joinpath("default_seed.yaml").read_text()
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SeedError(f"cannot read seed file {path}: {exc.strerror}") from exc
    try:
        data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise SeedError(f"seed file {path or 'default'} is not valid YAML/JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("users"), list):
        raise SeedError(f"seed file {path or 'default'} needs a mapping with a 'users' list")
    return data


def new_id(prefix: str) -> str:
    """An 18-character Salesforce-style id with the given 3-character key prefix."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(15))


def hash_password(password: str) -> str:
    """Salted PBKDF2, so the state file never holds a usable password."""
    salt = secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 20_000).hex()
    return f"{salt}${digest}"


def check_password(password: str, stored: str | None) -> bool:
    """Constant-time comparison against :func:`hash_password` output."""
    if not stored or "$" not in stored:
        return False
    salt, digest = stored.split("$", 1)
    actual = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 20_000).hex()
    return hmac.compare_digest(actual, digest)


def secret_hash(secret: str) -> str:
    """Consumer secrets are random, so a plain SHA-256 is enough to compare without storing them."""
    return hashlib.sha256(secret.encode()).hexdigest()


class SecretBox:
    """Consumer secrets the org must return on read, sealed at rest (as Salesforce keeps them):
    the org file holds only ciphertext, the key is a 0600 file beside it."""

    def __init__(self, key: bytes) -> None:
        from cryptography.fernet import Fernet

        self._fernet = Fernet(key)

    @classmethod
    def in_dir(cls, state_dir: Path) -> SecretBox:
        """The state dir's box, its key made once."""
        from cryptography.fernet import Fernet

        path = state_dir / SECRET_BOX_FILE
        if not path.exists():
            write_private(path, Fernet.generate_key())
        return cls(path.read_bytes().strip())

    def seal(self, value: str) -> str:
        """Ciphertext of ``value``."""
        return self._fernet.encrypt(value.encode()).decode()

    def open(self, sealed: str) -> str:
        """The value sealed in ``sealed``."""
        return self._fernet.decrypt(sealed.encode()).decode()


def ensure_bootstrap_key(state_dir: Path) -> tuple[Path, str]:
    """Create (once) the bootstrap app's RSA key; return its path and a matching certificate PEM."""
    path = state_dir / BOOTSTRAP_KEY_FILE
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise SeedError(f"{path} does not hold an RSA private key")
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_private(path, pem)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "provisioner-sandbox-bootstrap")])
    now = dt.datetime.now(dt.timezone.utc)
    # The certificate is derived from the key each start; Salesforce ignores its expiry for JWT.
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(hashlib.sha256(path.read_bytes()).digest()[:8], "big"))
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return path, cert.public_bytes(serialization.Encoding.PEM).decode()


def bootstrap_components(seed: dict[str, Any], certificate: str) -> list[dict[str, Any]]:
    """The External Client App family of the bootstrap app, as seed components."""
    boot = seed.get("bootstrap") or {}
    name = str(boot.get("name", "Provisioner_Bootstrap"))
    label = str(boot.get("label", name))
    return [
        {"type": "ExternalClientApplication", "metadata": {
            "fullName": name, "label": label, "contactEmail": "admin@sandbox.provisioner.test",
            "distributionState": "Local", "isProtected": False}},
        {"type": "ExtlClntAppOauthSettings", "metadata": {
            "fullName": f"{name}_oauth", "externalClientApplication": name, "label": label,
            "commaSeparatedOauthScopes": ", ".join(boot.get("scopes", ["Api", "RefreshToken"]))}},
        {"type": "ExtlClntAppGlobalOauthSettings", "metadata": {
            "fullName": f"{name}_glbloauth", "externalClientApplication": name, "label": label,
            "callbackUrl": "https://localhost/callback", "certificate": certificate,
            "consumerKey": str(boot.get("consumerKey", "PROVISIONERSANDBOXBOOTSTRAP0001")),
            "consumerSecret": str(boot.get("consumerSecret", secrets.token_hex(16))),
            "isConsumerSecretOptional": False}},
        {"type": "ExtlClntAppOauthConfigurablePolicies", "metadata": {
            "fullName": f"{name}_oauthPlcy", "externalClientApplication": name, "label": label,
            "permittedUsersPolicyType": "AdminApprovedPreAuthorized",
            "commaSeparatedProfile": ", ".join(boot.get("profiles", ["System Administrator"])),
            "commaSeparatedPermissionSet": ", ".join(boot.get("permissionSets", [])),
            "ipRelaxationPolicyType": "Enforce", "refreshTokenPolicyType": "Infinite"}},
        {"type": "ExtlClntAppConfigurablePolicies", "metadata": {
            "fullName": f"{name}_plcy", "externalClientApplication": name, "label": label,
            "isEnabled": True, "isOauthPluginEnabled": True}},
    ]


def seed_users(seed: dict[str, Any]) -> list[dict[str, Any]]:
    """User records from the seed, passwords hashed."""
    users = []
    for raw in seed["users"]:
        if not isinstance(raw, dict) or "username" not in raw or "profile" not in raw:
            raise SeedError("every seed user needs a username and a profile")
        users.append(make_user(
            str(raw["username"]), str(raw["profile"]),
            permission_sets=[str(p) for p in raw.get("permissionSets", [])],
            permissions=[str(p) for p in raw.get("permissions", [])],
            active=bool(raw.get("active", True)),
            password=raw.get("password"),
            name=raw.get("name"),
            email=raw.get("email"),
        ))
    return users


def make_user(
    username: str,
    profile: str,
    *,
    permission_sets: list[str] | None = None,
    permissions: list[str] | None = None,
    active: bool = True,
    password: str | None = None,
    name: str | None = None,
    email: str | None = None,
) -> dict[str, Any]:
    """A user record as the org stores it."""
    return {
        "id": new_id("005"),
        "username": username,
        "name": name or username.split("@")[0],
        "email": email or username,
        "profile": profile,
        "permissionSets": list(permission_sets or []),
        "permissions": list(permissions or []),
        "active": active,
        "passwordHash": hash_password(password) if password else None,
        "approvedApps": [],
    }
