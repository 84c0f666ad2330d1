"""Shared pieces of the proxy and forward-auth tests: a real upstream and a real gateway.

``Upstream`` is an aiohttp server on a free 127.0.0.1 port that records what it received:
``/echo/...`` (and any other path) answers JSON ``{"method", "path", "query", "headers"}``;
``/slow`` sets ``slow_arrived`` and answers only once the test sets ``release_slow`` (set by
``stop``); ``/status?code=N[&location=L]`` answers N;
``/bytes?n=N`` streams N bytes (chunked, 64 KiB pieces); ``/upload`` counts and hashes the
request body; ``/ws`` echoes WebSocket messages (``close:<code>`` makes it close with that
code). ``Gateway`` runs ``create_app`` on a free port with the given routes (dev mode: keys
are generated, the store is in memory).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from gateway.clock import Clock
from gateway.config import Config, RouteConfig
from gateway.metrics import Metrics
from gateway.server.app import create_app
from gateway.server.keys import TOKENS
from gateway.server.run import bind_socket
from gateway.server.verify_listener import start_verify_listener
from gateway.tokens.refresh import TokenPair
from tests.conftest import dev_config

__all__ = [
    "BACKEND_TRAVERSALS",
    "ORDINARY_PATHS",
    "Gateway",
    "Upstream",
    "gateway",
    "make_config",
    "raw_get",
]

# Under a public prefix, yet read by some backend as a way out of it: Tomcat/Spring drop a
# `;`-parameter (`..;` is `..`), Windows/IIS-style servers split on `\`, and a backend that
# decodes once more sees `%2e%2e` (and `%2f`) as `..` (and `/`).
BACKEND_TRAVERSALS = (
    "/public/..;/admin/x",
    "/public/..\\admin/x",
    "/public/%5c..%5cadmin/x",
    "/public/%252e%252e/admin/x",
    "/public/%252e%252e%252fadmin/x",
)
# Paths that must still pass: an encoded space, encoded UTF-8, a `;` in the query, a literal
# `%` that is not followed by two hex digits, dots inside segments.
ORDINARY_PATHS = (
    "/public/a%20b",
    "/public/%E4%BD%A0%E5%A5%BD",
    "/public/x?a=1;b=2",
    "/public/50%25off",
    "/public/v1.2/..x/.well",
)


class Upstream:
    """A backend the gateway proxies to (see module doc)."""

    def __init__(self) -> None:
        self.app = web.Application()
        self.app.router.add_route("*", "/echo{tail:.*}", self.echo)
        self.app.router.add_get("/slow{tail:.*}", self.slow)
        self.app.router.add_get("/bytes{tail:.*}", self.bytes)
        self.app.router.add_post("/upload{tail:.*}", self.upload)
        self.app.router.add_get("/ws{tail:.*}", self.ws)
        self.app.router.add_route("*", "/status{tail:.*}", self.status)
        self.app.router.add_route("*", "/{tail:.*}", self.echo)  # anything else: echo
        self.received: list[dict[str, Any]] = []
        self.ws_closed = asyncio.Event()
        self.ws_close_code: int | None = None
        self.slow_arrived = asyncio.Event()
        self.release_slow = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        self.runner = web.AppRunner(self.app, access_log=None)
        await self.runner.setup()
        sock = bind_socket("127.0.0.1", 0)
        await web.SockSite(self.runner, sock).start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def stop(self) -> None:
        self.release_slow.set()  # a held request must not keep the cleanup waiting
        if self.runner is not None:
            await self.runner.cleanup()

    async def echo(self, request: web.Request) -> web.Response:
        body = await request.read()
        seen = {
            "method": request.method,
            "path": request.rel_url.raw_path,
            "query": request.rel_url.raw_query_string,
            "headers": [[k, v] for k, v in request.headers.items()],
            "body": body.decode("latin-1"),
        }
        self.received.append(seen)
        response = web.json_response(seen)
        response.headers["Connection"] = "keep-alive, X-Upstream-Hop"
        response.headers["X-Upstream-Hop"] = "must not pass"
        response.headers["Keep-Alive"] = "timeout=5"
        response.headers["X-Upstream"] = "yes"
        response.set_cookie("upstream_cookie", "u1")
        return response

    async def status(self, request: web.Request) -> web.Response:
        code = int(request.query["code"])
        headers = {"Location": request.query["location"]} if "location" in request.query else {}
        body = None if code in (204, 304) or request.method == "HEAD" else b"status body"
        response = web.Response(status=code, headers=headers, body=body)
        if request.method == "HEAD":
            response.headers["Content-Length"] = "11"
        return response

    async def slow(self, request: web.Request) -> web.Response:
        self.slow_arrived.set()
        await self.release_slow.wait()
        return web.json_response({"slow": True})

    async def bytes(self, request: web.Request) -> web.StreamResponse:
        size = int(request.query["n"])
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        piece = b"x" * 65_536
        while size > 0:
            await response.write(piece[: min(size, len(piece))])
            size -= len(piece)
        await response.write_eof()
        return response

    async def upload(self, request: web.Request) -> web.Response:
        digest = hashlib.sha256()
        total = 0
        async for chunk in request.content.iter_any():
            digest.update(chunk)
            total += len(chunk)
        return web.json_response({"bytes": total, "sha256": digest.hexdigest()})

    async def ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=("chat",), autoclose=False)
        await ws.prepare(request)
        self.received.append(
            {"path": "/ws", "headers": [[k, v] for k, v in request.headers.items()]}
        )
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.TEXT and msg.data.startswith("close:"):
                await ws.close(code=int(msg.data[6:]), message=b"bye")
                break
            if msg.type is aiohttp.WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type is aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        self.ws_close_code = ws.close_code
        if not ws.closed:
            await ws.close(code=ws.close_code or 1000)
        self.ws_closed.set()
        return ws


async def raw_get(base: str, target: str) -> tuple[int, bytes]:
    """``GET target`` sent byte for byte (an HTTP client would normalise it): the status and
    the body."""
    host, port = base.split("//")[1].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        head, _, body = (await reader.read()).partition(b"\r\n\r\n")
    finally:
        writer.close()
        await writer.wait_closed()
    return int(head.split()[1]), body


def make_config(tmp_path: Path, routes: list[dict[str, Any]], **env: str) -> Config:
    """The dev config with ``routes`` (dicts of RouteConfig fields) replacing the dev ones."""
    config = dev_config(tmp_path, WXGATE_LOGGING__ACCESS_LOG="false", **env)
    route_configs = tuple(
        RouteConfig(**{**r, "scopes": tuple(r.get("scopes", ()))}) for r in routes
    )
    proxy = dataclasses.replace(config.proxy, routes=route_configs)
    return dataclasses.replace(config, proxy=proxy)


@dataclasses.dataclass
class Gateway:
    app: web.Application
    url: str
    lean_url: str = ""  # the lean /auth/verify listener, when asked for (``lean=True``)

    async def session_pair(self, sub: str = "user-1", scope: str | None = "read") -> TokenPair:
        """A fresh login session's tokens, as the login flows would issue them."""
        return await self.app[TOKENS].issue_session(
            sub, ["wechat"], appid="wx-app", openid="o-123", unionid="u-456", scope=scope
        )

    async def token(self, sub: str = "user-1", scope: str | None = "read") -> str:
        return (await self.session_pair(sub, scope)).access_token


@asynccontextmanager
async def gateway(
    config: Config,
    clock: Clock | None = None,
    metrics: Metrics | None = None,
    *,
    lean: bool = False,
) -> AsyncIterator[Gateway]:
    """The gateway app serving on a free 127.0.0.1 port (and ``lean``: the lean forward-auth
    listener on another)."""
    sock = bind_socket("127.0.0.1", 0)
    config = config.with_bind("127.0.0.1", sock.getsockname()[1])
    app = create_app(config, clock=clock, metrics=metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    listener = await start_verify_listener(app, "127.0.0.1", 0) if lean else None
    lean_url = f"http://127.0.0.1:{listener.port}" if listener else ""
    try:
        yield Gateway(app, config.public_url, lean_url)
    finally:
        if listener is not None:
            await listener.close()
        await runner.cleanup()
