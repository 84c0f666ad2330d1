"""WeChat misbehaving, through a real gateway process and its simulator's fault switches:
slow, errcode -1, 5xx, an empty body; then a sustained outage that opens the API's circuit.

What must hold (the README's fault table): a mini-program login answers 503
``temporarily_unavailable`` JSON, never 500, within the configured timeout and retries; logins
work again as soon as WeChat does; a sustained outage opens the circuit, after which logins are
answered 503 with ``Retry-After`` in milliseconds without calling WeChat, until a probe after the
cool-down finds WeChat well again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.faults.harness import Gateway, timed

TIMEOUT = 0.5  # wechat.timeout in these tests (per attempt)


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    gw = Gateway(tmp_path, {"WXGATE_WECHAT__TIMEOUT": str(TIMEOUT)})
    await gw.start()
    yield gw
    gw.stop()


async def calls(gw: Gateway, http: aiohttp.ClientSession) -> int:
    async with http.get(f"{gw.base}/_sim/wechat/sim/calls") as resp:
        counted: dict[str, int] = (await resp.json())["calls"]
    return counted.get("sns/jscode2session", 0)


FAULTS: list[tuple[str, dict[str, Any], float]] = [
    # (row, fault, the longest the login may take: timeouts and the retries reference §6.2 allows)
    ("slow (beyond wechat.timeout)", {"kind": "latency", "seconds": 2.0}, TIMEOUT + 0.5),
    ("errcode -1 (system busy)", {"kind": "errcode", "errcode": -1}, 2.0),
    ("HTTP 503", {"kind": "http5xx", "status": 503}, 2.0),
    ("HTTP 502", {"kind": "http5xx", "status": 502}, 1.0),
    ("empty body", {"kind": "empty_body"}, 1.0),
]


async def test_each_wechat_fault_is_a_clean_503_and_logins_recover(gateway: Gateway) -> None:
    async with aiohttp.ClientSession() as http:
        status, body = await gateway.login(http, "warmup")
        assert status == 200, body
        for row, fault, limit in FAULTS:
            await gateway.fault(http, api="jscode2session", times=0, **fault)
            elapsed, (status, body) = await timed(gateway.login(http, f"user-{row}"))
            assert status == 503, (row, status, body)
            assert body["error"] == "temporarily_unavailable", (row, body)
            assert elapsed < limit, (row, elapsed)
            await gateway.clear_faults(http)
            status, body = await gateway.login(http, f"user-{row}")
            assert status == 200, (row, body)
    assert gateway.records("ERROR") == []


@pytest.fixture
async def breaking_gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    gw = Gateway(
        tmp_path,
        {
            "WXGATE_WECHAT__TIMEOUT": str(TIMEOUT),
            "WXGATE_WECHAT__MAX_RETRIES": "0",
            "WXGATE_WECHAT__CIRCUIT_MIN_CALLS": "4",
            "WXGATE_WECHAT__CIRCUIT_OPEN_SECONDS": "1",
        },
    )
    await gw.start()
    yield gw
    gw.stop()


async def test_a_sustained_outage_opens_the_circuit_then_a_probe_closes_it(
    breaking_gateway: Gateway,
) -> None:
    gw = breaking_gateway
    async with aiohttp.ClientSession() as http:
        await gw.fault(http, api="jscode2session", kind="http5xx", status=502, times=0)
        for i in range(4):
            status, _ = await gw.login(http, f"u{i}")
            assert status == 503
        sent = await calls(gw, http)
        elapsed, (status, body) = await timed(gw.login(http, "fast"))
        assert status == 503 and body["error"] == "temporarily_unavailable", body
        assert elapsed < 0.25, elapsed  # no wait on WeChat
        assert await calls(gw, http) == sent  # not called
        async with http.get(f"{gw.base}/metrics") as resp:
            text = await resp.text()
        assert 'wxgate_wechat_circuit_state{api="sns/jscode2session"} 2.0' in text
        assert 'wxgate_wechat_circuit_rejected_total{api="sns/jscode2session"} 1.0' in text
        # WeChat is back; after the cool-down the first login is the probe and closes it
        await gw.clear_faults(http)
        for _ in range(40):
            status, body = await gw.login(http, "after")
            if status == 200:
                break
            assert status == 503
            await asyncio.sleep(0.05)
        assert status == 200, body
        async with http.get(f"{gw.base}/metrics") as resp:
            text = await resp.text()
        assert 'wxgate_wechat_circuit_state{api="sns/jscode2session"} 0.0' in text
    assert any("wechat circuit open" in r["msg"] for r in gw.records("ERROR"))
