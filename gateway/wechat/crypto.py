"""Mini-program open-data cryptography (reference §2.9, §2.11). Pure functions, no I/O.

- ``raw_data_signature`` / ``check_raw_signature``: ``sha1_hex(rawData + session_key)``,
  compared in constant time (reference §2.11).
- ``decrypt_open_data``: AES-128-CBC with strict PKCS#7 and a ``watermark.appid`` check
  (reference §2.11, §6.14). ``encrypt_open_data`` is its inverse (the simulator uses it).
- ``checksession_signature``: HMAC-SHA256 over the empty string keyed by the session_key
  *string's* UTF-8 bytes, lowercase hex (reference §2.9).

Failures raise gateway errors with fixed descriptions (never key material): a payload that does
not decrypt means the session_key rotated, so the user must log in again (reference §6.14).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from gateway.errors import InvalidRequest
from gateway.wechat.errors import LoginRequired

__all__ = [
    "InvalidOpenData",
    "SessionKeyStale",
    "check_raw_signature",
    "checksession_signature",
    "decrypt_open_data",
    "encrypt_open_data",
    "raw_data_signature",
    "session_signature",
]

_BLOCK_BITS = 128


class InvalidOpenData(InvalidRequest):
    """encryptedData/iv/signature are malformed or belong to another app."""

    default_description = "the WeChat open data is malformed or not for this app"


class SessionKeyStale(LoginRequired):
    """The data did not decrypt with the stored session_key: it rotated (reference §2.11)."""

    default_description = "the WeChat session changed; call wx.login and log in again"


def raw_data_signature(raw_data: str, session_key: str) -> str:
    """``sha1_hex(rawData + session_key)`` over rawData byte for byte (reference §2.11)."""
    return hashlib.sha1((raw_data + session_key).encode("utf-8"), usedforsecurity=False).hexdigest()


def check_raw_signature(raw_data: str, session_key: str, signature: str) -> bool:
    """True when ``signature`` signs ``raw_data``; constant-time compare (reference §2.11)."""
    expected = raw_data_signature(raw_data, session_key)
    return hmac.compare_digest(expected.encode("ascii"), signature.strip().lower().encode())


def session_signature(session_key: str, message: str = "") -> str:
    """HMAC-SHA256(key = session_key string bytes, message), lowercase hex (reference §2.9)."""
    key = session_key.encode("utf-8")
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def checksession_signature(session_key: str) -> str:
    """The ``signature`` parameter of ``wxa/checksession``: HMAC over "" (reference §2.9)."""
    return session_signature(session_key, "")


def decrypt_open_data(session_key: str, iv: str, encrypted_data: str, appid: str) -> dict[str, Any]:
    """Decrypt legacy ``encryptedData`` and check ``watermark.appid == appid``.

    Raises ``InvalidOpenData`` (400) for malformed input or a foreign watermark and
    ``SessionKeyStale`` (401) when the ciphertext does not decrypt to JSON with valid padding.
    """
    key = _b64(session_key, 16)
    iv_bytes = _b64(iv, 16)
    ciphertext = _b64(encrypted_data, None)
    if not ciphertext or len(ciphertext) % 16:
        raise InvalidOpenData()
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv_bytes)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    data = _unpad_json(padded)
    watermark = data.get("watermark")
    if not isinstance(watermark, dict) or watermark.get("appid") != appid:
        raise InvalidOpenData("the WeChat open data was issued for another app")
    return data


def encrypt_open_data(session_key: str, iv: str, data: Mapping[str, Any]) -> str:
    """The inverse of ``decrypt_open_data`` (base64 ciphertext); used by the simulator."""
    key = _b64(session_key, 16)
    iv_bytes = _b64(iv, 16)
    plain = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    padder = padding.PKCS7(_BLOCK_BITS).padder()
    padded = padder.update(plain) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv_bytes)).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode("ascii")


def _unpad_json(padded: bytes) -> dict[str, Any]:
    # Strict PKCS#7 (pad 1..16, all pad bytes equal), unlike wechatpy's lenient decoder
    # (reference §2.11 note); cryptography's unpadder checks in constant time.
    unpadder = padding.PKCS7(_BLOCK_BITS).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
        data = json.loads(plain.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise SessionKeyStale() from None
    if not isinstance(data, dict):
        raise SessionKeyStale()
    return data


def _b64(value: str, length: int | None) -> bytes:
    try:
        raw = base64.b64decode(value.strip().encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise InvalidOpenData() from None
    if length is not None and len(raw) != length:
        raise InvalidOpenData()
    return raw
