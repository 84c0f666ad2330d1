"""Graceful shutdown of ``wxgate serve`` while a proxied request is in flight.

The test runs the slow upstream; the gateway is a subprocess routing ``/slow/`` to it. After
SIGTERM, ``/readyz`` answers 503 during the drain, the in-flight request still completes with
200 after the listener stopped, and the process exits 0. Each step waits for the state the
previous one caused (the upstream holds the request until released; a second SIGTERM ends the
long drain), never for a guessed time.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from gateway.config import DEV_CONFIG_PATH
from tests.fixtures.net import free_port
from tests.fixtures.process import wait_ready
from tests.server.proxy_support import Upstream

pytestmark = [pytest.mark.slow]


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    up = Upstream()
    await up.start()
    yield up
    await up.stop()


def _config_file(tmp_path: Path, upstream_url: str) -> Path:
    """The dev config with one route, ``/slow/`` → the test's upstream."""
    base = DEV_CONFIG_PATH.read_text().split("[[proxy.routes]]")[0]
    route = (
        f'[[proxy.routes]]\nprefix = "/slow/"\nupstream = "{upstream_url}/slow"\n'
        'auth = "public"\nstrip_prefix = true\ntimeout = 10.0\n'
    )
    path = tmp_path / "gateway.toml"
    path.write_text(base + route)
    return path


async def _probe(url: str) -> int | None:
    """``GET /readyz`` on a new connection: its status, or None when the connection is
    refused (the listener has stopped)."""
    connector = aiohttp.TCPConnector(force_close=True)
    try:
        async with (
            aiohttp.ClientSession(connector=connector) as probe,
            probe.get(f"{url}/readyz") as resp,
        ):
            return resp.status
    except aiohttp.ClientConnectorError:
        return None


async def _probe_until(url: str, done: Callable[[int | None], bool]) -> int | None:
    status: int | None = None
    for _ in range(400):  # 20 s: only a gateway that never gets there waits it out
        status = await _probe(url)
        if done(status):
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"/readyz still answers {status}")


async def test_sigterm_drains_and_finishes_in_flight_request(
    tmp_path: Path, upstream: Upstream
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "WXGATE_SERVER__DATA_DIR": str(tmp_path / "var"),
        "WXGATE_SERVER__DRAIN_SECONDS": "60",  # ended by a second SIGTERM
        "WXGATE_SERVER__GRACE_SECONDS": "30",
        "WXGATE_LOGGING__ACCESS_LOG": "false",
    }
    config = _config_file(tmp_path, upstream.url)
    log = tmp_path / "wxgate.log"
    command = ["serve", "--dev", "--config", str(config), "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", *command],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(url, proc, log)
        async with aiohttp.ClientSession() as http:

            async def slow() -> tuple[int, dict[str, bool]]:
                async with http.get(f"{url}/slow/") as resp:  # held until released
                    return resp.status, await resp.json()

            in_flight = asyncio.create_task(slow())
            await asyncio.wait_for(upstream.slow_arrived.wait(), 20)  # in flight upstream
            proc.send_signal(signal.SIGTERM)
            ready_status = await _probe_until(url, lambda status: status != 200)
            proc.send_signal(signal.SIGTERM)  # ends the drain: the listener stops
            await _probe_until(url, lambda status: status is None)
            assert not in_flight.done()
            upstream.release_slow.set()
            status, body = await asyncio.wait_for(in_flight, 20)
        code = await asyncio.to_thread(proc.wait, 15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert ready_status == 503
    assert status == 200 and body == {"slow": True}
    assert code == 0, log.read_text()[-3000:]
