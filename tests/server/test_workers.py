"""``wxgate serve --workers 2`` on a real redis-server: both workers serve, SIGTERM stops both."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.fixtures.net import free_port
from tests.fixtures.process import wait_ready
from tests.fixtures.redis_server import RedisServer

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def _workers(pid: int) -> list[int]:
    """Worker processes of ``pid`` (not multiprocessing's resource tracker)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"spawn_main" in cmdline:
                found.append(int(child))
    return found


def _env(tmp_path: Path, redis_server: RedisServer, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "WXGATE_SERVER__PORT": str(port),  # the dev issuer is derived from the address
        "WXGATE_SERVER__DATA_DIR": str(tmp_path / "var"),
        "WXGATE_STORE__URL": redis_server.url,
        "WXGATE_STORE__PREFIX": f"workers-{os.getpid()}-{tmp_path.name}:",
        "WXGATE_LOGGING__ACCESS_LOG": "false",
    }


def _wxgate(*args: str) -> list[str]:
    return [sys.executable, "-m", "gateway", *args]


async def _exercise(url: str, proc: subprocess.Popen[bytes], log: Path, token: str) -> list[int]:
    """Requests over fresh connections (spread over the workers); the worker PIDs. Failures
    carry the gateway's log."""
    try:
        await wait_ready(url, proc, log)
        workers = _workers(proc.pid)
        assert len(workers) == 2, workers
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as h:
            for _ in range(20):  # a new connection each: the kernel spreads them over workers
                async with h.get(f"{url}/public/x") as resp:
                    assert resp.status == 200, await resp.text()
                auth = {"Authorization": f"Bearer {token}"}
                async with h.get(f"{url}/demo/x", headers=auth) as resp:
                    assert resp.status == 200, await resp.text()
                    body = await resp.json()
                    assert body["headers"]["X-Auth-Subject"] == "worker-user"
    except (AssertionError, aiohttp.ClientError) as exc:
        raise AssertionError(f"{exc!r}\n--- wxgate log ---\n{log.read_text()[-4000:]}") from exc
    return workers


async def _scrape(url: str, log: Path) -> None:
    """Scrapes over fresh connections all answer (whichever worker the kernel picks)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as h:
        for _ in range(6):
            async with h.get(url) as resp:
                assert resp.status == 200, log.read_text()[-3000:]
                assert "wxgate_build_info" in await resp.text()


async def test_two_workers_serve_and_stop_on_sigterm(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    port, metrics_port = free_port(), free_port()
    env = _env(tmp_path, redis_server, port)
    # /metrics on its own listener, as in production: every worker binds it (SO_REUSEPORT)
    env |= {
        "WXGATE_METRICS__HOST": "127.0.0.1",
        "WXGATE_METRICS__PORT": str(metrics_port),
        "WXGATE_METRICS__MAIN_LISTENER": "false",
    }
    subprocess.run(_wxgate("keys", "generate", "--dev"), env=env, check=True, capture_output=True)
    token = subprocess.run(
        _wxgate("token", "issue", "--dev", "--sub", "worker-user"),
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    log = tmp_path / "wxgate.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            _wxgate("serve", "--dev", "--port", str(port), "--workers", "2"),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        workers = await _exercise(f"http://127.0.0.1:{port}", proc, log, token)
        await _scrape(f"http://127.0.0.1:{metrics_port}/metrics", log)
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert code == 0, log.read_text()[-3000:]
    assert all(not Path(f"/proc/{pid}").exists() for pid in workers)


@pytest.mark.parametrize("delay", [0.0, 0.3, 1.0])
async def test_workers_told_to_stop_while_starting_exit_cleanly(
    tmp_path: Path, redis_server: RedisServer, delay: float
) -> None:
    """A SIGTERM moments after start (a rollout that changes its mind) finds the workers
    still starting: still exit 0, every worker gone."""
    port = free_port()
    env = _env(tmp_path, redis_server, port)
    subprocess.run(_wxgate("keys", "generate", "--dev"), env=env, check=True, capture_output=True)
    log = tmp_path / "wxgate.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            _wxgate("serve", "--dev", "--port", str(port), "--workers", "2"),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        for _ in range(200):  # until the parent has started both workers
            if "started 2 workers" in log.read_text():
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(delay)
        workers = _workers(proc.pid)
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert code == 0, log.read_text()[-3000:]
    assert all(not Path(f"/proc/{pid}").exists() for pid in workers)
