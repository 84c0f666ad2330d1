"""Where ``/metrics`` is served: on its own listener by default (loopback 127.0.0.1:9464),
on the main listener only by explicit opt-in (dev mode's config opts in). Real listeners,
started by ``serve``."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from gateway.config import Config, MetricsConfig
from gateway.server.run import bind_socket, serve
from tests.conftest import dev_config
from tests.fixtures.net import free_port


@asynccontextmanager
async def serving(config: Config) -> AsyncIterator[int]:
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


async def get(url: str) -> tuple[int, str, str | None]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, await resp.text(), resp.headers.get("Server")


def test_the_default_is_a_loopback_listener_of_its_own() -> None:
    m = MetricsConfig()
    assert (m.enabled, m.host, m.port, m.main_listener) == (True, "127.0.0.1", 9464, False)


@pytest.mark.asyncio
async def test_metrics_on_their_own_listener_not_on_the_main_one(tmp_path: Path) -> None:
    base = dev_config(tmp_path)
    metrics = MetricsConfig(host="127.0.0.1", port=free_port())  # the production defaults
    async with serving(dataclasses.replace(base, metrics=metrics)) as port:
        status, text, server = await get(f"http://127.0.0.1:{metrics.port}/metrics")
        assert status == 200 and "wxgate_http_requests_total" in text and server is None
        status, _, _ = await get(f"http://127.0.0.1:{port}/metrics")
        assert status == 404  # not a route of the main listener
        # aiohttp's own 400 for a malformed request names no server software there either
        reader, writer = await asyncio.open_connection("127.0.0.1", metrics.port)
        writer.write(b"GET /metrics HTTP/1.1 trailing\r\nHost: x\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        head = answer.partition(b"\r\n\r\n")[0].lower()
        assert head.startswith(b"http/1.1 400") or head.startswith(b"http/1.0 400"), answer
        assert b"\r\nserver:" not in head, answer


@pytest.mark.asyncio
async def test_dev_mode_opts_in_to_the_main_listener(tmp_path: Path) -> None:
    config = dev_config(tmp_path)
    assert config.metrics.main_listener and not config.metrics.host
    async with serving(config) as port:
        status, text, server = await get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200 and "wxgate_build_info" in text and server is None
