"""The account and admin pages in a real browser (Chromium): a person's two sessions in two
browser contexts, one ending the other; an administrator finding a user, granting a role and
revoking a session, through the admin page (which works through the admin API only)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest

from tests.e2e.conftest import TIMEOUT_MS, Server, require_chromium, start, stop

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ADMIN_TOKEN = "e2e-admin-token-" + "z" * 32


@pytest.fixture(scope="module")
def admin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    require_chromium()
    srv = start(tmp_path_factory.mktemp("wxgate-admin"), WXGATE_ADMIN__TOKEN=ADMIN_TOKEN)
    yield srv
    stop(srv.proc)


async def login(browser: Browser, server: Server, user: str) -> tuple[BrowserContext, Page]:
    """A new browser context logged in as ``user`` (flow A), on its account page."""
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{server.base}/auth/wechat/web/login?return_to=/auth/account")
    await page.wait_for_selector("#sim-allow", timeout=TIMEOUT_MS)
    await page.fill("#sim-user", user)
    await page.click("#sim-allow")
    await page.wait_for_url(f"{server.base}/auth/account", timeout=TIMEOUT_MS)
    return context, page


async def sub_of(page: Page) -> str:
    """The subject the account page (where ``login`` lands) shows; the page's CSP allows no
    fetch, so it is read off the page."""
    return (await page.inner_text("#account-sub")).strip()


async def api(server: Server, method: str, path: str, **params: str) -> Any:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with (
        aiohttp.ClientSession() as http,
        http.request(
            method, f"{server.base}/admin/api{path}", headers=headers, params=params or None
        ) as r,
    ):
        assert r.status == 200, await r.text()
        return await r.json()


async def test_account_page_ends_the_other_session(admin_server: Server, browser: Browser) -> None:
    first, first_page = await login(browser, admin_server, "kim")
    second, page = await login(browser, admin_server, "kim")
    await page.reload()
    rows = page.locator("#sessions tbody tr")
    assert await rows.count() == 2
    assert await page.locator("#sessions .current").count() == 1
    assert (await page.inner_text("#identities")).strip().startswith("web")
    await page.click("#sessions tbody tr:not(:has(.current)) button.end")
    await page.wait_for_url(f"{admin_server.base}/auth/account", timeout=TIMEOUT_MS)
    assert await page.locator("#sessions tbody tr").count() == 1
    # the other context is logged out: its next page is the login page
    await first_page.goto(f"{admin_server.base}/auth/account")
    assert "/auth/login" in first_page.url
    await first.close()
    await second.close()


async def test_admin_page_grants_a_role_and_revokes_a_session(
    admin_server: Server, browser: Browser
) -> None:
    admin_ctx, admin_page = await login(browser, admin_server, "lee")
    lee = await sub_of(admin_page)
    await api(admin_server, "POST", f"/users/{lee}/roles/admin")
    target_ctx, target_page = await login(browser, admin_server, "mia")
    mia = await sub_of(target_page)
    refused = await target_page.goto(f"{admin_server.base}/admin/")  # not an administrator
    assert refused is not None and refused.status == 403

    await admin_page.goto(f"{admin_server.base}/admin/")
    await admin_page.wait_for_selector("body[data-ready='1']", timeout=TIMEOUT_MS)
    await admin_page.fill("#search-q", mia)
    await admin_page.click("#search")
    await admin_page.click(f"#results li[data-sub='{mia}'] a.open-user", timeout=TIMEOUT_MS)
    await admin_page.wait_for_selector("#user-sub", timeout=TIMEOUT_MS)
    await admin_page.fill("#grant-role", "ops")
    await admin_page.click("#grant")
    await admin_page.wait_for_selector(".role[data-role='ops']", timeout=TIMEOUT_MS)
    assert await admin_page.locator("#user-sessions tr[data-sid]").count() == 1
    await admin_page.click("#user-sessions button.revoke")
    await admin_page.wait_for_selector("#user-sessions:not(:has(tr[data-sid]))",
                                       state="attached", timeout=TIMEOUT_MS)  # fmt: skip

    assert (await api(admin_server, "GET", f"/users/{mia}"))["roles"] == ["ops"]
    await target_page.goto(f"{admin_server.base}/auth/account")
    assert "/auth/login" in target_page.url
    # disabled: the next login through WeChat ends on the "account disabled" page
    await api(admin_server, "POST", f"/users/{mia}/disabled")
    await target_page.goto(f"{admin_server.base}/auth/wechat/web/login?return_to=/auth/account")
    await target_page.fill("#sim-user", "mia")
    await target_page.click("#sim-allow")
    await target_page.wait_for_selector("text=Account disabled", timeout=TIMEOUT_MS)
    assert "/auth/wechat/web/callback" in target_page.url
    audit = await api(admin_server, "GET", "/audit", subject=mia, kind="admin")
    assert [e["action"] for e in audit["entries"]] == ["disable", "revoke_session", "grant_role"]
    assert [e["actor"] for e in audit["entries"]] == ["admin-token", lee, lee]
    await admin_ctx.close()
    await target_ctx.close()
