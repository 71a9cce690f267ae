"""n8n's at-rest encryption: round trips, OpenSSL compatibility, and secret-free failures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from provisioner.secret import Secret
from provisioner.workflow2.atrest import (
    DecryptionError,
    decrypt_data,
    decrypt_text,
    encrypt_data,
    encrypt_text,
)

KEY = Secret("n8n-test-key-0123456789")
# Skipped only on a developer machine without openssl; in CI a missing openssl fails the test.
needs_openssl = pytest.mark.skipif(
    shutil.which("openssl") is None and os.environ.get("CI") != "true", reason="openssl not found"
)


def test_round_trip_and_format() -> None:
    data = {"clientId": "3MVG9", "privateKey": "-----BEGIN PRIVATE KEY-----\nabc\n"}
    blob = encrypt_data(data, KEY)
    assert blob.startswith("U2FsdGVkX1")  # base64 of "Salted__"
    assert decrypt_data(blob, KEY) == data


def test_salt_makes_each_encryption_different() -> None:
    assert encrypt_text("same", KEY) != encrypt_text("same", KEY)
    fixed = b"\x01" * 8
    assert encrypt_text("same", KEY, salt=fixed) == encrypt_text("same", KEY, salt=fixed)


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 4000])
def test_padding_edges(size: int) -> None:
    text = "x" * size
    assert decrypt_text(encrypt_text(text, KEY), KEY) == text


@needs_openssl
def test_openssl_decrypts_ours(canary_encryption_key: str) -> None:
    data = {"clientSecret": "s3cr3t", "environment": "sandbox"}
    blob = encrypt_data(data, Secret(canary_encryption_key))
    out = subprocess.run(
        [
            "openssl",
            "enc",
            "-d",
            "-aes-256-cbc",
            "-md",
            "md5",
            "-a",
            "-A",
            "-pass",
            f"pass:{canary_encryption_key}",
        ],
        input=blob.encode(),
        capture_output=True,
        check=True,
    )
    assert json.loads(out.stdout) == data


@needs_openssl
def test_we_decrypt_openssl(canary_encryption_key: str) -> None:
    plain = '{"a":"b","n":1}'
    out = subprocess.run(
        [
            "openssl",
            "enc",
            "-aes-256-cbc",
            "-md",
            "md5",
            "-a",
            "-A",
            "-pass",
            f"pass:{canary_encryption_key}",
        ],
        input=plain.encode(),
        capture_output=True,
        check=True,
    )
    blob = out.stdout.decode().strip()
    assert blob.startswith("U2FsdGVkX1")
    assert decrypt_data(blob, Secret(canary_encryption_key)) == {"a": "b", "n": 1}


def test_wrong_key_fails_without_leaking(assert_no_canary, canary_encryption_key: str) -> None:
    blob = encrypt_data({"clientSecret": "CANARY-CLIENT-SECRET-x"}, KEY)
    with pytest.raises(DecryptionError) as info:
        decrypt_data(blob, Secret(canary_encryption_key))
    assert_no_canary(str(info.value), info.value.diagnostics(), extra=["CANARY-CLIENT-SECRET-x"])


@pytest.mark.parametrize("blob", ["not base64 !!", "aGVsbG8=", ""])
def test_garbage_is_a_clear_error(blob: str) -> None:
    with pytest.raises(DecryptionError):
        decrypt_text(blob, KEY)
