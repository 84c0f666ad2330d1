"""The main listener's connection limits, over real sockets to a gateway started by ``serve``:
slow and idle clients are cut off (header-read timeout, keep-alive idle timeout) and one address
cannot hold more than its share of connections. Small timeouts keep the file fast."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from gateway.server.listener import ConnectionLimits
from gateway.server.run import bind_socket, serve
from tests.conftest import dev_config

HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


@asynccontextmanager
async def gateway(tmp_path: Path, **server: Any) -> AsyncIterator[int]:
    """A dev gateway started by ``serve`` with ``server`` settings; yields its port."""
    config = dev_config(tmp_path)
    config = dataclasses.replace(config, server=dataclasses.replace(config.server, **server))
    sock = bind_socket("127.0.0.1", 0)
    started = asyncio.Event()
    task = asyncio.create_task(serve(config, sock=sock, on_started=lambda _: started.set()))
    await asyncio.wait_for(started.wait(), 30)
    try:
        yield sock.getsockname()[1]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One response with a Content-Length body: (head, body)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    return head, await asyncio.wait_for(reader.readexactly(length), 5)


async def closed_after(reader: asyncio.StreamReader, limit: float) -> tuple[float, bytes]:
    """Read until the server closes: (seconds it took, everything it sent)."""
    started = time.monotonic()
    data = await asyncio.wait_for(reader.read(), limit)
    return time.monotonic() - started, data


@pytest.mark.asyncio
async def test_a_client_trickling_headers_is_cut_off_with_408(tmp_path: Path) -> None:
    async with gateway(tmp_path, header_timeout=0.5, keepalive_timeout=30.0) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")

        async def trickle() -> None:
            for i in range(20):  # one header line every 0.1 s: never a complete head
                await asyncio.sleep(0.1)
                writer.write(b"X-Slow-%d: 1\r\n" % i)

        trickling = asyncio.create_task(trickle())
        try:
            data = await asyncio.wait_for(reader.read(), 5)
        finally:
            trickling.cancel()
            writer.close()
        elapsed = time.monotonic() - started
        assert 0.4 < elapsed < 1.5, elapsed
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 "), data
        assert b"\r\nserver:" not in head.lower()
        assert json.loads(body)["error"] == "request_timeout"


@pytest.mark.asyncio
async def test_a_silent_connection_is_closed_without_an_answer(tmp_path: Path) -> None:
    async with gateway(tmp_path, header_timeout=0.5, keepalive_timeout=30.0) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        elapsed, data = await closed_after(reader, 5)
        writer.close()
        assert data == b"" and 0.4 < elapsed < 1.5, (elapsed, data)


@pytest.mark.asyncio
async def test_keep_alive_idle_timeout_and_the_next_requests_header_timer(
    tmp_path: Path,
) -> None:
    async with gateway(tmp_path, header_timeout=0.5, keepalive_timeout=1.0) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(HEALTHZ)
        head, _ = await read_response(reader)
        assert head.startswith(b"HTTP/1.1 200")
        # idle longer than the header timeout: still open (only keep-alive idleness counts)
        await asyncio.sleep(0.7)
        writer.write(HEALTHZ)
        head, _ = await read_response(reader)
        assert head.startswith(b"HTTP/1.1 200")
        # the next request's first byte starts its header timer
        await asyncio.sleep(0.2)
        writer.write(b"GET /healthz HTTP/1.1\r\n")
        elapsed, data = await closed_after(reader, 5)
        assert data.startswith(b"HTTP/1.1 408") and 0.4 < elapsed < 1.2, (elapsed, data[:80])
        writer.close()

        # a kept-alive connection that stays idle is closed after keepalive_timeout
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(HEALTHZ)
        await read_response(reader)
        elapsed, data = await closed_after(reader, 5)
        writer.close()
        assert data == b"" and 0.8 < elapsed < 2.5, (elapsed, data)


async def _open(port: int, count: int) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    return [await asyncio.open_connection("127.0.0.1", port) for _ in range(count)]


async def _healthy(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> bool:
    reader, writer = conn
    writer.write(HEALTHZ)
    head, _ = await read_response(reader)
    return head.startswith(b"HTTP/1.1 200")


def _close_all(conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]) -> None:
    for _, writer in conns:
        writer.close()


async def _metric(port: int, name: str) -> float:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    text = (await asyncio.wait_for(reader.read(), 5)).decode()
    writer.close()
    values = [line.rsplit(" ", 1)[1] for line in text.splitlines() if line.startswith(name + " ")]
    return float(values[0]) if values else 0.0


@pytest.mark.asyncio
async def test_connections_per_address_are_capped_with_429(tmp_path: Path) -> None:
    async with gateway(tmp_path, max_connections_per_address=3) as port:
        conns = await _open(port, 3)
        try:
            assert all([await _healthy(c) for c in conns])
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            _, data = await closed_after(reader, 5)
            writer.close()
            head, _, body = data.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 429 ") and b"\r\nRetry-After: 1" in head, data
            assert json.loads(body)["error"] == "rate_limited"
            # one closes: the address may connect again
            _close_all(conns[:1])
            await asyncio.sleep(0.1)
            conns[:1] = await _open(port, 1)
            assert await _healthy(conns[0])
        finally:
            _close_all(conns)
        await asyncio.sleep(0.1)  # the server sees the closes
        name = 'wxgate_http_connections_closed_total{reason="per_address_limit"}'
        assert await _metric(port, name) == 1.0


@pytest.mark.asyncio
async def test_trusted_proxies_are_not_capped(tmp_path: Path) -> None:
    async with gateway(
        tmp_path, max_connections_per_address=2, trusted_proxies=("127.0.0.0/8",)
    ) as port:
        conns = await _open(port, 5)
        try:
            assert all([await _healthy(c) for c in conns])
        finally:
            _close_all(conns)


def test_the_limits_hold_on_uvloop(tmp_path: Path) -> None:
    """Production runs uvloop (its transports are not ``asyncio.Transport``): the same limits."""
    uvloop = pytest.importorskip("uvloop")

    async def scenario() -> None:
        async with gateway(tmp_path, header_timeout=0.5, max_connections_per_address=2) as port:
            conns = await _open(port, 2)
            try:
                assert all([await _healthy(c) for c in conns])
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                _, refused = await closed_after(reader, 5)
                writer.close()
                assert refused.startswith(b"HTTP/1.1 429 "), refused
            finally:
                _close_all(conns)
            await asyncio.sleep(0.1)  # the server sees the closes
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /healthz HTTP/1.1\r\n")
            elapsed, data = await closed_after(reader, 5)
            writer.close()
            assert data.startswith(b"HTTP/1.1 408 ") and 0.4 < elapsed < 1.5, (elapsed, data)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(scenario())


def test_trusted_proxies_are_exempt_in_either_address_family() -> None:
    limits = ConnectionLimits(
        max_per_address=1,
        exempt=(ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")),
    )
    assert not limits.capped("10.1.2.3") and not limits.capped("::ffff:10.1.2.3")
    assert not limits.capped("fd00::1")
    assert limits.capped("192.0.2.1") and limits.capped("::ffff:192.0.2.1")
    assert not ConnectionLimits(max_per_address=0).capped("192.0.2.1")  # 0: no cap
