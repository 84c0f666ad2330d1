"""Hand-made JWTs: correctly signed variants and the forged-token corpus.

Everything is assembled by hand (not through PyJWT or joserfc, which refuse to produce most of
these) so each token is exactly the attack it is named after.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from gateway.config import Config
from gateway.tokens.service import TokenService


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def seg(obj: Any) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def sign_with(key: Any, signing_input: bytes) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return hmac.new(key, signing_input, hashlib.sha256).digest()


def compact(header: dict[str, Any], claims: dict[str, Any], key: Any) -> str:
    signing_input = f"{seg(header)}.{seg(claims)}"
    return f"{signing_input}.{b64(sign_with(key, signing_input.encode()))}"


def compact_text(header: dict[str, Any], payload: str, key: Any) -> str:
    """``compact`` with the payload's JSON text as given (``1e400``, ``NaN``: literals a strict
    encoder would not write)."""
    signing_input = f"{seg(header)}.{b64(payload.encode())}"
    return f"{signing_input}.{b64(sign_with(key, signing_input.encode()))}"


def good_claims(config: Config, now: float, **changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": config.issuer,
        "sub": "u_forged",
        "aud": config.tokens.audience,
        "exp": int(now) + 600,
        "iat": int(now),
        "jti": "jti-forged",
        "sid": "sid-forged",
        "client_id": "wxgate",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


TEN_YEARS = 10 * 365 * 86_400


def dates(service: TokenService, config: Config, now: float) -> dict[str, str]:
    """name -> a token signed with our active key whose dates are not finite numbers or span
    more than ``tokens.max_lifetime``; every one must be refused with 401 invalid_token."""
    ours = service.ring.active
    assert ours is not None
    header = {"alg": ours.alg, "kid": ours.kid, "typ": "at+jwt"}
    good = good_claims(config, now)

    def raw(**texts: str) -> str:
        members = {name: json.dumps(value) for name, value in good.items()} | texts
        payload = "{" + ",".join(f'"{name}":{text}' for name, text in members.items()) + "}"
        return compact_text(header, payload, ours.private_key)

    def signed(**changes: Any) -> str:
        return compact(header, good_claims(config, now, **changes), ours.private_key)

    return {
        "exp_nan": raw(exp="NaN"),
        "exp_infinity": raw(exp="Infinity"),
        "exp_1e400": raw(exp="1e400"),  # parses as float("inf")
        "iat_nan": raw(iat="NaN"),
        "iat_minus_infinity": raw(iat="-Infinity"),
        "iat_1e400": raw(iat="1e400"),
        "iat_minus_1e400": raw(iat="-1e400"),
        "nbf_nan": raw(nbf="NaN"),
        "exp_1e300": raw(exp="1e300"),
        "exp_400_digits": raw(exp="1" + "0" * 400),
        "ten_years": signed(exp=int(now) + TEN_YEARS),
        "issued_ten_years_ago": signed(iat=int(now) - TEN_YEARS),
    }


def corpus(service: TokenService, config: Config, now: float, valid: str) -> dict[str, str]:
    """name -> forged token; every one must be refused with 401 invalid_token."""
    ours = service.ring.active
    assert ours is not None
    key, kid, alg = ours.private_key, ours.kid, ours.alg
    header = {"alg": alg, "kid": kid, "typ": "at+jwt"}
    good = good_claims(config, now)
    pem = ours.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    jwk_text = json.dumps(ours.jwk).encode()
    other = rsa.generate_private_key(65537, 2048)
    h, p, s = valid.split(".")
    tampered_payload = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    tampered_payload["sub"] = "u_admin"

    def signed(**changes: Any) -> str:
        return compact(header, good_claims(config, now, **changes), key)

    tokens = {
        "alg_none": f"{seg({**header, 'alg': 'none'})}.{seg(good)}.",
        "alg_none_with_sig": f"{seg({**header, 'alg': 'none'})}.{seg(good)}.{s}",
        "hs256_public_pem": compact({**header, "alg": "HS256"}, good, pem),
        "hs256_public_jwk": compact({**header, "alg": "HS256"}, good, jwk_text),
        "hs256_no_kid": compact({"alg": "HS256", "typ": "at+jwt"}, good, pem),
        "tampered_payload": f"{h}.{seg(tampered_payload)}.{s}",
        "tampered_signature": f"{h}.{p}.{s[:-4]}AAAA",
        "signature_swapped": f"{h}.{seg(good)}.{s}",
        "unknown_kid": compact({**header, "kid": "not-a-key-of-ours"}, good, other),
        "other_key_our_kid": compact(header, good, other),
        "embedded_jwk": compact(
            {**header, "kid": "attacker", "jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}},
            good,
            other,
        ),
        "no_kid": compact({"alg": alg, "typ": "at+jwt"}, good, key),
        "expired": signed(iat=int(now) - 3600, exp=int(now) - 1800),
        "not_yet_valid_nbf": signed(nbf=int(now) + 3600),
        "iat_in_future": signed(iat=int(now) + 3600, exp=int(now) + 7200),
        "missing_exp": signed(exp=None),
        "missing_iss": signed(iss=None),
        "missing_sub": signed(sub=None),
        "missing_aud": signed(aud=None),
        "empty_sub": signed(sub=""),
        "string_exp": signed(exp=str(int(now) + 600)),
        "bool_exp": signed(exp=True),
        "wrong_iss": signed(iss="https://evil.example"),
        "wrong_aud": signed(aud="some-other-service"),
        "wrong_aud_list": signed(aud=["a", "b"]),
        "wrong_typ": compact({**header, "typ": "JWT"}, good, key),
        "missing_typ": compact({"alg": alg, "kid": kid}, good, key),
        "crit_header": compact({**header, "crit": ["exp"], "exp": 1}, good, key),
        "payload_not_object": compact(header, ["not", "an", "object"], key),  # type: ignore[arg-type]
        "twenty_kb": signed(padding="x" * 20_000),
        "garbage": "this is not a token",
        "two_segments": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0",
        "four_segments": f"{valid}.AAAA",
        "dots_only": "..",
        "bad_base64": f"{h}.{p}!.{s}",
        "padded_base64": f"{h}=.{p}.{s}",
        "non_ascii": f"{h}.{p}é.{s}",
        "header_not_json": f"{b64(b'{not json')}.{p}.{s}",
        "header_duplicate_alg": b64(b'{"alg":"none","alg":"' + alg.encode() + b'"}') + f".{p}.{s}",
        "deeply_nested_header": f"{b64(b'[' * 3000)}.{p}.{s}",
        "empty": "",
        **dates(service, config, now),
    }
    return tokens
