"""The control API (faults, calls, options, dev helpers) and the standalone runner."""

from __future__ import annotations

import asyncio
import contextlib
import time

import aiohttp
import pytest

from gateway.config import WeChatConfig
from gateway.simulator import Simulator, run_simulator
from tests.fixtures.net import free_port
from tests.simulator.harness import APPS, MINI, SECRETS


def js(code: str) -> dict[str, str]:
    return {
        "appid": MINI,
        "secret": SECRETS[MINI],
        "js_code": code,
        "grant_type": "authorization_code",
    }


async def test_faults_over_http(http: aiohttp.ClientSession, sim_base: str) -> None:
    faults = [
        {"api": "jscode2session", "kind": "errcode", "errcode": -1},
        {"api": "sns/jscode2session", "kind": "http5xx", "status": 502},
        {"api": "*", "kind": "empty_body"},
    ]
    async with http.post(f"{sim_base}/sim/faults", json=faults) as r:
        assert r.status == 200 and len((await r.json())["faults"]) == 3
    url = f"{sim_base}/sns/jscode2session"
    async with http.get(url, params=js("x")) as r:
        assert (await r.json(content_type=None))["errcode"] == -1
    async with http.get(url, params=js("x")) as r:
        assert r.status == 502
    async with http.get(url, params=js("x")) as r:
        assert r.status == 200 and await r.read() == b"" and "gbk" in r.headers["Content-Type"]
    async with http.get(url, params=js("x")) as r:
        assert (await r.json(content_type=None))["errcode"] == 40029  # faults used up
    async with http.get(f"{sim_base}/sim/calls") as r:
        assert (await r.json())["calls"] == {"sns/jscode2session": 4}
    async with http.post(
        f"{sim_base}/sim/faults", json={"api": "*", "kind": "errcode", "times": 0}
    ) as r:
        assert r.status == 200
    async with http.delete(f"{sim_base}/sim/faults") as r:
        assert (await r.json()) == {"faults": []}
    async with http.delete(f"{sim_base}/sim/calls") as r:
        assert (await r.json()) == {"calls": {}}


async def test_latency_fault(http: aiohttp.ClientSession, sim_base: str, sim: Simulator) -> None:
    sim.add_fault("jscode2session", "latency", seconds=0.2)
    started = time.monotonic()
    async with http.get(
        f"{sim_base}/sns/jscode2session", params=js(sim.mint_js_code(MINI, "a"))
    ) as r:
        assert "openid" in await r.json(content_type=None)
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "errcode"},
        {"api": "x", "kind": "explode"},
        {"api": "x", "kind": "http5xx", "status": 404},
        {"api": "x", "kind": "latency", "seconds": -1},
        {"api": "x", "kind": "errcode", "color": "red"},
        [1],
    ],
)
async def test_invalid_faults(http: aiohttp.ClientSession, sim_base: str, fault: object) -> None:
    async with http.post(f"{sim_base}/sim/faults", json=fault) as r:
        assert r.status == 400 and "error" in await r.json()


async def test_options(http: aiohttp.ClientSession, sim_base: str, sim: Simulator) -> None:
    async with http.post(f"{sim_base}/sim/options", json={"country_code_as_number": True}) as r:
        assert (await r.json())["country_code_as_number"] is True
    assert sim.options.country_code_as_number
    for bad in ({"nope": 1}, {"code_ttl": "long"}, [1]):
        async with http.post(f"{sim_base}/sim/options", json=bad) as r:
            assert r.status == 400
    async with http.get(f"{sim_base}/sim/options") as r:
        assert (await r.json())["code_ttl"] == 300


async def test_dev_helpers(http: aiohttp.ClientSession, sim_base: str, sim: Simulator) -> None:
    async with http.post(f"{sim_base}/dev/js_code", json={"appid": MINI, "user": "a"}) as r:
        code = (await r.json())["code"]
    assert len(code) == 32
    body = {"appid": MINI, "user": "a", "phone": "13800138000"}
    async with http.post(f"{sim_base}/dev/phone_code", json=body) as r:
        assert len((await r.json())["code"]) == 64
    async with http.get(f"{sim_base}/dev/identity", params={"appid": MINI, "user": "a"}) as r:
        assert await r.json() == {"openid": sim.openid(MINI, "a"), "unionid": sim.unionid("a")}
    for path, bad in (("js_code", {"appid": MINI}), ("js_code", {"appid": "wx0", "user": "a"})):
        async with http.post(f"{sim_base}/dev/{path}", json=bad) as r:
            assert r.status == 400
    async with http.post(f"{sim_base}/dev/user_info", json={"appid": MINI, "user": "nobody"}) as r:
        assert r.status == 400
    async with http.get(f"{sim_base}/dev/wxacodes") as r:
        assert await r.json() == {"codes": []}


async def test_run_simulator_standalone(http: aiohttp.ClientSession) -> None:
    port = free_port()
    task = asyncio.create_task(run_simulator(WeChatConfig(apps=APPS), "127.0.0.1", port))
    try:
        for _ in range(100):
            with contextlib.suppress(aiohttp.ClientConnectionError):
                async with http.post(
                    f"http://127.0.0.1:{port}/dev/js_code", json={"appid": MINI, "user": "a"}
                ) as r:
                    assert "code" in await r.json()
                    break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("the simulator did not start")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
