"""The demo RP's own JWT checks (``gateway.simulator.rp.jws``), against tokens PyJWT signs."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.simulator.rp.jws import (
    BACKCHANNEL_EVENT,
    TokenRefused,
    UnknownKey,
    at_hash,
    check_id_token,
    check_logout_token,
    parse_jws,
    verify_signature,
)

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
ISS = "http://127.0.0.1:8080"


def jwk_of(key: Any, kid: str, alg: str) -> dict[str, Any]:
    algorithm = jwt.algorithms.RSAAlgorithm if alg == "RS256" else jwt.algorithms.ECAlgorithm
    jwk: dict[str, Any] = algorithm.to_jwk(key.public_key(), as_dict=True)
    return jwk | {"kid": kid, "alg": alg, "use": "sig"}


KEYS = [jwk_of(RSA_KEY, "r1", "RS256"), jwk_of(EC_KEY, "e1", "ES256")]


def signed(claims: dict[str, Any], alg: str = "RS256", kid: str = "r1", typ: str = "JWT") -> str:
    key = RSA_KEY if alg == "RS256" else EC_KEY
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid, "typ": typ})


@pytest.mark.parametrize(("alg", "kid"), [("RS256", "r1"), ("ES256", "e1")])
def test_rs256_and_es256_verify(alg: str, kid: str) -> None:
    jws = parse_jws(signed({"a": 1}, alg, kid))
    verify_signature(jws, KEYS, ["RS256", "ES256"])
    assert jws.claims == {"a": 1} and jws.header["kid"] == kid


def test_what_the_signature_check_refuses() -> None:
    token = signed({"a": 1})
    head, body, sig = token.split(".")
    with pytest.raises(TokenRefused, match="does not verify"):
        verify_signature(parse_jws(f"{head}.{signed({'a': 2}).split('.')[1]}.{sig}"), KEYS,
                         ["RS256"])  # fmt: skip
    with pytest.raises(TokenRefused, match="not accepted"):
        verify_signature(parse_jws(token), KEYS, ["ES256"])  # pinned to discovery's list
    none = jwt.encode({"a": 1}, None, algorithm="none")
    with pytest.raises(TokenRefused):
        verify_signature(parse_jws(none + "AAAA"), KEYS, ["RS256", "none"])
    with pytest.raises(UnknownKey):
        verify_signature(parse_jws(signed({"a": 1}, kid="r2")), KEYS, ["RS256"])
    with pytest.raises(TokenRefused, match="not for this algorithm"):  # an RS256 token, EC kid
        verify_signature(parse_jws(signed({"a": 1}, kid="e1")), KEYS, ["RS256", "ES256"])
    for garbage in ("", "a.b", "a.b.c", "!!.e30.AA", f"{head}.{body}", "x" * 20_000):
        with pytest.raises(TokenRefused):
            parse_jws(garbage)


def id_claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": ISS, "sub": "u_1", "aud": "demo-spa", "exp": now + 60, "iat": now,
              "nonce": "n0", "at_hash": at_hash("access")}  # fmt: skip
    return {k: v for k, v in (claims | changes).items() if v is not None}


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"iss": "http://other"}, "iss"),
        ({"aud": "demo-rp"}, "aud"),
        ({"aud": ["demo-spa", "x"]}, "azp"),
        ({"exp": int(time.time()) - 120}, "expired"),
        ({"iat": int(time.time()) + 3600}, "iat"),
        ({"nonce": "other"}, "nonce"),
        ({"nonce": None}, "nonce"),
        ({"at_hash": at_hash("another")}, "at_hash"),
        ({"sub": ""}, "sub"),
    ],
)
def test_what_the_id_token_check_refuses(changes: dict[str, Any], why: str) -> None:
    with pytest.raises(TokenRefused, match=why):
        check_id_token(id_claims(**changes), issuer=ISS, client_id="demo-spa", nonce="n0",
                       access_token="access", now=time.time())  # fmt: skip


def test_a_good_id_token() -> None:
    for claims in (id_claims(), id_claims(aud=["demo-spa", "x"], azp="demo-spa"),
                   id_claims(at_hash=None)):  # fmt: skip
        check_id_token(claims, issuer=ISS, client_id="demo-spa", nonce="n0",
                       access_token="access", now=time.time())  # fmt: skip


def test_a_good_logout_token() -> None:
    now = int(time.time())
    claims = {"iss": ISS, "aud": "demo-rp", "iat": now, "exp": now + 120, "jti": "j",
              "sid": "s", "events": {BACKCHANNEL_EVENT: {}}}  # fmt: skip
    said = check_logout_token(parse_jws(signed(claims, typ="logout+jwt")), issuer=ISS,
                              audiences=["demo-rp"], now=now)  # fmt: skip
    assert (said.client_id, said.sid, said.sub) == ("demo-rp", "s", None)
