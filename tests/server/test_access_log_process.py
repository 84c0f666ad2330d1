"""The access log of a real ``wxgate serve`` process: SIGTERM loses no line; SIGKILL loses at
most the lines of the last ``logging.access_log_flush_interval``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from tests.fixtures.net import free_port
from tests.fixtures.process import stop

INTERVAL = 0.3


def _start(tmp_path: Path, port: int, lean_port: int = 0) -> tuple[subprocess.Popen[bytes], Path]:
    out = tmp_path / "stdout.log"
    env = {
        "WXGATE_FORWARD_AUTH__LISTEN_PORT": str(lean_port),
        **os.environ,
        "WXGATE_SERVER__DATA_DIR": str(tmp_path / "var"),
        "WXGATE_SERVER__DRAIN_SECONDS": "0",
        "WXGATE_LOGGING__LEVEL": "WARNING",  # only access lines on stdout
        "WXGATE_LOGGING__ACCESS_LOG_FLUSH_INTERVAL": str(INTERVAL),
    }
    cmd = [sys.executable, "-m", "gateway", "serve", "--dev", "--port", str(port)]
    with out.open("wb") as sink:
        proc = subprocess.Popen(cmd, env=env, stdout=sink, stderr=subprocess.STDOUT)
    return proc, out


async def _requests(url: str, ids: list[str], path: str = "/healthz", status: int = 200) -> None:
    async with aiohttp.ClientSession() as http:

        async def one(request_id: str) -> None:
            async with http.get(f"{url}{path}", headers={"X-Request-Id": request_id}) as r:
                assert r.status == status

        await asyncio.gather(*(one(i) for i in ids))


async def _ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(400):
            assert proc.poll() is None, "wxgate exited early"
            try:
                async with http.get(f"{url}/healthz", headers={"X-Request-Id": "ready"}):
                    return
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
    raise AssertionError("wxgate did not start")


def _logged(out: Path) -> list[str]:
    ids = []
    for line in out.read_text().splitlines():
        if line.startswith("{") and '"gateway.access"' in line:
            ids.append(json.loads(line)["request_id"])
    return [i for i in ids if i != "ready"]


async def test_sigterm_loses_no_line(tmp_path: Path) -> None:
    """Also the lean forward-auth listener's lines (``forward_auth.listen_port``)."""
    port, lean = free_port(), free_port()
    proc, out = _start(tmp_path, port, lean)
    try:
        await _ready(f"http://127.0.0.1:{port}", proc)
        ids = [f"term-{n}" for n in range(300)]
        await _requests(f"http://127.0.0.1:{port}", ids)
        lean_ids = [f"lean-{n}" for n in range(100)]
        await _requests(f"http://127.0.0.1:{lean}", lean_ids, "/auth/verify", 401)
        ids += lean_ids
        proc.send_signal(signal.SIGTERM)  # at once: most lines are still in the buffer
        assert proc.wait(20) == 0
    finally:
        stop(proc)
    assert sorted(_logged(out)) == sorted(ids)


async def test_sigkill_loses_at_most_the_last_flush_interval(tmp_path: Path) -> None:
    port = free_port()
    proc, out = _start(tmp_path, port)
    try:
        await _ready(f"http://127.0.0.1:{port}", proc)
        early = [f"early-{n}" for n in range(100)]
        await _requests(f"http://127.0.0.1:{port}", early)
        await asyncio.sleep(INTERVAL * 3)  # older than the flush interval: on stdout
        late = [f"late-{n}" for n in range(100)]
        await _requests(f"http://127.0.0.1:{port}", late)
        proc.kill()  # a crash: the last interval's buffer may be lost, nothing older
        proc.wait(10)
    finally:
        stop(proc)
    logged = _logged(out)
    assert set(early) <= set(logged)
    assert set(logged) <= set(early) | set(late)
    assert len(logged) == len(set(logged))
