"""The demo relying party at /_sim/rp, driven over real HTTP against an in-process dev gateway:
a browser (cookies kept) logs in through flow B and the provider, the RP shows the ``sub``;
consent, RP-initiated and back-channel logout; what the back-channel endpoint refuses."""

from __future__ import annotations

import asyncio
import dataclasses
import html
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import aiohttp
import pytest
from aiohttp import web

from gateway.server.app import create_app
from gateway.server.keys import TOKENS
from gateway.simulator import RP, RP_COOKIE, DemoRelyingParty
from tests.conftest import dev_config
from tests.server.scan_harness import Gateway, Phone, start_gateway

EVENT = "http://schemas.openid.net/event/backchannel-logout"


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    gateway = await start_gateway(tmp_path)
    try:
        yield gateway
    finally:
        await gateway.close()


def demo_rp(gw: Gateway) -> DemoRelyingParty:
    for resource in gw.app.router.resources():
        info = resource.get_info()
        if info.get("prefix") == "/_sim/rp":
            app: web.Application = info["app"]
            return app[RP]
    raise AssertionError("the demo RP is not mounted")


async def follow(gw: Gateway, browser: aiohttp.ClientSession, response: aiohttp.ClientResponse
                 ) -> aiohttp.ClientResponse:  # fmt: skip
    """Follow redirects (relative or absolute) to the first answer that is not one."""
    for _ in range(10):
        if response.status not in (302, 303):
            await response.read()
            return response
        location = response.headers["Location"]
        url = gw.base + location if location.startswith("/") else location
        response = await browser.get(url, allow_redirects=False)
    raise AssertionError("too many redirects")


async def start(
    gw: Gateway, browser: aiohttp.ClientSession, client: str
) -> tuple[dict[str, str], aiohttp.ClientResponse]:
    """``POST /_sim/rp/login``: the authorization request it redirects to, and the 303."""
    r = await browser.post("/_sim/rp/login", data={"client": client}, allow_redirects=False)
    assert r.status == 303, await r.text()
    location = r.headers["Location"]
    assert location.startswith(f"{gw.base}/auth/authorize?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}, r


async def log_in_with_rp(gw: Gateway, phone: Phone, client: str) -> str:
    """From the RP's button to the RP's page, logging in through flow B on the way."""
    request, r = await start(gw, phone.browser, client)
    # no wxgate session yet: WeChat's browser logs in through flow B, and back
    r = await phone.open_qr(r.headers["Location"])
    page = await r.text()
    if 'name="consent"' in page:  # demo-rp is third-party: the consent page
        handle = re.search(r'name="consent" value="([^"]+)"', page)
        assert handle, page
        form = {"consent": handle.group(1), "action": "allow"}
        r = await phone.browser.post("/auth/authorize/consent", data=form, allow_redirects=False)
        r = await follow(gw, phone.browser, r)
        page = await r.text()
    assert r.status == 200 and urlsplit(str(r.url)).path == "/_sim/rp/", page
    assert request["client_id"] == client
    return page


async def own_sub(phone: Phone) -> str:
    async with phone.browser.get("/auth/userinfo") as r:
        assert r.status == 200, await r.text()
        return str((await r.json())["sub"])


def shown(page: str, element: str) -> str:
    match = re.search(rf'id="{element}"[^>]*>(.*?)</', page, re.S)
    assert match, page
    return html.unescape(match.group(1))


async def test_the_authorization_request_and_the_rp_cookie(gw: Gateway) -> None:
    browser = gw.client()
    request, _ = await start(gw, browser, "demo-spa")
    assert request["response_type"] == "code" and request["code_challenge_method"] == "S256"
    assert request["redirect_uri"] == f"{gw.base}/_sim/rp/callback"
    assert request["scope"].split()[0] == "openid"
    assert len(request["state"]) >= 32 and len(request["nonce"]) >= 32
    assert len(request["code_challenge"]) == 43
    cookie = next(c for c in browser.cookie_jar if c.key == RP_COOKIE)
    assert cookie["httponly"] and cookie["path"] == "/_sim/rp/"
    assert (await browser.post("/_sim/rp/login", data={"client": "nope"})).status == 400


async def test_demo_spa_login_shows_the_sub_then_rp_initiated_logout(gw: Gateway) -> None:
    phone = Phone(gw, "alice")
    page = await log_in_with_rp(gw, phone, "demo-spa")
    sub = await own_sub(phone)
    assert shown(page, "rp-sub") == sub
    claims = json.loads(shown(page, "rp-claims"))
    assert claims["aud"] == "demo-spa" and claims["iss"] == gw.base and claims["at_hash"]
    assert claims["amr"] == ["wechat_mp"] and claims["nickname"] == "alice"
    assert json.loads(shown(page, "rp-userinfo"))["sub"] == sub
    link = re.search(r'id="rp-logout" href="([^"]+)"', page)
    assert link, page
    href = html.unescape(link.group(1))
    query = parse_qs(urlsplit(href).query)
    assert href.startswith(f"{gw.base}/auth/end-session?")
    assert query["post_logout_redirect_uri"] == [f"{gw.base}/_sim/rp/"] and query["state"]
    r = await follow(gw, phone.browser, await phone.browser.get(href, allow_redirects=False))
    assert r.status == 200 and "Logged out" in await r.text()
    async with phone.browser.get("/auth/userinfo") as r:
        assert r.status == 401  # the wxgate session ended too


async def test_demo_rp_consent_and_backchannel_logout_ends_the_rp_session(gw: Gateway) -> None:
    phone = Phone(gw, "bob")
    page = await log_in_with_rp(gw, phone, "demo-rp")
    sub = await own_sub(phone)
    assert shown(page, "rp-sub") == sub
    rp = demo_rp(gw)
    (session,) = [s for s in rp.sessions.values() if s.login is not None]
    sid = session.login.claims["sid"] if session.login else None
    async with phone.browser.post("/auth/logout") as r:  # ends every client session too
        assert r.status == 204
    async with asyncio.timeout(10):
        while not rp.backchannel:
            await asyncio.sleep(0.01)
    record = rp.backchannel[0]
    assert (record.client_id, record.sid, record.sub, record.ended) == ("demo-rp", sid, sub, 1)
    page = await (await phone.browser.get("/_sim/rp/")).text()
    assert "ended this session (back-channel)" in page and 'id="rp-sub"' not in page
    assert f"<code>{sid}</code>" in page  # the back-channel table


async def post_logout_token(gw: Gateway, token: str) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{gw.base}/_sim/rp/backchannel-logout", data={"logout_token": token}) as r,
    ):
        assert r.headers["Cache-Control"] == "no-store"
        return r.status, (await r.json() if r.status != 200 else {})


def logout_claims(gw: Gateway, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": gw.config.issuer, "aud": "demo-rp", "iat": now, "exp": now + 120,
              "jti": "j1", "sid": "s1", "sub": "u_x", "events": {EVENT: {}}}  # fmt: skip
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


async def test_the_backchannel_endpoint_refuses_garbage(gw: Gateway) -> None:
    status, body = await post_logout_token(gw, "garbage")
    assert status == 400 and body["error"] == "invalid_request" and body["error_description"]
    async with aiohttp.ClientSession() as http:
        r = await http.post(f"{gw.base}/_sim/rp/backchannel-logout", data={})
        assert r.status == 400 and (await r.json())["error"] == "invalid_request"
        r = await http.post(f"{gw.base}/_sim/rp/backchannel-logout", json={"logout_token": "x"})
        assert r.status == 400
    assert not demo_rp(gw).backchannel


@pytest.mark.parametrize(
    ("changes", "typ", "why"),
    [
        ({"nonce": "n"}, "logout+jwt", "nonce"),
        ({"events": {}}, "logout+jwt", "events"),
        ({"events": {EVENT: "yes"}}, "logout+jwt", "events"),
        ({"aud": "demo-spa"}, "logout+jwt", "aud"),  # demo-spa registered no back-channel URI
        ({"iss": "http://elsewhere"}, "logout+jwt", "iss"),
        ({"exp": 1_000_000}, "logout+jwt", "expired"),
        ({"sid": None, "sub": None}, "logout+jwt", "sid"),
        ({}, "JWT", "typ"),  # an ID token is not a logout token
    ],
)
async def test_the_backchannel_endpoint_checks_the_logout_token(
    gw: Gateway, changes: dict[str, Any], typ: str, why: str
) -> None:
    token, _ = gw.app[TOKENS].sign_jwt(logout_claims(gw, **changes), typ)
    status, body = await post_logout_token(gw, token)
    assert status == 400 and why in body["error_description"], body
    tampered = gw.app[TOKENS].sign_jwt(logout_claims(gw), "logout+jwt")[0][:-4] + "AAAA"
    status, body = await post_logout_token(gw, tampered)
    assert status == 400 and "signature" in body["error_description"]
    token, _ = gw.app[TOKENS].sign_jwt(logout_claims(gw), "logout+jwt")
    assert (await post_logout_token(gw, token))[0] == 200
    assert demo_rp(gw).backchannel[0].sid == "s1"


async def test_the_callback_refuses_a_foreign_state_and_a_wrong_iss(gw: Gateway) -> None:
    browser = gw.client()
    r = await browser.get("/_sim/rp/callback?code=c&state=not-mine")
    assert r.status == 400 and "state does not match" in await r.text()
    request, _ = await start(gw, browser, "demo-spa")
    other = gw.client()  # another browser cannot use this browser's state (login CSRF)
    r = await other.get(f"/_sim/rp/callback?code=c&state={request['state']}&iss={gw.base}")
    assert r.status == 400 and "state does not match" in await r.text()
    r = await browser.get(f"/_sim/rp/callback?code=c&state={request['state']}&iss=http://evil")
    assert r.status == 400 and "iss" in await r.text()
    r = await browser.get(f"/_sim/rp/callback?code=c&state={request['state']}&iss={gw.base}")
    assert r.status == 400  # a state is used once


async def test_claims_are_escaped(gw: Gateway) -> None:
    phone = Phone(gw, quote("<i>mallory</i>"))
    page = await log_in_with_rp(gw, phone, "demo-spa")
    assert "<i>mallory" not in page and "&lt;i&gt;mallory&lt;/i&gt;" in page


def test_mounted_in_dev_mode_only(tmp_path: Path) -> None:
    config = dev_config(tmp_path)
    prefixes = {r.get_info().get("prefix") for r in create_app(config).router.resources()}
    assert "/_sim/rp" in prefixes
    production = create_app(dataclasses.replace(config, dev=False))
    assert "/_sim/rp" not in {r.get_info().get("prefix") for r in production.router.resources()}
