"""Shared pieces of the scan-login HTTP tests (this module holds no tests).

``start_gateway`` runs ``create_app`` in dev mode on a free 127.0.0.1 port (so the mounted
WeChat simulator is reachable at the public URL); ``Phone`` plays the phone: the mini-program
(bearer token from ``/auth/wechat/miniprogram/login``) or WeChat's browser (flow B through the
simulator's consent page, then the confirm page and its CSRF-protected form).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.clock import Clock
from gateway.config import Config
from gateway.login.scan import ScanLogin
from gateway.server.app import create_app
from gateway.server.keys import SCAN, STORE
from gateway.store import Store
from tests.conftest import dev_config
from tests.fixtures.net import free_port

__all__ = [
    "PC_UA",
    "WECHAT_UA",
    "Gateway",
    "Phone",
    "read_sse",
    "sse_fields",
    "start_gateway",
    "until",
]

PC_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"
WECHAT_UA = "Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 MicroMessenger/8.0.49 NetType/WIFI"
MINI_APPID = "wx00000000000000c3"


@dataclass
class Gateway:
    base: str
    app: web.Application
    config: Config
    server: TestServer
    sessions: list[aiohttp.ClientSession] = field(default_factory=list)

    @property
    def scan(self) -> ScanLogin:
        return self.app[SCAN]

    @property
    def store(self) -> Store:
        return self.app[STORE]

    @property
    def ws_base(self) -> str:
        return "ws://" + self.base.removeprefix("http://")

    def client(self, user_agent: str = PC_UA) -> aiohttp.ClientSession:
        """A cookie-keeping client (closed with the gateway)."""
        session = aiohttp.ClientSession(
            self.base, cookie_jar=aiohttp.CookieJar(unsafe=True),
            headers={"User-Agent": user_agent},
        )  # fmt: skip
        self.sessions.append(session)
        return session

    async def create(self, pc: aiohttp.ClientSession, **body: Any) -> dict[str, Any]:
        async with pc.post("/auth/qr", json=body or None) as r:
            assert r.status == 200, await r.text()
            return await r.json()  # type: ignore[no-any-return]

    async def close(self) -> None:
        for session in self.sessions:
            await session.close()
        await self.server.close()


async def start_gateway(tmp_path: Path, clock: Clock | None = None, **env: str) -> Gateway:
    port = free_port()
    config = dev_config(tmp_path, **env).with_bind("127.0.0.1", port)
    app = create_app(config, clock=clock)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    return Gateway(f"http://127.0.0.1:{port}", app, config.resolved(), server)


class Phone:
    """A phone logged in as ``user`` through the mini-program or WeChat's browser."""

    def __init__(self, gw: Gateway, user: str) -> None:
        self.gw = gw
        self.user = user
        self.browser = gw.client(WECHAT_UA)
        self.token = ""

    async def mini_login(self) -> str:
        async with self.browser.post(
            "/_sim/wechat/dev/js_code", json={"appid": MINI_APPID, "user": self.user}
        ) as r:
            assert r.status == 200, await r.text()
            code = (await r.json())["code"]
        async with self.browser.post("/auth/wechat/miniprogram/login", json={"code": code}) as r:
            assert r.status == 200, await r.text()
            self.token = (await r.json())["access_token"]
        return self.token

    async def call(self, ticket: str, action: str) -> tuple[int, dict[str, Any]]:
        """``POST /auth/qr/{ticket}/{action}`` as the mini-program."""
        headers = {"Authorization": f"Bearer {self.token}"}
        async with self.browser.post(f"/auth/qr/{ticket}/{action}", headers=headers) as r:
            return r.status, await r.json()

    async def open_qr(self, qr_content: str, action: str = "allow") -> aiohttp.ClientResponse:
        """Open the QR's URL in WeChat's browser and follow flow B to the confirm page."""
        url = qr_content
        for _ in range(8):
            if "/connect/oauth2/authorize" in url:
                url = url.split("#")[0] + f"&sim_user={self.user}&sim_action={action}"
            r = await self.browser.get(url, allow_redirects=False)
            if r.status != 302:
                await r.read()
                return r
            url = r.headers["Location"]
            if url.startswith("/"):
                url = self.gw.base + url
        raise AssertionError("too many redirects")

    def session_cookie(self) -> str | None:
        """The value of the phone browser's session cookie, if it has one."""
        for cookie in self.browser.cookie_jar:
            if cookie.key == "wxgate_session":
                return cookie.value
        return None

    @staticmethod
    def csrf_of(page: str) -> str:
        match = re.search(r'name="csrf" value="([^"]+)"', page)
        assert match, page
        return match.group(1)

    async def submit(self, ticket: str, action: str, csrf: str | None) -> aiohttp.ClientResponse:
        data = {} if csrf is None else {"csrf": csrf}
        r = await self.browser.post(f"/auth/qr/{ticket}/{action}", data=data)
        await r.read()
        return r


async def read_sse(resp: aiohttp.ClientResponse, count: int, timeout: float = 5.0) -> list[str]:
    """The next ``count`` SSE blocks (events or comments) of a stream."""
    blocks: list[str] = []
    buffer = ""
    async with asyncio.timeout(timeout):
        while len(blocks) < count:
            chunk = await resp.content.readany()
            if not chunk:
                break
            buffer += chunk.decode()
            while "\n\n" in buffer and len(blocks) < count:
                block, buffer = buffer.split("\n\n", 1)
                blocks.append(block)
    return blocks


async def until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Return once ``condition()`` holds (checked as the loop runs); the generous ``timeout``
    only turns a state that never comes into a failure naming ``what``."""
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"still waiting for {what} after {timeout} s") from None


def sse_fields(block: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
