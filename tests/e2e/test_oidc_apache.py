"""Apache httpd with mod_auth_openidc (an OpenID Certified relying party) protects a location
with wxgate as its OpenID Provider. Headless Chromium opens the protected page, logs in through
the WeChat simulator — by scan-login (a second context plays the phone) and by website QR —
and lands on the page with the ``sub`` and ``nickname`` claims the module passes on. Logging
out through the module's logout URL ends the wxgate session; a back-channel logout from wxgate
(the person logs out elsewhere) ends the module's session.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from gateway.config import DEV_CONFIG_PATH
from tests.e2e.conftest import TIMEOUT_MS, Server, require_chromium, start, stop
from tests.e2e.test_scan_browser import phone_to_confirm_page, ticket_of
from tests.fixtures.apache_oidc import ApacheOIDC, apache_oidc
from tests.fixtures.net import free_port

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page

pytestmark = [pytest.mark.browser, pytest.mark.apache, pytest.mark.slow]

SECRET = "apache-rp-secret-0123456789abcdefghij"


@dataclass
class Setup:
    gateway: Server
    rp: ApacheOIDC


@pytest.fixture
async def setup(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Setup]:
    """Apache and the gateway; ``first_party`` (indirect parameter, default true): whether the
    Apache client skips the consent page."""
    require_chromium()
    first_party = str(getattr(request, "param", True)).lower()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with apache_oidc(f"{base}/.well-known/openid-configuration", "apache", SECRET) as rp:
        config = tmp_path / "wxgate.toml"
        config.write_text(
            DEV_CONFIG_PATH.read_text()
            + f"""
[[oidc.clients]]
client_id = "apache"
client_secret = "{SECRET}"
name = "Apache"
redirect_uris = ["{rp.redirect_uri}"]
post_logout_redirect_uris = ["{rp.base_url}/"]
backchannel_logout_uri = "{rp.backchannel_logout_uri}"
first_party = {first_party}
"""
        )
        gateway = start(tmp_path, port=port, WXGATE_CONFIG=str(config))
        try:
            yield Setup(gateway, rp)
        finally:
            stop(gateway.proc)


async def claims_page(page: Page) -> dict[str, str]:
    await page.wait_for_url("**/protected/claims", timeout=TIMEOUT_MS)
    return dict(json.loads(await page.inner_text("body")))


async def login_by_scan(browser: Browser, setup: Setup, user: str) -> tuple[BrowserContext, Page]:
    context = await browser.new_context()
    pc = await context.new_page()
    await pc.goto(setup.rp.claims_url)  # Apache → /auth/authorize → the login page
    await pc.wait_for_selector("#wxgate-login[data-ticket]", timeout=TIMEOUT_MS)
    _, qr_content = await ticket_of(pc)
    phone = await phone_to_confirm_page(browser, qr_content, user)
    await phone.click("#confirm")
    await phone.wait_for_selector("#wxgate-message.ok", timeout=TIMEOUT_MS)
    await phone.context.close()
    return context, pc


async def delivered(page: Page, setup: Setup) -> float:
    """Back-channel logouts the gateway delivered to the Apache client so far."""
    text = await (await page.request.get(f"{setup.gateway.base}/metrics")).text()
    name = 'wxgate_oidc_backchannel_logout_total{client="apache",result="delivered"} '
    found = [line for line in text.splitlines() if line.startswith(name)]
    return float(found[0].split()[-1]) if found else 0.0


async def test_scan_login_then_both_logouts(browser: Browser, setup: Setup) -> None:
    context, pc = await login_by_scan(browser, setup, "alice")
    claims = await claims_page(pc)
    assert claims["OIDC_CLAIM_sub"].startswith("u_")
    assert claims["OIDC_CLAIM_nickname"]  # flow B on the phone gave the profile
    # RP-initiated logout through the module: the wxgate session ends too
    await pc.goto(setup.rp.logout_url(f"{setup.rp.base_url}/"))
    await pc.wait_for_url(f"{setup.rp.base_url}/", timeout=TIMEOUT_MS)
    info = await pc.request.get(f"{setup.gateway.base}/auth/userinfo")
    assert info.status == 401
    await context.close()

    # a back-channel logout: the person logs out at wxgate; the module's session ends
    context, pc = await login_by_scan(browser, setup, "alice")
    first = await claims_page(pc)
    before = await delivered(pc, setup)
    logout = await pc.request.post(f"{setup.gateway.base}/auth/logout")
    assert logout.status == 204
    for _ in range(100):  # delivery is in the background, never delaying the logout
        if await delivered(pc, setup) > before:
            break
        await pc.wait_for_timeout(100)
    else:
        raise AssertionError(f"no back-channel logout was delivered:\n{setup.rp.error_log}")
    await pc.goto(setup.rp.claims_url)  # the module sends the browser to the OP again
    await pc.wait_for_url(f"{setup.gateway.base}/auth/login**", timeout=TIMEOUT_MS)
    assert first["OIDC_CLAIM_sub"]
    await context.close()


@pytest.mark.parametrize("setup", [False], indirect=True)
async def test_website_qr_login_and_consent(browser: Browser, setup: Setup) -> None:
    """A third-party client: after the website-QR login the consent page; Allow sends the
    browser back to Apache (another origin: the page's CSP lets the form's redirect go)."""
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(setup.rp.claims_url)
    await page.wait_for_selector("#web-login", timeout=TIMEOUT_MS)
    await page.click("#web-login")
    await page.wait_for_selector("#sim-allow", timeout=TIMEOUT_MS)
    await page.fill("#sim-user", "zoe")
    await page.click("#sim-allow")
    await page.wait_for_selector("button.allow", timeout=TIMEOUT_MS)  # the consent page
    assert "Apache" in await page.inner_text("body")
    await page.click("button.allow")
    claims = await claims_page(page)
    assert claims["OIDC_CLAIM_sub"].startswith("u_") and claims["OIDC_CLAIM_nickname"]
    await context.close()
