"""Retries, timeouts, failover and the server-token single flight, over real HTTP (§6.2, §6.6)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket

import aiohttp
import pytest

from gateway.clock import ManualClock
from gateway.config import StoreConfig, WeChatConfig
from gateway.errors import InvalidGrant, TemporarilyUnavailable
from gateway.metrics import Metrics
from gateway.simulator import Simulator
from gateway.store import create_store
from gateway.store.memory import MemoryStore
from gateway.wechat import UpstreamError, WeChatClient, wechat_cause
from tests.simulator.harness import MINI, TIMEOUT, WEB


async def test_system_error_then_success_is_retried_once(
    client: WeChatClient, sim: Simulator
) -> None:
    sim.add_fault("jscode2session", "errcode", errcode=-1, times=1)
    session = await client.jscode2session("mini", sim.mint_js_code(MINI, "alice"))
    assert session.openid == sim.openid(MINI, "alice")
    assert sim.calls("jscode2session") == 2


async def test_503_retried_even_for_code_exchange(client: WeChatClient, sim: Simulator) -> None:
    sim.add_fault("jscode2session", "http5xx", status=503)
    await client.jscode2session("mini", sim.mint_js_code(MINI, "alice"))
    assert sim.calls("jscode2session") == 2


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_other_5xx_not_retried_for_code_exchange(
    client: WeChatClient, sim: Simulator, status: int
) -> None:
    sim.add_fault("access_token", "http5xx", status=status)
    with pytest.raises(TemporarilyUnavailable):
        await client.exchange_code("web", sim.authorize(WEB, "alice"))
    assert sim.calls("sns/oauth2/access_token") == 1


async def test_5xx_retried_for_other_calls(client: WeChatClient, sim: Simulator) -> None:
    token = await client.exchange_code("web", sim.authorize(WEB, "alice"))
    sim.add_fault("userinfo", "http5xx", status=502, times=2)
    info = await client.userinfo("web", token.access_token, token.openid)
    assert info.openid == token.openid and sim.calls("userinfo") == 3


async def test_empty_body_is_not_retried(client: WeChatClient, sim: Simulator) -> None:
    sim.add_fault("jscode2session", "empty_body")
    with pytest.raises(TemporarilyUnavailable) as info:
        await client.jscode2session("mini", sim.mint_js_code(MINI, "alice"))
    assert isinstance(wechat_cause(info.value), UpstreamError)
    assert sim.calls("jscode2session") == 1


async def test_latency_beyond_timeout_fails_within_budget(
    client: WeChatClient, sim: Simulator
) -> None:
    token = await client.exchange_code("web", sim.authorize(WEB, "alice"))
    sim.add_fault("userinfo", "latency", seconds=60.0, times=0)  # cancelled at teardown
    with pytest.raises(TemporarilyUnavailable) as info:
        await client.userinfo("web", token.access_token, token.openid)
    assert info.value.status == 503 and info.value.error == "temporarily_unavailable"
    # within the budget (at most 1 + max_retries attempts of TIMEOUT each): every attempt was
    # given up before WeChat answered it, so each slow answer is still pending
    attempts = sim.calls("userinfo")
    assert 1 <= attempts <= 1 + 2
    assert len(sim.background) == attempts and not any(t.done() for t in sim.background)


async def test_timed_out_code_exchange_is_never_sent_again(
    client: WeChatClient, sim: Simulator
) -> None:
    sim.add_fault("jscode2session", "latency", seconds=TIMEOUT * 4)
    code = sim.mint_js_code(MINI, "alice")
    with pytest.raises(TemporarilyUnavailable):
        await client.jscode2session("mini", code)
    assert sim.calls("jscode2session") == 1  # given up after one attempt: no retry sent
    assert len(sim.background) == 1  # WeChat had not answered when the client gave up
    await asyncio.gather(*sim.background)  # the slow answer lands: WeChat consumed the code
    assert sim.calls("jscode2session") == 1
    with pytest.raises(InvalidGrant):  # §6.2: a retry would only have met 40163
        await client.jscode2session("mini", code)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_connection_refused_fails_over(
    http: aiohttp.ClientSession,
    wechat_config: WeChatConfig,
    store: MemoryStore,
    metrics: Metrics,
    clock: ManualClock,
    sim: Simulator,
) -> None:
    config = dataclasses.replace(
        wechat_config,
        api_base=f"http://127.0.0.1:{_closed_port()}",
        api_failover_base=wechat_config.api_base,
    )
    client = WeChatClient(http, config, store, metrics, clock, backoff=0.01)
    session = await client.jscode2session("mini", sim.mint_js_code(MINI, "alice"))
    assert session.openid == sim.openid(MINI, "alice") and sim.calls("jscode2session") == 1
    labels = {"api": "sns/jscode2session", "outcome": "network", "errcode": "none"}
    assert metrics.registry.get_sample_value("wxgate_wechat_api_requests_total", labels) == 1


async def test_connection_refused_without_failover(
    http: aiohttp.ClientSession,
    wechat_config: WeChatConfig,
    store: MemoryStore,
    metrics: Metrics,
    clock: ManualClock,
) -> None:
    # a custom api_base with the default failover: never fail over to the real api2 host
    config = dataclasses.replace(wechat_config, api_base=f"http://127.0.0.1:{_closed_port()}")
    config = dataclasses.replace(config, api_failover_base="https://api2.weixin.qq.com")
    client = WeChatClient(http, config, store, metrics, clock, backoff=0.01)
    with pytest.raises(TemporarilyUnavailable):
        await client.jscode2session("mini", "code")
    labels = {"api": "sns/jscode2session", "outcome": "network", "errcode": "none"}
    assert metrics.registry.get_sample_value("wxgate_wechat_api_requests_total", labels) == 3


async def test_token_single_flight_in_one_process(client: WeChatClient, sim: Simulator) -> None:
    sim.add_fault("stable_token", "latency", seconds=0.1)
    tokens = await asyncio.gather(*(client.server_access_token("mini") for _ in range(50)))
    assert len(set(tokens)) == 1 and sim.calls("cgi-bin/stable_token") == 1


async def test_token_single_flight_across_replicas(
    http: aiohttp.ClientSession,
    wechat_config: WeChatConfig,
    store: MemoryStore,
    clock: ManualClock,
    sim: Simulator,
) -> None:
    sim.add_fault("stable_token", "latency", seconds=0.2)
    replicas = [WeChatClient(http, wechat_config, store, Metrics(), clock) for _ in range(2)]
    calls = [r.server_access_token("mini") for r in replicas for _ in range(10)]
    tokens = await asyncio.gather(*calls)
    assert len(set(tokens)) == 1 and sim.calls("cgi-bin/stable_token") == 1
    for replica in replicas:
        await replica.close()


async def test_token_errcode_refreshes_once_and_retries_once(
    client: WeChatClient, sim: Simulator
) -> None:
    await client.server_access_token("mini")
    sim.add_fault("getuserphonenumber", "errcode", errcode=40001)
    info = await client.get_phone_number("mini", sim.mint_phone_code(MINI, "alice", "13800138000"))
    assert info.pure_phone_number == "13800138000"
    assert sim.calls("getuserphonenumber") == 2 and sim.calls("stable_token") == 2


async def test_token_errcode_twice_gives_up(client: WeChatClient, sim: Simulator) -> None:
    sim.add_fault("checksession", "errcode", errcode=42001, times=0)
    with pytest.raises(TemporarilyUnavailable):
        await client.check_session("mini", sim.openid(MINI, "alice"), "a" * 24)
    assert sim.calls("checksession") == 2 and sim.calls("stable_token") == 2


async def test_expired_server_token_in_simulator(
    client: WeChatClient, sim: Simulator, clock: ManualClock, store: MemoryStore
) -> None:
    # a token that WeChat considers superseded (cgi-bin/token semantics) is replaced once
    stale = (await client.fetch_classic_token("mini")).access_token
    await client.fetch_classic_token("mini")
    clock.advance(301)  # the superseded classic token is now dead (§2.12)
    entry = json.dumps({"t": stale, "exp": clock.time() + 900, "ref": clock.time() + 600})
    await store.set(f"wechat:token:{MINI}", entry, 900)
    assert await client.check_session("mini", sim.openid(MINI, "x"), "a" * 24) is False
    assert sim.calls("checksession") == 2 and sim.calls("stable_token") == 1


@pytest.mark.redis
async def test_token_single_flight_across_replicas_on_redis(
    redis_url: str,
    redis_prefix: str,
    http: aiohttp.ClientSession,
    wechat_config: WeChatConfig,
    clock: ManualClock,
    sim: Simulator,
) -> None:
    sim.add_fault("stable_token", "latency", seconds=0.2)
    stores = [create_store(StoreConfig(url=redis_url, prefix=redis_prefix)) for _ in range(3)]
    replicas = [WeChatClient(http, wechat_config, s, Metrics(), clock) for s in stores]
    try:
        calls = [r.server_access_token("mini") for r in replicas for _ in range(5)]
        tokens = await asyncio.gather(*calls)
        assert len(set(tokens)) == 1 and sim.calls("cgi-bin/stable_token") == 1
        again = await replicas[2].server_access_token("mini")  # read from Redis, no fetch
        assert again == tokens[0] and sim.calls("cgi-bin/stable_token") == 1
    finally:
        for replica, store in zip(replicas, stores, strict=True):
            await replica.close()
            await store.close()
