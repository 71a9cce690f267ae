"""Key and certificate generation, parsing and matching."""

from __future__ import annotations

import re
import string
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from provisioner.errors import ProvisionerError
from provisioner.keys import (
    KeyMaterial,
    KeyMaterialError,
    KeyRequest,
    certificate_info,
    generate_consumer_key,
    generate_consumer_secret,
    generate_key_material,
    generate_many,
    key_matches_certificate,
    load_private_key,
)
from provisioner.secret import Secret

NOW = datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def material() -> KeyMaterial:
    return generate_key_material("acme-sync", 2048, 90, now=NOW)


def _pem_key(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, fmt: str = "pkcs8") -> Secret:
    private_format = {
        "pkcs8": serialization.PrivateFormat.PKCS8,
        "pkcs1": serialization.PrivateFormat.TraditionalOpenSSL,
    }[fmt]
    pem = key.private_bytes(
        serialization.Encoding.PEM, private_format, serialization.NoEncryption()
    )
    return Secret(pem.decode())


def test_private_key_is_pkcs8_and_certificate_fields(material: KeyMaterial) -> None:
    assert material.private_key.reveal().startswith("-----BEGIN PRIVATE KEY-----\n")
    assert material.certificate_pem.startswith("-----BEGIN CERTIFICATE-----\n")
    cert = x509.load_pem_x509_certificate(material.certificate_pem.encode())
    assert cert.version is x509.Version.v3
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    assert cert.subject == cert.issuer
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "acme-sync"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "provisioner"
    public_key = cert.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    assert public_key.public_numbers().e == 65537
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca is False
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign and not usage.key_encipherment
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(public_key)
    assert 0 < cert.serial_number < 2**159
    assert cert.serial_number.bit_length() > 100  # random, not a counter


def test_validity_window_uses_now_with_clock_skew(material: KeyMaterial) -> None:
    info = material.certificate
    start = NOW.replace(microsecond=0)
    assert info.not_before == start - timedelta(minutes=5)
    assert info.not_after == start + timedelta(days=90)
    assert info.not_before.tzinfo is not None and info.not_before.utcoffset() == timedelta(0)


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        generate_key_material("x", 2048, 1, now=datetime(2026, 1, 1))


def test_info_is_stable_and_matches_certificate(material: KeyMaterial) -> None:
    info = material.certificate
    again = certificate_info(material.certificate_pem)
    assert again == info
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", info.fingerprint)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", info.public_key_fingerprint)
    assert info.fingerprint != info.public_key_fingerprint
    cert = x509.load_pem_x509_certificate(material.certificate_pem.encode())
    assert info.fingerprint == "sha256:" + cert.fingerprint(hashes.SHA256()).hex()
    assert info.serial == format(cert.serial_number, "x")
    assert info.subject == "O=provisioner,CN=acme-sync"
    assert info.key_size == 2048


@pytest.mark.parametrize("size", [3072, 4096])
def test_larger_key_sizes(size: int) -> None:
    m = generate_key_material("big", size, 1, now=NOW)
    assert m.certificate.key_size == size
    assert load_private_key(m.private_key, what="k").key_size == size


@pytest.mark.parametrize(
    ("size", "days", "needle"), [(1024, 30, "key size"), (2048, 0, "validity")]
)
def test_bad_requests(size: int, days: int, needle: str) -> None:
    with pytest.raises(KeyMaterialError, match=needle) as info:
        generate_key_material("app", size, days)
    assert isinstance(info.value, ProvisionerError) and info.value.hint


def test_long_subject_is_cut_to_the_x509_limit() -> None:
    m = generate_key_material("a" * 100, 2048, 1, now=NOW)
    assert m.certificate.subject == "O=provisioner,CN=" + "a" * 64


def test_key_matches_its_certificate_only(material: KeyMaterial) -> None:
    assert key_matches_certificate(material.private_key, material.certificate_pem)
    other = generate_key_material("other", 2048, 1, now=NOW)
    assert not key_matches_certificate(other.private_key, material.certificate_pem)
    assert not key_matches_certificate(material.private_key, other.certificate_pem)


def test_pkcs1_key_is_accepted(material: KeyMaterial) -> None:
    key = load_private_key(material.private_key, what="k")
    assert key_matches_certificate(_pem_key(key, "pkcs1"), material.certificate_pem)


@pytest.mark.parametrize(
    "garbage", ["", "hello", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"]
)
def test_certificate_info_on_garbage(garbage: str) -> None:
    with pytest.raises(KeyMaterialError, match=r"not a PEM X\.509 certificate") as info:
        certificate_info(garbage)
    assert "BEGIN CERTIFICATE" in (info.value.hint or "")


def _load_error(secret: Secret) -> KeyMaterialError:
    with pytest.raises(KeyMaterialError) as info:
        load_private_key(secret, what="the private key of org acme (file keys/deploy.pem)")
    err = info.value
    assert "the private key of org acme (file keys/deploy.pem)" in err.message
    assert err.hint
    return err


def test_load_errors_name_the_key_and_the_fix(material: KeyMaterial) -> None:
    body = material.private_key.reveal()
    # A stretch of base64 from the real key: it must not leak into any message.
    canary = body.splitlines()[3]

    not_pem = _load_error(Secret("just some text"))
    assert "not a PEM private key" in not_pem.message

    cert = _load_error(Secret(material.certificate_pem))
    assert "CERTIFICATE" in cert.message and "not a private key" in cert.message

    truncated = _load_error(Secret(body[: len(body) // 2] + "\n-----END PRIVATE KEY-----\n"))
    assert "cannot be parsed" in truncated.message

    key = load_private_key(material.private_key, what="k")
    enc = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pass phrase"),
    ).decode()
    encrypted = _load_error(Secret(enc))
    assert "encrypted" in encrypted.message and "openssl" in (encrypted.hint or "")

    ec_key = _load_error(_pem_key(ec.generate_private_key(ec.SECP256R1())))
    assert "is not an RSA key (EC)" in ec_key.message

    short = _load_error(_pem_key(rsa.generate_private_key(65537, 1024)))
    assert "1024 bits" in short.message and "2048" in (short.hint or "")

    for err in (not_pem, cert, truncated, encrypted, ec_key, short):
        assert canary not in err.diagnostics()
        assert "PRIVATE KEY-----" not in err.diagnostics()


def test_generate_many_gives_distinct_keys_under_each_name() -> None:
    requests = [KeyRequest(f"app{i}", f"app{i}", 2048, 30, NOW) for i in range(6)]
    result = generate_many(requests, max_workers=3)
    assert sorted(result) == [f"app{i}" for i in range(6)]
    assert len({m.certificate.public_key_fingerprint for m in result.values()}) == 6
    for name, m in result.items():
        assert m.certificate.subject.endswith("CN=" + name)
        assert m.certificate.not_after == NOW.replace(microsecond=0) + timedelta(days=30)
        assert key_matches_certificate(m.private_key, m.certificate_pem)


def test_generate_many_serial_path_and_duplicate_names() -> None:
    one = generate_many([KeyRequest("solo", "solo")], max_workers=4)
    assert list(one) == ["solo"]
    with pytest.raises(ValueError, match="unique"):
        generate_many([KeyRequest("a", "a"), KeyRequest("a", "b")])
    with pytest.raises(KeyMaterialError):
        generate_many([KeyRequest("a", "a", key_size=1000)])
    assert generate_many([]) == {}


def test_consumer_key_shape_and_uniqueness() -> None:
    keys = {generate_consumer_key() for _ in range(200)}
    assert len(keys) == 200
    alphabet = set(string.ascii_letters + string.digits)
    for key in keys:
        assert 8 <= len(key) <= 256 and len(key) == 85
        assert set(key) <= alphabet
        assert key.startswith("PRV1")


def test_consumer_secret_shape_and_uniqueness() -> None:
    values = [generate_consumer_secret() for _ in range(200)]
    assert all(isinstance(v, Secret) for v in values)
    plain = {v.reveal() for v in values}
    assert len(plain) == 200
    for v in plain:
        assert re.fullmatch(r"[0-9A-F]{64}", v)
    assert "(sensitive)" in repr(values[0]) and values[0].reveal() not in repr(values[0])
