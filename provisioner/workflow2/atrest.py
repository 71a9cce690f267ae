"""n8n's at-rest encryption of credential data (the OpenSSL ``Salted__`` format).

n8n encrypts a credential's ``data`` (its JSON text) with AES-256-CBC, deriving key and IV from
``N8N_ENCRYPTION_KEY`` and a random 8-byte salt with OpenSSL's ``EVP_BytesToKey`` (MD5, one
round), and stores base64 of ``b"Salted__" + salt + ciphertext``. The result is what
``openssl enc -aes-256-cbc -md md5 -a -A -pass pass:KEY`` produces and decrypts, and what
``n8n import:credentials`` accepts as ``data``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from provisioner.errors import ProvisionerError
from provisioner.secret import Secret

_MAGIC = b"Salted__"
_KEY_LEN, _IV_LEN, _SALT_LEN = 32, 16, 8


class DecryptionError(ProvisionerError):
    """Encrypted credential data cannot be decrypted with the given key (or is not n8n's format)."""


def _evp_bytes_to_key(password: bytes, salt: bytes) -> tuple[bytes, bytes]:
    """OpenSSL EVP_BytesToKey with MD5 and one iteration: 32-byte key, 16-byte IV."""
    derived, block = b"", b""
    while len(derived) < _KEY_LEN + _IV_LEN:
        # MD5 is what the format prescribes, not a security choice of ours.
        block = hashlib.md5(block + password + salt, usedforsecurity=False).digest()
        derived += block
    return derived[:_KEY_LEN], derived[_KEY_LEN : _KEY_LEN + _IV_LEN]


def encrypt_text(plaintext: str, key: Secret, *, salt: bytes | None = None) -> str:
    """Encrypt ``plaintext`` into n8n's format (base64 starting ``U2FsdGVkX1``)."""
    salt = os.urandom(_SALT_LEN) if salt is None else salt
    if len(salt) != _SALT_LEN:
        raise ValueError("salt must be 8 bytes")
    aes_key, iv = _evp_bytes_to_key(key.reveal().encode("utf-8"), salt)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext.encode("utf-8")) + padder.finalize()
    encryptor = Cipher(algorithms.AES(aes_key), modes.CBC(iv)).encryptor()
    body = encryptor.update(padded) + encryptor.finalize()
    return base64.b64encode(_MAGIC + salt + body).decode("ascii")


def decrypt_text(blob: str, key: Secret) -> str:
    """Decrypt n8n's format. Raises :class:`DecryptionError` (secret-free) on any failure."""
    try:
        raw = base64.b64decode(blob.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecryptionError("encrypted credential data is not valid base64") from exc
    if not raw.startswith(_MAGIC) or len(raw) < 32 or (len(raw) - 16) % 16:
        raise DecryptionError("encrypted credential data is not in n8n's 'Salted__' format")
    salt, body = raw[8:16], raw[16:]
    aes_key, iv = _evp_bytes_to_key(key.reveal().encode("utf-8"), salt)
    decryptor = Cipher(algorithms.AES(aes_key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(body) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
        return plain.decode("utf-8")
    except (ValueError, UnicodeDecodeError) as exc:
        raise DecryptionError(
            "encrypted credential data does not decrypt with the given key",
            "check that the encryption key is the server's N8N_ENCRYPTION_KEY",
        ) from exc


def encrypt_data(data: Mapping[str, Any], key: Secret) -> str:
    """Encrypt a credential's ``data`` object as n8n stores it (compact JSON, then encrypted)."""
    return encrypt_text(json.dumps(dict(data), separators=(",", ":")), key)


def decrypt_data(blob: str, key: Secret) -> dict[str, Any]:
    """Decrypt a credential's stored ``data`` back into its object."""
    text = decrypt_text(blob, key)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DecryptionError("decrypted credential data is not JSON (wrong key?)") from exc
    if not isinstance(value, dict):
        raise DecryptionError("decrypted credential data is not a JSON object")
    return value
