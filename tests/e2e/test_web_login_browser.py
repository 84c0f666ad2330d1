"""Flow A in a real browser: ``wxgate serve --dev``, then a person at /auth/wechat/web/login
goes through the simulated WeChat consent page and lands logged in (no WeChat account)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from tests.e2e.conftest import TIMEOUT_MS, Server

if TYPE_CHECKING:
    from playwright.async_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def test_person_logs_in_through_the_simulated_consent_page(
    server: Server, browser: Browser
) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{server.base}/auth/wechat/web/login?return_to=/demo/hello")
    await page.wait_for_selector("#sim-allow", timeout=TIMEOUT_MS)
    assert "/_sim/wechat/connect/qrconnect" in page.url
    await page.fill("#sim-user", "zoe")
    await page.click("#sim-allow")
    await page.wait_for_url(f"{server.base}/demo/hello", timeout=TIMEOUT_MS)
    seen = json.loads(await page.inner_text("body"))  # the echo upstream shows what it got
    headers = {k.lower(): v for k, v in seen["headers"].items()}
    assert headers["x-auth-subject"].startswith("u_")
    assert headers["x-auth-appid"] == "wx00000000000000a1"
    assert "wxgate_session" not in headers.get("cookie", "")  # our cookie stays with us
    cookies = {c["name"]: c for c in await context.cookies()}
    assert cookies["wxgate_session"]["httpOnly"] and cookies["wxgate_session"]["sameSite"] == "Lax"
    info = await page.evaluate(
        "fetch('/auth/userinfo', {credentials: 'same-origin'}).then(r => r.json())"
    )
    assert info["sub"] == headers["x-auth-subject"]
    await context.close()


async def test_denial_shows_a_page_with_a_retry_link(server: Server, browser: Browser) -> None:
    context = await browser.new_context(
        locale="zh-CN", extra_http_headers={"Accept-Language": "zh-CN"}
    )
    page = await context.new_page()
    await page.goto(f"{server.base}/auth/wechat/web/login?return_to=/demo/")
    await page.wait_for_selector("#sim-deny", timeout=TIMEOUT_MS)
    await page.click("#sim-deny")
    await page.wait_for_selector("text=重新登录", timeout=TIMEOUT_MS)
    assert "/auth/wechat/web/callback" in page.url
    await page.click("text=重新登录")
    await page.wait_for_selector("#sim-allow", timeout=TIMEOUT_MS)  # back on WeChat's page
    await context.close()


async def test_embedded_widget_logs_the_top_window_in(server: Server, browser: Browser) -> None:
    """``mode=embed``: the wxLogin.js widget's iframe; on Allow the top window navigates to the
    callback (wxLogin.js default, reference §2.2) and lands logged in."""
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{server.base}/auth/wechat/web/login?return_to=/demo/embedded&mode=embed")
    frame_element = await page.wait_for_selector("#wxgate-qr iframe", timeout=TIMEOUT_MS)
    frame = await frame_element.content_frame()
    assert frame is not None
    await frame.wait_for_selector("#sim-allow", timeout=TIMEOUT_MS)
    assert "login_type=jssdk" in frame.url
    await frame.fill("#sim-user", "yuki")
    await frame.click("#sim-allow")
    await page.wait_for_url(f"{server.base}/demo/embedded", timeout=TIMEOUT_MS)
    seen = json.loads(await page.inner_text("body"))
    assert {k.lower(): v for k, v in seen["headers"].items()}["x-auth-subject"].startswith("u_")
    await context.close()
