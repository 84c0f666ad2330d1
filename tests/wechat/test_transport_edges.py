"""Transport edge cases that a real server cannot stage reliably (aioresponses, issue rule 11).

"Before sent" failures (``ClientConnectorError``, ``ConnectionTimeoutError``) are retried and
fail over; failures that may come after WeChat received the request are never retried.

Note: aioresponses 0.7.9 cannot build mocked *responses* on aiohttp 3.14 (``ClientResponse``
now requires ``stream_writer``); only mocked *exceptions* work. Answers therefore come from
real local servers (the simulator passes through aioresponses).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aioresponses import aioresponses

from gateway.clock import ManualClock
from gateway.config import WeChatAppConfig, WeChatConfig
from gateway.errors import TemporarilyUnavailable
from gateway.metrics import Metrics
from gateway.simulator import Simulator
from gateway.store.memory import MemoryStore
from gateway.wechat import WeChatClient
from gateway.wechat.transport import failover_enabled
from tests.simulator.harness import APPS as SIM_APPS
from tests.simulator.harness import MINI

PRIMARY = re.compile(r"^https://api\.weixin\.qq\.com/sns/jscode2session.*$")
FAILOVER = re.compile(r"^https://api2\.weixin\.qq\.com/sns/jscode2session.*$")
OAUTH = re.compile(r"^https://api\.weixin\.qq\.com/sns/oauth2/access_token.*$")
APPS = {
    "mini": WeChatAppConfig("miniprogram", "wx4f4bc4dec97d474b", "s" * 32),
    "web": WeChatAppConfig("website", "wx00000000000000a1", "t" * 32),
}


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    with aioresponses(passthrough=["http://127.0.0.1"]) as m:
        yield m


@pytest.fixture
async def client() -> AsyncIterator[WeChatClient]:
    clock = ManualClock()
    store = MemoryStore(clock)
    async with aiohttp.ClientSession() as session:
        wechat = WeChatClient(session, WeChatConfig(apps=APPS), store, Metrics(), clock, backoff=0)
        yield wechat
        await wechat.close()
    await store.close()


def _calls(mocked: aioresponses, host: str) -> int:
    return sum(len(v) for (method, url), v in mocked.requests.items() if url.host == host)


async def test_connect_timeout_fails_over(
    mocked: aioresponses, sim: Simulator, sim_base: str, clock: ManualClock
) -> None:
    config = WeChatConfig(api_failover_base=sim_base, apps=SIM_APPS)  # api_base: the default
    mocked.get(PRIMARY, exception=aiohttp.ConnectionTimeoutError())
    store = MemoryStore(clock)
    async with aiohttp.ClientSession() as session:
        wechat = WeChatClient(session, config, store, Metrics(), clock, backoff=0)
        result = await wechat.jscode2session("mini", sim.mint_js_code(MINI, "alice"))
    assert result.openid == sim.openid(MINI, "alice")
    assert _calls(mocked, "api.weixin.qq.com") == 1 and sim.calls("jscode2session") == 1


async def test_server_disconnect_after_send_is_not_retried(
    client: WeChatClient, mocked: aioresponses
) -> None:
    mocked.get(PRIMARY, exception=aiohttp.ServerDisconnectedError(), repeat=True)
    with pytest.raises(TemporarilyUnavailable):
        await client.jscode2session("mini", "CODE")
    assert _calls(mocked, "api.weixin.qq.com") == 1


@pytest.mark.parametrize(
    "exc", [aiohttp.SocketTimeoutError(), TimeoutError(), aiohttp.ClientPayloadError("cut")]
)
async def test_maybe_sent_failures_are_not_retried(
    client: WeChatClient, mocked: aioresponses, exc: Exception
) -> None:
    mocked.get(OAUTH, exception=exc, repeat=True)
    with pytest.raises(TemporarilyUnavailable):
        await client.exchange_code("web", "CODE")
    assert _calls(mocked, "api.weixin.qq.com") == 1


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain; charset=ISO-8859-1",
        "application/json; encoding=utf-8",
        "text/html; charset=gbk",
    ],
)
async def test_content_type_is_ignored(
    aiohttp_server: Callable[..., Awaitable[TestServer]], content_type: str
) -> None:
    async def answer(request: web.Request) -> web.Response:
        body = '{"openid":"o1","session_key":"k","nickname":"\u5f20"}'.encode()
        return web.Response(body=body, headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_get("/sns/jscode2session", answer)
    server = await aiohttp_server(app)
    clock = ManualClock()
    config = dataclasses.replace(WeChatConfig(apps=APPS), api_base=str(server.make_url("")))
    async with aiohttp.ClientSession() as session:
        wechat = WeChatClient(session, config, MemoryStore(clock), Metrics(), clock)
        assert (await wechat.jscode2session("mini", "CODE")).openid == "o1"


async def test_retries_exhausted_on_connection_failures(
    client: WeChatClient, mocked: aioresponses
) -> None:
    for pattern in (PRIMARY, FAILOVER, PRIMARY):
        mocked.get(pattern, exception=aiohttp.ConnectionTimeoutError())
    with pytest.raises(TemporarilyUnavailable):
        await client.jscode2session("mini", "CODE")
    assert _calls(mocked, "api.weixin.qq.com") == 2 and _calls(mocked, "api2.weixin.qq.com") == 1


def test_failover_rules() -> None:
    assert failover_enabled(WeChatConfig())
    assert not failover_enabled(WeChatConfig(api_base="http://127.0.0.1:9/sim"))
    assert failover_enabled(
        WeChatConfig(api_base="http://127.0.0.1:9", api_failover_base="http://127.0.0.1:10")
    )
    assert not failover_enabled(WeChatConfig(api_failover_base=""))
    assert not failover_enabled(WeChatConfig(api_failover_base="https://api.weixin.qq.com/"))


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/sns/jscode2session", b'{"session_key":"k"}'),  # no openid (easywechat rule, §2.8)
        ("/sns/jscode2session", b'{"openid":"o1","errcode":"x"}'),
        ("/cgi-bin/stable_token", b'{"expires_in":7200}'),
    ],
)
async def test_malformed_success_bodies_are_unavailable(
    aiohttp_server: Callable[..., Awaitable[TestServer]], path: str, body: bytes
) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="text/plain")

    app = web.Application()
    app.router.add_route("*", path, answer)
    server = await aiohttp_server(app)
    clock = ManualClock()
    config = dataclasses.replace(WeChatConfig(apps=APPS), api_base=str(server.make_url("")))
    async with aiohttp.ClientSession() as session:
        wechat = WeChatClient(session, config, MemoryStore(clock), Metrics(), clock)
        with pytest.raises(TemporarilyUnavailable):
            if path == "/sns/jscode2session":
                await wechat.jscode2session("mini", "CODE")
            else:
                await wechat.server_access_token("mini")
        await wechat.close()
