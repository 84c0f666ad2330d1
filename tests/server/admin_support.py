"""Shared pieces of the administration tests (this module holds no tests): a gateway with an
admin token, people logging in through the mini-program (the simulator's wx.login), and calls
to the admin API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from tests.server.scan_harness import MINI_APPID, Gateway, start_gateway

__all__ = ["ADMIN_TOKEN", "Person", "admin_call", "start_admin_gateway"]

ADMIN_TOKEN = "admin-token-" + "x" * 32


async def start_admin_gateway(tmp_path: Path, **env: str) -> Gateway:
    return await start_gateway(tmp_path, WXGATE_ADMIN__TOKEN=ADMIN_TOKEN, **env)


class Person:
    """Someone who logs in through the mini-program (``user`` is the simulator's person)."""

    def __init__(self, gw: Gateway, user: str, user_agent: str = "PersonAgent/1.0") -> None:
        self.gw = gw
        self.user = user
        self.http = gw.client(user_agent)
        self.access = ""
        self.refresh = ""
        self.sub = ""

    async def login(self, gw: Gateway | None = None) -> tuple[int, dict[str, Any]]:
        """Log in (on ``gw``, default the person's gateway); the status and JSON body."""
        base = (gw or self.gw).base
        async with self.http.post(
            f"{base}/_sim/wechat/dev/js_code", json={"appid": MINI_APPID, "user": self.user}
        ) as r:
            assert r.status == 200, await r.text()
            code = (await r.json())["code"]
        async with self.http.post(
            f"{base}/auth/wechat/miniprogram/login", json={"code": code}
        ) as r:
            body = await r.json()
        if r.status == 200:
            self.access, self.refresh = body["access_token"], body["refresh_token"]
            self.sub = body["user"]["sub"]
        return r.status, body

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}

    @property
    def cookie(self) -> dict[str, str]:
        return {"Cookie": f"wxgate_session={self.access}~{self.refresh}"}

    async def proxied(self, gw: Gateway) -> int:
        """The status of ``GET /demo/`` through ``gw``'s proxy with the access token."""
        async with self.http.get(f"{gw.base}/demo/", headers=self.bearer) as r:
            return r.status


async def admin_call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    **params: str,
) -> tuple[int, dict[str, Any]]:
    async with http.request(method, url, headers=headers or {}, params=params or None) as r:
        return r.status, await r.json()
