"""The floor of the login benchmark: the same HTTP work as a login, and nothing else.

Not the gateway: a bare aiohttp app on uvloop (access log off) that takes the mini-program
login POST, makes the one aiohttp ``ClientSession`` call to ``sns/jscode2session`` that a real
login makes, and answers a JSON body of a login's size - no user directory, no token, no
signature, no store, no metrics. Its CPU per login is what the chosen stack (aiohttp server +
aiohttp client, ARCHITECTURE.md) costs before the gateway does any work of its own, so
``bench_login`` can say how much of the signing bound is left for that work.

Run by bench_login: ``python -m tests.bench.floor_login PORT SIMULATOR_URL APPID SECRET``.
"""

from __future__ import annotations

import asyncio
import sys
from urllib.parse import quote, urlencode

import aiohttp
import uvloop
from aiohttp import web
from yarl import URL


async def serve(port: int, simulator: str, appid: str, secret: str) -> None:
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=100), cookie_jar=aiohttp.DummyCookieJar()
    )
    timeout = aiohttp.ClientTimeout(total=5, connect=2)

    async def login(request: web.Request) -> web.Response:
        code = (await request.json())["code"]
        params = {"appid": appid, "secret": secret, "js_code": code,
                  "grant_type": "authorization_code"}  # fmt: skip
        url = URL(f"{simulator}/sns/jscode2session?{urlencode(params, quote_via=quote)}",
                  encoded=True)  # fmt: skip
        async with session.get(url, timeout=timeout, allow_redirects=False) as r:
            data = await r.json(content_type=None)
        user = {"sub": "u_" + "A" * 22, "openid": data["openid"], "unionid": data.get("unionid")}
        body = {"access_token": "a" * 700, "token_type": "Bearer", "expires_in": 900}
        body.update(refresh_token="r" * 43, user=user)
        return web.json_response(body)

    async def ready(_: web.Request) -> web.Response:
        return web.json_response({"status": "ready"})

    app = web.Application()
    app.router.add_post("/auth/wechat/miniprogram/login", login)
    app.router.add_get("/readyz", ready)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await asyncio.Event().wait()
    finally:
        await session.close()
        await runner.cleanup()


if __name__ == "__main__":
    port, simulator, appid, secret = sys.argv[1:5]
    uvloop.run(serve(int(port), simulator, appid, secret))
