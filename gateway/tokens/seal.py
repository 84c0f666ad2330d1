"""Sealing a successor token pair under the refresh token it replaces.

When a refresh token is rotated, the new pair is stored next to the old token's record so that
a concurrent request with the same old token (two tabs refreshing at once) can be answered with
the *same* pair instead of being treated as reuse. To keep the Store free of usable tokens, the
pair is encrypted with AES-256-GCM under a key derived (HKDF-SHA256, RFC 5869) from the old
refresh token itself: only a holder of that old token can read it. The record's id is bound in
as associated data, so a sealed blob cannot be moved to another record.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gateway.tokens.jws import b64url_decode, b64url_encode

__all__ = ["SealError", "seal", "unseal"]

_INFO = b"wxgate refresh successor v1"
_NONCE_BYTES = 12


class SealError(Exception):
    """The sealed value is corrupt or was sealed under another secret."""


def _key(secret: str) -> AESGCM:
    # The secret is a >= 256-bit random token, so HKDF needs no salt (RFC 5869 §3.1).
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO)
    return AESGCM(hkdf.derive(secret.encode()))


def seal(secret: str, plaintext: bytes, *, context: bytes) -> str:
    """``plaintext`` encrypted under ``secret``, bound to ``context``; base64url text."""
    nonce = os.urandom(_NONCE_BYTES)
    return b64url_encode(nonce + _key(secret).encrypt(nonce, plaintext, context))


def unseal(secret: str, sealed: str, *, context: bytes) -> bytes:
    """The plaintext of ``seal(secret, ..., context=context)``; SealError otherwise."""
    try:
        blob = b64url_decode(sealed)
        nonce, ciphertext = blob[:_NONCE_BYTES], blob[_NONCE_BYTES:]
        return _key(secret).decrypt(nonce, ciphertext, context)
    except (ValueError, InvalidTag) as exc:
        raise SealError("cannot open the sealed value") from exc
