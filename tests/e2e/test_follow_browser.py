"""Follow-the-account login (flow E) in a real headless browser (Debian's Chromium, Playwright).

``wxgate serve --dev`` as a subprocess (the ``mp`` account in safe mode). The PC opens the login
page, picks "follow our official account", and shows the account's parametric QR; the phone is
the simulator's page behind that QR's url, which pushes the signed, encrypted ``subscribe``
event to ``/auth/wechat/mp/events``. The PC must land on ``/demo/`` logged in without reloading
itself (its main-frame navigations are recorded).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from tests.e2e.conftest import TIMEOUT_MS, Server

if TYPE_CHECKING:
    from playwright.async_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def test_follow_qr_scanned_on_the_phone_logs_the_pc_in(
    server: Server, browser: Browser
) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    pc = await context.new_page()
    navigations: list[str] = []
    pc.on("framenavigated", lambda f: navigations.append(f.url) if f == pc.main_frame else None)
    await pc.goto(f"{server.base}/auth/login?return_to=/demo/")
    await pc.wait_for_selector("#wxgate-login[data-ticket]", timeout=TIMEOUT_MS)
    assert await pc.inner_text("#follow-toggle") == "关注公众号登录"  # zh, beside the QR
    scan_ticket = await pc.get_attribute("#wxgate-login", "data-ticket")
    await pc.click("#follow-toggle")
    await pc.wait_for_selector('#wxgate-login[data-flow="follow"][data-state="pending"]',
                               timeout=TIMEOUT_MS)  # fmt: skip
    await pc.wait_for_selector("#qr-image:not([hidden])", timeout=TIMEOUT_MS)
    ticket = await pc.get_attribute("#wxgate-login", "data-ticket")
    assert ticket and ticket != scan_ticket
    assert "关注公众号" in await pc.inner_text("#status")
    href = await pc.get_attribute("#dev-phone", "href")
    assert href and f"{server.base}/_sim/wechat/q/" in href  # the parametric QR's url

    phone_context = await browser.new_context(viewport={"width": 390, "height": 844})
    phone = await phone_context.new_page()
    await phone.goto(href)
    await phone.fill("#sim-user", "frank")
    await phone.click("#sim-scan")  # a new follower: subscribe + qrscene_<scene>
    await phone.wait_for_selector("#sim-deliveries .delivery", timeout=TIMEOUT_MS)
    assert "HTTP 200" in await phone.inner_text("#sim-deliveries")

    await pc.wait_for_url(f"{server.base}/demo/", timeout=TIMEOUT_MS)
    body = json.loads(await pc.inner_text("body"))
    headers = {k.lower(): v for k, v in body["headers"].items()}
    assert headers.get("x-auth-subject"), body  # the echo upstream saw a logged-in request
    assert navigations == [f"{server.base}/auth/login?return_to=/demo/",
                           f"{server.base}/demo/"]  # fmt: skip
    await context.close()
    await phone_context.close()
