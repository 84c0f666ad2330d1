"""The demo relying party in a real browser, as ``make run`` shows it: ``wxgate serve --dev``,
/_sim/rp/ → the confidential client demo-rp → the login page's website-QR link → the simulated
WeChat consent page → the provider's consent page → the RP shows the claims; then "Log out"
comes back to the RP, and the back-channel logout is listed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.e2e.conftest import TIMEOUT_MS, Server

if TYPE_CHECKING:
    from playwright.async_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def test_log_in_with_wechat_through_oidc_and_out(server: Server, browser: Browser) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{server.base}/_sim/rp/")
    await page.click("button[value=demo-rp]")
    await page.wait_for_selector("#web-login", timeout=TIMEOUT_MS)  # wxgate's login page
    await page.click("#web-login")
    await page.wait_for_selector("#sim-allow", timeout=TIMEOUT_MS)  # the simulated WeChat
    await page.fill("#sim-user", "rosa")
    await page.click("#sim-allow")
    await page.wait_for_selector("button[value=allow]", timeout=TIMEOUT_MS)  # consent
    await page.click("button[value=allow]")
    await page.wait_for_selector("#rp-sub", timeout=TIMEOUT_MS)
    assert page.url == f"{server.base}/_sim/rp/"
    assert (await page.inner_text("#rp-sub")).startswith("u_")
    assert '"nickname": "rosa"' in await page.inner_text("#rp-userinfo")
    sid = await page.evaluate("JSON.parse(document.getElementById('rp-claims').textContent).sid")
    await page.click("#rp-logout")
    await page.wait_for_selector("text=Logged out", timeout=TIMEOUT_MS)
    assert page.url.startswith(f"{server.base}/_sim/rp/?state=")
    for _ in range(50):  # delivered in the background, within moments
        if sid in await page.inner_text("#rp-backchannel"):
            break
        await page.wait_for_timeout(100)
        await page.reload()
    assert sid in await page.inner_text("#rp-backchannel")
    await context.close()
