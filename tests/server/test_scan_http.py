"""Scan-login over real HTTP: the PC side, both phone sides, the three transports, the pages.

A real gateway in dev mode on a free port (memory store), the WeChat simulator mounted in it;
the phone is the mini-program (bearer) or WeChat's browser (flow B + confirm page).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.clock import ManualClock
from gateway.server.keys import TOKENS
from tests.server.scan_harness import (
    PC_UA,
    Gateway,
    Phone,
    read_sse,
    sse_fields,
    start_gateway,
    until,
)


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    gateway = await start_gateway(tmp_path, WXGATE_SCAN__SSE_HEARTBEAT="0.2",
                                  WXGATE_SCAN__LONGPOLL_MAX_WAIT="1")  # fmt: skip
    yield gateway
    await gateway.close()


async def confirmed_by_mini(gw: Gateway, ticket: str, user: str = "bob") -> Phone:
    phone = Phone(gw, user)
    await phone.mini_login()
    assert (await phone.call(ticket, "scan"))[0] == 200
    status, body = await phone.call(ticket, "confirm")
    assert status == 200 and body["state"] == "confirmed", body
    return phone


# -- creating -----------------------------------------------------------------------------


async def test_create_answers_urls_and_sets_the_binding_cookie(gw: Gateway) -> None:
    pc = gw.client()
    async with pc.post("/auth/qr") as r:
        assert r.status == 200
        assert r.headers["Cache-Control"].startswith("no-store")
        body = await r.json()
        cookie = r.cookies["wxgate_qr"]
    t = body["ticket"]
    assert len(t) == 22 and t.isalnum()
    assert body["expires_in"] == 120
    assert body["qr_content"] == f"{gw.base}/auth/qr/{t}/scan"
    assert body["image_url"] == f"{gw.base}/auth/qr/{t}/image.png"
    assert body["events_url"] == f"{gw.base}/auth/qr/{t}/events"
    assert body["ws_url"] == f"{gw.ws_base}/auth/qr/{t}/ws"
    assert body["status_url"] == f"{gw.base}/auth/qr/{t}/status"
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert cookie["path"] == f"/auth/qr/{t}/" and not cookie["secure"]  # dev: http
    assert len(cookie.value) >= 43


async def test_rate_limit_is_429_with_retry_after(tmp_path: Path) -> None:
    gw = await start_gateway(tmp_path, WXGATE_SCAN__CREATE_RATE_PER_MINUTE="3")
    try:
        pc = gw.client()
        for _ in range(3):
            assert (await gw.create(pc))["ticket"]
        async with pc.post("/auth/qr") as r:
            assert r.status == 429
            assert 1 <= int(r.headers["Retry-After"]) <= 60
            assert (await r.json())["error"] == "rate_limited"
    finally:
        await gw.close()


async def test_status_lookups_are_rate_limited_per_address(tmp_path: Path) -> None:
    """``status``, ``events`` and ``ws`` share one per-address budget a minute
    (``limits.status_per_address``, default 300); the forwarded address behind a trusted
    proxy is the one counted."""
    gw = await start_gateway(tmp_path, WXGATE_SERVER__TRUSTED_PROXIES="127.0.0.0/8")
    me, other = {"X-Forwarded-For": "203.0.113.9"}, {"X-Forwarded-For": "198.51.100.4"}
    try:
        pc = gw.client()
        t = (await gw.create(pc))["ticket"]
        async with pc.ws_connect(f"{gw.ws_base}/auth/qr/{t}/ws", headers=me) as ws:
            assert (await ws.receive_json())["state"] == "pending"
        async with pc.get(f"/auth/qr/{t}/events", headers={**me, "Last-Event-ID": "1"}):
            pass
        for _ in range(300 - 2):
            async with pc.get(f"/auth/qr/{t}/status", headers=me) as r:
                assert r.status == 200
        for path in ("status", "events"):
            async with pc.get(f"/auth/qr/{t}/{path}", headers=me) as r:
                assert r.status == 429 and 1 <= int(r.headers["Retry-After"]) <= 60, path
                assert (await r.json())["error"] == "rate_limited"
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await pc.ws_connect(f"{gw.ws_base}/auth/qr/{t}/ws", headers=me)
        assert info.value.status == 429
        async with pc.get(f"/auth/qr/{t}/status", headers=other) as r:
            assert r.status == 200  # another address has its own budget
    finally:
        await gw.close()


async def test_images_are_rendered_once_and_cached(gw: Gateway) -> None:
    pc = gw.client()
    t = (await gw.create(pc))["ticket"]
    async with pc.get(f"/auth/qr/{t}/image.png") as r:
        assert r.status == 200 and r.content_type == "image/png"
        png = await r.read()
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        cache = r.headers["Cache-Control"]
        assert cache.startswith("private, max-age=") and int(cache.split("=")[1]) <= 120
    async with pc.get(f"/auth/qr/{t}/image.png") as r:
        assert await r.read() == png
    async with pc.get(f"/auth/qr/{t}/image.svg") as r:
        assert r.status == 200 and r.content_type == "image/svg+xml"
        assert b"<svg" in await r.read()
    async with pc.get(f"/auth/qr/{t}/wxacode.png") as r:
        assert r.status == 200, await r.text()
        assert (await r.read())[:3] in (b"\xff\xd8\xff", b"\x89PN")
    async with pc.get("/auth/qr/AAAAAAAAAAAAAAAAAAAAAA/image.png") as r:
        assert r.status == 404 and (await r.json())["error"] == "not_found"


async def test_concurrent_image_requests_share_one_wechat_call(gw: Gateway) -> None:
    pc = gw.client()
    t = (await gw.create(pc))["ticket"]
    async with pc.delete("/_sim/wechat/sim/calls") as r:
        assert r.status == 200

    async def fetch() -> bytes:
        async with pc.get(f"/auth/qr/{t}/wxacode.png") as r:
            assert r.status == 200, await r.text()
            return await r.read()

    images = await asyncio.gather(*(fetch() for _ in range(10)))
    assert len(set(images)) == 1
    async with pc.get("/_sim/wechat/sim/calls") as r:
        calls = (await r.json())["calls"]
    assert calls.get("wxa/getwxacodeunlimit") == 1


# -- the mini-program phone ---------------------------------------------------------------


async def test_miniprogram_flow_end_to_end(gw: Gateway) -> None:
    pc = gw.client()
    created = await gw.create(pc, return_to="/demo/page?x=1")
    t = created["ticket"]
    async with pc.ws_connect(created["ws_url"]) as ws:
        assert (await ws.receive_json(timeout=5))["state"] == "pending"
        phone = Phone(gw, "bob")
        await phone.mini_login()
        status, body = await phone.call(t, "scan")
        assert status == 200 and body["state"] == "scanned"
        assert body["pc"]["ip"] == "127.0.0.1" and "Chrome 124" in body["pc"]["browser"]
        assert (await ws.receive_json(timeout=5))["state"] == "scanned"
        status, body = await phone.call(t, "confirm")
        assert status == 200 and body["state"] == "confirmed"
        frame = await ws.receive_json(timeout=5)
        assert frame == {"state": "confirmed", "ticket": t, "seq": 3,
                         "expires_in": frame["expires_in"]}  # fmt: skip
        intruder = gw.client()  # another browser: no binding cookie
        async with intruder.post(f"/auth/qr/{t}/redeem") as r:
            assert r.status == 403 and (await r.json())["error"] == "access_denied"
        async with pc.post(f"/auth/qr/{t}/redeem") as r:
            assert r.status == 200, await r.text()
            tokens = await r.json()
            assert r.cookies["wxgate_session"].value.startswith(tokens["access_token"])
        assert tokens["token_type"] == "Bearer" and tokens["return_to"] == "/demo/page?x=1"
        claims = gw.app[TOKENS].verify(tokens["access_token"])
        assert claims.amr == ("wechat_scan",)
        assert claims.sub == gw.app[TOKENS].verify(phone.token).sub
        assert (await ws.receive_json(timeout=5))["state"] == "redeemed"
        assert (await ws.receive(timeout=5)).type == aiohttp.WSMsgType.CLOSE
    async with pc.post(f"/auth/qr/{t}/redeem") as r:
        assert r.status in (403, 409)  # the cookie was cleared; either way: not twice


async def test_fifty_concurrent_redeems_over_http(gw: Gateway) -> None:
    pc = gw.client()
    t = (await gw.create(pc))["ticket"]
    await confirmed_by_mini(gw, t)

    async def redeem() -> int:
        async with pc.post(f"/auth/qr/{t}/redeem") as r:
            await r.read()
            return r.status

    statuses = await asyncio.gather(*(redeem() for _ in range(50)))
    assert statuses.count(200) == 1 and statuses.count(409) == 49


async def test_second_phone_and_other_account_get_409(gw: Gateway) -> None:
    pc = gw.client()
    t = (await gw.create(pc))["ticket"]
    await confirmed_by_mini(gw, t, "bob")
    carol = Phone(gw, "carol")
    await carol.mini_login()
    status, body = await carol.call(t, "confirm")
    assert status == 409 and body["error"] == "conflict"
    t2 = (await gw.create(pc))["ticket"]
    bob = Phone(gw, "bob")
    await bob.mini_login()
    assert (await bob.call(t2, "scan"))[0] == 200
    status, body = await carol.call(t2, "confirm")  # scanned by bob, confirmed by carol
    assert status == 409 and "another account" in body["error_description"]
    assert (await carol.call(t2, "deny"))[0] == 409
    assert (await bob.call(t2, "deny"))[1]["state"] == "denied"


async def test_phone_calls_need_a_bearer_token(gw: Gateway) -> None:
    pc = gw.client()
    t = (await gw.create(pc))["ticket"]
    async with pc.post(f"/auth/qr/{t}/scan") as r:
        assert r.status == 401 and "WWW-Authenticate" in r.headers
    async with pc.post(f"/auth/qr/{t}/confirm", headers={"Authorization": "Bearer x.y.z"}) as r:
        assert r.status == 401
    async with pc.post(f"/auth/qr/{t}/confirm", json={}) as r:  # no bearer, no session
        assert r.status == 401


# -- WeChat's browser ---------------------------------------------------------------------


async def test_wechat_browser_scan_confirm_with_csrf(gw: Gateway) -> None:
    pc = gw.client()
    created = await gw.create(pc)
    t = created["ticket"]
    phone = Phone(gw, "alice")
    first = await phone.browser.get(created["qr_content"], allow_redirects=False)
    assert first.status == 302
    assert first.headers["Location"] == f"/auth/wechat/mp/login?return_to=/auth/qr/{t}/confirm"
    async with pc.get(f"/auth/qr/{t}/status") as r:
        assert (await r.json())["state"] == "scanned"
    page = await phone.open_qr(created["qr_content"])
    assert page.status == 200 and str(page.url).endswith(f"/auth/qr/{t}/confirm")
    html = await page.text()
    assert "127.0.0.1" in html and "Chrome 124 on Linux" in html
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    csrf = Phone.csrf_of(html)
    assert (await phone.submit(t, "confirm", None)).status == 403
    assert (await phone.submit(t, "confirm", csrf[:-2] + "xx")).status == 403
    other = Phone(gw, "mallory")  # a valid session of another phone, with alice's token
    await other.open_qr(created["qr_content"])
    assert (await other.submit(t, "confirm", csrf)).status in (403, 409)
    done = await phone.submit(t, "confirm", csrf)
    assert done.status == 200 and "wxgate-message" in await done.text()
    async with pc.post(f"/auth/qr/{t}/redeem") as r:
        assert r.status == 200
    again = await phone.submit(t, "confirm", csrf)
    assert again.status == 409


async def test_phone_with_a_session_goes_straight_to_confirm(gw: Gateway) -> None:
    pc = gw.client()
    first = await gw.create(pc)
    phone = Phone(gw, "alice")
    await phone.open_qr(first["qr_content"])  # logs the phone in (flow B)
    second = await gw.create(pc)
    r = await phone.browser.get(second["qr_content"], allow_redirects=False)
    assert r.status == 302 and r.headers["Location"] == f"/auth/qr/{second['ticket']}/confirm"


async def test_confirm_page_renews_an_expired_session(tmp_path: Path) -> None:
    """The phone's access token expired while its session lives: the confirm page renews it
    (new cookie) the way the proxy does, instead of sending the phone through flow B again."""
    clock = ManualClock(start=time.time())
    gw = await start_gateway(tmp_path, clock=clock)
    try:
        pc = gw.client()
        phone = Phone(gw, "alice")
        await phone.open_qr((await gw.create(pc))["qr_content"])  # logs the phone in (flow B)
        old = phone.session_cookie()
        tokens = gw.config.tokens
        clock.advance(tokens.access_ttl + tokens.leeway + 5)  # its access token has expired
        t = (await gw.create(pc))["ticket"]
        page = await phone.browser.get(f"{gw.base}/auth/qr/{t}/confirm", allow_redirects=False)
        assert page.status == 200, page.headers.get("Location")
        renewed = phone.session_cookie()
        assert renewed and renewed != old
        done = await phone.submit(t, "confirm", Phone.csrf_of(await page.text()))
        assert done.status == 200
        async with pc.post(f"/auth/qr/{t}/redeem") as r:
            assert r.status == 200
    finally:
        await gw.close()


async def test_confirm_page_without_session_redirects_to_flow_b(gw: Gateway) -> None:
    pc = gw.client()
    t = (await gw.create(pc))["ticket"]
    async with pc.get(f"/auth/qr/{t}/confirm", allow_redirects=False) as r:
        assert r.status == 302 and r.headers["Location"].startswith("/auth/wechat/mp/login?")


async def test_wechat_browser_deny_reaches_the_pc(gw: Gateway) -> None:
    pc = gw.client()
    created = await gw.create(pc)
    t = created["ticket"]
    phone = Phone(gw, "alice")
    page = await phone.open_qr(created["qr_content"])
    csrf = Phone.csrf_of(await page.text())
    async with pc.get(created["events_url"]) as events:
        blocks = await read_sse(events, 2)
        assert sse_fields(blocks[1])["event"] == "scanned"
        denied = await phone.submit(t, "deny", csrf)
        assert denied.status == 200 and "wxgate-message" in await denied.text()
        while True:  # skip heartbeats
            block = (await read_sse(events, 1))[0]
            if not block.startswith(":"):
                break
        assert sse_fields(block)["event"] == "denied"


async def test_unknown_ticket_on_the_phone_is_a_page(gw: Gateway) -> None:
    phone = Phone(gw, "alice")
    r = await phone.browser.get("/auth/qr/AAAAAAAAAAAAAAAAAAAAAA/scan", allow_redirects=False)
    assert r.status == 404 and r.content_type == "text/html"


# -- transports ---------------------------------------------------------------------------


async def test_sse_current_state_events_and_resume(gw: Gateway) -> None:
    pc = gw.client()
    created = await gw.create(pc)
    t = created["ticket"]
    async with pc.get(created["events_url"]) as events:
        assert events.headers["Content-Type"] == "text/event-stream"
        blocks = await read_sse(events, 2)
        assert blocks[0] == "retry: 2000"
        first = sse_fields(blocks[1])
        assert first["id"] == "1" and first["event"] == "pending"
        assert json.loads(first["data"])["state"] == "pending"
        assert (await read_sse(events, 1))[0] == ": keep-alive"  # heartbeat (0.2 s here)
        phone = Phone(gw, "bob")
        await phone.mini_login()
        await phone.call(t, "scan")
        scanned = sse_fields((await read_sse(events, 1))[0])
        assert scanned["id"] == "2" and scanned["event"] == "scanned"
    async with pc.get(created["events_url"], headers={"Last-Event-ID": "1"}) as events:
        blocks = await read_sse(events, 2)
        assert sse_fields(blocks[1])["event"] == "scanned"  # advanced past 1: sent
    async with pc.get(created["events_url"], headers={"Last-Event-ID": "2"}) as events:
        blocks = await read_sse(events, 2)
        assert blocks == ["retry: 2000", ": keep-alive"]  # nothing newer yet
        await phone.call(t, "deny")
        denied = sse_fields((await read_sse(events, 1))[0])
        assert denied["event"] == "denied" and denied["id"] == "4"
        assert await events.content.read() == b""  # the stream ends after a final state
    async with pc.get(created["events_url"], headers={"Last-Event-ID": "4"}) as events:
        assert events.status == 204


async def test_long_poll(gw: Gateway, tmp_path: Path) -> None:
    pc = gw.client()
    created = await gw.create(pc)
    t = created["ticket"]
    async with pc.get(f"/auth/qr/{t}/status?wait=25&after=scanned") as r:
        assert (await r.json())["state"] == "pending"  # differs from `after`: at once
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with pc.get(f"/auth/qr/{t}/status?wait=25&after=pending") as r:
        assert (await r.json())["state"] == "pending"
    # capped by longpoll_max_wait (1 s here), not the 25 s asked for: the server waits at
    # least the cap, and the upper bound lies halfway to 25 s (no loaded machine reaches it)
    assert 0.8 <= loop.time() - started < 12.5
    async with pc.get(f"/auth/qr/{t}/status?wait=abc") as r:
        assert r.status == 400

    # a change wakes the waiting poll: the phone scans only once the poll's waiter has
    # joined, on a gateway with the default 30 s cap (no deadline to race)
    woken = await start_gateway(tmp_path / "woken")
    try:
        pc = woken.client()
        t = (await woken.create(pc))["ticket"]
        phone = Phone(woken, "bob")
        await phone.mini_login()
        poll = asyncio.create_task(pc.get(f"/auth/qr/{t}/status?wait=25&after=pending"))
        await until(lambda: woken.scan.hub.waiter_count == 1, "the long poll's waiter")
        await phone.call(t, "scan")
        async with await asyncio.wait_for(poll, 20) as r:
            frame = await r.json()
        assert frame["state"] == "scanned" and frame["seq"] == 2
    finally:
        await woken.close()


async def test_waiter_cap_over_http(tmp_path: Path) -> None:
    gw = await start_gateway(tmp_path, WXGATE_SCAN__MAX_WAITERS_PER_TICKET="2")
    try:
        pc = gw.client()
        created = await gw.create(pc)
        async with pc.ws_connect(created["ws_url"]), pc.ws_connect(created["ws_url"]):
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await pc.ws_connect(created["ws_url"])
            assert info.value.status == 429
            async with pc.get(created["events_url"]) as r:
                assert r.status == 429 and r.headers["Retry-After"]
    finally:
        await gw.close()


async def test_waiter_cap_per_address_over_http(tmp_path: Path) -> None:
    """One client address (the forwarded one behind a trusted proxy) holds at most
    ``limits.waiters_per_address`` (default 50) waiters, across tickets and transports."""
    gw = await start_gateway(tmp_path, WXGATE_SCAN__SSE_HEARTBEAT="0.2",
                             WXGATE_SERVER__TRUSTED_PROXIES="127.0.0.0/8")  # fmt: skip
    cap = 50  # the default
    me, other = {"X-Forwarded-For": "203.0.113.9"}, {"X-Forwarded-For": "198.51.100.4"}
    pc = gw.client()
    polls: list[asyncio.Task[aiohttp.ClientResponse]] = []
    streams: list[aiohttp.ClientResponse] = []
    try:
        t = [(await gw.create(pc))["ticket"] for _ in range(4)]  # 16 waiters a ticket at most
        sockets = [await pc.ws_connect(f"{gw.ws_base}/auth/qr/{t[0]}/ws", headers=me)
                   for _ in range(16)]  # fmt: skip
        for i in range(32):
            streams.append(await pc.get(f"/auth/qr/{t[1 + i // 16]}/events", headers=me))
            assert streams[-1].status == 200
        long_poll = f"/auth/qr/{t[3]}/status?wait=25&after=pending"
        polls = [asyncio.create_task(pc.get(long_poll, headers=me)) for _ in range(cap - 48)]
        await until(lambda: gw.scan.hub.waiter_count == cap, "the waiters")

        async with pc.get(f"/auth/qr/{t[3]}/events", headers=me) as r:
            assert r.status == 429 and 1 <= int(r.headers["Retry-After"]) <= 60
            assert (await r.json())["error"] == "rate_limited"
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await pc.ws_connect(f"{gw.ws_base}/auth/qr/{t[3]}/ws", headers=me)
        assert info.value.status == 429
        async with pc.get(long_poll, headers=me) as r:
            assert r.status == 429
        async with pc.get(f"/auth/qr/{t[3]}/status", headers=me) as r:
            assert r.status == 200  # an answer at once is no waiter
        async with pc.get(f"/auth/qr/{t[3]}/events", headers=other) as r:
            assert r.status == 200  # another address has its own places

        await sockets.pop().close()  # closing one frees a place
        streams.pop().close()  # (an SSE stream's at its next heartbeat)
        await until(lambda: gw.scan.hub.waiter_count == cap - 2, "the release")
        async with pc.get(f"/auth/qr/{t[3]}/events", headers=me) as r:
            assert r.status == 200
        async with pc.ws_connect(f"{gw.ws_base}/auth/qr/{t[3]}/ws", headers=me) as ws:
            assert (await ws.receive_json())["state"] == "pending"
        for ws in sockets:
            await ws.close()
    finally:
        for stream in streams:
            stream.close()
        for poll in polls:
            poll.cancel()
        await asyncio.gather(*polls, return_exceptions=True)
        await gw.close()


# -- pages --------------------------------------------------------------------------------


async def test_login_page_is_safe_and_bilingual(gw: Gateway) -> None:
    pc = gw.client()
    evil = "/demo/</script><script>alert(1)</script>"
    async with pc.get("/auth/login", params={"return_to": evil}) as r:
        html = await r.text()
        csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp and "connect-src 'self'" in csp
    assert "<script>alert" not in html and "\\u003c/script\\u003e" in html
    config_json = html.split('id="wxgate-login-config">')[1].split("</script>")[0]
    assert json.loads(config_json)["return_to"] == evil
    assert 'id="dev-phone"' in html and 'id="web-login"' in html
    for bad in ("//evil.example/", "https://evil.example/", "javascript:alert(1)"):
        async with pc.get("/auth/login", params={"return_to": bad}) as r:
            data = (await r.text()).split('id="wxgate-login-config">')[1].split("</script>")[0]
            assert json.loads(data)["return_to"] == "/"
    async with pc.get("/auth/login", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}) as r:
        assert "微信扫码登录" in await r.text()
    async with pc.get("/auth/login", headers={"Accept-Language": "en-US,zh;q=0.5"}) as r:
        assert "Log in with WeChat" in await r.text()
    for asset in ("scan-login.js", "scan.css", "scan-confirm.js"):
        async with pc.get(f"/auth/login/assets/{asset}") as r:
            assert r.status == 200 and r.headers["ETag"]


async def test_redeem_with_unsafe_return_to_falls_back(gw: Gateway) -> None:
    pc = gw.client()
    t = (await gw.create(pc, return_to="//evil.example/x"))["ticket"]
    await confirmed_by_mini(gw, t)
    async with pc.post(f"/auth/qr/{t}/redeem") as r:
        assert (await r.json())["return_to"] == "/"


async def test_metrics(gw: Gateway) -> None:
    pc = gw.client()
    created = await gw.create(pc)
    async with pc.ws_connect(created["ws_url"]) as ws:
        await ws.receive_json(timeout=5)
        await confirmed_by_mini(gw, created["ticket"])
        await ws.receive_json(timeout=5)
        await ws.receive_json(timeout=5)
        async with pc.post(f"/auth/qr/{created['ticket']}/redeem") as r:
            assert r.status == 200
        await ws.receive_json(timeout=5)
    async with pc.get("/metrics") as r:
        text = await r.text()
    samples: dict[tuple[str, tuple[Any, ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    for result in ("created", "scanned", "confirmed", "redeemed"):
        key = ("wxgate_scan_tickets_total", (("flow", "scan"), ("result", result)))
        assert samples[key] == 1
    latency = ("wxgate_scan_notify_latency_seconds_count", (("transport", "websocket"),))
    assert samples[latency] == 3
    assert samples[("wxgate_scan_time_to_scan_seconds_count", ())] == 1
    assert samples[("wxgate_scan_waiters", (("transport", "websocket"),))] == 0
    assert PC_UA  # the creating browser's UA was summarised, never stored raw
