"""Small authenticated encryption helpers (AES-256-GCM) for values kept briefly at rest.

``seal_with_secret`` derives the key from a secret the legitimate reader also holds (an OAuth
code, a refresh token), so the Store never holds a usable token in the clear: only a caller
presenting the same secret can open the value. ``Sealer`` uses a configured key (mini-program
``session_key`` at rest, reference §6.5).
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["SealError", "Sealer", "open_with_secret", "seal_with_secret"]


class SealError(Exception):
    """The sealed value is malformed, was tampered with, or the key is wrong."""


class Sealer:
    """AES-256-GCM with a fixed key; output is URL-safe base64 of ``nonce || ciphertext``."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("key must be 32 bytes")
        self._aead = AESGCM(key)

    @classmethod
    def from_b64(cls, text: str) -> Sealer:
        """A sealer from a base64 (standard or URL-safe) 32-byte key."""
        try:
            key = base64.urlsafe_b64decode(text.replace("+", "-").replace("/", "_") + "==")
        except (binascii.Error, ValueError) as exc:
            raise ValueError("key is not base64") from exc
        return cls(key)

    def seal(self, plaintext: bytes, aad: bytes = b"") -> str:
        nonce = os.urandom(12)
        return base64.urlsafe_b64encode(nonce + self._aead.encrypt(nonce, plaintext, aad)).decode()

    def open(self, sealed: str, aad: bytes = b"") -> bytes:
        try:
            raw = base64.urlsafe_b64decode(sealed.encode())
            return self._aead.decrypt(raw[:12], raw[12:], aad)
        except (binascii.Error, ValueError, InvalidTag) as exc:
            raise SealError("cannot open sealed value") from exc


def _derive(secret: str, purpose: bytes) -> Sealer:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        secret.encode()
    )
    return Sealer(key)


def seal_with_secret(secret: str, purpose: bytes, plaintext: bytes, context: bytes = b"") -> str:
    """Encrypt ``plaintext`` under a key derived (HKDF-SHA256) from ``secret`` and ``purpose``;
    ``context`` (e.g. the id of the record holding the value) is bound in as associated data,
    so a sealed value cannot be moved elsewhere. The secret is >= 256 random bits in every use
    (an OAuth code's single-use value, a refresh token), so HKDF needs no salt (RFC 5869 §3.1).
    """
    return _derive(secret, purpose).seal(plaintext, purpose + b"|" + context)


def open_with_secret(secret: str, purpose: bytes, sealed: str, context: bytes = b"") -> bytes:
    """Reverse ``seal_with_secret``; raises SealError on any mismatch."""
    return _derive(secret, purpose).open(sealed, purpose + b"|" + context)
