"""Real-browser end-to-end fixtures: ``wxgate serve --dev`` as a subprocess, and Chromium.

Never runs ``playwright install``: the browser is Debian's ``/usr/bin/chromium`` (``make deps``
installs it). Without it the tests are skipped, except in CI (``CI`` set), where that fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.fixtures.net import free_port
from tests.fixtures.process import stop

if TYPE_CHECKING:
    from playwright.async_api import Browser

__all__ = ["CHROMIUM", "TIMEOUT_MS", "WECHAT_UA", "Server", "require_chromium", "start", "stop"]

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


def require_chromium() -> None:
    if Path(CHROMIUM).exists() or shutil.which("chromium"):
        return
    message = "chromium not found at /usr/bin/chromium (apt-get install chromium, `make deps`)"
    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class Server:
    base: str
    proc: subprocess.Popen[bytes]
    log: Path


def start(tmp: Path, port: int | None = None, **env: str) -> Server:
    port = port or free_port()
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
    stop(proc)
    raise RuntimeError(f"wxgate did not become ready:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    require_chromium()
    srv = start(tmp_path_factory.mktemp("wxgate-e2e"))
    yield srv
    stop(srv.proc)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()
