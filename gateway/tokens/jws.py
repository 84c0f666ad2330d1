"""JWS compact serialization primitives (RFC 7515 §3.1, §7.1) on ``cryptography`` key objects.

Why not joserfc here: measured on these machines, joserfc's encode reaches ~0.7x and its decode
~0.55x of the raw RSA operation, mostly generic header/registry work. The two algorithms we
support are signed and verified here directly with ``cryptography`` (RFC 7518 §3.3 RS256:
RSASSA-PKCS1-v1_5 with SHA-256; §3.4 ES256: ECDSA P-256 with SHA-256, signature as the 64-byte
``R || S`` concatenation, not DER). joserfc is still used for JWK export and RFC 7638 thumbprints
(``keyfiles.py``), and the tests cross-check our output with joserfc and PyJWT.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, TypeAlias

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "Algorithm",
    "PrivateKey",
    "PublicKey",
    "b64url_decode",
    "b64url_encode",
    "header_segment",
    "is_b64url",
    "sign",
    "sign_off_loop",
    "verify",
]

Algorithm: TypeAlias = Literal["RS256", "ES256"]
PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

#: RFC 9068 §2.1: the ``typ`` header of a JWT access token.
ACCESS_TOKEN_TYPE = "at+jwt"

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_URLSAFE = bytes.maketrans(b"-_", b"+/")
_PADDING = (b"", b"===", b"==", b"=")  # by len % 4; a remainder of 1 is invalid anyway
_PKCS1 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()
_ECDSA = ec.ECDSA(hashes.SHA256())
_P256_BYTES = 32


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def is_b64url(segment: str) -> bool:
    """True when ``segment`` uses only the base64url alphabet and has a possible length."""
    return len(segment) % 4 != 1 and _B64URL.fullmatch(segment) is not None


def b64url_decode(segment: str) -> bytes:
    """Strict base64url decoding: only the URL-safe alphabet, no padding, no whitespace;
    ``ValueError`` otherwise. (``base64.urlsafe_b64decode`` alone silently drops characters
    outside the alphabet and accepts ``+``/``/``, which would make tokens malleable.)"""
    if "+" in segment or "/" in segment or "=" in segment:
        raise ValueError("not base64url")
    try:
        data = segment.encode("ascii").translate(_URLSAFE) + _PADDING[len(segment) % 4]
        return binascii.a2b_base64(data, strict_mode=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise ValueError("not base64url") from exc


def header_segment(alg: Algorithm, kid: str) -> str:
    """The encoded protected header every access token signed by key ``kid`` carries."""
    header = {"alg": alg, "kid": kid, "typ": ACCESS_TOKEN_TYPE}
    return b64url_encode(json.dumps(header, separators=(",", ":")).encode("ascii"))


def sign(key: PrivateKey, data: bytes) -> bytes:
    """The JWS signature of ``data``: RS256 for an RSA key, ES256 (raw R||S) for a P-256 key."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, _PKCS1, _SHA256)
    r, s = decode_dss_signature(key.sign(data, _ECDSA))
    return r.to_bytes(_P256_BYTES, "big") + s.to_bytes(_P256_BYTES, "big")


_signer: tuple[int, ThreadPoolExecutor] | None = None  # (pid, the signing thread)


async def sign_off_loop(key: PrivateKey, data: bytes) -> bytes:
    """``sign`` on the process's one signing thread, awaited from the event loop.

    ``cryptography``'s RSA signature holds the GIL (measured: two threads signing take twice
    one thread's time), so this buys no parallelism; what it buys is order: signatures wait in
    the thread's queue, and the event loop takes the GIL back between two of them, so a burst
    of logins delays a proxied request by about one signature instead of by every signature
    already in the loop's ready queue. One thread: more would only contend for the GIL."""
    global _signer
    if _signer is None or _signer[0] != os.getpid():  # none yet, or inherited over a fork
        _signer = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="wxgate-sign"))
    return await asyncio.get_running_loop().run_in_executor(_signer[1], sign, key, data)


def verify(key: PublicKey, signature: bytes, data: bytes) -> bool:
    """True when ``signature`` is a valid RS256/ES256 signature of ``data`` by ``key``."""
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, _PKCS1, _SHA256)
            return True
        if len(signature) != 2 * _P256_BYTES:  # RFC 7518 §3.4: exactly 64 octets
            return False
        r = int.from_bytes(signature[:_P256_BYTES], "big")
        s = int.from_bytes(signature[_P256_BYTES:], "big")
        key.verify(encode_dss_signature(r, s), data, _ECDSA)
        return True
    except (InvalidSignature, ValueError):
        return False
