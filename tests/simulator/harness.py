"""Fixtures shared by tests/simulator and tests/wechat: the simulator on a real local port.

Imported by both conftest modules. Everything runs on 127.0.0.1; the clock is a ManualClock
shared by the simulator, the store and the client so tests move time instead of sleeping.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.clock import ManualClock
from gateway.config import WeChatAppConfig, WeChatConfig
from gateway.metrics import Metrics
from gateway.simulator import SIMULATOR, SimAccessLogger, Simulator, create_simulator
from gateway.store.memory import MemoryStore
from gateway.wechat import WeChatClient

WEB, MP, MINI = "wx00000000000000a1", "wx00000000000000b2", "wx00000000000000c3"
SECRETS = {
    WEB: "0000000000000000000000000000d0a1",
    MP: "0000000000000000000000000000d0b2",
    MINI: "0000000000000000000000000000d0c3",
}
APPS = {
    "web": WeChatAppConfig("website", WEB, SECRETS[WEB], scope="snsapi_login"),
    "mp": WeChatAppConfig("official_account", MP, SECRETS[MP], scope="snsapi_userinfo"),
    "mini": WeChatAppConfig(
        "miniprogram", MINI, SECRETS[MINI], wxacode_page="pages/scan/index",
        wxacode_env_version="develop",
    ),
}  # fmt: skip
TIMEOUT = 0.5

ServerFactory = Callable[..., Awaitable[TestServer]]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_700_000_000.0)


@pytest.fixture
async def sim_server(aiohttp_server: ServerFactory, clock: ManualClock) -> TestServer:
    app = create_simulator(WeChatConfig(apps=APPS), clock)
    return await aiohttp_server(app, access_log_class=SimAccessLogger)


@pytest.fixture
def sim(sim_server: TestServer) -> Simulator:
    return sim_server.app[SIMULATOR]  # type: ignore[index]


@pytest.fixture
def sim_base(sim_server: TestServer) -> str:
    return str(sim_server.make_url("")).rstrip("/")


@pytest.fixture
def wechat_config(sim_base: str) -> WeChatConfig:
    return WeChatConfig(
        api_base=sim_base,
        open_base=sim_base,
        timeout=TIMEOUT,
        connect_timeout=TIMEOUT,
        max_retries=2,
        apps=APPS,
    )


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


@pytest.fixture
async def store(clock: ManualClock) -> AsyncIterator[MemoryStore]:
    memory = MemoryStore(clock)
    yield memory
    await memory.close()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
async def client(
    http: aiohttp.ClientSession,
    wechat_config: WeChatConfig,
    store: MemoryStore,
    metrics: Metrics,
    clock: ManualClock,
) -> AsyncIterator[WeChatClient]:
    wechat = WeChatClient(http, wechat_config, store, metrics, clock, backoff=0.01)
    yield wechat
    await wechat.close()


async def mounted_simulator(
    aiohttp_server: ServerFactory, clock: ManualClock, prefix: str = "/_sim/wechat"
) -> tuple[TestServer, Simulator]:
    """The simulator mounted as a sub-application, as the gateway does in dev mode."""
    sub = create_simulator(WeChatConfig(apps=APPS), clock)
    root = web.Application()
    root.add_subapp(prefix, sub)
    server = await aiohttp_server(root, access_log_class=SimAccessLogger)
    return server, sub[SIMULATOR]


def metric(metrics: Metrics, name: str, **labels: Any) -> float:
    """A sample's value (0 when absent)."""
    value = metrics.registry.get_sample_value(name, {k: str(v) for k, v in labels.items()})
    return value or 0.0
