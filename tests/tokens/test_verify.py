"""Access tokens: what we mint, how we verify, the reason labels, and the verification cache."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest
from joserfc import jwk as jjwk
from joserfc import jwt as jjwt

from gateway.clock import ManualClock
from gateway.store.memory import MemoryStore
from gateway.tokens import TokenRejected
from gateway.tokens.service import TokenService
from tests.tokens import forge
from tests.tokens.conftest import OpenService, make_config

EXPECTED_REASONS = {
    "alg_none": "bad_algorithm",
    "hs256_public_pem": "bad_algorithm",
    "hs256_public_jwk": "bad_algorithm",
    "tampered_payload": "bad_signature",
    "tampered_signature": "bad_signature",
    "unknown_kid": "unknown_kid",
    "other_key_our_kid": "bad_signature",
    "embedded_jwk": "unknown_kid",
    "no_kid": "unknown_kid",
    "expired": "expired",
    "not_yet_valid_nbf": "not_yet_valid",
    "iat_in_future": "not_yet_valid",
    "missing_exp": "missing_claim",
    "missing_iss": "missing_claim",
    "missing_sub": "missing_claim",
    "missing_aud": "missing_claim",
    "string_exp": "malformed",
    "wrong_iss": "wrong_issuer",
    "wrong_aud": "wrong_audience",
    "wrong_typ": "wrong_type",
    "missing_typ": "wrong_type",
    "crit_header": "malformed",
    "twenty_kb": "too_large",
    "garbage": "malformed",
    "deeply_nested_header": "malformed",
    "empty": "malformed",
    "exp_nan": "malformed",
    "exp_infinity": "malformed",
    "exp_1e400": "malformed",
    "iat_nan": "malformed",
    "iat_minus_infinity": "malformed",
    "iat_1e400": "malformed",
    "iat_minus_1e400": "malformed",
    "nbf_nan": "malformed",
    "exp_1e300": "too_long_lived",
    "exp_400_digits": "too_long_lived",
    "ten_years": "too_long_lived",
    "issued_ten_years_ago": "too_long_lived",
}


@pytest.fixture
async def service(tmp_path: Path, clock: ManualClock, open_service: OpenService) -> TokenService:
    config = make_config(tmp_path, scope="profile api", leeway=0)
    return await open_service(config, MemoryStore(clock))


def jwks_of(service: TokenService) -> dict[str, object]:
    return json.loads(service.jwks_document()[0])  # type: ignore[no-any-return]


async def test_minted_token_shape(service: TokenService, clock: ManualClock) -> None:
    pair = await service.issue_session(
        "u_42", ["wechat_qr"], appid="wxapp", openid="o-openid", unionid="un-1"
    )
    header = pyjwt.get_unverified_header(pair.access_token)
    active = service.ring.active
    assert active is not None
    assert header == {"alg": "RS256", "kid": active.kid, "typ": "at+jwt"}
    claims = pyjwt.decode(pair.access_token, options={"verify_signature": False})
    assert claims["sub"] == "u_42" and claims["openid"] == "o-openid" != claims["sub"]
    assert claims["iss"] == "http://127.0.0.1:8080" and claims["aud"] == "wxgate"
    assert claims["exp"] - claims["iat"] == 900 and claims["iat"] == int(clock.time())
    assert claims["client_id"] == "wxgate" and claims["scope"] == "profile api"
    assert claims["amr"] == ["wechat_qr"] and claims["sid"] == pair.sid
    assert claims["appid"] == "wxapp" and claims["unionid"] == "un-1"
    assert len(claims["jti"]) >= 22 and "nbf" not in claims
    assert pair.token_type == "Bearer" and pair.expires_in == 900 and pair.scope == "profile api"
    assert pair.access_token not in repr(pair) and pair.refresh_token not in repr(pair)


async def test_independent_libraries_verify_our_tokens(service: TokenService) -> None:
    pair = await service.issue_session("u_1", ["wechat_oauth"])
    jwk = next(iter(jwks_of(service)["keys"]))  # type: ignore[call-overload]
    key = pyjwt.PyJWK(jwk)
    claims = pyjwt.decode(
        pair.access_token,
        key.key,
        algorithms=["RS256"],
        audience="wxgate",
        issuer="http://127.0.0.1:8080",
        options={"require": ["exp", "iat", "iss", "sub", "aud", "jti"]},
    )
    assert claims["sub"] == "u_1"
    keyset = jjwk.KeySet.import_key_set(jwks_of(service))  # type: ignore[arg-type]
    token = jjwt.decode(pair.access_token, keyset, algorithms=["RS256"])
    assert token.header["typ"] == "at+jwt"
    jjwt.JWTClaimsRegistry(
        iss={"essential": True, "value": "http://127.0.0.1:8080"},
        aud={"essential": True, "value": "wxgate"},
        sub={"essential": True},
        exp={"essential": True},
    ).validate(token.claims)


async def test_es256_mode(tmp_path: Path, clock: ManualClock, open_service: OpenService) -> None:
    config = make_config(tmp_path, algorithm="ES256")
    service = await open_service(config, MemoryStore(clock))
    pair = await service.issue_session("u_es", ["wechat_mp"])
    jwk = jwks_of(service)["keys"][0]  # type: ignore[index]
    assert jwk["kty"] == "EC" and jwk["alg"] == "ES256"
    claims = pyjwt.decode(
        pair.access_token, pyjwt.PyJWK(jwk).key, algorithms=["ES256"], audience="wxgate"
    )
    assert claims["sub"] == "u_es"
    assert service.verify(pair.access_token).sub == "u_es"
    rs = forge.compact({"alg": "RS256", "kid": jwk["kid"], "typ": "at+jwt"},
                       forge.good_claims(config, clock.time()), b"k")  # fmt: skip
    with pytest.raises(TokenRejected) as exc:
        service.verify(rs)
    assert exc.value.reason == "bad_algorithm"


async def test_forgeries_get_their_reason_and_are_counted(
    service: TokenService, clock: ManualClock, tmp_path: Path
) -> None:
    config = make_config(tmp_path, scope="profile api", leeway=0)
    valid = (await service.issue_session("u_1", ["wechat_qr"])).access_token
    tokens = forge.corpus(service, config, clock.time(), valid)
    seen: dict[str, str] = {}
    for name, token in tokens.items():
        with pytest.raises(TokenRejected) as exc:
            service.verify(token)
        seen[name] = exc.value.reason
        assert exc.value.status == 401 and exc.value.error == "invalid_token"
        assert token[:40] not in exc.value.description or not token
        assert 'error="invalid_token"' in exc.value.headers["WWW-Authenticate"]
    assert {k: seen[k] for k in EXPECTED_REASONS} == EXPECTED_REASONS
    # correctly signed by us with every claim right: accepted (the corpus is not vacuous)
    ok = forge.compact(
        {"alg": "RS256", "kid": service.ring.active.kid, "typ": "at+jwt"},  # type: ignore[union-attr]
        forge.good_claims(config, clock.time()),
        service.ring.active.private_key,  # type: ignore[union-attr]
    )
    assert service.verify(ok).sub == "u_forged"


async def test_cache_never_serves_a_token_past_exp(
    service: TokenService, clock: ManualClock
) -> None:
    pair = await service.issue_session("u_1", ["wechat_qr"])
    first = service.verify(pair.access_token)
    assert service.verify(pair.access_token) is first  # served from the cache
    clock.advance(899)
    assert service.verify(pair.access_token) is first
    clock.advance(1)  # now == exp (leeway 0): expired, cache or not
    with pytest.raises(TokenRejected) as exc:
        service.verify(pair.access_token)
    assert exc.value.reason == "expired"


async def test_leeway_is_applied_but_never_from_the_cache(
    tmp_path: Path, clock: ManualClock, open_service: OpenService
) -> None:
    service = await open_service(make_config(tmp_path, leeway=30), MemoryStore(clock))
    pair = await service.issue_session("u_1", ["wechat_qr"])
    service.verify(pair.access_token)
    clock.advance(900 + 29)  # past exp, within leeway: accepted by a full verification
    fresh = service.verify(pair.access_token)
    assert service.verify(pair.access_token) is not fresh  # not cached past exp
    clock.advance(1)
    with pytest.raises(TokenRejected):
        service.verify(pair.access_token)


async def test_revocation_reaches_cached_tokens(service: TokenService) -> None:
    a = await service.issue_session("u_1", ["wechat_qr"])
    b = await service.issue_session("u_1", ["wechat_qr"])
    service.verify(a.access_token)
    service.verify(b.access_token)
    await service.revoke(a.access_token, "access_token")  # the jti only
    with pytest.raises(TokenRejected) as exc:
        service.verify(a.access_token)
    assert exc.value.reason == "revoked" and "revoked" in exc.value.description
    assert service.verify(b.access_token).sub == "u_1"
    await service.revoke_session(b.sid)  # the whole session
    with pytest.raises(TokenRejected):
        service.verify(b.access_token)


async def test_audience_and_size(service: TokenService, tmp_path: Path) -> None:
    pair = await service.issue_session("u_1", ["wechat_qr"])
    assert service.verify(pair.access_token, audience="wxgate").sub == "u_1"
    for _ in range(2):  # miss, then hit
        with pytest.raises(TokenRejected) as exc:
            service.verify(pair.access_token, audience="billing")
        assert exc.value.reason == "wrong_audience"
    with pytest.raises(TokenRejected) as exc:
        service.verify("a" * 8193)
    assert exc.value.reason == "too_large"


async def test_verify_needs_no_store(
    tmp_path: Path, clock: ManualClock, open_service: OpenService, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MemoryStore(clock)
    service = await open_service(make_config(tmp_path), store)
    pair = await service.issue_session("u_1", ["wechat_qr"])
    await store.close()  # every Store call would now fail
    touched: list[str] = []  # ...and is recorded: no round-trip, counted rather than timed

    def record(name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            touched.append(name)
            raise AssertionError(f"verify called Store.{name}")

        return call

    for name in dir(store):
        if not name.startswith("_") and callable(getattr(store, name)):
            monkeypatch.setattr(store, name, record(name))
    assert service.verify(pair.access_token).sub == "u_1"
    assert service.verify(pair.access_token).sub == "u_1"
    assert touched == []
