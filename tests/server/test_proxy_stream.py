"""Streaming (100 MB both ways, bounded memory), WebSocket relay and session renewal."""

from __future__ import annotations

import asyncio
import hashlib
import time
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.clock import ManualClock
from gateway.metrics import Metrics
from gateway.server.keys import TOKENS
from tests.server.proxy_support import (
    Gateway,
    Upstream,
    gateway,
    make_config,
)

pytestmark = [pytest.mark.asyncio]

SIZE = 100 * 1024 * 1024
PIECE = b"\xab" * 65_536
MEMORY_BOUND = 16 * 1024 * 1024  # far below the 100 MB that full buffering would need


def routes(up: str) -> list[dict[str, Any]]:
    return [
        {"prefix": "/up/", "upstream": f"{up}/upload", "auth": "public", "strip_prefix": True},
        {"prefix": "/big/", "upstream": f"{up}/bytes", "auth": "public", "strip_prefix": True},
        {"prefix": "/demo/", "upstream": f"{up}/echo"},
        {"prefix": "/ws/", "upstream": f"{up}/ws", "strip_prefix": True, "websocket": True},
        {
            "prefix": "/pubws/",
            "upstream": f"{up}/ws",
            "auth": "public",
            "strip_prefix": True,
            "websocket": True,
        },
    ]


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    up = Upstream()
    await up.start()
    yield up
    await up.stop()


@pytest.fixture
async def gw(tmp_path: Path, upstream: Upstream) -> AsyncIterator[Gateway]:
    config = make_config(
        tmp_path, routes(upstream.url), WXGATE_PROXY__WEBSOCKET_RECHECK_INTERVAL="0.2"
    )
    async with gateway(config) as g:
        yield g


async def _body() -> AsyncIterator[bytes]:
    for _ in range(SIZE // len(PIECE)):
        yield PIECE


async def test_100mb_both_ways_with_bounded_memory(gw: Gateway) -> None:
    """tracemalloc in-process: the peak of every Python allocation (gateway, upstream and
    client together) stays far below one body's size while 100 MB go up and 100 MB come down."""
    expected = hashlib.sha256()
    for _ in range(SIZE // len(PIECE)):
        expected.update(PIECE)
    tracemalloc.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{gw.url}/up/", data=_body()) as resp:
                result = await resp.json()
            _, upload_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            received = 0
            async with http.get(f"{gw.url}/big/?n={SIZE}") as resp:
                assert resp.status == 200
                assert resp.headers.get("Transfer-Encoding") == "chunked"
                async for chunk in resp.content.iter_any():
                    received += len(chunk)
            _, download_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result == {"bytes": SIZE, "sha256": expected.hexdigest()}
    assert received == SIZE
    print(f"traced peak: upload {upload_peak / 1e6:.1f} MB, download {download_peak / 1e6:.1f} MB")
    assert upload_peak < MEMORY_BOUND, upload_peak
    assert download_peak < MEMORY_BOUND, download_peak


async def test_websocket_echo_and_close_codes(gw: Gateway, upstream: Upstream) -> None:
    token = await gw.token("ws-user")
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(
            f"{gw.url}/ws/", headers={"Authorization": f"Bearer {token}"}, protocols=("chat",)
        ) as ws:
            assert ws.protocol == "chat"
            await ws.send_str("hello")
            assert (await ws.receive_str(timeout=2)) == "hello"
            await ws.send_bytes(b"\x00\x01")
            assert (await ws.receive_bytes(timeout=2)) == b"\x00\x01"
            await ws.send_str("close:4001")  # the upstream closes with 4001
            msg = await ws.receive(timeout=2)
            assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 4001
        seen = {k.lower(): v for k, v in upstream.received[-1]["headers"]}
        assert seen["x-auth-subject"] == "ws-user"
        async with http.ws_connect(f"{gw.url}/pubws/") as ws:
            await ws.send_str("ping")
            assert (await ws.receive_str(timeout=2)) == "ping"
            await ws.close(code=4002)
        await asyncio.wait_for(upstream.ws_closed.wait(), 2)
        assert upstream.ws_close_code == 4002  # the client's close code reached the upstream


async def test_websocket_requires_auth(gw: Gateway) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(f"{gw.url}/ws/")
    assert info.value.status == 401


async def test_revoked_token_closes_open_websocket(gw: Gateway) -> None:
    pair = await gw.session_pair("ws-user")
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            f"{gw.url}/ws/", headers={"Authorization": f"Bearer {pair.access_token}"}
        ) as ws,
    ):
        await ws.send_str("before")
        assert (await ws.receive_str(timeout=2)) == "before"
        await gw.app[TOKENS].revoke_session(pair.sid)
        # closed by the re-check every 0.2 s: the reason tells it from the token's expiry (many
        # minutes away) and the generous wait stays far below the 30 s default interval
        msg = await ws.receive(timeout=10)
    assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1008
    assert msg.extra == "token revoked"


async def test_expired_cookie_is_refreshed_once_for_a_burst(
    tmp_path: Path, upstream: Upstream
) -> None:
    clock = ManualClock(start=time.time())
    metrics = Metrics()
    config = make_config(tmp_path, routes(upstream.url))
    async with gateway(config, clock=clock, metrics=metrics) as gw:
        pair = await gw.session_pair("burst-user")
        refreshes_before = _refresh_count(metrics)
        clock.advance(config.tokens.access_ttl + config.tokens.leeway + 5)  # access expired
        cookie = {"Cookie": f"wxgate_session={pair.access_token}~{pair.refresh_token}"}
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:

            async def one() -> tuple[int, str, str]:
                async with http.get(f"{gw.url}/demo/x", headers=cookie) as resp:
                    seen = await resp.json()
                    subject = {k.lower(): v for k, v in seen["headers"]}["x-auth-subject"]
                    ours = [c for c in resp.headers.getall("Set-Cookie", ()) if "wxgate_" in c]
                    return resp.status, subject, ours[0] if ours else ""

            results = await asyncio.gather(*(one() for _ in range(50)))
        assert _refresh_count(metrics) - refreshes_before == 1
    assert all(status == 200 and sub == "burst-user" for status, sub, _ in results)
    cookies = {set_cookie.split(";")[0] for _, _, set_cookie in results}
    assert len(cookies) == 1
    new_cookie = cookies.pop()
    assert new_cookie.startswith("wxgate_session=") and pair.refresh_token not in new_cookie


def _refresh_count(metrics: Metrics) -> float:
    value = metrics.registry.get_sample_value("wxgate_tokens_issued_total", {"kind": "refresh"})
    return value or 0.0
