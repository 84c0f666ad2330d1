"""Every row of the README's "Abuse limits" table over real HTTP: past the limit, 429
``rate_limited`` with ``Retry-After``; per address (the forwarded client behind a trusted
proxy) or per user (``sub``), as the row says. The waiter cap's row is in test_scan_http.

One gateway serves every row with each limit at 2; each row uses its own client address.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from gateway.server.keys import METRICS
from tests.server.scan_harness import MINI_APPID, Gateway, start_gateway

LIMIT = 2
_ADDRESSES = (f"203.0.113.{i}" for i in itertools.count(1))


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    names = ("login_start_per_address", "callback_per_address", "miniprogram_login_per_address",
             "miniprogram_data_per_user", "refresh_per_address", "refresh_per_user",
             "ticket_create_per_address", "status_per_address",
             "forward_auth_failures_per_address")  # fmt: skip
    env = {f"WXGATE_LIMITS__{name.upper()}": str(LIMIT) for name in names}
    gateway = await start_gateway(tmp_path, WXGATE_SERVER__TRUSTED_PROXIES="127.0.0.0/8", **env)
    try:
        yield gateway
    finally:
        await gateway.close()


def _from(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def _assert_limited(response: aiohttp.ClientResponse) -> None:
    assert response.status == 429, await response.text()
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert (await response.json())["error"] == "rate_limited"


async def _statuses_then_429(
    client: aiohttp.ClientSession, method: str, path: str, address: str, **kw: object
) -> list[int]:
    """LIMIT requests (their statuses), then one more that must be 429."""
    seen = []
    for _ in range(LIMIT + 1):
        async with client.request(
            method, path, headers=_from(address), allow_redirects=False, **kw
        ) as r:
            if len(seen) == LIMIT:
                await _assert_limited(r)
            else:
                seen.append(r.status)
    return seen


async def _mini_session(gw: Gateway, user: str) -> dict[str, str]:
    client = gw.client()
    body = {"appid": MINI_APPID, "user": user}
    async with client.post("/_sim/wechat/dev/js_code", json=body) as r:
        code = (await r.json())["code"]
    async with client.post(
        "/auth/wechat/miniprogram/login", json={"code": code}, headers=_from(next(_ADDRESSES))
    ) as r:
        assert r.status == 200, await r.text()
        session: dict[str, str] = await r.json()
        return session


async def test_login_starts_per_address(gw: Gateway) -> None:
    me = next(_ADDRESSES)
    assert await _statuses_then_429(gw.client(), "GET", "/auth/wechat/web/login", me) == [302] * 2
    async with gw.client().get(  # another address has its own budget
        "/auth/wechat/mp/login", headers=_from(next(_ADDRESSES)), allow_redirects=False
    ) as r:
        assert r.status == 302


async def test_oauth_callbacks_per_address(gw: Gateway) -> None:
    path = "/auth/wechat/web/callback?code=x&state=y"
    assert await _statuses_then_429(gw.client(), "GET", path, next(_ADDRESSES)) == [400] * 2


async def test_miniprogram_logins_per_address(gw: Gateway) -> None:
    path = "/auth/wechat/miniprogram/login"
    statuses = await _statuses_then_429(gw.client(), "POST", path, next(_ADDRESSES),
                                        json={"code": "not-a-real-code"})  # fmt: skip
    assert all(400 <= s < 500 for s in statuses), statuses


async def test_miniprogram_data_per_user_whatever_the_address(gw: Gateway) -> None:
    token = (await _mini_session(gw, "limits-data"))["access_token"]
    client, bearer = gw.client(), {"Authorization": f"Bearer {token}"}
    for i in range(LIMIT + 1):
        async with client.post("/auth/wechat/miniprogram/phone", json={"code": "bad"},
                               headers={**bearer, **_from(next(_ADDRESSES))}) as r:  # fmt: skip
            if i == LIMIT:
                await _assert_limited(r)
            else:
                assert r.status != 429


async def test_refreshes_per_address(gw: Gateway) -> None:
    form = {"grant_type": "refresh_token", "refresh_token": "bogus"}
    statuses = await _statuses_then_429(gw.client(), "POST", "/auth/token", next(_ADDRESSES),
                                        data=form)  # fmt: skip
    assert statuses == [400] * 2


async def test_refreshes_per_user_whatever_the_address(gw: Gateway) -> None:
    refresh = (await _mini_session(gw, "limits-refresh"))["refresh_token"]
    client = gw.client()
    for i in range(LIMIT + 1):
        form = {"grant_type": "refresh_token", "refresh_token": refresh}
        async with client.post("/auth/token", data=form, headers=_from(next(_ADDRESSES))) as r:
            if i == LIMIT:
                await _assert_limited(r)
            else:
                assert r.status == 200, await r.text()
                refresh = (await r.json())["refresh_token"]
    form = {"grant_type": "refresh_token", "refresh_token": refresh}
    async with client.post("/auth/token", data=form, headers=_from(next(_ADDRESSES))) as r:
        await _assert_limited(r)  # refused before rotating: the last token is still good


async def test_ticket_creations_per_address(gw: Gateway) -> None:
    assert await _statuses_then_429(gw.client(), "POST", "/auth/qr", next(_ADDRESSES)) == [200] * 2


async def test_status_lookups_per_address(gw: Gateway) -> None:
    pc = gw.client()
    async with pc.post("/auth/qr", headers=_from(next(_ADDRESSES))) as r:
        ticket = (await r.json())["ticket"]
    path = f"/auth/qr/{ticket}/status"
    assert await _statuses_then_429(pc, "GET", path, next(_ADDRESSES)) == [200] * 2


async def test_forward_auth_failures_per_address(gw: Gateway) -> None:
    """Two refused credentials (401 with a forged token) from an address, then every check
    from it is 429 for the rest of the window, even one that would pass; other addresses are
    unaffected. Anonymous 401s (no credential) do not count."""
    me, verify = next(_ADDRESSES), "/auth/verify"
    required = {"X-Original-URI": "/demo/x"}
    forged = {**required, "Authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.e30.AAAA"}
    client = gw.client()
    for _ in range(LIMIT + 3):  # anonymous: not failures of a credential
        async with client.get(verify, headers={**required, **_from(me)}) as r:
            assert r.status == 401
    for _ in range(LIMIT):
        async with client.get(verify, headers={**forged, **_from(me)}) as r:
            assert r.status == 401
    public = {"X-Original-URI": "/public/x"}
    async with client.get(verify, headers={**public, **_from(me)}) as r:
        await _assert_limited(r)
    async with client.get(verify, headers={**public, **_from(next(_ADDRESSES))}) as r:
        assert r.status == 200
    refused = gw.app[METRICS].registry.get_sample_value(
        "wxgate_rate_limited_total", {"limit": "forward_auth_failures"}
    )
    assert refused == 1


async def test_an_untrusted_peer_cannot_pick_its_address(tmp_path: Path) -> None:
    """Without ``server.trusted_proxies`` the peer is the address: a new ``X-Forwarded-For``
    on every request does not buy a new budget."""
    gw = await start_gateway(tmp_path, WXGATE_LIMITS__TICKET_CREATE_PER_ADDRESS=str(LIMIT))
    try:
        client = gw.client()
        for i in range(LIMIT + 1):
            async with client.post("/auth/qr", headers=_from(next(_ADDRESSES))) as r:
                if i == LIMIT:
                    await _assert_limited(r)
                else:
                    assert r.status == 200
    finally:
        await gw.close()
