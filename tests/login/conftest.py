"""A real gateway in dev mode on a free port, with the WeChat simulator mounted inside it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.config import Config
from gateway.server.app import create_app
from gateway.simulator import SIMULATOR, Simulator
from tests.conftest import dev_config
from tests.fixtures.net import free_port


@dataclass
class Gateway:
    base: str
    app: web.Application
    config: Config

    @property
    def sim_url(self) -> str:
        return f"{self.base}/_sim/wechat"

    @property
    def simulator(self) -> Simulator:
        for sub in self.app._subapps:  # the mounted simulator application
            if SIMULATOR in sub:
                return sub[SIMULATOR]
        raise AssertionError("simulator not mounted")

    def browser(self, user_agent: str = "Mozilla/5.0 (X11; Linux x86_64)") -> aiohttp.ClientSession:
        """A cookie-keeping client that does not follow redirects by itself."""
        return aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            headers={"User-Agent": user_agent, "Accept": "text/html"},
        )

    async def sim(self, method: str, path: str, **kwargs: Any) -> Any:
        async with (
            aiohttp.ClientSession() as s,
            s.request(method, f"{self.sim_url}{path}", **kwargs) as r,
        ):
            assert r.status < 300, await r.text()
            return await r.json()


async def start_gateway(tmp_path: Path, **env: str) -> tuple[Gateway, TestServer]:
    port = free_port()
    config = dev_config(tmp_path, **env).with_bind("127.0.0.1", port)
    app = create_app(config)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    return Gateway(f"http://127.0.0.1:{port}", app, config.resolved()), server


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    gw, server = await start_gateway(tmp_path)
    try:
        yield gw
    finally:
        await server.close()
