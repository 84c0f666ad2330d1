"""Flows A, B and C end to end over real HTTP, against the simulator mounted in dev mode."""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import jwt
import pytest

from gateway.logs import configure_logging
from gateway.server.keys import USERS
from tests.login.conftest import Gateway, start_gateway

pytestmark = pytest.mark.asyncio
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) Chrome/120"
WECHAT_UA = "Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 MicroMessenger/8.0.49 NetType/WIFI"


async def follow_wechat(browser: aiohttp.ClientSession, start: str, user: str, action: str) -> str:
    """From our login URL through the simulated consent page; returns our callback URL."""
    r = await browser.get(start, allow_redirects=False)
    assert r.status == 302, await r.text()
    wechat = r.headers["Location"]
    assert wechat.endswith("#wechat_redirect")
    r = await browser.get(
        f"{wechat.split('#')[0]}&sim_user={user}&sim_action={action}&sim_deny=redirect",
        allow_redirects=False,
    )
    assert r.status == 302, await r.text()
    return r.headers["Location"]


async def browser_login(gw: Gateway, browser: aiohttp.ClientSession, flow: str, user: str) -> str:
    """Log ``user`` in through flow A or B; returns the session cookie value."""
    callback = await follow_wechat(
        browser, f"{gw.base}/auth/wechat/{flow}/login?return_to=/demo/x%3Fy%3D1", user, "allow"
    )
    r = await browser.get(callback, allow_redirects=False)
    assert r.status == 302, await r.text()
    assert r.headers["Location"] == "/demo/x?y=1"
    cookie = r.cookies["wxgate_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    return cookie.value


async def mini_login(gw: Gateway, user: str, app: str | None = None) -> dict:  # type: ignore[type-arg]
    code = await gw.sim("POST", "/dev/js_code", json={"appid": "wx00000000000000c3", "user": user})
    body = {"code": code["code"]} | ({"app": app} if app else {})
    async with aiohttp.ClientSession() as s:
        r = await s.post(f"{gw.base}/auth/wechat/miniprogram/login", json=body)
        assert r.status == 200, await r.text()
        return await r.json()  # type: ignore[no-any-return]


async def verify_with_pyjwt(gw: Gateway, token: str) -> dict:  # type: ignore[type-arg]
    """As a microservice would: PyJWT's PyJWKClient fetching our JWKS over HTTP."""

    def check() -> dict:  # type: ignore[type-arg]
        client = jwt.PyJWKClient(f"{gw.base}/.well-known/jwks.json")
        key = client.get_signing_key_from_jwt(token)
        return jwt.decode(  # type: ignore[no-any-return]
            token, key.key, algorithms=["RS256"], audience="wxgate", issuer=gw.base
        )

    return await asyncio.to_thread(check)


async def userinfo(gw: Gateway, token: str) -> dict:  # type: ignore[type-arg]
    async with aiohttp.ClientSession() as s:
        r = await s.get(f"{gw.base}/auth/userinfo", headers={"Authorization": f"Bearer {token}"})
        assert r.status == 200, await r.text()
        return await r.json()  # type: ignore[no-any-return]


async def test_flow_a_website_qr(gateway: Gateway) -> None:
    async with gateway.browser(BROWSER_UA) as browser:
        cookie = await browser_login(gateway, browser, "web", "alice")
    access = cookie.split("~")[0]
    claims = await verify_with_pyjwt(gateway, access)
    assert claims["amr"] == ["wechat_qr"] and claims["appid"] == "wx00000000000000a1"
    assert claims["sub"].startswith("u_") and claims["openid"] != claims["sub"]
    info = await userinfo(gateway, access)
    assert info["sub"] == claims["sub"] and info["unionid"]


async def test_flow_b_official_account_by_user_agent(gateway: Gateway) -> None:
    async with gateway.browser(WECHAT_UA) as phone:
        r = await phone.get(
            f"{gateway.base}/auth/wechat/login?return_to=/demo/", allow_redirects=False
        )
        assert r.status == 302 and r.headers["Location"] == "/auth/wechat/mp/login?return_to=/demo/"
        cookie = await browser_login(gateway, phone, "mp", "bob")
    claims = await verify_with_pyjwt(gateway, cookie.split("~")[0])
    assert claims["amr"] == ["wechat_mp"] and claims["appid"] == "wx00000000000000b2"
    async with gateway.browser(BROWSER_UA) as pc:
        r = await pc.get(f"{gateway.base}/auth/wechat/login", allow_redirects=False)
        assert r.headers["Location"].startswith("/auth/wechat/web/login")


async def test_flow_c_miniprogram(gateway: Gateway) -> None:
    body = await mini_login(gateway, "carol")
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0 and body["refresh_token"]
    assert "session_key" not in str(body)
    claims = await verify_with_pyjwt(gateway, body["access_token"])
    assert claims["sub"] == body["user"]["sub"] and claims["amr"] == ["wechat_mini"]
    assert claims["openid"] == body["user"]["openid"]


async def test_same_person_through_web_and_mini_is_one_user(gateway: Gateway) -> None:
    async with gateway.browser(BROWSER_UA) as browser:
        cookie = await browser_login(gateway, browser, "web", "dora")
    web_sub = (await verify_with_pyjwt(gateway, cookie.split("~")[0]))["sub"]
    mini = await mini_login(gateway, "dora")
    assert mini["user"]["sub"] == web_sub
    user = await gateway.app[USERS].get(web_sub)
    assert user is not None
    assert {i.appid for i in user.identities} == {"wx00000000000000a1", "wx00000000000000c3"}
    other = await mini_login(gateway, "erin")
    assert other["user"]["sub"] != web_sub


async def test_refused_consent_shows_a_page_with_retry(gateway: Gateway) -> None:
    async with gateway.browser(BROWSER_UA) as browser:
        callback = await follow_wechat(
            browser, f"{gateway.base}/auth/wechat/web/login?return_to=/a", "alice", "deny"
        )
        assert "code=" not in callback and "state=" in callback
        r = await browser.get(callback, allow_redirects=False)
        assert r.status == 403 and r.content_type == "text/html"
        assert "/auth/wechat/web/login?return_to=%2Fa" in await r.text()
        assert "wxgate_session" not in r.cookies


async def test_callback_from_another_browser_is_refused(gateway: Gateway) -> None:
    async with gateway.browser(BROWSER_UA) as victim, gateway.browser(BROWSER_UA) as attacker:
        callback = await follow_wechat(
            attacker, f"{gateway.base}/auth/wechat/web/login", "mallory", "allow"
        )
        r = await victim.get(callback, allow_redirects=False)
        assert r.status == 400 and (await r.json())["error"] == "invalid_grant"


async def test_duplicate_callbacks_share_one_exchange(gateway: Gateway) -> None:
    async with gateway.browser(BROWSER_UA) as browser:
        callback = await follow_wechat(
            browser, f"{gateway.base}/auth/wechat/web/login?return_to=/x", "frank", "allow"
        )
        await gateway.sim("DELETE", "/sim/calls")
        responses = await asyncio.gather(
            *(browser.get(callback, allow_redirects=False) for _ in range(5))
        )
        assert [r.status for r in responses] == [302] * 5
        cookies = {r.cookies["wxgate_session"].value for r in responses}
        assert len(cookies) == 1  # the same session for every duplicate
    calls = (await gateway.sim("GET", "/sim/calls"))["calls"]
    assert calls.get("sns/oauth2/access_token") == 1


async def test_open_redirect_is_refused(gateway: Gateway) -> None:
    async with gateway.browser(BROWSER_UA) as browser:
        callback = await follow_wechat(
            browser, f"{gateway.base}/auth/wechat/web/login?return_to=//evil.com/x", "al", "allow"
        )
        r = await browser.get(callback, allow_redirects=False)
        assert r.headers["Location"] == "/"


async def test_reused_code_is_invalid_grant(gateway: Gateway) -> None:
    code = await gateway.sim(
        "POST", "/dev/js_code", json={"appid": "wx00000000000000c3", "user": "gina"}
    )
    async with aiohttp.ClientSession() as s:
        url = f"{gateway.base}/auth/wechat/miniprogram/login"
        assert (await s.post(url, json=code)).status == 200
        r = await s.post(url, json=code)
        body = await r.json()
    assert r.status == 400 and body["error"] == "invalid_grant"
    assert "start again" in body["error_description"]


async def test_rate_limited_upstream_is_429(gateway: Gateway) -> None:
    await gateway.sim(
        "POST", "/sim/faults",
        json={"api": "sns/jscode2session", "kind": "errcode", "errcode": 45011, "times": 1},
    )  # fmt: skip
    code = await gateway.sim(
        "POST", "/dev/js_code", json={"appid": "wx00000000000000c3", "user": "h"}
    )
    async with aiohttp.ClientSession() as s:
        r = await s.post(f"{gateway.base}/auth/wechat/miniprogram/login", json=code)
        assert r.status == 429 and r.headers["Retry-After"] == "60"
        assert (await r.json())["error"] == "rate_limited"


async def test_system_busy_is_retried_once(gateway: Gateway) -> None:
    await gateway.sim("DELETE", "/sim/calls")
    await gateway.sim(
        "POST", "/sim/faults",
        json={"api": "sns/jscode2session", "kind": "errcode", "errcode": -1, "times": 1},
    )  # fmt: skip
    body = await mini_login(gateway, "ivan")
    assert body["access_token"]
    calls = (await gateway.sim("GET", "/sim/calls"))["calls"]
    assert calls["sns/jscode2session"] == 2


async def test_wechat_timeout_is_503_within_budget(tmp_path: Path) -> None:
    gw, server = await start_gateway(tmp_path, WXGATE_WECHAT__TIMEOUT="0.5")
    try:
        # WeChat answers long after the gateway's 0.5 s (the slow answers are cancelled when
        # the server closes)
        await gw.sim(
            "POST", "/sim/faults",
            json={"api": "sns/jscode2session", "kind": "latency", "seconds": 60, "times": 5},
        )  # fmt: skip
        code = await gw.sim(
            "POST", "/dev/js_code", json={"appid": "wx00000000000000c3", "user": "j"}
        )
        async with aiohttp.ClientSession() as s:
            r = await s.post(f"{gw.base}/auth/wechat/miniprogram/login", json=code)
            assert r.status == 503 and (await r.json())["error"] == "temporarily_unavailable"
        # within the gateway's budget: it answered while WeChat's answer was still pending
        slow = gw.simulator.background
        assert len(slow) == 1 and not any(task.done() for task in slow)
        # a code exchange that may have reached WeChat is never sent twice (reference §6.2)
        calls = (await gw.sim("GET", "/sim/calls"))["calls"]
        assert calls["sns/jscode2session"] == 1
    finally:
        await server.close()


async def test_snapshot_user_gets_no_account(gateway: Gateway) -> None:
    await gateway.sim("POST", "/sim/options", json={"snapshot_mode": True})
    async with gateway.browser(WECHAT_UA) as phone:
        callback = await follow_wechat(
            phone, f"{gateway.base}/auth/wechat/mp/login?return_to=/x", "kim", "allow"
        )
        r = await phone.get(callback, allow_redirects=False)
        assert r.status == 403 and "force_popup=1" in await r.text()
        assert "wxgate_session" not in r.cookies


async def test_logs_of_full_flows_hold_no_secret(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Application logs (``logging``) and the access log (its own buffered writer, on stdout)."""
    stream = io.StringIO()
    handler = configure_logging("DEBUG", stream)
    gw, server = await start_gateway(tmp_path)
    try:
        async with gw.browser(BROWSER_UA) as browser:
            callback = await follow_wechat(
                browser, f"{gw.base}/auth/wechat/web/login", "lu", "allow"
            )
            code = parse_qs(urlsplit(callback).query)["code"][0]
            r = await browser.get(callback, allow_redirects=False)
            cookie = r.cookies["wxgate_session"].value
        mini = await mini_login(gw, "lu")
        session_key = gw.simulator.mini.session_key("wx00000000000000c3", "lu")
        async with aiohttp.ClientSession() as s:
            form = {"grant_type": "refresh_token", "refresh_token": mini["refresh_token"]}
            await s.post(f"{gw.base}/auth/token", data=form)
    finally:
        await server.close()
        logging.getLogger().removeHandler(handler)
    text = stream.getvalue() + capfd.readouterr().out  # the access log is drained at close
    assert "GET /auth/wechat/web/callback" in text  # the access log did run
    secrets = [code, cookie, *cookie.split("~"), mini["access_token"], mini["refresh_token"],
               session_key, *(a.secret for a in gw.config.wechat.apps.values())]  # fmt: skip
    for secret in secrets:
        assert secret not in text
