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
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
WECHAT_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.49(0x18003137) NetType/WIFI"
)
TIMEOUT_MS = 15_000


def _require_chromium() -> None:
    if Path(CHROMIUM).exists() or shutil.which("chromium"):
        return
    message = "chromium not found at /usr/bin/chromium (apt-get install chromium, `make deps`)"
    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    base: str
    proc: subprocess.Popen[bytes]
    log: Path


def _start(tmp: Path, **env: str) -> Server:
    port = _free_port()
    log = tmp / "wxgate.log"
    environ = {**os.environ, "WXGATE_SERVER__DATA_DIR": str(tmp / "var"), **env}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--dev", "--port", str(port)],
            cwd=tmp, env=environ, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"wxgate exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=1) as r:
                if r.status == 200:
                    return Server(base, proc, log)
        except OSError:
            time.sleep(0.1)
    _stop(proc)
    raise RuntimeError(f"wxgate did not become ready:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the process this test started (by its PID)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    _require_chromium()
    srv = _start(tmp_path_factory.mktemp("wxgate-e2e"))
    yield srv
    _stop(srv.proc)


@pytest.fixture(scope="module")
def short_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    _require_chromium()
    srv = _start(tmp_path_factory.mktemp("wxgate-e2e-short"), WXGATE_SCAN__TICKET_TTL="2")
    yield srv
    _stop(srv.proc)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    _require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


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
