"""The lean ``/auth/verify`` listener has the main listener's connection limits (the same
``listener.ProtocolGuard``), over real sockets to a gateway started by ``serve``: a client
trickling headers gets 408, an idle kept-alive connection is closed after
``server.keepalive_timeout``, and one address holds at most
``server.max_connections_per_address`` connections. Small timeouts keep the file fast."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from gateway.server.run import bind_socket, serve
from tests.conftest import dev_config
from tests.server.test_listener import closed_after, read_response

pytestmark = [pytest.mark.asyncio]

VERIFY = b"GET /auth/verify HTTP/1.1\r\nHost: x\r\nX-Original-URI: /x\r\n\r\n"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def verify_listener(tmp_path: Path, **server: Any) -> AsyncIterator[tuple[int, int]]:
    """A dev gateway with the verify listener on; yields (main port, verify port)."""
    config = dev_config(tmp_path)
    verify_port = _free_port()
    config = dataclasses.replace(
        config,
        server=dataclasses.replace(config.server, **server),
        forward_auth=dataclasses.replace(config.forward_auth, listen_port=verify_port),
    )
    sock = bind_socket("127.0.0.1", 0)
    started = asyncio.Event()
    task = asyncio.create_task(serve(config, sock=sock, on_started=lambda _: started.set()))
    await asyncio.wait_for(started.wait(), 30)
    try:
        yield sock.getsockname()[1], verify_port
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def _answered(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    writer.write(VERIFY)
    head, _ = await read_response(reader)
    assert head.startswith(b"HTTP/1.1 ") and b"x-request-id:" in head.lower(), head
    return head


async def _metric(port: int, name: str) -> float:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    text = (await asyncio.wait_for(reader.read(), 5)).decode()
    writer.close()
    values = [line.rsplit(" ", 1)[1] for line in text.splitlines() if line.startswith(name + " ")]
    return float(values[0]) if values else 0.0


async def test_header_timeout_on_the_verify_listener(tmp_path: Path) -> None:
    async with verify_listener(tmp_path, header_timeout=0.5, keepalive_timeout=30.0) as ports:
        main, port = ports
        # a head that never completes: 408 JSON, then closed
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /auth/verify HTTP/1.1\r\nHost: x\r\n")
        elapsed, data = await closed_after(reader, 5)
        writer.close()
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 ") and 0.4 < elapsed < 1.5, (elapsed, data)
        assert json.loads(body)["error"] == "request_timeout"
        # a connection that never sends a byte: closed without an answer
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        elapsed, data = await closed_after(reader, 5)
        writer.close()
        assert data == b"" and 0.4 < elapsed < 1.5, (elapsed, data)
        await asyncio.sleep(0.05)
        name = 'wxgate_http_connections_closed_total{reason="header_timeout"}'
        assert await _metric(main, name) == 2.0


async def test_keep_alive_idle_close_and_the_next_requests_header_timer(
    tmp_path: Path,
) -> None:
    async with verify_listener(tmp_path, header_timeout=0.5, keepalive_timeout=1.0) as ports:
        _, port = ports
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await _answered(reader, writer)
        await asyncio.sleep(0.7)  # idle longer than the header timeout: still open
        await _answered(reader, writer)
        await asyncio.sleep(0.2)  # the next request's first byte starts its header timer
        writer.write(b"GET /auth/verify HTTP/1.1\r\n")
        elapsed, data = await closed_after(reader, 5)
        writer.close()
        assert data.startswith(b"HTTP/1.1 408") and 0.4 < elapsed < 1.2, (elapsed, data[:80])

        # a kept-alive connection that stays idle is closed after keepalive_timeout
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await _answered(reader, writer)
        elapsed, data = await closed_after(reader, 5)
        writer.close()
        assert data == b"" and 0.8 < elapsed < 2.5, (elapsed, data)


async def test_connections_per_address_are_capped_with_429(tmp_path: Path) -> None:
    async with verify_listener(tmp_path, max_connections_per_address=2) as ports:
        main, port = ports
        conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        try:
            for reader, writer in conns:
                await _answered(reader, writer)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            _, data = await closed_after(reader, 5)
            writer.close()
            head, _, body = data.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 429 ") and b"\r\nRetry-After: 1" in head, data
            assert json.loads(body)["error"] == "rate_limited"
            conns[0][1].close()  # one closes: the address may connect again
            await asyncio.sleep(0.1)
            conns[0] = await asyncio.open_connection("127.0.0.1", port)
            await _answered(*conns[0])
        finally:
            for _, writer in conns:
                writer.close()
        await asyncio.sleep(0.1)
        name = 'wxgate_http_connections_closed_total{reason="per_address_limit"}'
        assert await _metric(main, name) == 1.0


async def test_trusted_proxies_are_not_capped(tmp_path: Path) -> None:
    async with verify_listener(
        tmp_path, max_connections_per_address=1, trusted_proxies=("127.0.0.0/8",)
    ) as ports:
        conns = [await asyncio.open_connection("127.0.0.1", ports[1]) for _ in range(3)]
        try:
            for reader, writer in conns:
                await _answered(reader, writer)
        finally:
            for _, writer in conns:
                writer.close()
