"""Simulated server tokens (reference §5.7-§5.9) and getwxacodeunlimit (§5.11)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from gateway.clock import ManualClock
from gateway.simulator import Simulator
from tests.simulator.api_helpers import call
from tests.simulator.harness import MINI, SECRETS

CLASSIC = {"grant_type": "client_credential", "appid": MINI, "secret": SECRETS[MINI]}
STABLE = dict(CLASSIC)


async def classic(http: aiohttp.ClientSession, base: str) -> dict[str, Any]:
    return (await call(http, base, "cgi-bin/token", **CLASSIC))[0]


async def stable(http: aiohttp.ClientSession, base: str, force: bool = False) -> dict[str, Any]:
    return (await call(http, base, "cgi-bin/stable_token", STABLE | {"force_refresh": force}))[0]


async def use(http: aiohttp.ClientSession, base: str, token: str) -> int:
    """errcode of a consuming API (checksession) with ``token``: 40003 means the token passed."""
    body, _ = await call(
        http, base, "wxa/checksession", access_token=token, openid="x", signature="s",
        sig_method="hmac_sha256",
    )  # fmt: skip
    return int(body["errcode"])


async def test_classic_token_supersedes_after_grace(
    http: aiohttp.ClientSession, sim_base: str, clock: ManualClock
) -> None:
    first = await classic(http, sim_base)
    assert first["expires_in"] == 7200 and len(first["access_token"]) > 100
    second = await classic(http, sim_base)
    assert second["access_token"] != first["access_token"]
    assert await use(http, sim_base, first["access_token"]) == 40003  # still valid for 5 min
    clock.advance(300)
    assert await use(http, sim_base, first["access_token"]) == 40001  # superseded
    assert await use(http, sim_base, second["access_token"]) == 40003
    clock.advance(7200)
    assert await use(http, sim_base, second["access_token"]) == 42001  # expired


async def test_classic_quota_ip_and_secret(
    http: aiohttp.ClientSession, sim_base: str, sim: Simulator, clock: ManualClock
) -> None:
    sim.set_options(classic_token_daily_quota=2)
    await classic(http, sim_base)
    await classic(http, sim_base)
    assert (await classic(http, sim_base))["errcode"] == 45009
    clock.advance(86400)
    assert "access_token" in await classic(http, sim_base)
    sim.set_options(ip_allowlist=["10.0.0.1"])
    body = await classic(http, sim_base)
    assert body["errcode"] == 40164 and "127.0.0.1" in body["errmsg"]
    sim.set_options(ip_allowlist=[])
    params = CLASSIC | {"secret": "x" * 32}
    assert (await call(http, sim_base, "cgi-bin/token", **params))[0]["errcode"] == 40125
    sim.set_options(wrong_secret_errcode=40001)
    assert (await call(http, sim_base, "cgi-bin/token", **params))[0]["errcode"] == 40001


async def test_stable_token_semantics(
    http: aiohttp.ClientSession, sim_base: str, sim: Simulator, clock: ManualClock
) -> None:
    first = await stable(http, sim_base)
    await classic(http, sim_base)  # isolated from the classic token
    clock.advance(100)
    again = await stable(http, sim_base)
    assert again["access_token"] == first["access_token"] and again["expires_in"] == 7100
    clock.advance(6900 - 100 + 1)  # the last 300 s: a new token, the old one still valid
    renewed = await stable(http, sim_base)
    assert renewed["access_token"] != first["access_token"] and renewed["expires_in"] == 7200
    assert await use(http, sim_base, first["access_token"]) == 40003
    clock.advance(300)
    assert await use(http, sim_base, first["access_token"]) == 42001


async def test_stable_force_refresh(
    http: aiohttp.ClientSession, sim_base: str, sim: Simulator, clock: ManualClock
) -> None:
    sim.set_options(stable_force_daily=1)
    first = await stable(http, sim_base)
    forced = await stable(http, sim_base, force=True)
    assert forced["access_token"] != first["access_token"]
    assert await use(http, sim_base, first["access_token"]) == 40001  # invalidated at once
    clock.advance(10)
    assert (await stable(http, sim_base, force=True))["access_token"] == forced["access_token"]
    clock.advance(30)
    assert (await stable(http, sim_base, force=True))[
        "errcode"
    ] == 45009  # the second real force of the day


async def test_stable_token_bad_requests(http: aiohttp.ClientSession, sim_base: str) -> None:
    body, _ = await call(http, sim_base, "cgi-bin/stable_token", b"appid=wx&secret=s")
    assert body["errcode"] == 41002  # not JSON
    body, _ = await call(http, sim_base, "cgi-bin/stable_token", STABLE | {"grant_type": "x"})
    assert body["errcode"] == 40002


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ({"scene": "a" * 33}, 40169),
        ({"scene": ""}, 40169),
        ({}, 40169),
        ({"scene": "100%"}, 40129),
        ({"scene": "s", "page": "/pages/index/index"}, 41030),
        ({"scene": "s", "page": "pages/unknown"}, 41030),
        ({"scene": "s", "env_version": "beta"}, 40097),
    ],
)
async def test_wxacode_validation(
    http: aiohttp.ClientSession, sim_base: str, sim: Simulator, body: dict[str, Any], errcode: int
) -> None:
    sim.set_options(published_pages=["pages/index/index"])
    token = (await stable(http, sim_base))["access_token"]
    answer, _ = await call(http, sim_base, "wxa/getwxacodeunlimit", body, access_token=token)
    assert answer["errcode"] == errcode


async def test_wxacode_image_and_check_path(
    http: aiohttp.ClientSession, sim_base: str, sim: Simulator
) -> None:
    sim.set_options(published_pages=["pages/index/index"])
    token = (await stable(http, sim_base))["access_token"]
    url = f"{sim_base}/wxa/getwxacodeunlimit"
    body = {"scene": "t=Ab3x9Q", "page": "pages/new", "check_path": False, "width": 280}
    async with http.post(url, params={"access_token": token}, json=body) as r:
        assert r.headers["Content-Type"] == "image/jpeg"
        image = await r.read()
    assert image.startswith(b"\xff\xd8\xff") and image.endswith(b"\xff\xd9")
    async with http.post(url, params={"access_token": token}, data=b"scene=x") as r:
        assert (await r.json(content_type=None))["errcode"] == 40169  # form body
    async with http.post(url, params={"access_token": "nope"}, json=body) as r:
        assert (await r.json(content_type=None))["errcode"] == 40001
    assert sim.wxacodes.issued[-1].scene == "t=Ab3x9Q"
