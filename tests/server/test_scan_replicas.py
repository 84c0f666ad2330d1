"""Scan-login across replicas and over time: two gateways on one real redis-server (and on a
real Redis Cluster, and through Sentinel across a failover), a restart, expiry (the clock moved
past the ticket's deadline), and no leaked task or subscription after many connect/disconnect
cycles.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio

from gateway.clock import ManualClock
from gateway.store.memory import MemoryStore
from tests.fixtures.redis_cluster import RedisClusterNodes
from tests.fixtures.redis_sentinel import SentinelDeployment
from tests.fixtures.redis_server import RedisServer, unique_prefix
from tests.server.scan_harness import (
    Gateway,
    Phone,
    read_sse,
    sse_fields,
    start_gateway,
    until,
)


def redis_env(
    server: RedisServer | RedisClusterNodes | SentinelDeployment, prefix: str
) -> dict[str, str]:
    return {"WXGATE_STORE__URL": server.url, "WXGATE_STORE__PREFIX": prefix}


@pytest.fixture(params=["redis_server", "redis_cluster"])
async def replicas(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[list[Gateway]]:
    """Two gateways on one Redis deployment: a single server, or a 3-master Cluster."""
    env = redis_env(request.getfixturevalue(request.param), unique_prefix("scan-replicas"))
    a = await start_gateway(tmp_path, **env)  # the same data dir: shared keys and users
    b = await start_gateway(tmp_path, **env)
    yield [a, b]
    await a.close()
    await b.close()


async def subscriptions(gw: Gateway, server: RedisServer | None) -> int:
    if isinstance(gw.store, MemoryStore):
        return len([c for c in gw.store._broker.channels() if c.startswith("scan:")])
    assert server is not None
    client = redis.asyncio.Redis.from_url(server.url)
    try:
        for _ in range(100):
            channels = await client.pubsub_channels(gw.config.store.prefix + "*scan:*")
            if not channels:
                return 0
            await asyncio.sleep(0.02)
        return len(channels)
    finally:
        await client.aclose()


@pytest.mark.redis
async def test_created_on_a_confirmed_via_b_notifies_a(replicas: list[Gateway]) -> None:
    a, b = replicas
    pc = a.client()
    created = await a.create(pc, return_to="/demo/")
    t = created["ticket"]
    async with pc.ws_connect(created["ws_url"]) as ws, pc.get(created["events_url"]) as sse:
        assert (await ws.receive_json(timeout=5))["state"] == "pending"
        assert sse_fields((await read_sse(sse, 2))[1])["event"] == "pending"
        poll = asyncio.create_task(pc.get(f"/auth/qr/{t}/status?wait=25&after=pending"))
        await until(lambda: a.scan.hub.waiter_count == 3, "the long poll joining WS and SSE")
        phone = Phone(b, "bob")  # the phone talks to replica B only
        await phone.mini_login()
        assert (await phone.call(t, "scan"))[0] == 200
        assert (await ws.receive_json(timeout=5))["state"] == "scanned"
        assert sse_fields((await read_sse(sse, 1))[0])["event"] == "scanned"
        async with await poll as r:
            assert (await r.json())["state"] == "scanned"
        assert (await phone.call(t, "confirm"))[0] == 200
        assert (await ws.receive_json(timeout=5))["state"] == "confirmed"
        async with pc.post(f"/auth/qr/{t}/redeem") as r:
            assert r.status == 200, await r.text()
            assert (await r.json())["return_to"] == "/demo/"
        assert (await ws.receive_json(timeout=5))["state"] == "redeemed"


@pytest.mark.redis
async def test_a_sentinel_failover_between_scan_and_confirm(
    tmp_path: Path, redis_sentinel: SentinelDeployment
) -> None:
    """The PC waits on A; the phone scans on B; the primary dies and Sentinel promotes the
    replica; the phone confirms on B and A's waiter is told, over its re-subscribed channel."""
    env = redis_env(redis_sentinel, unique_prefix("scan-failover"))
    env |= {"WXGATE_STORE__CONNECT_TIMEOUT": "0.5", "WXGATE_STORE__COMMAND_TIMEOUT": "0.5"}
    a = await start_gateway(tmp_path, **env)
    b = await start_gateway(tmp_path, **env)
    try:
        pc = a.client()
        created = await a.create(pc, return_to="/demo/")
        t = created["ticket"]
        async with pc.ws_connect(created["ws_url"]) as ws:
            assert (await ws.receive_json(timeout=5))["state"] == "pending"
            phone = Phone(b, "bob")
            await phone.mini_login()
            assert (await phone.call(t, "scan"))[0] == 200
            assert (await ws.receive_json(timeout=5))["state"] == "scanned"
            # replication is asynchronous: the ticket must reach the replica first
            await asyncio.to_thread(redis_sentinel.wait_replicated)

            await asyncio.to_thread(redis_sentinel.failover)

            status, body = await until_not_503(lambda: phone.call(t, "confirm"))
            assert status == 200, body
            assert (await ws.receive_json(timeout=10))["state"] == "confirmed"
        async with pc.post(f"/auth/qr/{t}/redeem") as r:
            assert r.status == 200, await r.text()
            assert (await r.json())["return_to"] == "/demo/"
    finally:
        await a.close()
        await b.close()


async def until_not_503(
    call: Callable[[], Awaitable[tuple[int, dict[str, Any]]]], timeout: float = 15.0
) -> tuple[int, dict[str, Any]]:
    """``call()``'s answer once the store is back (503 while Redis is unreachable)."""
    deadline = time.monotonic() + timeout
    while (answer := await call())[0] == 503 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return answer


@pytest.mark.redis
async def test_waiting_on_both_replicas_and_a_restart(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    env = redis_env(redis_server, unique_prefix("scan-restart"))
    a = await start_gateway(tmp_path, **env)
    pc = a.client()
    created = await a.create(pc)
    t = created["ticket"]
    phone = Phone(a, "bob")
    await phone.mini_login()
    await phone.call(t, "scan")
    await a.server.close()  # replica A goes away; the ticket lives in Redis
    b = await start_gateway(tmp_path, **env)
    b.sessions += a.sessions  # the same browser (cookies are per host, not per port)
    try:
        async with pc.ws_connect(f"{b.ws_base}/auth/qr/{t}/ws") as ws:
            assert (await ws.receive_json(timeout=5))["state"] == "scanned"  # at once
            phone_b = Phone(b, "bob")
            await phone_b.mini_login()
            assert (await phone_b.call(t, "confirm"))[0] == 200
            assert (await ws.receive_json(timeout=5))["state"] == "confirmed"
        async with pc.post(f"{b.base}/auth/qr/{t}/redeem") as r:
            assert r.status == 200, await r.text()
    finally:
        await b.close()


async def test_expiry_reaches_every_transport(tmp_path: Path) -> None:
    clock = ManualClock(start=time.time())
    gw = await start_gateway(tmp_path, clock, WXGATE_SCAN__SSE_HEARTBEAT="600")
    try:
        pc = gw.client()
        created = await gw.create(pc)
        t = created["ticket"]
        poll = asyncio.create_task(pc.get(f"/auth/qr/{t}/status?wait=25&after=pending"))
        async with pc.ws_connect(created["ws_url"]) as ws, pc.get(created["events_url"]) as sse:
            assert (await ws.receive_json(timeout=5))["state"] == "pending"
            assert sse_fields((await read_sse(sse, 2))[1])["event"] == "pending"
            await until(lambda: gw.scan.hub.waiter_count == 3, "the long poll joining WS and SSE")
            clock.advance(gw.config.scan.ticket_ttl + 1)  # past the ticket's deadline
            gw.scan.hub.poke()
            assert (await ws.receive_json(timeout=5))["state"] == "expired"
            assert sse_fields((await read_sse(sse, 1))[0])["event"] == "expired"
        async with await asyncio.wait_for(poll, 20) as r:
            assert (await r.json())["state"] == "expired"
        async with pc.get(f"/auth/qr/{t}/image.png") as r:
            assert r.status == 404
        phone = Phone(gw, "bob")
        await phone.mini_login()
        status, body = await phone.call(t, "scan")
        assert status == 409 and "expired" in body["error_description"]
    finally:
        await gw.close()


@pytest.mark.parametrize("store", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def test_no_leak_after_500_connect_disconnect_cycles(
    tmp_path: Path, request: pytest.FixtureRequest, store: str
) -> None:
    server: RedisServer | None = None
    env = {"WXGATE_SCAN__SSE_HEARTBEAT": "0.05", "WXGATE_SCAN__MAX_WAITERS_PER_TICKET": "64",
           # one address, 500 lookups, SSE waiters released only at their next heartbeat
           "WXGATE_SCAN__MAX_WAITERS_PER_ADDRESS": "1000",
           "WXGATE_SCAN__STATUS_RATE_PER_MINUTE": "1000"}  # fmt: skip
    if store == "redis":
        server = request.getfixturevalue("redis_server")
        env.update(redis_env(server, unique_prefix("scan-leak")))
    gw = await start_gateway(tmp_path, **env)
    try:
        pc = gw.client()
        created = await gw.create(pc)
        await cycle(pc, created, 0)  # warm up (the Redis store's pub/sub tasks start once)
        hub = gw.scan.hub
        await until(lambda: hub.waiter_count == 0 and hub.channel_count == 0, "the warm-up")
        baseline = len(asyncio.all_tasks())
        for start in range(0, 500, 50):
            await asyncio.gather(*(cycle(pc, created, i) for i in range(start, start + 50)))
        with contextlib.suppress(AssertionError):  # SSE clients are noticed at the next
            await until(  # heartbeat write; the asserts below tell what is left
                lambda: hub.waiter_count == 0 and len(asyncio.all_tasks()) <= baseline, "cleanup"
            )
        assert gw.scan.hub.waiter_count == 0 and gw.scan.hub.channel_count == 0
        assert len(asyncio.all_tasks()) <= baseline
        assert await subscriptions(gw, server) == 0
    finally:
        await gw.close()


async def cycle(pc: aiohttp.ClientSession, created: dict[str, str], i: int) -> None:
    """One waiter that connects, reads the current state and disconnects abruptly."""
    if i % 2 == 0:
        async with pc.ws_connect(created["ws_url"]) as ws:
            assert (await ws.receive_json(timeout=5))["state"] == "pending"
    else:
        async with pc.get(created["events_url"]) as sse:
            assert len(await read_sse(sse, 2)) == 2
            sse.close()  # drop the connection without reading to the end


@pytest.mark.redis
async def test_follow_event_at_b_tells_the_pc_waiting_on_a(replicas: list[Gateway]) -> None:
    """Flow E across replicas: the QR and ticket are made on A, WeChat's push reaches B (the
    scene, the replay and duplicate sets live in Redis), the PC waiting on A is told."""
    a, b = replicas
    pc = a.client()
    created = await a.create(pc, flow="follow", return_to="/demo/")
    t = created["ticket"]
    appid = a.config.wechat.apps["mp"].appid
    async with b.client().get(f"/_sim/wechat/dev/identity?appid={appid}&user=gina") as r:
        assert r.status == 200  # B's simulator knows the person for its cgi-bin/user/info
    async with pc.ws_connect(created["ws_url"]) as ws:
        assert (await ws.receive_json(timeout=5))["state"] == "pending"
        body = {"url": created["qr_content"], "user": "gina", "retries": 3,
                "server_url": f"{b.base}/auth/wechat/mp/events"}  # fmt: skip
        async with a.client().post("/_sim/wechat/dev/follow_scan", json=body) as r:
            deliveries = (await r.json())["deliveries"]
        assert [d["status"] for d in deliveries] == [200, 200, 200]  # one accepted, 2 dupes
        assert (await ws.receive_json(timeout=5))["state"] == "confirmed"
        async with pc.post(f"/auth/qr/{t}/redeem") as r:
            assert r.status == 200, await r.text()
        assert (await ws.receive_json(timeout=5))["state"] == "redeemed"
