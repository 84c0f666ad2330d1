"""Revocation across replicas: two TokenServices on one real redis-server.

A revocation on one replica must be refused by the other within 1 s, without the verifier
paying a Store round-trip per request (the local copy is fed by pub/sub), and a message lost
while a replica was not listening is caught up by the periodic resync.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from gateway.clock import ManualClock
from gateway.config import StoreConfig
from gateway.store.redis import RedisStore
from gateway.tokens import TokenRejected
from gateway.tokens.revocation import SET_KEY
from gateway.tokens.service import TokenService
from tests.fixtures.redis_server import RedisServer, unique_prefix
from tests.tokens.conftest import OpenService, make_config

pytestmark = pytest.mark.redis


async def refused_after(service: TokenService, token: str, limit: float = 1.0) -> float:
    """Seconds until ``service`` refuses ``token`` as revoked (fails after ``limit``)."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        try:
            service.verify(token)
        except TokenRejected as exc:
            assert exc.reason == "revoked"
            return time.perf_counter() - started
        await asyncio.sleep(0.001)
    pytest.fail(f"still accepted after {limit} s")


@pytest.fixture
async def replicas(
    redis_server: RedisServer, tmp_path: Path, clock: ManualClock, open_service: OpenService
) -> tuple[TokenService, TokenService, RedisStore]:
    config = make_config(tmp_path)
    store_config = StoreConfig(url=redis_server.url, prefix=unique_prefix("revoke"))
    a = await open_service(config, RedisStore(store_config, clock))
    raw = RedisStore(store_config, clock)
    b = await open_service(config, raw, revocation_resync_interval=0.2)
    return a, b, raw


async def test_session_revoked_on_one_replica_is_refused_by_the_other(
    replicas: tuple[TokenService, TokenService, RedisStore],
) -> None:
    a, b, _ = replicas
    pair = await a.issue_session("u_1", ["wechat_qr"])
    assert b.verify(pair.access_token).sub == "u_1"  # B has it cached
    await a.revoke_session(pair.sid)
    elapsed = await refused_after(b, pair.access_token)
    print(f"\nsid revocation reached the other replica in {elapsed * 1000:.1f} ms")
    assert elapsed < 1.0


async def test_access_token_revoked_on_one_replica_is_refused_by_the_other(
    replicas: tuple[TokenService, TokenService, RedisStore],
) -> None:
    a, b, _ = replicas
    pair = await a.issue_session("u_1", ["wechat_qr"])
    b.verify(pair.access_token)
    await a.revoke(pair.access_token, "access_token")
    elapsed = await refused_after(b, pair.access_token)
    print(f"\njti revocation reached the other replica in {elapsed * 1000:.1f} ms")
    # a replica started later loads the list from the Store
    await b.refresh(pair.refresh_token)  # the session itself is still alive


async def test_reuse_detected_on_one_replica_ends_the_session_on_the_other(
    replicas: tuple[TokenService, TokenService, RedisStore], clock: ManualClock
) -> None:
    a, b, _ = replicas
    pair = await a.issue_session("u_1", ["wechat_qr"])
    new = await a.refresh(pair.refresh_token)
    assert b.verify(new.access_token).sub == "u_1"
    clock.advance(30)
    with pytest.raises(Exception, match="already used"):
        await b.refresh(pair.refresh_token)
    await refused_after(a, new.access_token)


async def test_missed_message_is_caught_up_by_resync(
    replicas: tuple[TokenService, TokenService, RedisStore], clock: ManualClock
) -> None:
    a, b, raw = replicas
    pair = await a.issue_session("u_1", ["wechat_qr"])
    b.verify(pair.access_token)
    # written to the Store without the pub/sub message (as if it was lost in a reconnect)
    await raw.expiring_set_add(SET_KEY, f"sid:{pair.sid}", clock.time() + 900)
    elapsed = await refused_after(b, pair.access_token, limit=2.0)
    print(f"\nrevocation without a message caught up by resync in {elapsed * 1000:.0f} ms")


async def test_two_processes(
    redis_server: RedisServer, tmp_path: Path, clock: ManualClock, open_service: OpenService
) -> None:
    """The issue's measurement: the other replica is a separate OS process."""
    prefix = unique_prefix("procs")
    config = make_config(tmp_path)
    a = await open_service(
        config, RedisStore(StoreConfig(url=redis_server.url, prefix=prefix), clock)
    )
    pair = await a.issue_session("u_1", ["wechat_qr"])
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.tokens._replica", str(tmp_path), redis_server.url, prefix,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    try:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(pair.access_token.encode() + b"\n")
        await child.stdin.drain()
        ready = await asyncio.wait_for(child.stdout.readline(), 20)
        assert ready.strip() == b"ready"
        revoked_at = time.time()
        await a.revoke_session(pair.sid)
        line = (await asyncio.wait_for(child.stdout.readline(), 10)).strip()
        assert line != b"timeout"
        elapsed = float(line) - revoked_at
        print(f"\nrevocation reached another process in {elapsed * 1000:.1f} ms")
        assert elapsed < 1.0
        await asyncio.wait_for(child.wait(), 10)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
