"""The demo relying party's checks of the provider's JWTs, pure and independent of the
gateway's own token code (an RP verifies what it is given, it does not share the OP's code).

A compact JWS is verified with the JWK its ``kid`` names (RS256 from ``n``/``e``, ES256 from
``x``/``y``, with ``cryptography`` directly; the algorithm is pinned to the key's type and to the
algorithms the caller allows), then its claims are checked as an ID token (OIDC Core
§3.1.3.7, §3.2.2.9 ``at_hash``) or as a logout token (Back-Channel Logout 1.0 §2.6).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

__all__ = [
    "BACKCHANNEL_EVENT",
    "Jws",
    "LogoutClaims",
    "TokenRefused",
    "UnknownKey",
    "at_hash",
    "check_id_token",
    "check_logout_token",
    "parse_jws",
    "verify_signature",
]

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
_MAX_TOKEN = 16 * 1024
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


class TokenRefused(Exception):
    """The token is not acceptable; the message says why (never the token)."""


class UnknownKey(TokenRefused):
    """No key of the JWKS has the token's ``kid`` (fetch the JWKS again, once)."""


@dataclass(frozen=True, slots=True)
class Jws:
    """A compact JWS, split and decoded, not yet verified."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


def _b64url(part: str) -> bytes:
    if not _B64URL.match(part):  # the decoder would skip stray characters silently
        raise TokenRefused("not base64url")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TokenRefused("not base64url") from exc


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise TokenRefused(f"the {what} is not JSON") from exc
    if not isinstance(value, dict):
        raise TokenRefused(f"the {what} is not a JSON object")
    return value


def parse_jws(token: str) -> Jws:
    """``token`` split into its decoded header, claims and signature; TokenRefused when it is
    not a compact JWS."""
    if not token or len(token) > _MAX_TOKEN or not token.isascii():
        raise TokenRefused("not a JWT")
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        raise TokenRefused("not a compact JWS")
    header = _json_object(_b64url(parts[0]), "header")
    claims = _json_object(_b64url(parts[1]), "payload")
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    return Jws(header, claims, signing_input, _b64url(parts[2]))


def _int_of(member: Any) -> int:
    if not isinstance(member, str):
        raise TokenRefused("the key is malformed")
    return int.from_bytes(_b64url(member), "big")


def verify_signature(jws: Jws, keys: Sequence[Mapping[str, Any]], algs: Collection[str]) -> None:
    """The signature is the one the JWK named by ``kid`` makes, with an algorithm of ``algs``
    that fits the key (RSA: RS256, EC P-256: ES256); TokenRefused otherwise."""
    alg = jws.header.get("alg")
    if alg not in algs or alg not in ("RS256", "ES256"):
        raise TokenRefused(f"algorithm {alg!r} is not accepted")
    kid = jws.header.get("kid")
    key = next((k for k in keys if k.get("kid") == kid and kid is not None), None)
    if key is None:
        raise UnknownKey("no key of the provider's JWKS has the token's kid")
    if key.get("alg") not in (None, alg) or key.get("use") not in (None, "sig"):
        raise TokenRefused("the key is not for this algorithm")
    try:
        if alg == "RS256" and key.get("kty") == "RSA":
            public = rsa.RSAPublicNumbers(_int_of(key.get("e")), _int_of(key.get("n")))
            public.public_key().verify(
                jws.signature, jws.signing_input, padding.PKCS1v15(), hashes.SHA256()
            )
            return
        if alg == "ES256" and key.get("kty") == "EC" and key.get("crv") == "P-256":
            if len(jws.signature) != 64:  # JWS §3.4: R || S, 32 bytes each
                raise TokenRefused("the signature is malformed")
            point = ec.EllipticCurvePublicNumbers(
                _int_of(key.get("x")), _int_of(key.get("y")), ec.SECP256R1()
            )
            r, s = (int.from_bytes(jws.signature[i : i + 32], "big") for i in (0, 32))
            der = encode_dss_signature(r, s)
            point.public_key().verify(der, jws.signing_input, ec.ECDSA(hashes.SHA256()))
            return
    except InvalidSignature:
        raise TokenRefused("the signature does not verify") from None
    except ValueError as exc:  # a key cryptography refuses (e.g. a point off the curve)
        raise TokenRefused("the key is malformed") from exc
    raise TokenRefused("the key does not fit the algorithm")


def at_hash(access_token: str) -> str:
    """OIDC Core §3.1.3.6: base64url of the left half of SHA-256 of the access token (the
    hash of RS256 and ES256 alike)."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode("ascii")


def _check_common(
    claims: Mapping[str, Any], issuer: str, audiences: Collection[str], now: float, leeway: float
) -> str:
    """``iss``, ``aud`` (and ``azp`` when there are several), ``exp`` and ``iat``; the audience
    that matched."""
    if claims.get("iss") != issuer:
        raise TokenRefused("iss is not the provider's issuer")
    aud = claims.get("aud")
    listed = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    mine = [a for a in listed if isinstance(a, str) and a in audiences]
    if not mine:
        raise TokenRefused("aud does not name this client")
    if len(listed) > 1 and claims.get("azp") != mine[0]:
        raise TokenRefused("several audiences and azp is not this client")
    exp, iat = _number(claims.get("exp")), _number(claims.get("iat"))
    if exp is None or now >= exp + leeway:
        raise TokenRefused("the token has expired (or has no exp)")
    if iat is None or iat > now + leeway:
        raise TokenRefused("iat is missing or in the future")
    return mine[0]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def check_id_token(
    claims: Mapping[str, Any],
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    access_token: str | None,
    now: float,
    leeway: float = 60.0,
) -> None:
    """OIDC Core §3.1.3.7 for an ID token whose signature was verified: TokenRefused unless
    every check holds (``nonce`` exactly the request's; ``at_hash``, when present, the access
    token's)."""
    _check_common(claims, issuer, (client_id,), now, leeway)
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise TokenRefused("sub is missing")
    got = claims.get("nonce")
    if not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
        raise TokenRefused("nonce is not the one this login sent")
    given = claims.get("at_hash")
    if given is not None and (access_token is None or given != at_hash(access_token)):
        raise TokenRefused("at_hash does not match the access token")


@dataclass(frozen=True, slots=True)
class LogoutClaims:
    """What a checked logout token says: whose session ended, for which client."""

    client_id: str
    sub: str | None
    sid: str | None


def check_logout_token(
    jws: Jws, *, issuer: str, audiences: Collection[str], now: float, leeway: float = 60.0
) -> LogoutClaims:
    """Back-Channel Logout 1.0 §2.6 for a logout token whose signature was verified: explicit
    type (when given) ``logout+jwt``; ``iss``, ``aud``, ``iat``, ``exp``; ``sub`` or ``sid``;
    ``events`` with the back-channel logout member (a JSON object); no ``nonce``."""
    typ = jws.header.get("typ")
    if typ is not None and str(typ).lower() not in ("logout+jwt", "application/logout+jwt"):
        raise TokenRefused("typ is not logout+jwt")
    claims = jws.claims
    client_id = _check_common(claims, issuer, audiences, now, leeway)
    sub, sid = claims.get("sub"), claims.get("sid")
    if not (isinstance(sub, str) and sub) and not (isinstance(sid, str) and sid):
        raise TokenRefused("neither sub nor sid")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_EVENT), dict):
        raise TokenRefused("events has no back-channel logout member")
    if "nonce" in claims:
        raise TokenRefused("a logout token must not carry a nonce")
    return LogoutClaims(
        client_id,
        sub if isinstance(sub, str) and sub else None,
        sid if isinstance(sid, str) and sid else None,
    )
