"""Follow-the-account login (flow E) over real HTTP against the simulator (reference §2.15).

A real gateway in dev mode on a free port (memory store) with the simulator mounted; the
``mp`` official account has follow-login on (safe mode in dev.toml; plain mode by env override).
The simulated phone (``/_sim/wechat/dev/follow_scan``) pushes the signed, encrypted event to the
gateway's ``/auth/wechat/mp/events``; the PC waits on its WebSocket and redeems.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import jwt
import pytest

from gateway.clock import ManualClock
from gateway.server.keys import FOLLOW, METRICS
from gateway.wechat import MessageCipher, envelope_xml, event_xml, signature
from tests.server.scan_harness import Gateway, Phone, start_gateway

MP_APPID = "wx00000000000000b2"
TOKEN = "wxgatedevtoken"
AES_KEY = "ZGV2LW9ubHktZW5jb2RpbmctYWVzLWtleS1mb3Itd3g"
EVENTS = "/auth/wechat/mp/events"


@pytest.fixture(params=["safe", "plain"])
async def gw(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Gateway]:
    gateway = await start_gateway(tmp_path, WXGATE_WECHAT__APPS__MP__MESSAGE_MODE=request.param)
    yield gateway
    await gateway.close()


@pytest.fixture
async def safe(tmp_path: Path) -> AsyncIterator[Gateway]:
    gateway = await start_gateway(tmp_path)
    yield gateway
    await gateway.close()


async def create_follow(gw: Gateway, pc: aiohttp.ClientSession) -> dict[str, Any]:
    created = await gw.create(pc, flow="follow", return_to="/demo/")
    assert created["flow"] == "follow"
    return created


async def scan(gw: Gateway, created: dict[str, Any], user: str, **switches: Any) -> dict[str, Any]:
    body = {"url": created["qr_content"], "user": user, **switches}
    async with gw.client().post("/_sim/wechat/dev/follow_scan", json=body) as r:
        assert r.status == 200, await r.text()
        return await r.json()  # type: ignore[no-any-return]


async def scene_of(gw: Gateway, created: dict[str, Any]) -> str:
    async with gw.client().get("/_sim/wechat/dev/qrcodes") as r:
        codes = (await r.json())["qrcodes"]
    return next(c["scene"] for c in codes if c["url"] == created["qr_content"])


def sub_of(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["sub"])


async def state(gw: Gateway, ticket: str) -> str:
    async with gw.client().get(f"/auth/qr/{ticket}/status") as r:
        return str((await r.json())["state"])


def sample(gw: Gateway, name: str, **labels: str) -> float:
    return gw.app[METRICS].registry.get_sample_value(name, labels) or 0.0


def events(gw: Gateway, result: str, event: str = "subscribe") -> float:
    return sample(gw, "wxgate_wechat_events_total", app="mp", event=event, result=result)


@pytest.mark.parametrize("follower", [False, True], ids=["subscribe", "SCAN"])
async def test_a_follower_logs_the_pc_in_and_is_the_same_user_as_in_the_mini_program(
    gw: Gateway, follower: bool
) -> None:
    pc = gw.client()
    created = await create_follow(gw, pc)
    t = created["ticket"]
    assert created["qr_content"].startswith(f"{gw.base}/_sim/wechat/q/")
    assert created["image_url"] == f"{gw.base}/auth/qr/{t}/image.png"
    async with pc.get(created["image_url"]) as r:
        assert r.status == 200 and (await r.read()).startswith(b"\x89PNG")
    async with pc.ws_connect(created["ws_url"]) as ws:
        assert (await ws.receive_json(timeout=5))["state"] == "pending"
        # a follower gets SCAN with the bare scene, a new follower subscribe + qrscene_
        pushed = await scan(gw, created, "carol", follower=follower)
        [delivery] = pushed["deliveries"]
        assert delivery["status"] == 200 and delivery["ms"] < 5000
        assert (await ws.receive_json(timeout=5))["state"] == "confirmed"
        async with pc.post(f"/auth/qr/{t}/redeem") as r:
            assert r.status == 200, await r.text()
            tokens = await r.json()
        assert (await ws.receive_json(timeout=5))["state"] == "redeemed"
    assert tokens["return_to"] == "/demo/"
    assert events(gw, "accepted", "SCAN" if follower else "subscribe") == 1
    phone = Phone(gw, "carol")  # the same person through the mini-program: the same user
    assert sub_of(await phone.mini_login()) == sub_of(tokens["access_token"])
    async with pc.post(f"/auth/qr/{t}/redeem") as r:
        assert r.status in (403, 409)  # once (the binding cookie went with the first)


async def test_welcome_text_is_the_passive_reply_encrypted_in_safe_mode(safe: Gateway) -> None:
    created = await create_follow(safe, safe.client())
    [delivery] = (await scan(safe, created, "dave"))["deliveries"]
    body = delivery["body"]
    assert "<Encrypt>" in body and "<MsgSignature>" in body and "Welcome" not in body
    encrypt = body.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    inner = MessageCipher(AES_KEY, MP_APPID).decrypt(encrypt).decode()
    assert "<Content><![CDATA[Welcome! You are logged in on your computer.]]></Content>" in inner


async def test_three_deliveries_confirm_once_and_are_all_answered(safe: Gateway) -> None:
    pc = safe.client()
    created = await create_follow(safe, pc)
    pushed = await scan(safe, created, "erin", retries=3)
    assert [d["status"] for d in pushed["deliveries"]] == [200, 200, 200]
    assert all(d["ms"] < 5000 for d in pushed["deliveries"])
    assert events(safe, "accepted") == 1 and events(safe, "duplicate") == 2
    async with pc.post(f"/auth/qr/{created['ticket']}/redeem") as r:
        assert r.status == 200
    assert sample(safe, "wxgate_scan_tickets_total", flow="follow", result="confirmed") == 1


async def test_handshake_echoes_only_with_a_good_signature(safe: Gateway) -> None:
    c = safe.client()
    ts, nonce = str(int(time.time())), "12345"
    good = {"signature": signature(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce,
            "echostr": "echo-me-4711"}  # fmt: skip
    async with c.get(f"{EVENTS}?{urlencode(good)}") as r:
        assert r.status == 200 and await r.text() == "echo-me-4711"
    bad = good | {"signature": signature("wrongtoken", ts, nonce)}
    async with c.get(f"{EVENTS}?{urlencode(bad)}") as r:
        text = await r.text()
        assert r.status == 403 and "echo-me-4711" not in text
        assert (await r.json())["error"] == "invalid_signature"
    async with c.get(f"/auth/wechat/web/events?{urlencode(good)}") as r:
        assert r.status == 404  # a website app has no server URL


def signed(
    xml: bytes, *, ts: int | None = None, nonce: str = "424242", encrypt: bool = True,
    appid: str = MP_APPID, token: str = TOKEN, msg_token: str = TOKEN,
) -> tuple[str, bytes]:  # fmt: skip
    t = str(ts if ts is not None else int(time.time()))
    query = {"signature": signature(token, t, nonce), "timestamp": t, "nonce": nonce,
             "openid": "o-test"}  # fmt: skip
    body = xml
    if encrypt:
        enc = MessageCipher(AES_KEY, appid).encrypt(xml)
        body = envelope_xml("gh_000000000000", enc)
        query |= {"encrypt_type": "aes", "msg_signature": signature(msg_token, t, nonce, enc)}
    return f"{EVENTS}?{urlencode(query)}", body


XXE = b"""<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<xml><FromUserName>&x;</FromUserName><CreateTime>1</CreateTime></xml>"""
LAUGHS = b"""<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;">]><xml><FromUserName>&d;</FromUserName>
<CreateTime>1</CreateTime></xml>"""


async def test_every_refusal_is_a_4xx_and_leaves_the_ticket_pending(safe: Gateway) -> None:
    pc = safe.client()
    created = await create_follow(safe, pc)
    t, scene = created["ticket"], await scene_of(safe, created)
    now = int(time.time())
    async with pc.get(f"/_sim/wechat/dev/identity?appid={MP_APPID}&user=victor") as r:
        openid = (await r.json())["openid"]
    event = event_xml("gh_000000000000", openid, now, "subscribe", f"qrscene_{scene}", "tk")
    cases: list[tuple[str, str, bytes, int, str]] = []

    def case(name: str, where: tuple[str, bytes], status: int, result: str) -> None:
        cases.append((name, where[0], where[1], status, result))

    case("bad signature", signed(event, token="otherToken1"), 403, "bad_signature")
    case("bad msg_signature", signed(event, msg_token="otherToken1"), 403, "bad_signature")
    case("301 s old", signed(event, ts=now - 301), 400, "stale")
    case("XXE", signed(XXE, nonce="1"), 400, "malformed")
    case("billion laughs", signed(LAUGHS, nonce="2"), 400, "malformed")
    case("another account", signed(event, appid="wx00000000000000ff", nonce="3"), 403,
         "bad_signature")  # fmt: skip
    case("plain in safe mode", signed(event, encrypt=False, nonce="4"), 400, "malformed")
    big = signed(event_xml("gh_0", "o" * 70_000, now, "subscribe", "", ""), nonce="5")
    case("over the cap", big, 413, "malformed")
    # a replay: an ordinary follow with (now, "7") passes, the login event with the same pair not
    ordinary = event_xml("gh_000000000000", "o-other", now, "subscribe", "", "")
    url, body = signed(ordinary, nonce="7")
    async with pc.post(url, data=body) as r:
        assert r.status == 200  # the welcome reply: an ordinary follow is welcome too
    case("replayed (timestamp, nonce)", signed(event, nonce="7"), 409, "replay")
    for name, url, body, status, _ in cases:
        async with pc.post(url, data=body) as r:
            assert r.status == status, (name, await r.text())
            error = await r.json()
            assert error["error"] and error["error_description"], name
            assert "passwd" not in error["error_description"] and "root:" not in await r.text()
        assert await state(safe, t) == "pending", name
    by_result: dict[str, float] = {}
    for _, _, _, _, result in cases:
        by_result[result] = by_result.get(result, 0) + 1
    for result, count in by_result.items():
        label = "subscribe" if result == "replay" else "unknown"
        assert events(safe, result, label) == count, result
    # the genuine push still works afterwards
    url, body = signed(event, nonce="8")
    async with pc.post(url, data=body) as r:
        assert r.status == 200
    await safe.app[FOLLOW].drain()
    assert await state(safe, t) == "confirmed"


async def test_unknown_scene_gets_the_welcome_at_most(safe: Gateway) -> None:
    now = int(time.time())
    event = event_xml("gh_000000000000", "o-x", now, "SCAN", "no-such-scene", "tk")
    url, body = signed(event, nonce="99")
    async with safe.client().post(url, data=body) as r:
        assert r.status == 200 and "<Encrypt>" in await r.text()
    assert events(safe, "unknown_scene", "SCAN") == 1


async def test_unverified_account_is_a_clear_503(safe: Gateway) -> None:
    async with safe.client().post("/_sim/wechat/sim/options", json={"oa_unverified": True}) as r:
        assert r.status == 200
    async with safe.client().post("/auth/qr", json={"flow": "follow"}) as r:
        assert r.status == 503
        body = await r.json()
    assert body["error"] == "follow_login_unavailable" and "48001" in body["error_description"]
    assert sample(safe, "wxgate_wechat_config_errors_total", app="mp", errcode="48001") == 1


async def test_follow_tickets_are_not_confirmable_by_the_scan_flow(safe: Gateway) -> None:
    created = await create_follow(safe, safe.client())
    phone = Phone(safe, "mallory")
    await phone.mini_login()
    status, body = await phone.call(created["ticket"], "scan")
    assert status == 404 and body["error"] == "not_found"
    async with safe.client().post("/auth/qr", json={"flow": "nope"}) as r:
        assert r.status == 400 and (await r.json())["error"] == "invalid_request"


async def test_expired_and_used_scenes_log_nobody_in(tmp_path: Path) -> None:
    """An expired QR's scene and an already-used one are answered (welcome at most) and
    counted ``unknown_scene``; the PC waiting on the expired ticket hears ``expired``."""
    clock = ManualClock(time.time())
    gw = await start_gateway(tmp_path, clock=clock)
    try:
        pc = gw.client()
        used, expired = await create_follow(gw, pc), await create_follow(gw, pc)
        await scan(gw, used, "hank")
        await gw.app[FOLLOW].drain()
        async with pc.post(f"/auth/qr/{used['ticket']}/redeem") as r:
            assert r.status == 200
        async with pc.ws_connect(expired["ws_url"]) as ws:
            assert (await ws.receive_json(timeout=5))["state"] == "pending"
            clock.advance(121)  # past the QR's expire_seconds (scan.ticket_ttl, 120 s)
            gw.scan.hub.poke()
            assert (await ws.receive_json(timeout=5))["state"] == "expired"
        for created in (used, expired):
            late = "o-late-" + created["ticket"]  # two people: not one event's retries
            url, body = signed(event_xml("gh_0", late, int(clock.time()), "SCAN",
                                         await scene_of(gw, created), "tk"),
                               ts=int(clock.time()), nonce=created["ticket"])  # fmt: skip
            async with pc.post(url, data=body) as r:
                assert r.status == 200
        assert events(gw, "unknown_scene", "SCAN") == 2
        assert await state(gw, expired["ticket"]) == "expired"
        assert await state(gw, used["ticket"]) == "redeemed"
    finally:
        await gw.close()
