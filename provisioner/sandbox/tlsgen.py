"""The sandbox's own certificate authority and server certificate, kept in the state dir.

Clients verify TLS against ``ca.pem`` (``REQUESTS_CA_BUNDLE``, ``NODE_EXTRA_CA_CERTS``), so
verification stays on everywhere. The CA survives restarts; the server certificate is renewed
from it when it nears expiry, which keeps a trusted bundle valid across runs.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provisioner.fsutil import atomic_write, private_folder

CA_FILE = "ca.pem"
_CA_KEY = "ca-key.pem"
_SERVER_CERT = "server.pem"
_SERVER_KEY = "server-key.pem"


def write_private(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only, atomically (temp file then rename)."""
    atomic_write(path, data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _make_ca(state_dir: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "provisioner sandbox CA")])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(state_dir / _CA_KEY, _key_pem(key))
    write_private(state_dir / CA_FILE, cert.public_bytes(serialization.Encoding.PEM))
    os.chmod(state_dir / CA_FILE, 0o644)
    return key, cert


def _load_ca(state_dir: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key_path, cert_path = state_dir / _CA_KEY, state_dir / CA_FILE
    if key_path.exists() and cert_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if isinstance(key, ec.EllipticCurvePrivateKey) and cert.not_valid_after_utc > _now():
            return key, cert
    return _make_ca(state_dir)


def _server_cert_fresh(state_dir: Path, ca: x509.Certificate) -> bool:
    cert_path = state_dir / _SERVER_CERT
    if not (cert_path.exists() and (state_dir / _SERVER_KEY).exists()):
        return False
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return cert.issuer == ca.subject and cert.not_valid_after_utc > _now() + dt.timedelta(days=7)


def ensure_certificates(state_dir: Path) -> Path:
    """Create the CA and a server certificate for 127.0.0.1/localhost if missing or stale.

    Returns the path of the CA bundle clients must trust.
    """
    private_folder(state_dir)
    ca_key, ca_cert = _load_ca(state_dir)
    if _server_cert_fresh(state_dir, ca_cert):
        return state_dir / CA_FILE
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + dt.timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    write_private(state_dir / _SERVER_KEY, _key_pem(key))
    write_private(state_dir / _SERVER_CERT, cert.public_bytes(serialization.Encoding.PEM))
    return state_dir / CA_FILE


def server_context(state_dir: Path) -> ssl.SSLContext:
    """The TLS context the server wraps each accepted connection with."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(state_dir / _SERVER_CERT, state_dir / _SERVER_KEY)
    return ctx
