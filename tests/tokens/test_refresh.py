"""Refresh tokens on the memory store and on a real redis-server: rotation, reuse detection,
the two-tab race (real concurrency, two replicas on Redis), lifetimes, nothing in the clear."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis.asyncio

from gateway.clock import ManualClock
from gateway.errors import InvalidGrant
from gateway.metrics import Metrics
from gateway.sealed import SealError, open_with_secret, seal_with_secret
from gateway.store import Store
from gateway.store.memory import MemoryStore
from gateway.tokens import TokenRejected
from gateway.tokens.metrics import TokenMetrics
from gateway.tokens.service import TokenService
from tests.tokens.conftest import Backend, OpenService, make_config


async def store_dump(backend: Backend, store: Store) -> str:
    """Every key and value the backend holds, as text."""
    if backend.redis_url is None:
        assert isinstance(store, MemoryStore)
        return repr(store._entries)
    client = redis.asyncio.Redis.from_url(backend.redis_url, decode_responses=True)
    try:
        parts = []
        async for key in client.scan_iter(match=f"*{backend.prefix}*"):
            kind = await client.type(key)
            value = await client.hgetall(key) if kind == "hash" else await client.dump(key)
            parts.append(f"{key}={value!r}")
        return "\n".join(parts)
    finally:
        await client.aclose()


async def test_rotation_and_nothing_stored_in_clear(
    backend: Backend, tmp_path: Path, open_service: OpenService
) -> None:
    store = backend.make_store()
    service = await open_service(make_config(tmp_path), store)
    first = await service.issue_session("u_1", ["wechat_qr"], openid="o1", appid="wxa")
    second = await service.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token and second.sid == first.sid
    assert len(second.refresh_token) >= 43  # 256 bits, base64url
    claims = service.verify(second.access_token)
    assert (claims.sub, claims.openid, claims.appid, claims.amr) == (
        "u_1",
        "o1",
        "wxa",
        ("wechat_qr",),
    )
    assert service.verify(first.access_token).sub == "u_1"  # rotation keeps old access tokens
    third = await service.refresh(second.refresh_token)
    assert third.sid == first.sid
    dump = await store_dump(backend, store)
    assert "tokens:session:" in dump and "tokens:refresh:" in dump
    for pair in (first, second, third):
        assert pair.refresh_token not in dump and pair.access_token not in dump
        assert pair.access_token.split(".")[1] not in dump


async def test_reuse_after_grace_revokes_the_family(
    backend: Backend, tmp_path: Path, clock: ManualClock, open_service: OpenService,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    metrics = Metrics()
    service = await open_service(make_config(tmp_path), backend.make_store(), metrics)
    first = await service.issue_session("u_1", ["wechat_qr"])
    other_session = await service.issue_session("u_1", ["wechat_qr"])
    second = await service.refresh(first.refresh_token)
    clock.advance(11)  # past refresh_reuse_grace (10 s)
    with pytest.raises(InvalidGrant):
        await service.refresh(first.refresh_token)  # the stolen old token comes back
    families = metrics.of(TokenMetrics)
    assert families.refresh_reuse._value.get() == 1
    assert families.issued.labels(kind="refresh")._value.get() == 3
    assert families.issued.labels(kind="access")._value.get() == 3
    assert "reuse detected" in caplog.text and first.refresh_token not in caplog.text
    with pytest.raises(InvalidGrant):
        await service.refresh(second.refresh_token)  # the legitimate holder is out too
    for token in (first.access_token, second.access_token):
        with pytest.raises(TokenRejected) as exc:
            service.verify(token)
        assert exc.value.reason == "revoked"
    # another session of the same user is untouched
    assert service.verify(other_session.access_token).sub == "u_1"
    assert (await service.refresh(other_session.refresh_token)).sid == other_session.sid


async def test_two_tabs_racing_with_one_token_stay_logged_in(
    backend: Backend, tmp_path: Path, open_service: OpenService
) -> None:
    """20 concurrent refreshes with the same token (on Redis: split over two replicas) all
    get the same new pair; the session survives and the new refresh token works."""
    config = make_config(tmp_path)
    metrics = Metrics()
    a = await open_service(config, backend.make_store(), metrics)
    b = await open_service(config, backend.make_store(), metrics) if backend.redis_url else a
    pair = await a.issue_session("u_1", ["wechat_qr"])
    results = await asyncio.gather(
        *(svc.refresh(pair.refresh_token) for _ in range(10) for svc in (a, b))
    )
    assert len({(r.access_token, r.refresh_token) for r in results}) == 1
    assert metrics.of(TokenMetrics).refresh_reuse._value.get() == 0
    winner = results[0]
    assert a.verify(winner.access_token).sid == pair.sid
    assert b.verify(pair.access_token).sid == pair.sid
    assert (await b.refresh(winner.refresh_token)).sid == pair.sid


async def test_concurrent_refreshes_of_many_sessions(
    backend: Backend, tmp_path: Path, open_service: OpenService
) -> None:
    service = await open_service(make_config(tmp_path), backend.make_store())
    pairs = await asyncio.gather(*(service.issue_session(f"u_{i}", ["x"]) for i in range(20)))
    renewed = await asyncio.gather(*(service.refresh(p.refresh_token) for p in pairs))
    assert [service.verify(r.access_token).sub for r in renewed] == [f"u_{i}" for i in range(20)]


async def test_zero_grace_is_strict(
    backend: Backend, tmp_path: Path, open_service: OpenService
) -> None:
    config = make_config(tmp_path, refresh_reuse_grace=0.0)
    service = await open_service(config, backend.make_store())
    pair = await service.issue_session("u_1", ["wechat_qr"])
    new = await service.refresh(pair.refresh_token)
    with pytest.raises(InvalidGrant):
        await service.refresh(pair.refresh_token)
    with pytest.raises(InvalidGrant):
        await service.refresh(new.refresh_token)


async def test_absolute_lifetime(
    backend: Backend, tmp_path: Path, clock: ManualClock, open_service: OpenService
) -> None:
    config = make_config(tmp_path, access_ttl=300, refresh_ttl=3600)
    service = await open_service(config, backend.make_store())
    pair = await service.issue_session("u_1", ["wechat_qr"])
    clock.advance(3000)
    pair = await service.refresh(pair.refresh_token)
    assert pair.expires_in == 300
    clock.advance(500)  # 100 s left in the session: the access token is capped to it
    pair = await service.refresh(pair.refresh_token)
    assert pair.expires_in == 100
    clock.advance(101)
    with pytest.raises(InvalidGrant):
        await service.refresh(pair.refresh_token)


async def test_sliding_lifetime(
    backend: Backend, tmp_path: Path, clock: ManualClock, open_service: OpenService
) -> None:
    config = make_config(tmp_path, access_ttl=300, refresh_ttl=3600, refresh_sliding=True)
    service = await open_service(config, backend.make_store())
    pair = await service.issue_session("u_1", ["wechat_qr"])
    for _ in range(3):
        clock.advance(3000)
        pair = await service.refresh(pair.refresh_token)
        assert pair.expires_in == 300
    clock.advance(3601)  # idle longer than refresh_ttl
    with pytest.raises(InvalidGrant):
        await service.refresh(pair.refresh_token)


async def test_bad_refresh_tokens(
    backend: Backend, tmp_path: Path, open_service: OpenService
) -> None:
    service: TokenService = await open_service(make_config(tmp_path), backend.make_store())
    pair = await service.issue_session("u_1", ["wechat_qr"])
    for bad in ("", "short", "x" * 43, pair.access_token, pair.refresh_token + "A", "é" * 43):
        with pytest.raises(InvalidGrant):
            await service.refresh(bad)
    await service.revoke_session(pair.sid)
    with pytest.raises(InvalidGrant):
        await service.refresh(pair.refresh_token)


PURPOSE = b"wxgate refresh successor v1"


def test_sealed_successor_opens_only_with_the_old_token() -> None:
    old, other = "A" * 43, "B" * 43
    sealed = seal_with_secret(old, PURPOSE, b'{"pair": 1}', b"tokens:refresh:abc")
    assert open_with_secret(old, PURPOSE, sealed, b"tokens:refresh:abc") == b'{"pair": 1}'
    for secret, context in ((other, b"tokens:refresh:abc"), (old, b"tokens:refresh:xyz")):
        with pytest.raises(SealError):
            open_with_secret(secret, PURPOSE, sealed, context)
    with pytest.raises(SealError):
        open_with_secret(old, PURPOSE, sealed[:-2] + "AA", b"tokens:refresh:abc")
