"""Scan-login in a real headless browser: Debian's Chromium driven by Playwright.

``wxgate serve --dev`` runs as a subprocess on a free port. The PC is one browser context on
``/auth/login?return_to=/demo/``; the phone is a second context with WeChat's User-Agent that
opens the ticket's ``qr_content``, passes the simulator's consent page (flow B, clicking
Allow) and confirms (or cancels) on the confirm page. The PC page must reach ``/demo/`` logged
in without reloading itself (its main-frame navigations are recorded), for each transport.
Also the denied and expired paths (``WXGATE_SCAN__TICKET_TTL`` shortened).

Never runs ``playwright install``: the browser is ``/usr/bin/chromium``. Without it the tests
are skipped, except in CI (``CI`` set), where that fails.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.e2e.conftest import TIMEOUT_MS, WECHAT_UA, Server, require_chromium, start, stop

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def short_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    require_chromium()
    srv = start(tmp_path_factory.mktemp("wxgate-e2e-short"), WXGATE_SCAN__TICKET_TTL="2")
    yield srv
    stop(srv.proc)


async def open_login(browser: Browser, base: str, query: str = "") -> tuple[Page, list[str]]:
    """The PC page on the login page, and the list its main-frame navigations go into."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    navigations: list[str] = []
    page.on("framenavigated", lambda f: navigations.append(f.url) if f == page.main_frame else None)
    await page.goto(f"{base}/auth/login?return_to=/demo/{query}")
    await page.wait_for_selector("#wxgate-login[data-ticket]", timeout=TIMEOUT_MS)
    await page.wait_for_selector("#qr-image:not([hidden])", timeout=TIMEOUT_MS)
    return page, navigations


async def phone_to_confirm_page(browser: Browser, qr_content: str, user: str) -> Page:
    """The phone: opens the QR's URL in 'WeChat', allows on the simulator's consent page."""
    context = await browser.new_context(
        user_agent=WECHAT_UA, viewport={"width": 390, "height": 844}, is_mobile=True
    )
    phone = await context.new_page()
    await phone.goto(qr_content)
    await phone.wait_for_selector("#sim-allow", timeout=TIMEOUT_MS)  # the consent page
    await phone.fill("#sim-user", user)
    await phone.click("#sim-allow")
    await phone.wait_for_selector("#wxgate-confirm", timeout=TIMEOUT_MS)
    return phone


async def ticket_of(page: Page) -> tuple[str, str]:
    ticket = await page.get_attribute("#wxgate-login", "data-ticket")
    href = await page.get_attribute("#dev-phone", "href")
    assert ticket and href and href.endswith(f"/auth/qr/{ticket}/scan")
    return ticket, href


async def wait_state(page: Page, state: str) -> None:
    await page.wait_for_selector(f'#wxgate-login[data-state="{state}"]', timeout=TIMEOUT_MS)


@pytest.mark.parametrize("transport", ["", "ws", "sse", "poll"])
async def test_scan_and_confirm_logs_the_pc_in(
    server: Server, browser: Browser, transport: str
) -> None:
    query = f"&transport={transport}" if transport else ""
    pc, navigations = await open_login(browser, server.base, query)
    assert await pc.get_attribute("#wxgate-login", "data-transport") == (transport or "ws")
    _, qr_content = await ticket_of(pc)
    phone = await phone_to_confirm_page(browser, qr_content, "alice")
    await wait_state(pc, "scanned")  # the scan reached the PC before the confirmation
    text = await phone.inner_text("#wxgate-confirm")
    assert "127.0.0.1" in text and "Chrome" in text  # the PC's address and browser
    await phone.click("#confirm")
    await phone.wait_for_selector("#wxgate-message.ok", timeout=TIMEOUT_MS)
    await pc.wait_for_url(f"{server.base}/demo/", timeout=TIMEOUT_MS)
    body = json.loads(await pc.inner_text("body"))
    headers = {k.lower(): v for k, v in body["headers"].items()}
    assert headers.get("x-auth-subject"), body  # the echo upstream saw a logged-in request
    assert navigations == [f"{server.base}/auth/login?return_to=/demo/{query}",
                           f"{server.base}/demo/"]  # fmt: skip


async def test_denied_on_the_phone(server: Server, browser: Browser) -> None:
    pc, navigations = await open_login(browser, server.base)
    _, qr_content = await ticket_of(pc)
    phone = await phone_to_confirm_page(browser, qr_content, "bob")
    await wait_state(pc, "scanned")
    await phone.click("#deny")
    await phone.wait_for_selector("#wxgate-message.denied", timeout=TIMEOUT_MS)
    await wait_state(pc, "denied")
    assert await pc.is_visible("#refresh")
    assert len(navigations) == 1


async def test_expired_then_refresh(short_server: Server, browser: Browser) -> None:
    pc, navigations = await open_login(browser, short_server.base)
    first, _ = await ticket_of(pc)
    await wait_state(pc, "expired")
    assert await pc.is_visible("#refresh")
    await pc.click("#refresh")
    await wait_state(pc, "pending")
    second, _ = await ticket_of(pc)
    assert second != first and len(navigations) == 1


async def test_dev_mode_simulated_phone_link(server: Server, browser: Browser) -> None:
    """A person with no phone: the login page's dev link opens the simulated phone."""
    pc, navigations = await open_login(browser, server.base)
    async with pc.expect_popup() as popup_info:
        await pc.click("#dev-phone")
    phone = await popup_info.value
    await phone.wait_for_selector("#sim-allow", timeout=TIMEOUT_MS)
    await phone.click("#sim-allow")
    await phone.wait_for_selector("#wxgate-confirm", timeout=TIMEOUT_MS)
    await phone.click("#confirm")
    await pc.wait_for_url(f"{server.base}/demo/", timeout=TIMEOUT_MS)
    assert len(navigations) == 2
