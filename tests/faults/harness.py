"""A real ``wxgate serve --dev`` process for fault tests, and the few requests they make.

The gateway runs as a subprocess on a free loopback port with ``WXGATE_*`` overrides, its log in
a file the tests read; it is stopped by its PID (SIGTERM, then SIGKILL). In dev mode the WeChat
simulator is mounted in the same process (``/_sim/wechat``, fault switches at ``sim/faults``)
and ``/demo/`` proxies to the echo upstream with ``auth = "required"``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.fixtures.net import free_port
from tests.fixtures.process import stop

__all__ = ["MINI_APPID", "Gateway", "timed"]

MINI_APPID = "wx00000000000000c3"  # the dev config's mini-program


class Gateway:
    """One gateway process; ``base`` is its URL, ``log_text()`` its log so far."""

    def __init__(self, tmp_path: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data_dir = tmp_path / "var"
        self.log_path = tmp_path / "wxgate.log"
        self.env = {
            **os.environ,
            "WXGATE_SERVER__PORT": str(self.port),
            "WXGATE_SERVER__DATA_DIR": str(self.data_dir),
            "WXGATE_LOGGING__ACCESS_LOG": "false",
            "WXGATE_SERVER__DRAIN_SECONDS": "0",  # stop at once: nothing to drain for
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway", "serve", "--dev", "--port", str(self.port)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        async with aiohttp.ClientSession() as http:
            for _ in range(600):
                if self.proc.poll() is not None:
                    raise AssertionError(f"wxgate exited early:\n{self.log_text()[-3000:]}")
                try:
                    async with http.get(f"{self.base}/readyz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError(f"wxgate did not become ready:\n{self.log_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def records(self, level: str = "ERROR") -> list[dict[str, Any]]:
        """The log's JSON records at ``level`` or above."""
        rank = {"DEBUG": 0, "INFO": 1, "WARNING": 2, "ERROR": 3, "CRITICAL": 4}
        found = []
        for line in self.log_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if rank.get(record.get("level", ""), 0) >= rank[level]:
                found.append(record)
        return found

    # -- requests -----------------------------------------------------------------------------

    async def login(self, http: aiohttp.ClientSession, user: str) -> tuple[int, dict[str, Any]]:
        """A mini-program login (flow C) through the simulator: (status, JSON body)."""
        async with http.post(
            f"{self.base}/_sim/wechat/dev/js_code", json={"appid": MINI_APPID, "user": user}
        ) as resp:
            code = (await resp.json())["code"]
        async with http.post(
            f"{self.base}/auth/wechat/miniprogram/login", json={"code": code}
        ) as resp:
            return resp.status, await resp.json()

    async def status(
        self, http: aiohttp.ClientSession, method: str, path: str, **kwargs: Any
    ) -> tuple[int, dict[str, Any] | None]:
        """(status, JSON body or None) of one request."""
        async with http.request(method, f"{self.base}{path}", **kwargs) as resp:
            is_json = resp.content_type == "application/json"
            return resp.status, (await resp.json() if is_json else None)

    async def fault(self, http: aiohttp.ClientSession, **fault: Any) -> None:
        """Switch a simulator fault on (``DELETE`` clears them: ``clear_faults``)."""
        async with http.post(f"{self.base}/_sim/wechat/sim/faults", json=fault) as resp:
            assert resp.status == 200, await resp.text()

    async def clear_faults(self, http: aiohttp.ClientSession) -> None:
        async with http.delete(f"{self.base}/_sim/wechat/sim/faults") as resp:
            assert resp.status == 200, await resp.text()

    async def wait_ready(self, http: aiohttp.ClientSession, want: int, limit: float) -> float:
        """Poll ``/readyz`` until it answers ``want``; seconds it took."""
        started = time.monotonic()
        while True:
            status, _ = await self.status(http, "GET", "/readyz")
            if status == want:
                return time.monotonic() - started
            if time.monotonic() - started > limit:
                raise AssertionError(f"/readyz stayed {status}:\n{self.log_text()[-3000:]}")
            await asyncio.sleep(0.05)


async def timed(awaitable: Any) -> tuple[float, Any]:
    """(seconds, result) of awaiting ``awaitable``."""
    started = time.perf_counter()
    result = await awaitable
    return time.perf_counter() - started, result
