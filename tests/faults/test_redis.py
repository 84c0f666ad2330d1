"""redis-server killed (SIGKILL) and restarted under traffic, with a real gateway process on it.

What must hold (the README's fault table): valid access tokens keep working through the proxy
and forward auth (their verification needs no Store round trip), ``/readyz`` turns 503 naming
the store, flows that need shared state answer 503 at once (not after a timeout), nothing
answers 500, and everything recovers when redis-server is back, without a restart.
"""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.faults.harness import Gateway, timed
from tests.fixtures.net import free_port
from tests.fixtures.redis_server import RedisServer, _find_binary

pytestmark = [pytest.mark.redis]


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this test alone (the session's is shared: never kill that one)."""
    binary = _find_binary()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server not found")
        pytest.skip("redis-server not found")
    with tempfile.TemporaryDirectory(prefix="wxgate-redis-fault-") as workdir:
        server = RedisServer(binary, Path(workdir), free_port())
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
async def gateway(tmp_path: Path, own_redis: RedisServer) -> AsyncIterator[Gateway]:
    gw = Gateway(tmp_path, {"WXGATE_STORE__URL": own_redis.url})
    await gw.start()
    yield gw
    gw.stop()


def kill(server: RedisServer) -> None:
    """SIGKILL, as a crash: no goodbye to the clients."""
    proc = server._proc
    assert proc is not None
    proc.send_signal(signal.SIGKILL)
    proc.wait(5)
    server._proc = None


async def traffic(gw: Gateway, token: str, statuses: Counter[int], stop: asyncio.Event) -> None:
    """Authenticated requests through the proxy and forward auth until ``stop``."""
    auth = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:
        while not stop.is_set():
            for path in ("/demo/ping", "/auth/verify"):
                status, _ = await gw.status(http, "GET", path, headers=auth)
                statuses[status] += 1
            await asyncio.sleep(0.005)


async def test_redis_killed_and_restarted_under_traffic(
    gateway: Gateway, own_redis: RedisServer
) -> None:
    async with aiohttp.ClientSession() as http:
        status, tokens = await gateway.login(http, "alice")
        assert status == 200, tokens
        statuses: Counter[int] = Counter()
        stop = asyncio.Event()
        load = asyncio.create_task(traffic(gateway, tokens["access_token"], statuses, stop))
        try:
            await asyncio.sleep(0.3)
            kill(own_redis)
            await gateway.wait_ready(http, 503, 10)
            _, body = await gateway.status(http, "GET", "/readyz")
            assert body is not None and "store" in body["failing"], body
            # state flows: 503 at once, clean JSON
            elapsed, (status, body) = await timed(gateway.status(http, "POST", "/auth/qr"))
            assert status == 503 and body is not None, (status, body)
            assert body["error"] == "temporarily_unavailable" and elapsed < 0.5, (elapsed, body)
            status, body = await gateway.login(http, "bob")
            assert status == 503 and body["error"] == "temporarily_unavailable", body
            await asyncio.sleep(0.3)  # traffic keeps flowing while the store is down
            during = sum(statuses.values())
            own_redis.start()  # same port, empty (no persistence)
            recovered = await gateway.wait_ready(http, 200, 15)
            status, body = await gateway.status(http, "POST", "/auth/qr")
            assert status == 200, body
            status, body = await gateway.login(http, "bob")
            assert status == 200, body
            await asyncio.sleep(0.2)
        finally:
            stop.set()
            await load
    assert set(statuses) == {200}, statuses  # not one failure of a valid token
    assert during > 20, statuses
    assert recovered < 15
    assert gateway.records("ERROR") == []
