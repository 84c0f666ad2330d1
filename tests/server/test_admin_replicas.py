"""Disabling a person on one replica reaches the other through the revocation fan-out: two
gateways on one real redis-server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fixtures.redis_server import RedisServer, unique_prefix
from tests.server.admin_support import ADMIN_TOKEN, Person, admin_call, start_admin_gateway
from tests.server.scan_harness import Gateway

TOKEN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# the bound is one second; the fan-out takes milliseconds, so half of it is the margin
BOUND = 0.5


@pytest.fixture
async def replicas(tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[list[Gateway]]:
    env = {"WXGATE_STORE__URL": redis_server.url,
           "WXGATE_STORE__PREFIX": unique_prefix("admin-replicas"),
           "WXGATE_TOKENS__ISSUER": "http://wxgate.test"}  # one issuer, one LB  # fmt: skip
    a = await start_admin_gateway(tmp_path, **env)  # one data dir: shared keys and users
    b = await start_admin_gateway(tmp_path, **env)
    yield [a, b]
    await a.close()
    await b.close()


@pytest.mark.redis
async def test_disable_on_a_stops_the_token_on_b_within_a_second(
    replicas: list[Gateway],
) -> None:
    a, b = replicas
    gus = Person(a, "gus")
    assert (await gus.login())[0] == 200
    assert await gus.proxied(b) == 200
    http = gus.http
    started = time.perf_counter()
    status, _ = await admin_call(http, "POST", f"{a.base}/admin/api/users/{gus.sub}/disabled",
                                 TOKEN)  # fmt: skip
    assert status == 200
    while await gus.proxied(b) == 200:
        assert time.perf_counter() - started < 5, "the disable never reached replica B"
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - started
    print(f"disable on A -> token refused on B's proxy after {elapsed * 1000:.1f} ms")
    assert elapsed < BOUND
    assert await gus.proxied(a) == 401
    status, body = await gus.login(b)  # no login on either replica while disabled
    assert (status, body["error"]) == (403, "account_disabled")
    assert (await admin_call(http, "DELETE", f"{b.base}/admin/api/users/{gus.sub}/disabled",
                             TOKEN))[0] == 200  # fmt: skip
    assert (await gus.login(b))[0] == 200 and await gus.proxied(a) == 200
