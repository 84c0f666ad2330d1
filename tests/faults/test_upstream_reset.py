"""An upstream that resets connections (TCP RST): on accept, after reading the request, and in
the middle of its response headers. A real listening socket; the gateway started by ``serve``.

What must hold (the README's fault table): the proxy answers 502 ``bad_gateway`` JSON, never a
500 or a hang, logs no ERROR, and the next request to a healthy route is served as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from gateway.config import RouteConfig
from gateway.server.run import bind_socket, serve
from tests.conftest import dev_config


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0: the kernel sends RST instead of FIN."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _resetting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = b""
    with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
        head = await reader.readuntil(b"\r\n\r\n")
    mode = head.split(b" ", 2)[1].rsplit(b"/", 1)[-1].decode() if head else ""
    if mode == "headers":
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/pl")
        await writer.drain()
    _reset(writer)


async def _reset_on_accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    _reset(writer)


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[str]:
    servers = [
        await asyncio.start_server(_reset_on_accept, "127.0.0.1", 0),
        await asyncio.start_server(_resetting, "127.0.0.1", 0),
    ]
    ports = [s.sockets[0].getsockname()[1] for s in servers]
    config = dev_config(tmp_path)
    routes = (
        RouteConfig(prefix="/accept/", upstream=f"http://127.0.0.1:{ports[0]}", auth="public"),
        RouteConfig(prefix="/reset/", upstream=f"http://127.0.0.1:{ports[1]}", auth="public"),
        *config.proxy.routes,
    )
    config = dataclasses.replace(config, proxy=dataclasses.replace(config.proxy, routes=routes))
    sock = bind_socket("127.0.0.1", 0)
    started = asyncio.Event()
    task = asyncio.create_task(serve(config, sock=sock, on_started=lambda _: started.set()))
    await asyncio.wait_for(started.wait(), 30)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for server in servers:
            server.close()
            await server.wait_closed()


async def test_an_upstream_resetting_connections_is_a_clean_502(
    gateway: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    paths = ["/accept/x", "/reset/request", "/reset/headers"]
    async with aiohttp.ClientSession() as http:
        for path in paths:
            for method in ("GET", "POST"):
                async with asyncio.timeout(10):
                    async with http.request(method, gateway + path, data=b"x" * 100) as resp:
                        body = await resp.json()
                        assert resp.status == 502, (path, method, resp.status, body)
                        assert body["error"] == "bad_gateway", (path, body)
                        assert "Server" not in resp.headers
        async with http.get(gateway + "/public/ok") as resp:
            assert resp.status == 200  # the healthy route is unaffected
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
